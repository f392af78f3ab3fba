"""Veeam's Smart Object Storage API (SOSAPI): two virtual objects per bucket
that tell Veeam Backup & Replication what the store can do and how much room
the bucket has, so that it treats the bucket as "S3 Integrated" (docs/backups.md).

Served for GET and HEAD, only in buckets where the operator turned it on
(``pails bucket veeam BUCKET on``: the bucket's props hold ``veeam_sosapi``),
and only while no real object has that key: an object the operator PUT there
wins.  They are not listed (Veeam reads them by name)."""

from __future__ import annotations

import hashlib
import json
import time

from pails.errors import S3Error
from pails.protocol.dates import http_date
from pails.s3.permissions import bucket_allows, get_bucket
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine
from pails.storage.records import Bucket, BucketQuota

FOLDER = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/"
SYSTEM = FOLDER + "system.xml"
CAPACITY = FOLDER + "capacity.xml"
PROP = "veeam_sosapi"
MARK = f'"{PROP}"'  # in a bucket's props JSON when it is on
MODEL_NAME = "Pails"

# ProtocolVersion and ModelName carry their double quotes: Veeam refuses the version without them.
_SYSTEM_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<SystemInfo>"
    '<ProtocolVersion>"1.0"</ProtocolVersion>'
    f'<ModelName>"{MODEL_NAME}"</ModelName>'
    "<ProtocolCapabilities>"
    "<CapacityInfo>true</CapacityInfo>"
    "<UploadSessions>false</UploadSessions>"
    "<IAMSTS>false</IAMSTS>"
    "</ProtocolCapabilities>"
    "</SystemInfo>\n"
).encode()


def enabled(bucket: Bucket) -> bool:
    return MARK in bucket.props and bool(json.loads(bucket.props).get(PROP))


async def capacity(engine: Engine, bucket: Bucket) -> tuple[int, int, int]:
    """(Capacity, Available, Used) in bytes: the bucket's quota of bytes and
    what it stores when it has one, else the data directory's filesystem."""
    quota = BucketQuota.of(json.loads(bucket.props))
    if quota is not None and quota.max_bytes is not None:
        used = (await engine.meta.bucket_usage(bucket.id)).stored_bytes
        return quota.max_bytes, max(0, quota.max_bytes - used), used
    size, available = engine.filesystem_capacity()
    return size, available, size - available


async def _body(engine: Engine, bucket: Bucket, key: str) -> bytes:
    if key == SYSTEM:
        return _SYSTEM_XML
    total, available, used = await capacity(engine, bucket)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<CapacityInfo><Capacity>{total}</Capacity><Available>{available}</Available>"
            f"<Used>{used}</Used></CapacityInfo>\n").encode()


async def serve(engine: Engine, req: S3Request, head: bool) -> Response | None:
    """The virtual object the GET or HEAD ``req`` names, or None: not one
    (the request goes on as any other)."""
    key = req.key
    if key not in (SYSTEM, CAPACITY) or "versionId" in req.query or "partNumber" in req.query:
        return None
    bucket = await get_bucket(engine, req)
    if not enabled(bucket):
        return None
    current = await engine.meta.get_object(bucket.id, key)
    if current is not None and not current.delete_marker:
        return None  # a real object of that name wins
    if not bucket_allows(req, bucket, "READ", action="s3:GetObject"):
        raise S3Error("AccessDenied")
    body = await _body(engine, bucket, key)
    headers = [("Content-Type", "application/xml"), ("ETag", f'"{hashlib.md5(body).hexdigest()}"'),
               ("Last-Modified", http_date(time.time()))]
    if head:
        return Response(200, headers, content_length=len(body))
    return Response(200, headers, body)
