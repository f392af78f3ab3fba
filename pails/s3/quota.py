"""Bucket quotas at the S3 edge: a write whose length is known is refused
before its body is read when it would pass the bucket's quota.  The decision
that counts is made again in the commit (``MetaStore.set_bucket_quota``), so
concurrent writers cannot pass the quota together; this early check only
spares sending a body that would be refused."""

from __future__ import annotations

import json

from pails.errors import S3Error
from pails.s3.request import S3Request
from pails.storage.engine import Engine
from pails.storage.records import BucketQuota

MARK = '"quota"'  # in a bucket's props JSON when it has a quota (no parse for the others)


async def admit(engine: Engine, req: S3Request, length: int | None, new_object: bool) -> None:
    """QuotaExceeded if ``length`` more bytes (and one more object when
    ``new_object``) would pass the quota of the request's bucket.  A bucket
    without a quota costs one substring test of its cached record."""
    bucket = req.bucket_record
    if bucket is None or MARK not in bucket.props:
        return
    quota = BucketQuota.of(json.loads(bucket.props))
    if quota is None:
        return
    usage = await engine.meta.bucket_usage(bucket.id)
    if quota.exceeded_by(usage, length or 0, int(new_object)):
        raise S3Error("QuotaExceeded")
