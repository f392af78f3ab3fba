"""Bucket-name and key rules."""

from __future__ import annotations

import re

from pails.errors import S3Error

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
MAX_KEY_BYTES = 1024
# Paths under /minio/ answer MinIO's health checks (pails.http.health): no bucket may take the name.
RESERVED_BUCKETS = frozenset({"minio"})


def valid_bucket_name(name: str) -> bool:
    """AWS's rules for new buckets (us-east-1 legacy names are not accepted)."""
    if not _BUCKET_RE.match(name):
        return False
    if ".." in name or ".-" in name or "-." in name or _IPV4_RE.match(name):
        return False
    if name.startswith("xn--") or name.endswith("-s3alias") or name.endswith("--ol-s3"):
        return False
    return name not in RESERVED_BUCKETS


def check_bucket_name(name: str) -> None:
    if not valid_bucket_name(name):
        raise S3Error("InvalidBucketName", BucketName=name)


def check_key(key: str) -> None:
    """Any UTF-8 string of 1..1024 bytes is a key; NUL cannot travel in XML,
    so it is refused."""
    if len(key) > MAX_KEY_BYTES // 4 and len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", Size=str(len(key.encode("utf-8", "surrogatepass"))),
                      MaxSizeAllowed=str(MAX_KEY_BYTES))
    if "\x00" in key:
        raise S3Error("InvalidArgument", "Object key contains a NUL character.", ArgumentName="key")
