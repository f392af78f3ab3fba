"""Operations whose body AWS will only take with an integrity check
(``requestChecksumRequired`` in its API model: DeleteObjects, PutBucketCors,
PutBucketLifecycleConfiguration, PutObjectLockConfiguration,
PutObjectRetention, PutObjectLegalHold, PutBucketWebsite): a ``Content-MD5`` or an
``x-amz-checksum-*`` header or trailer, verified against the body."""

from __future__ import annotations

import base64
import hashlib

from pails.errors import S3Error
from pails.protocol import checksums as ck
from pails.s3.request import S3Request

MISSING_MD5 = "Missing required header for this request: Content-MD5"
MISSING_MD5_OR_CHECKSUM = "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"


def check_body(req: S3Request, body: bytes, missing: str = MISSING_MD5) -> None:
    """BadDigest when the body does not match what was sent; InvalidRequest
    (``missing``) when nothing was."""
    md5 = req.headers.get("content-md5")
    if md5 is not None:
        if base64.b64encode(hashlib.md5(body).digest()).decode() != md5.strip():
            raise S3Error("BadDigest")
        return
    for name, value in req.headers.items():
        alg = ck.algorithm_for_header(name) if name.startswith("x-amz-checksum-") else None
        if alg is not None:
            _check(alg, body, value)
            return
    trailers = req.body.trailers()
    for name, value in trailers.items():
        alg = ck.algorithm_for_header(name)
        if alg is not None:
            _check(alg, body, value)
            return
    if not trailers:
        raise S3Error("InvalidRequest", missing)


def _check(alg: str, body: bytes, value: str) -> None:
    h = ck.new_checksum(alg)
    h.update(body)
    if h.b64digest() != value.strip():
        raise S3Error("BadDigest")
