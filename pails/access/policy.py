"""Policies: parse a bucket policy or an IAM identity policy and evaluate it.

Pure: no I/O.  ``evaluate`` answers "Deny" (an explicit deny matched),
"Allow" (an allow matched and no deny), or None (the policy says nothing),
and ``combine`` joins the answers of several policies (a Deny anywhere wins).
How identity and resource policies and ACLs make one decision is
``pails.s3.permissions``' (docs/iam.md, "Evaluation").
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from pails.errors import S3Error

MAX_POLICY_BYTES = 20 * 1024
_VERSIONS = ("2012-10-17", "2008-10-17")
_STRING_OPS = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
               "StringLike", "StringNotLike"}
_NUMERIC_OPS = {"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
                "NumericGreaterThan", "NumericGreaterThanEquals"}
_DATE_OPS = {"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
             "DateGreaterThanEquals"}
_OTHER_OPS = {"Bool", "IpAddress", "NotIpAddress", "Null", "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike",
              "BinaryEquals"}
OPERATORS = _STRING_OPS | _NUMERIC_OPS | _DATE_OPS | _OTHER_OPS
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals", "DateNotEquals",
            "NotIpAddress", "ArnNotEquals", "ArnNotLike"}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, in the forms a policy may name them."""

    canonical_id: str | None  # None: anonymous
    name: str = ""
    arn: str = ""  # arn:aws:iam::<account>:root or ...:user/<path><name>
    account_id: str = ""
    federated: str = ""  # a web identity's OIDC provider ARN (trust policies' "Federated" principal)
    service: str = ""  # an AWS service principal (logging.s3.amazonaws.com: server access log delivery)


@dataclass(frozen=True, slots=True)
class Condition:
    operator: str  # base operator, e.g. "StringLike"
    key: str  # lower-cased condition key
    values: tuple[str, ...]
    if_exists: bool
    qualifier: str | None  # "ForAnyValue" | "ForAllValues" | None


@dataclass(frozen=True, slots=True)
class Statement:
    effect: str
    principals: tuple[str, ...] | None  # None: NotPrincipal form
    not_principals: tuple[str, ...] | None
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]


class MalformedIdentityPolicy(S3Error):
    """An identity policy that is not one (IAM answers MalformedPolicyDocument)."""


def _malformed(message: str, identity: bool = False) -> S3Error:
    if identity:
        return MalformedIdentityPolicy("MalformedPolicy", message)
    return S3Error("MalformedPolicy", message)


def _strings(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _malformed(f"Invalid {what}")


def _principals(value: object) -> tuple[str, ...]:
    if value == "*":
        return ("*",)
    if not isinstance(value, dict) or not value:
        raise _malformed("Invalid principal in policy")
    out: list[str] = []
    for kind, names in value.items():
        if kind not in ("AWS", "CanonicalUser", "Service", "Federated"):
            raise _malformed("Invalid principal in policy")
        out.extend(f"{kind}:{n}" for n in _strings(names, "principal"))
    return tuple(out)


def _conditions(value: object) -> tuple[Condition, ...]:
    if not isinstance(value, dict):
        raise _malformed("Invalid Condition block")
    out = []
    for op_name, block in value.items():
        qualifier = None
        op = op_name
        if ":" in op:
            qualifier, op = op.split(":", 1)
            if qualifier not in ("ForAnyValue", "ForAllValues"):
                raise _malformed(f"Invalid Condition type : {op_name}")
        if_exists = op.endswith("IfExists") and op != "IfExists"
        base = op[:-8] if if_exists else op
        if base not in OPERATORS or not isinstance(block, dict):
            raise _malformed(f"Invalid Condition type : {op_name}")
        for key, raw in block.items():
            vals = raw if isinstance(raw, list) else [raw]
            values = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in vals)
            out.append(Condition(base, key.lower(), values, if_exists, qualifier))
    return tuple(out)


_STATEMENT_FIELDS = frozenset(("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
                               "NotResource", "Condition"))
_SERVICE_ACTION = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+")


def _statement(raw: object, bucket: str | None) -> Statement:
    """One statement of a bucket policy (``bucket``: the bucket it is for) or,
    ``bucket`` None, of an identity policy (no principal; any service's
    actions and resources)."""
    identity = bucket is None
    if not isinstance(raw, dict):
        raise _malformed("Invalid statement", identity)
    if identity and not set(raw) <= _STATEMENT_FIELDS:
        raise _malformed(f"Syntax errors in policy: unknown field {sorted(set(raw) - _STATEMENT_FIELDS)[0]}", True)
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise _malformed("Invalid effect", identity)
    if identity and ("Principal" in raw or "NotPrincipal" in raw):
        raise _malformed("Policy document should not specify a principal.", True)
    principals = _principals(raw["Principal"]) if "Principal" in raw else None
    not_principals = _principals(raw["NotPrincipal"]) if "NotPrincipal" in raw else None
    if identity:
        principals = ("*",)
    if principals is None and not_principals is None:
        raise _malformed("Missing required field Principal")
    if not_principals is not None and effect == "Allow":
        raise _malformed("NotPrincipal is only allowed with Deny")
    try:
        actions = _strings(raw["Action"], "action") if "Action" in raw else None
        not_actions = _strings(raw["NotAction"], "action") if "NotAction" in raw else None
    except S3Error:
        raise _malformed("Invalid action", identity) from None
    if actions is None and not_actions is None:
        raise _malformed("Missing required field Action", identity)
    for a in (actions or ()) + (not_actions or ()):
        if identity and a != "*" and not _SERVICE_ACTION.fullmatch(a):
            raise _malformed(f"Actions/Conditions must be prefaced by a vendor, e.g., iamcontrol, Action: {a}", True)
        if not identity and a != "*" and not a.lower().startswith("s3:"):
            raise _malformed("Policy has invalid action")
    try:
        resources = _strings(raw["Resource"], "resource") if "Resource" in raw else None
        not_resources = _strings(raw["NotResource"], "resource") if "NotResource" in raw else None
    except S3Error:
        raise _malformed("Invalid resource", identity) from None
    if resources is None and not_resources is None:
        raise _malformed("Missing required field Resource", identity)
    for r in (resources or ()) + (not_resources or ()):
        if identity and r != "*" and not r.startswith("arn:"):
            raise _malformed(f"Resource {r} must be in ARN format or \"*\".", True)
        if not identity and r != "*" and not _resource_in_bucket(r, bucket or ""):
            raise _malformed("Policy has invalid resource")
    conditions = _conditions(raw["Condition"]) if "Condition" in raw else ()
    return Statement(effect, principals, not_principals, actions, not_actions, resources, not_resources, conditions)


def _resource_in_bucket(arn: str, bucket: str) -> bool:
    if not arn.startswith("arn:aws:s3:::"):
        return False
    name = arn[len("arn:aws:s3:::"):].split("/", 1)[0]
    return _wildcard(name, False).fullmatch(bucket) is not None


def parse_policy(text: str | bytes, bucket: str | None) -> Policy:
    """Validate a policy document for ``bucket`` (None: an identity policy);
    S3Error MalformedPolicy (MalformedIdentityPolicy) if it is not one."""
    identity = bucket is None
    if not identity and len(text) > MAX_POLICY_BYTES:
        raise _malformed("Policies must be under 20KB")
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past Python's limit
        raise _malformed("Syntax errors in policy." if identity else "Policies must be valid JSON", identity) \
            from None
    if not isinstance(doc, dict):
        raise _malformed("Syntax errors in policy." if identity else "Policies must be valid JSON", identity)
    if identity and not set(doc) <= {"Version", "Id", "Statement"}:
        raise _malformed("Syntax errors in policy.", True)
    version = doc.get("Version")
    if version is not None and version not in _VERSIONS:
        raise _malformed("Invalid policy version", identity)
    raw = doc.get("Statement")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _malformed("Missing required field Statement", identity)
    sids = [s.get("Sid") for s in raw if isinstance(s, dict) and s.get("Sid") is not None]
    if identity and len(sids) != len(set(sids)):
        raise _malformed("Statement IDs (SID) in a single policy must be unique", True)
    return Policy(tuple(_statement(s, bucket) for s in raw))


@lru_cache(maxsize=512)
def cached_policy(text: str, bucket: str | None) -> Policy:
    """Stored policies are evaluated on every request: parse each once
    (``bucket`` None: an identity policy)."""
    return parse_policy(text, bucket)


def combine(decisions: Iterable[str | None]) -> str | None:
    """Several policies' answers as one: a Deny anywhere wins, else any Allow."""
    allowed = False
    for d in decisions:
        if d == "Deny":
            return "Deny"
        allowed = allowed or d == "Allow"
    return "Allow" if allowed else None


@lru_cache(maxsize=2048)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _principal_matches(names: tuple[str, ...], who: Principal) -> bool:
    for n in names:
        if who.service:  # a service is named as one ("Principal": "*" aside), never as an AWS principal
            if n == "*" or n == f"Service:{who.service}":
                return True
            continue
        if n in ("*", "AWS:*"):
            return True
        if who.federated and n == f"Federated:{who.federated}":
            return True
        if who.canonical_id is None:
            continue
        kind, _, value = n.partition(":")
        if kind == "CanonicalUser" and value == who.canonical_id:
            return True
        if kind == "AWS":
            if value == who.canonical_id or (who.arn and value == who.arn):
                return True
            if who.account_id and value in (who.account_id, f"arn:aws:iam::{who.account_id}:root"):
                return True
            if value.startswith("arn:aws:iam::"):
                account, _, rest = value[len("arn:aws:iam::"):].partition(":")
                if rest == "root" and account == who.canonical_id:
                    return True
                if rest.startswith("user/") and rest[5:] in (who.name, who.canonical_id):
                    return True
    return False


def _any_match(patterns: tuple[str, ...], value: str, ignore_case: bool) -> bool:
    return any(_wildcard(p, ignore_case).fullmatch(value) for p in patterns)


def _compare(op: str, actual: str, expected: str) -> bool:
    if op in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals", "BinaryEquals"):
        return actual == expected
    if op in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.lower() == expected.lower()
    if op in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return _wildcard(expected, False).fullmatch(actual) is not None
    if op == "Bool":
        return actual.lower() == expected.lower()
    if op in ("IpAddress", "NotIpAddress"):
        try:
            return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
        except ValueError:
            return False
    if op in _NUMERIC_OPS:
        try:
            a, e = float(actual), float(expected)
        except ValueError:
            return False
        return _ordered(op.removeprefix("Numeric"), a, e)
    if op in _DATE_OPS:
        try:
            a, e = _as_time(actual), _as_time(expected)
        except ValueError:
            return False
        return _ordered(op.removeprefix("Date"), a, e)
    return False


def _ordered(rel: str, a: float, e: float) -> bool:
    return {"Equals": a == e, "NotEquals": a == e, "LessThan": a < e, "LessThanEquals": a <= e,
            "GreaterThan": a > e, "GreaterThanEquals": a >= e}[rel]


def _as_time(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _condition_holds(c: Condition, context: Mapping[str, tuple[str, ...]]) -> bool:
    actual = context.get(c.key)
    if c.operator == "Null":
        wants_absent = c.values[0].lower() == "true"
        return (actual is None) == wants_absent
    if actual is None:
        return c.if_exists or c.operator in _NEGATED
    negated = c.operator in _NEGATED
    if c.qualifier == "ForAllValues":
        hit = all(any(_compare(c.operator, a, e) for e in c.values) for a in actual)
    else:
        hit = any(_compare(c.operator, a, e) for a in actual for e in c.values)
    return not hit if negated else hit


def _statement_applies(s: Statement, who: Principal, action: str, resource: str,
                       context: Mapping[str, tuple[str, ...]]) -> bool:
    if s.principals is not None and not _principal_matches(s.principals, who):
        return False
    if s.not_principals is not None and _principal_matches(s.not_principals, who):
        return False
    if s.actions is not None and not _any_match(s.actions, action, True):
        return False
    if s.not_actions is not None and _any_match(s.not_actions, action, True):
        return False
    if s.resources is not None and not _any_match(s.resources, resource, False):
        return False
    if s.not_resources is not None and _any_match(s.not_resources, resource, False):
        return False
    return all(_condition_holds(c, context) for c in s.conditions)


def evaluate(policy: Policy, who: Principal, action: str, resource: str,
             context: Mapping[str, tuple[str, ...]]) -> str | None:
    """"Deny", "Allow" or None for ``action`` (e.g. "s3:GetObject") on
    ``resource`` (an ARN).  ``context`` maps lower-cased condition keys to values."""
    allowed = False
    for s in policy.statements:
        if _statement_applies(s, who, action, resource, context):
            if s.effect == "Deny":
                return "Deny"
            allowed = True
    return "Allow" if allowed else None


def identity_decision(texts: Iterable[str], session_policy: str | None, who: Principal, action: str,
                      resources: Iterable[str], context: Mapping[str, tuple[str, ...]],
                      boundary: str | None = None) -> str | None:
    """What a principal's identity policies say of ``action`` on any of
    ``resources``.  A session policy (STS) and a permissions boundary narrow
    them: an Allow holds only where each of them allows too, and a Deny in
    either is an explicit Deny (as AWS evaluates them)."""
    resources = tuple(resources)
    texts = tuple(texts)
    decision = combine(evaluate(cached_policy(t, None), who, action, r, context) for t in texts for r in resources)
    for limit in (session_policy, boundary):
        if limit is None or decision == "Deny":
            continue
        said = combine(evaluate(cached_policy(limit, None), who, action, r, context) for r in resources)
        if said == "Deny":
            return "Deny"
        if said != "Allow":
            decision = None
    return decision


def parse_trust_policy(text: str) -> Policy:
    """A role's trust policy: statements naming principals, with ``sts:`` actions and no resource."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise _malformed("Syntax errors in policy.", True) from None
    raw = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _malformed("Missing required field Statement", True)
    out = []
    for st in raw:
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny") or "Principal" not in st:
            raise _malformed("Invalid trust policy statement", True)
        try:
            actions = _strings(st.get("Action", "sts:AssumeRole"), "action")
            principals = _principals(st["Principal"])
            conditions = _conditions(st["Condition"]) if "Condition" in st else ()
        except S3Error as exc:
            raise _malformed(exc.message, True) from None
        out.append(Statement(st["Effect"], principals, None, actions, None, ("*",), None, conditions))
    return Policy(tuple(out))


def is_public(policy: Policy) -> bool:
    """Public as S3 judges it: an Allow to everyone that no condition narrows."""
    return any(s.effect == "Allow" and s.principals is not None and {"*", "AWS:*"} & set(s.principals)
               and not s.conditions for s in policy.statements)


def session_keys(principal_tags: Mapping[str, str], token_issued: float | None) -> dict[str, tuple[str, ...]]:
    """The condition keys of who the caller is beyond its name: its tags
    (``aws:PrincipalTag/<key>``, ``aws:PrincipalTagKeys``) and, for temporary
    credentials, ``aws:TokenIssueTime`` (what "revoke active sessions" tests)."""
    out: dict[str, tuple[str, ...]] = {f"aws:principaltag/{k.lower()}": (v,) for k, v in principal_tags.items()}
    if principal_tags:
        out["aws:principaltagkeys"] = tuple(principal_tags)
    if token_issued is not None:
        out["aws:tokenissuetime"] = (datetime.fromtimestamp(token_issued, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),)
    return out
