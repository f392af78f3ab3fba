"""AWS Signature Version 4 as S3 applies it (header and presigned-URL forms).

Pure functions over a :class:`SignedRequest`; ``authenticate`` decides which
scheme applies and calls in here.  S3 differs from the generic SigV4 spec in
that the canonical URI is encoded once and never normalised.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from urllib.parse import quote

from pails.access.request import SignedRequest
from pails.errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
# Modes whose body arrives aws-chunked with per-chunk signatures.
SIGNED_STREAMING_MODES = frozenset((STREAMING_SIGNED, STREAMING_SIGNED_TRAILER))
PAYLOAD_MODES = frozenset(
    (UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
)

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")


@lru_cache(maxsize=512)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Derive the SigV4 signing key; cached because it changes once a day per key/region."""
    k = hmac.digest(("AWS4" + secret).encode(), date.encode(), "sha256")
    k = hmac.digest(k, region.encode(), "sha256")
    k = hmac.digest(k, service.encode(), "sha256")
    return hmac.digest(k, b"aws4_request", "sha256")


def sign_hex(key: bytes, string_to_sign: str) -> str:
    """Hex HMAC-SHA256 of ``string_to_sign``; shared with POST-policy verification."""
    return hmac.digest(key, string_to_sign.encode(), "sha256").hex()


def signatures_equal(expected: str, provided: str) -> bool:
    """Constant-time comparison that tolerates non-ASCII garbage from the client."""
    return hmac.compare_digest(expected.encode(), provided.encode("utf-8", "replace"))


def safe_text(text: str, limit: int | None = 256) -> str:
    """Client-supplied text made fit for an XML error detail: truncated, XML-illegal characters replaced."""
    if limit is not None:
        text = text[:limit]
    return _XML_ILLEGAL.sub("?", text)


def uri_encode_path(path: str) -> str:
    """S3 canonical URI: encode everything but unreserved characters and '/', once."""
    return quote(path, safe="/") if path else "/"


def canonical_query(query: Iterable[tuple[str, str]], skip: str | None = None) -> str:
    """Sorted, strictly encoded ``name=value`` pairs (``skip`` drops X-Amz-Signature)."""
    pairs = sorted(
        (quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in query if name != skip
    )
    return "&".join(f"{n}={v}" for n, v in pairs)


def canonical_headers(headers: Mapping[str, str], signed: list[str]) -> str:
    """``name:value\\n`` lines in SignedHeaders order with values trimmed and spaces collapsed."""
    out = []
    get = headers.get
    for name in signed:
        out.append(f"{name}:{' '.join(get(name, '').split())}\n")
    return "".join(out)


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers: Mapping[str, str],
    signed: list[str],
    signed_str: str,
    payload_hash: str,
) -> str:
    return f"{method}\n{uri}\n{query}\n{canonical_headers(headers, signed)}\n{signed_str}\n{payload_hash}"


def string_to_sign(amz_date: str, scope: str, creq: str) -> str:
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"


def candidate_uris(req: SignedRequest) -> Iterator[str]:
    """The canonical URI S3 expects first, then the path exactly as sent (some clients encode differently)."""
    primary = uri_encode_path(req.path)
    yield primary
    if req.raw_path and req.raw_path != primary:
        yield req.raw_path


def validate_content_sha256(value: str) -> str:
    """Normalise an x-amz-content-sha256 value, rejecting what AWS rejects."""
    if value in PAYLOAD_MODES:
        return value
    if _HEX64.fullmatch(value):
        return value.lower()
    raise S3Error(
        "InvalidArgument",
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
        ArgumentValue=safe_text(value),
    )


def is_amz_date(value: str) -> bool:
    return _AMZ_DATE.fullmatch(value) is not None


class PayloadVerifier:
    """Incrementally checks a body against a hex x-amz-content-sha256 (the caller's job, made easy)."""

    __slots__ = ("_expected", "_hash")

    def __init__(self, expected_hex: str) -> None:
        self._expected = expected_hex.lower()
        self._hash = hashlib.sha256()

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def verify(self) -> None:
        """Raise XAmzContentSHA256Mismatch (with both digests, as AWS reports) if the body differs."""
        got = self._hash.hexdigest()
        if not hmac.compare_digest(got, self._expected):
            raise S3Error(
                "XAmzContentSHA256Mismatch",
                ClientComputedContentSHA256=self._expected,
                S3ComputedContentSHA256=got,
            )
