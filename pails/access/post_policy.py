"""Browser-based POST uploads: who signed the form, and does it obey its policy.

Pure functions over the form fields (names lower-cased, values after
``${filename}`` substitution).  The policy is a base64 JSON document with an
``expiration`` and ``conditions``; it is signed with SigV2 (base64 HMAC-SHA1
of the base64 policy, fields ``AWSAccessKeyId`` / ``signature``) or SigV4
(hex HMAC-SHA256 with the derived signing key, fields ``x-amz-algorithm``,
``x-amz-credential``, ``x-amz-date``, ``x-amz-signature``).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pails.access import sigv2, sigv4
from pails.errors import S3Error

# Fields a policy need not mention (AWS's list, plus the checksum fields
# ceph/s3-tests posts without a condition).
_EXEMPT = frozenset({"file", "policy", "signature", "x-amz-signature", "awsaccesskeyid"})
_EXEMPT_PREFIXES = ("x-ignore-", "x-amz-checksum-")
_V4_FIELDS = ("x-amz-signature", "x-amz-algorithm", "x-amz-credential")
_EXPIRATION = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z")
# Escapes the policy grammar allows beyond JSON's: \$ (a literal dollar) and \v.
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_MAX_POLICY_BYTES = 20 * 1024


@dataclass(frozen=True, slots=True)
class Condition:
    op: str  # "eq" or "starts-with"
    field: str  # lower-cased, without the "$"
    value: str
    text: str  # as AWS quotes it in "Policy Condition failed: ..."


@dataclass(slots=True)
class Policy:
    expiration: int  # epoch seconds
    conditions: list[Condition] = field(default_factory=list)
    length_ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(c.field for c in self.conditions)


def _invalid(message: str) -> S3Error:
    return S3Error("InvalidPolicyDocument", f"Invalid Policy: {message}")


def _denied(message: str) -> S3Error:
    return S3Error("AccessDenied", f"Invalid according to Policy: {message}")


def _missing_field(name: str) -> S3Error:
    return S3Error("InvalidArgument", f"Bucket POST must contain a field named '{name}'.  If it is specified, "
                   "please check the order of the fields.", ArgumentName=name, ArgumentValue="")


# --- authentication -------------------------------------------------------------------------------------------------


def authenticate_form(fields: Mapping[str, str], lookup_secret: Callable[[str], str | None]) -> str | None:
    """The access key that signed the form's policy, or None for an anonymous
    form (no policy and no signature fields).  Raises the S3Error AWS sends."""
    policy = fields.get("policy")
    v4 = any(name in fields for name in _V4_FIELDS)
    if policy is None:
        if v4 or "signature" in fields or "awsaccesskeyid" in fields:
            raise _missing_field("policy")
        return None
    if v4:
        return _verify_v4(fields, policy, lookup_secret)
    access_key = fields.get("awsaccesskeyid")
    if not access_key:
        raise _missing_field("AWSAccessKeyId")
    signature = fields.get("signature")
    if signature is None:
        raise _missing_field("Signature")
    secret = _secret(lookup_secret, access_key)
    if not sigv4.signatures_equal(sigv2.sign(secret, policy), signature.strip()):
        raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=sigv4.safe_text(access_key),
                      StringToSign=sigv4.safe_text(policy, 4096), SignatureProvided=sigv4.safe_text(signature))
    return access_key


def _verify_v4(fields: Mapping[str, str], policy: str, lookup_secret: Callable[[str], str | None]) -> str:
    for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"):
        if not fields.get(name.lower()):
            raise _missing_field(name)
    algorithm = fields["x-amz-algorithm"].strip()
    if algorithm != sigv4.ALGORITHM:
        raise S3Error("InvalidArgument", f'X-Amz-Algorithm only supports "{sigv4.ALGORITHM}"',
                      ArgumentName="x-amz-algorithm", ArgumentValue=sigv4.safe_text(algorithm))
    credential = fields["x-amz-credential"].strip()
    parts = credential.rsplit("/", 4)
    if (len(parts) != 5 or not parts[0] or len(parts[1]) != 8 or not parts[1].isdigit()
            or parts[3] != "s3" or parts[4] != "aws4_request"):
        raise S3Error("InvalidArgument", 'Invalid credential; expecting "<YOUR-AKID>/YYYYMMDD/REGION/s3/'
                      'aws4_request".', ArgumentName="x-amz-credential", ArgumentValue=sigv4.safe_text(credential))
    access_key, date, region, service, _ = parts
    amz_date = fields.get("x-amz-date", "").strip()
    if amz_date and (not sigv4.is_amz_date(amz_date) or amz_date[:8] != date):
        raise S3Error("InvalidArgument", "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" "
                      "and on the credential's date.", ArgumentName="x-amz-date",
                      ArgumentValue=sigv4.safe_text(amz_date))
    secret = _secret(lookup_secret, access_key)
    expected = sigv4.sign_hex(sigv4.signing_key(secret, date, region, service), policy)
    signature = fields["x-amz-signature"].strip().lower()
    if not sigv4.signatures_equal(expected, signature):
        raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=sigv4.safe_text(access_key),
                      StringToSign=sigv4.safe_text(policy, 4096),
                      SignatureProvided=sigv4.safe_text(fields["x-amz-signature"]))
    return access_key


def _secret(lookup_secret: Callable[[str], str | None], access_key: str) -> str:
    secret = lookup_secret(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=sigv4.safe_text(access_key))
    return secret


# --- the policy document --------------------------------------------------------------------------------------------


def parse_policy(policy_b64: str) -> Policy:
    """Decode and validate a policy document; InvalidPolicyDocument when it is not one."""
    compact = "".join(policy_b64.split())
    if len(compact) > _MAX_POLICY_BYTES * 2:
        raise _invalid("Policy document is too large.")
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("Invalid policy encoding; the policy is not base64.") from None
    try:
        text = raw.decode("utf-8")
        text = _ESCAPE.sub(_json_escape, text)
        doc = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(doc, dict):
        raise _invalid("Invalid JSON.")
    if "expiration" not in doc:
        raise _invalid("Policy missing expiration.")
    if "conditions" not in doc:
        raise _invalid("Policy missing conditions.")
    expiration = doc["expiration"]
    ts = _parse_expiration(expiration) if isinstance(expiration, str) else None
    if ts is None:
        raise _invalid(f"Invalid 'expiration' value: '{sigv4.safe_text(str(expiration), 64)}'")
    conditions = doc["conditions"]
    if not isinstance(conditions, list):
        raise _invalid("Invalid 'conditions' value: must be a List.")
    policy = Policy(ts)
    for item in conditions:
        _add_condition(policy, item)
    return policy


def _json_escape(m: re.Match[str]) -> str:
    c = m.group(1)
    if c == "$":
        return "$"
    if c == "v":
        return "\\u000b"
    return m.group(0)


def _parse_expiration(value: str) -> int | None:
    m = _EXPIRATION.fullmatch(value.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups())
    if not (1 <= year and 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None  # year 0 is not a date (timegm raises)
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def _text(item: object) -> str:
    try:
        return json.dumps(item, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError, RecursionError):
        return "?"


def _scalar(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _add_condition(policy: Policy, item: object) -> None:
    if isinstance(item, dict):
        if len(item) != 1:
            raise _invalid("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
        (name, value), = item.items()
        text_value = _scalar(value)
        if text_value is None:
            raise _invalid(f"Invalid Simple-Condition: value must be a string: {_text(item)}")
        policy.conditions.append(Condition("eq", name.lower(), text_value, _text(item)))
        return
    if not isinstance(item, list) or not item or not isinstance(item[0], str):
        raise _invalid(f"Invalid Condition: {_text(item)}")
    op = item[0].lower()
    if op == "content-length-range":
        if len(item) != 3:
            raise _invalid("Invalid content-length-range: must have exactly two values.")
        bounds = [_length(v) for v in item[1:]]
        if bounds[0] is None or bounds[1] is None:
            raise _invalid(f"Invalid content-length-range: {_text(item)}")
        policy.length_ranges.append((bounds[0], bounds[1]))
        return
    if op not in ("eq", "starts-with"):
        raise _invalid(f"Invalid Condition: unknown operation '{sigv4.safe_text(item[0], 64)}'")
    if len(item) != 3:
        raise _invalid(f"Invalid Condition: '{op}' takes exactly two arguments: {_text(item)}")
    name, value = item[1], _scalar(item[2])
    if not isinstance(name, str) or not name.startswith("$") or len(name) < 2 or value is None:
        raise _invalid(f"Invalid Condition: {_text(item)}")
    policy.conditions.append(Condition(op, name[1:].lower(), value, _text(item)))


def _length(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        n = int(value)
    else:
        return None
    return n if 0 <= n < 2**63 else None


# --- checking a form against its policy -----------------------------------------------------------------------------


def check_expiration(policy: Policy, now: float) -> None:
    if now > policy.expiration:
        raise _denied("Policy expired.")


def check_conditions(policy: Policy, fields: Mapping[str, str], bucket: str) -> None:
    """Every condition holds; a field the form lacks counts as empty; ``bucket``
    is the bucket the form was posted to."""
    for cond in policy.conditions:
        value = bucket if cond.field == "bucket" else fields.get(cond.field, "")
        if cond.op == "eq":
            ok = value == cond.value
        elif cond.field == "content-type":  # each of a comma-separated list must match
            ok = all(v.strip().startswith(cond.value) for v in value.split(","))
        else:
            ok = value.startswith(cond.value)
        if not ok:
            raise _denied(f"Policy Condition failed: {cond.text}")


def check_coverage(policy: Policy, names: Iterable[str]) -> None:
    """Every form field (but the exempt ones) has a condition."""
    covered = policy.fields
    extra = [n for n in names
             if n not in covered and n not in _EXEMPT and not n.startswith(_EXEMPT_PREFIXES)]
    if extra:
        raise _denied(f"Extra input fields: {', '.join(extra)}")


def check_form(policy: Policy, fields: Mapping[str, str], bucket: str, now: float) -> None:
    check_expiration(policy, now)
    check_conditions(policy, fields, bucket)
    check_coverage(policy, fields)


def max_length(policy: Policy | None) -> int | None:
    if policy is None or not policy.length_ranges:
        return None
    return min(hi for _lo, hi in policy.length_ranges)


def min_length(policy: Policy | None) -> int:
    if policy is None or not policy.length_ranges:
        return 0
    return max(lo for lo, _hi in policy.length_ranges)


def too_large(limit: int) -> S3Error:
    return S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                   MaxSizeAllowed=str(limit))


def too_small(size: int, limit: int) -> S3Error:
    return S3Error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                   ProposedSize=str(size), MinSizeAllowed=str(limit))
