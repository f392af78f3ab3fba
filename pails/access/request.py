"""Value types passed between the HTTP edge and the authentication code.

Kept free of any I/O so authentication can be unit-tested on plain data and
the edge can build these cheaply once per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parts of an HTTP request that signatures cover.

    ``path`` and ``raw_path`` are the request-line path (for virtual-host
    addressing they do not contain the bucket; ``virtual_bucket`` carries it).
    """

    method: str
    path: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    virtual_bucket: str | None = None


@dataclass(frozen=True, slots=True)
class ChunkSigningContext:
    """What an aws-chunked decoder needs to verify the chained chunk signatures."""

    signing_key: bytes
    amz_date: str
    scope: str
    seed_signature: str


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Who signed the request and how, so the caller can verify the body accordingly."""

    access_key: str | None
    signature_version: str
    presigned: bool
    content_sha256: str | None
    chunk_signing: ChunkSigningContext | None
    service: str = "s3"  # the SigV4 credential scope's service: "s3", or "iam" / "sts" (their Query APIs)
