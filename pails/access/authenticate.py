"""Decide how a request is signed, verify it, and say who sent it.

One entry point, :func:`authenticate`, covering SigV4 (header and presigned),
SigV2 (header and presigned) and anonymous requests, with the error codes and
check order AWS (and ceph/s3-tests) expect.  Body verification stays with the
caller, guided by ``AuthResult.content_sha256`` / ``chunk_signing``.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_tz

from pails.access import sigv2, sigv4
from pails.access.request import AuthResult, ChunkSigningContext, SignedRequest
from pails.errors import S3Error

MAX_SKEW_SECONDS = 900
MAX_PRESIGN_SECONDS = 604800
# A V4 presigned URL without X-Amz-Expires gets this lifetime (AWS answers such URLs with a 403 too).
DEFAULT_PRESIGN_SECONDS = 900

ANONYMOUS = AuthResult(None, "anonymous", False, None, None)

_AUTH_PARAMS = frozenset(
    (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Content-Sha256",
        "AWSAccessKeyId",
        "Signature",
        "Expires",
    )
)
_COMPONENT_SPLIT = re.compile(r"[\s,]+")
_IMF_DATE = re.compile(
    r"(?:[A-Za-z]{3}, )?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (?:GMT|UTC|\+0000|Z)"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
_CREDENTIAL_FORMAT = 'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
_V4_QUERY_REQUIRED = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
    "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)


S3_ONLY = ("s3",)
QUERY_APIS = ("s3", "iam", "sts")  # a form POST to the service URL may be for these (docs/iam.md)
ADMIN_API = ("admin", "s3")  # the admin port's requests name these (docs/admin-api.md)


def authenticate(req: SignedRequest, lookup_secret: Callable[[str], str | None], now: datetime,
                 services: tuple[str, ...] = S3_ONLY, body_sha256: str | None = None) -> AuthResult:
    """Verify ``req``'s signature (if any); raise the S3Error AWS would send when it fails.

    ``services``: what the SigV4 credential scope may name.  ``body_sha256``:
    the hash of a body read already (a Query API form), which stands in for
    an absent x-amz-content-sha256 (SDKs send that header to S3 only)."""
    auth = req.headers.get("authorization")
    if auth is None and not req.query:
        return ANONYMOUS
    params: dict[str, str] = {}
    for name, value in req.query:
        if name in _AUTH_PARAMS and name not in params:
            params[name] = value
    v4_query = "X-Amz-Algorithm" in params or "X-Amz-Credential" in params or "X-Amz-Signature" in params
    v2_query = "AWSAccessKeyId" in params or ("Signature" in params and "Expires" in params)
    now_ts = _timestamp(now)

    if auth is not None:
        if v4_query or v2_query:
            raise S3Error(
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                "string parameter or the Authorization header should be specified",
                ArgumentName="Authorization",
                ArgumentValue=sigv4.safe_text(auth),
            )
        scheme, _, rest = auth.strip().partition(" ")
        if scheme == sigv4.ALGORITHM:
            return _v4_header(req, rest, lookup_secret, now_ts, services, body_sha256)
        if scheme == "AWS":
            return _v2_header(req, rest, lookup_secret, now_ts)
        if not scheme:
            raise S3Error("AccessDenied")
        raise S3Error(
            "InvalidArgument",
            "Unsupported Authorization Type",
            ArgumentName="Authorization",
            ArgumentValue=sigv4.safe_text(auth),
        )
    if v4_query and v2_query:
        raise S3Error(
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
            "string parameter or the Authorization header should be specified",
            ArgumentName="Authorization",
        )
    if v4_query:
        return _v4_query(req, params, lookup_secret, now_ts, services)
    if v2_query:
        return _v2_query(req, params, lookup_secret, now_ts)
    return ANONYMOUS


# -- SigV4 ------------------------------------------------------------------------------------------


def _v4_header(
    req: SignedRequest, rest: str, lookup_secret: Callable[[str], str | None], now_ts: float,
    services: tuple[str, ...], body_sha256: str | None,
) -> AuthResult:
    fields: dict[str, str] = {}
    for component in _COMPONENT_SPLIT.split(rest.strip()):
        name, sep, value = component.partition("=")
        if sep:
            fields.setdefault(name, value)
    credential = fields.get("Credential")
    signed_str = fields.get("SignedHeaders")
    signature = fields.get("Signature")
    if credential is None or signed_str is None or signature is None:
        missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in fields]
        raise S3Error(
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; the authorization component "
            f'"{missing[0]}" is missing or malformed.',
        )
    access_key, date, region, service = _parse_credential(credential, "AuthorizationHeaderMalformed", services)
    secret = _secret(lookup_secret, access_key)

    headers = req.headers
    amz_date = headers.get("x-amz-date")
    if amz_date is None:
        http_date = headers.get("date")
        if http_date is None:
            raise S3Error("AccessDenied", _NO_DATE)
        ts = _parse_amz_date(http_date.strip())
        if ts is None:
            ts = _parse_http_date(http_date)
            amz_date = None if ts is None else time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))
        else:
            amz_date = http_date.strip()
    else:
        amz_date = amz_date.strip()
        ts = _parse_amz_date(amz_date)
    if ts is None or amz_date is None or ts < 0:
        raise S3Error("AccessDenied", _NO_DATE)
    _check_skew(ts, now_ts, amz_date)
    if date != amz_date[:8]:
        raise S3Error(
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; Invalid credential date. "
            "Date is not the same as X-Amz-Date.",
        )
    signed = signed_str.split(";")
    if "host" not in signed:
        raise S3Error(
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; SignedHeaders must include host.",
        )
    payload = headers.get("x-amz-content-sha256")
    if payload is None and body_sha256 is not None and service != "s3":
        payload = body_sha256
    if payload is None:
        raise S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    payload = payload.strip()
    content_sha256 = sigv4.validate_content_sha256(payload)

    key = sigv4.signing_key(secret, date, region, service)
    scope = f"{date}/{region}/{service}/aws4_request"
    _, expected = _verify_v4(
        req, key, amz_date, scope, signed, signed_str, [payload], signature, access_key, None
    )
    return _v4_result(access_key, False, content_sha256, key, amz_date, scope, expected, service)


def _v4_query(
    req: SignedRequest,
    params: dict[str, str],
    lookup_secret: Callable[[str], str | None],
    now_ts: float,
    services: tuple[str, ...],
) -> AuthResult:
    def bad(message: str) -> S3Error:
        return S3Error("AuthorizationQueryParametersError", message)

    if params.get("X-Amz-Algorithm") != sigv4.ALGORITHM:
        if "X-Amz-Algorithm" not in params:
            raise bad(_V4_QUERY_REQUIRED)
        raise bad('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    credential = params.get("X-Amz-Credential")
    signature = params.get("X-Amz-Signature")
    amz_date = params.get("X-Amz-Date")
    signed_str = params.get("X-Amz-SignedHeaders")
    if credential is None or signature is None or amz_date is None or signed_str is None:
        raise bad(_V4_QUERY_REQUIRED)
    expires_str = params.get("X-Amz-Expires")
    if expires_str is None:
        expires = DEFAULT_PRESIGN_SECONDS
    else:
        # Out-of-range lifetimes are refused as an expired URL would be (403,
        # as ceph/s3-tests expects), not as a malformed one.
        if not expires_str.isdigit() or not expires_str.isascii():
            raise S3Error("AccessDenied", "X-Amz-Expires should be a number")
        expires = int(expires_str)
        if expires < 1:
            raise S3Error("AccessDenied", "X-Amz-Expires must be non-negative")
        if expires > MAX_PRESIGN_SECONDS:
            raise S3Error("AccessDenied", "X-Amz-Expires must be less than a week (in seconds) that is 604800")
    access_key, date, region, service = _parse_credential(credential, "AuthorizationQueryParametersError", services)
    ts = _parse_amz_date(amz_date)
    if ts is None:
        raise bad("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    if date != amz_date[:8]:
        raise bad("Invalid credential date. Date is not the same as X-Amz-Date.")
    secret = _secret(lookup_secret, access_key)
    if ts - now_ts > MAX_SKEW_SECONDS:
        raise S3Error("AccessDenied", "Request is not valid yet")
    if now_ts > ts + expires:
        raise S3Error(
            "AccessDenied",
            "Request has expired",
            **{"X-Amz-Expires": str(expires), "Expires": _iso(ts + expires), "ServerTime": _iso(now_ts)},
        )
    signed = signed_str.split(";")
    if "host" not in signed:
        raise bad("X-Amz-SignedHeaders must include host.")

    # botocore signs a payload hash given as a header; some SDKs hoist it into the query.
    candidates = [
        p
        for p in (params.get("X-Amz-Content-Sha256"), req.headers.get("x-amz-content-sha256"))
        if p is not None
    ]
    candidates.append(sigv4.UNSIGNED_PAYLOAD)
    key = sigv4.signing_key(secret, date, region, service)
    scope = f"{date}/{region}/{service}/aws4_request"
    payload, expected = _verify_v4(
        req, key, amz_date, scope, signed, signed_str, candidates, signature, access_key, "X-Amz-Signature"
    )
    content_sha256 = sigv4.validate_content_sha256(payload)
    return _v4_result(access_key, True, content_sha256, key, amz_date, scope, expected, service)


def _verify_v4(
    req: SignedRequest,
    key: bytes,
    amz_date: str,
    scope: str,
    signed: list[str],
    signed_str: str,
    payloads: list[str],
    signature: str,
    access_key: str,
    skip: str | None,
) -> tuple[str, str]:
    """Return (payload hash, signature) of the first candidate that verifies, else SignatureDoesNotMatch.

    Candidates are tried in order (normally one payload hash and one URI form), so the
    fallbacks cost nothing for well-behaved clients.
    """
    query = sigv4.canonical_query(req.query, skip)
    provided = signature.strip().lower()
    first_creq = first_sts = ""
    for i, payload in enumerate(payloads):
        if payload in payloads[:i]:
            continue
        for uri in sigv4.candidate_uris(req):
            creq = sigv4.canonical_request(req.method, uri, query, req.headers, signed, signed_str, payload)
            sts = sigv4.string_to_sign(amz_date, scope, creq)
            expected = sigv4.sign_hex(key, sts)
            if sigv4.signatures_equal(expected, provided):
                return payload, expected
            if not first_sts:
                first_creq, first_sts = creq, sts
    raise S3Error(
        "SignatureDoesNotMatch",
        AWSAccessKeyId=sigv4.safe_text(access_key),
        StringToSign=sigv4.safe_text(first_sts, None),
        SignatureProvided=sigv4.safe_text(signature),
        CanonicalRequest=sigv4.safe_text(first_creq, None),
    )


def _v4_result(
    access_key: str,
    presigned: bool,
    content_sha256: str,
    key: bytes,
    amz_date: str,
    scope: str,
    signature: str,
    service: str,
) -> AuthResult:
    chunk = (
        ChunkSigningContext(key, amz_date, scope, signature)
        if content_sha256 in sigv4.SIGNED_STREAMING_MODES
        else None
    )
    return AuthResult(access_key, "v4", presigned, content_sha256, chunk, service)


def claimed_service(req: SignedRequest) -> str | None:
    """The service a SigV4 request's credential scope names, before (or
    whether or not) its signature is good: which API words its errors."""
    credential = dict(req.query).get("X-Amz-Credential")
    if credential is None:
        header = req.headers.get("authorization", "")
        start = header.find("Credential=")
        if not header.startswith("AWS4-") or start < 0:
            return None
        credential = header[start + len("Credential="):].split(",", 1)[0].strip()
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 else None


def _parse_credential(credential: str, code: str, services: tuple[str, ...]) -> tuple[str, str, str, str]:
    """``AKID/date/region/service/aws4_request`` -> its parts; the region may be empty."""
    parts = credential.rsplit("/", 4)
    prefix = "The authorization header is malformed; " if code == "AuthorizationHeaderMalformed" else ""
    if len(parts) != 5 or not parts[0] or len(parts[1]) != 8 or not parts[1].isdigit():
        raise S3Error(code, f"{prefix}the Credential is mal-formed; {_CREDENTIAL_FORMAT}")
    access_key, date, region, service, terminal = parts
    if terminal != "aws4_request":
        raise S3Error(code, f'{prefix}incorrect terminal "{terminal}". This endpoint uses "aws4_request".')
    if service not in services:
        raise S3Error(code, f'{prefix}incorrect service "{service}". This endpoint belongs to "s3".')
    return access_key, date, region, service


# -- SigV2 ------------------------------------------------------------------------------------------


def _v2_header(
    req: SignedRequest, rest: str, lookup_secret: Callable[[str], str | None], now_ts: float
) -> AuthResult:
    access_key, signature = sigv2.parse_authorization(rest)
    secret = _secret(lookup_secret, access_key)
    headers = req.headers
    raw_date = headers.get("x-amz-date")
    if raw_date is None:
        raw_date = headers.get("date")
    if raw_date is None:
        raise S3Error("AccessDenied", _NO_DATE)
    raw_date = raw_date.strip()
    ts = _parse_http_date(raw_date)
    if ts is None:
        ts = _parse_amz_date(raw_date)
    if ts is None or ts < 0:
        raise S3Error("AccessDenied", _NO_DATE)
    _check_skew(ts, now_ts, raw_date)
    sigv2.verify(req, access_key, secret, signature)
    return AuthResult(access_key, "v2", False, None, None)


def _v2_query(
    req: SignedRequest,
    params: dict[str, str],
    lookup_secret: Callable[[str], str | None],
    now_ts: float,
) -> AuthResult:
    access_key = params.get("AWSAccessKeyId")
    signature = params.get("Signature")
    expires = params.get("Expires")
    if not access_key or signature is None or expires is None:
        raise S3Error(
            "AccessDenied",
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
        )
    if not expires.isdigit() or not expires.isascii() or len(expires) > 12:
        raise S3Error(
            "AccessDenied", f"Invalid date (should be seconds since epoch): {sigv4.safe_text(expires, 64)}"
        )
    secret = _secret(lookup_secret, access_key)
    if now_ts > int(expires):
        raise S3Error(
            "AccessDenied", "Request has expired", Expires=_iso(int(expires)), ServerTime=_iso(now_ts)
        )
    sigv2.verify(req, access_key, secret, signature, expires=expires)
    return AuthResult(access_key, "v2", True, None, None)


# -- shared helpers ---------------------------------------------------------------------------------


def _secret(lookup_secret: Callable[[str], str | None], access_key: str) -> str:
    secret = lookup_secret(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=sigv4.safe_text(access_key))
    return secret


def _check_skew(ts: float, now_ts: float, raw: str) -> None:
    if abs(ts - now_ts) > MAX_SKEW_SECONDS:
        raise S3Error(
            "RequestTimeTooSkewed",
            RequestTime=sigv4.safe_text(raw, 64),
            ServerTime=_iso(now_ts),
            MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000),
        )


def _timestamp(now: datetime) -> float:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.timestamp()


def _iso(ts: float) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return ""


def _parse_amz_date(value: str) -> int | None:
    """``yyyyMMdd'T'HHmmss'Z'`` -> epoch seconds, or None."""
    if not sigv4.is_amz_date(value):
        return None
    return _epoch(
        int(value[0:4]),
        int(value[4:6]),
        int(value[6:8]),
        int(value[9:11]),
        int(value[11:13]),
        int(value[13:15]),
    )


def _parse_http_date(value: str) -> int | None:
    """RFC 1123 / 850 / asctime date -> epoch seconds, or None; fast path for the usual GMT form."""
    m = _IMF_DATE.fullmatch(value)
    if m is not None:
        month = _MONTHS.get(m.group(2).lower())
        if month is None:
            return None
        return _epoch(
            int(m.group(3)), month, int(m.group(1)), int(m.group(4)), int(m.group(5)), int(m.group(6))
        )
    try:
        parsed = parsedate_tz(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    ts = _epoch(*parsed[:6])
    return None if ts is None else ts - (parsed[9] or 0)


def _epoch(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int | None:
    if not (1 <= year <= 9999 and 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60
            and second <= 60):  # timegm goes through datetime.date: years 1 to 9999
        return None
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
