"""Buckets as the operator sees them: every bucket with its owner and usage,
one bucket's usage (docs/quotas.md, kept exact by the store) and its quota,
set or cleared.  ``pails bucket`` prints what these return."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pails.admin import fields
from pails.admin.api import AdminError, AdminRequest, AdminResponse, require_operator, require_root
from pails.errors import S3Error
from pails.storage.engine import Engine
from pails.storage.records import Bucket, BucketQuota, BucketUsage, User

_PAGE = 1000  # buckets per page of the list, at most


def usage_json(usage: BucketUsage) -> dict[str, int]:
    return {**dataclasses.asdict(usage), "stored_bytes": usage.stored_bytes, "stored_objects": usage.stored_objects}


def quota_json(quota: BucketQuota | None) -> dict[str, int | None]:
    quota = quota or BucketQuota()
    return {"max_bytes": quota.max_bytes, "max_objects": quota.max_objects}


def _quota(bucket: Bucket) -> BucketQuota | None:
    return BucketQuota.of(dict(json.loads(bucket.props or "{}")))


async def bucket_info(engine: Engine, bucket: Bucket) -> dict[str, Any]:
    """What ``pails bucket info --json`` prints (docs/quotas.md)."""
    from pails.s3 import veeam

    quota = _quota(bucket)
    return {
        "bucket": bucket.name,
        "owner_id": bucket.owner_id,
        "versioning": bucket.versioning or "Unversioned",
        "usage": usage_json(await engine.meta.bucket_usage(bucket.id)),
        "quota": None if quota is None else quota_json(quota),
        "veeam_sosapi": veeam.enabled(bucket),
    }


async def bucket_for(engine: Engine, req: AdminRequest) -> Bucket:
    """The path's bucket (404 if none), which the caller must be the operator or the owner of (403)."""
    caller = require_root(req)
    name = req.params["bucket"]
    bucket = await engine.meta.get_bucket(name)
    if bucket is None:
        raise AdminError(404, "NoSuchBucket", f"no bucket {name}")
    if not caller.operator and bucket.owner_id != caller.canonical_id:
        raise AdminError(403, "AccessDenied", "an account root may only see its own buckets")
    return bucket


def _owner_json(owner_id: str, accounts: dict[str, User]) -> dict[str, str | None]:
    account = accounts.get(owner_id)
    return {"canonical_id": owner_id, "account_id": account.account_id if account else None,
            "display_name": account.display_name if account else None}


async def list_buckets(engine: Engine, req: AdminRequest) -> AdminResponse:
    """A page of buckets by name (``after``, ``limit``), each with its owner, usage and quota."""
    caller = require_root(req)
    after = req.query.get("after", "")
    raw_limit = req.query.get("limit", str(_PAGE))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= _PAGE:
        raise fields.invalid(f"limit must be a whole number from 1 to {_PAGE}")
    limit = int(raw_limit)
    accounts = {a.canonical_id: a for a in await engine.meta.list_users()}
    owner_ref = req.query.get("owner")
    owner: str | None = None if caller.operator else caller.canonical_id
    if owner_ref:
        found = next((a for a in accounts.values()
                      if owner_ref in (a.display_name, a.access_key, a.account_id)), None)
        if found is None:
            raise AdminError(404, "NoSuchAccount", f"no account {owner_ref}")
        if owner is not None and found.canonical_id != owner:
            raise AdminError(403, "AccessDenied", "an account root may only see its own buckets")
        owner = found.canonical_id
    if owner is None:
        page = await engine.meta.all_buckets(after, limit + 1)
    else:
        page = sorted((b for b in await engine.meta.list_buckets(owner) if b.name > after), key=lambda b: b.name)
        page = page[:limit + 1]
    more = len(page) > limit
    page = page[:limit]
    out = []
    for bucket in page:
        quota = _quota(bucket)
        out.append({"name": bucket.name, "owner": _owner_json(bucket.owner_id, accounts),
                    "created": fields.iso(bucket.created), "versioning": bucket.versioning or "Unversioned",
                    "usage": usage_json(await engine.meta.bucket_usage(bucket.id)),
                    "quota": None if quota is None else quota_json(quota)})
    return AdminResponse.json({"buckets": out, "next_after": page[-1].name if more else None})


async def get_bucket(engine: Engine, req: AdminRequest) -> AdminResponse:
    return AdminResponse.json(await bucket_info(engine, await bucket_for(engine, req)))


async def get_usage(engine: Engine, req: AdminRequest) -> AdminResponse:
    bucket = await bucket_for(engine, req)
    return AdminResponse.json(usage_json(await engine.meta.bucket_usage(bucket.id)))


async def get_quota(engine: Engine, req: AdminRequest) -> AdminResponse:
    return AdminResponse.json(quota_json(_quota(await bucket_for(engine, req))))


async def _store_quota(engine: Engine, bucket: Bucket, quota: BucketQuota | None) -> AdminResponse:
    if quota is not None and quota.max_bytes is None and quota.max_objects is None:
        quota = None
    try:
        await engine.meta.set_bucket_quota(bucket.id, quota)
    except S3Error as err:
        if err.code == "NoSuchBucket":
            raise AdminError(404, "NoSuchBucket", f"no bucket {bucket.name}") from None
        raise
    return AdminResponse.json(quota_json(quota))


async def put_quota(engine: Engine, req: AdminRequest) -> AdminResponse:
    """Set the limits the body names (null: no limit); a limit it leaves out stays as it is."""
    require_operator(req)  # a quota limits an account: its own root may read it, not change it
    body = req.json()
    fields.known_fields(body, {"max_bytes", "max_objects"})
    if not body:
        raise fields.invalid("give max_bytes, max_objects or both (null: no limit); DELETE removes the quota")
    bucket = await bucket_for(engine, req)
    old = _quota(bucket) or BucketQuota()
    quota = BucketQuota(fields.limit(body["max_bytes"], "max_bytes") if "max_bytes" in body else old.max_bytes,
                        fields.limit(body["max_objects"], "max_objects") if "max_objects" in body
                        else old.max_objects)
    return await _store_quota(engine, bucket, quota)


async def delete_quota(engine: Engine, req: AdminRequest) -> AdminResponse:
    require_operator(req)
    return await _store_quota(engine, await bucket_for(engine, req), None)
