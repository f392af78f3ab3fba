"""AWS Signature Version 2 (HMAC-SHA1) for S3, header and query-string forms.

Still spoken by boto 2, s3cmd and browser POST forms.  V2 clients disagree on
small canonicalisation details (which sub-resources to sign, ``acl`` versus
``acl=``, how the path is encoded), so verification tries the AWS form first
and a few known client variants only when that fails.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterator, Mapping
from itertools import product
from urllib.parse import quote

from pails.access.request import SignedRequest
from pails.access.sigv4 import safe_text
from pails.errors import S3Error

# Query parameters AWS includes in the CanonicalizedResource.
SUBRESOURCES = frozenset(
    """
    accelerate acl analytics attributes cors delete encryption intelligent-tiering inventory legal-hold
    lifecycle location logging metrics notification object-lock ownershipControls partNumber policy
    publicAccessBlock replication requestPayment response-cache-control response-content-disposition
    response-content-encoding response-content-language response-content-type response-expires restore
    retention select select-type tagging torrent uploadId uploads versionId versioning versions website
""".split()
)
# botocore's HmacV1Auth list: it signs two names AWS ignores and omits several newer ones.
BOTOCORE_SUBRESOURCES = frozenset(
    """
    accelerate acl analytics cors defaultObjectAcl delete inventory lifecycle location logging metrics
    notification object-lock partNumber policy replication requestPayment response-cache-control
    response-content-disposition response-content-encoding response-content-language response-content-type
    response-expires restore select select-type storageClass tagging torrent uploadId uploads versionId
    versioning versions website
""".split()
)
_SUBRESOURCE_SETS = (SUBRESOURCES, BOTOCORE_SUBRESOURCES)


def sign(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1: the V2 request signature and the V2 POST-policy signature."""
    return base64.b64encode(hmac.digest(secret.encode(), string_to_sign.encode(), "sha1")).decode()


def canonical_amz_headers(amz: Mapping[str, str]) -> str:
    """``x-amz-name:value\\n`` lines sorted by (lowercase) name; values trimmed, inner spaces kept."""
    return "".join(f"{name}:{amz[name].strip()}\n" for name in sorted(amz))


def _subresources(query: list[tuple[str, str]], names: frozenset[str], bare_empty: bool) -> str:
    picked = sorted(((n, v) for n, v in query if n in names), key=lambda nv: nv[0])
    if not picked:
        return ""
    parts = [n if (bare_empty and not v) else f"{n}={v}" for n, v in picked]
    return "?" + "&".join(parts)


def _paths(req: SignedRequest) -> list[str]:
    raw = req.raw_path or "/"
    reencoded = quote(req.path, safe="/") or "/"
    paths = [raw] if reencoded == raw else [raw, reencoded]
    # botocore signs a path-style bucket request "/bucket" as "/bucket/", which AWS accepts.
    if not req.virtual_bucket and raw.count("/") == 1 and len(raw) > 1:
        paths.append(raw + "/")
    return paths


def _resources(req: SignedRequest) -> Iterator[str]:
    """CanonicalizedResource candidates, AWS's own form first, duplicates skipped."""
    prefix = "/" + req.virtual_bucket if req.virtual_bucket else ""
    seen: set[str] = set()
    has_empty = any(not v for _, v in req.query)
    for path, names, bare in product(_paths(req), _SUBRESOURCE_SETS, (True, False) if has_empty else (True,)):
        res = prefix + path + _subresources(req.query, names, bare)
        if res not in seen:
            seen.add(res)
            yield res


def _amz_headers(req: SignedRequest, presigned: bool) -> dict[str, str]:
    amz = {k: v for k, v in req.headers.items() if k.startswith("x-amz-")}
    if presigned:
        # botocore moves x-amz-* headers into the query string of V2 presigned URLs.
        for name, value in req.query:
            low = name.lower()
            if low.startswith("x-amz-") and low not in amz:
                amz[low] = value
    return amz


def _positional(req: SignedRequest, name: str, presigned: bool) -> str:
    value = req.headers.get(name)
    if value is None and presigned:
        for qn, qv in req.query:
            if qn.lower() == name:
                return qv.strip()
    return (value or "").strip()


def strings_to_sign(req: SignedRequest, *, expires: str | None = None) -> Iterator[str]:
    """StringToSign candidates; ``expires`` set means query-string authentication."""
    presigned = expires is not None
    md5 = _positional(req, "content-md5", presigned)
    head = f"{req.method}\n{md5}\n{_positional(req, 'content-type', presigned)}\n"
    amz_map = _amz_headers(req, presigned)
    amz = canonical_amz_headers(amz_map)
    # (Date line, CanonicalizedAmzHeaders) forms; the first is AWS's.
    forms: list[tuple[str, str]]
    if presigned:
        forms = [(expires or "", amz)]
    elif "x-amz-date" in amz_map:
        # AWS signs an empty Date line when x-amz-date is present; botocore signs the Date header
        # anyway; the RESTAuthentication DELETE example moves x-amz-date into the Date line.
        forms = [("", amz)]
        if req.headers.get("date"):
            forms.append((req.headers["date"].strip(), amz))
        amz_date = amz_map.pop("x-amz-date")
        forms.append((amz_date.strip(), canonical_amz_headers(amz_map)))
    else:
        forms = [(req.headers.get("date", "").strip(), amz)]
    for resource in _resources(req):
        for date, amz_lines in forms:
            yield f"{head}{date}\n{amz_lines}{resource}"


def verify(
    req: SignedRequest, access_key: str, secret: str, signature: str, *, expires: str | None = None
) -> None:
    """Raise SignatureDoesNotMatch unless one canonical form of ``req`` yields ``signature``."""
    provided = signature.encode("utf-8", "replace")
    first: str | None = None
    for sts in strings_to_sign(req, expires=expires):
        if hmac.compare_digest(sign(secret, sts).encode(), provided):
            return
        if first is None:
            first = sts
    raise S3Error(
        "SignatureDoesNotMatch",
        AWSAccessKeyId=safe_text(access_key),
        StringToSign=safe_text(first or "", None),
        SignatureProvided=safe_text(signature),
    )


def parse_authorization(value: str) -> tuple[str, str]:
    """Split ``AWS AKID:signature`` (the ``AWS `` prefix already removed) into its parts."""
    access_key, sep, signature = value.strip().rpartition(":")
    if not sep or not access_key or not signature:
        raise S3Error(
            "InvalidArgument",
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            ArgumentName="Authorization",
            ArgumentValue=safe_text("AWS " + value),
        )
    return access_key, signature
