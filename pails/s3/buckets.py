"""Service and bucket operations: ListBuckets, CreateBucket, HeadBucket,
DeleteBucket, GetBucketLocation, Get/PutBucketVersioning."""

from __future__ import annotations

import json
import time

from pails.access import acl as acls
from pails.errors import S3Error
from pails.protocol import xml
from pails.protocol.dates import iso8601
from pails.protocol.names import check_bucket_name
from pails.s3 import bucket_logging, object_lock
from pails.s3.permissions import (
    OWNERSHIP_MODES,
    OWNERSHIP_PROP,
    acl_from_request,
    get_bucket,
    require_bucket,
    require_identity,
    require_owner,
    require_user,
)
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine
from pails.storage.records import Bucket


async def list_buckets(engine: Engine, req: S3Request) -> Response:
    if req.user is None:  # the anonymous principal owns nothing (as Ceph RGW and s3-tests have it)
        return Response.xml(xml.document("ListAllMyBucketsResult", "<Buckets></Buckets>"))
    require_identity(req, "s3:ListAllMyBuckets", "arn:aws:s3:::*")
    q = req.query
    prefix = q.get("prefix", "")
    after = q.get("continuation-token", "")
    limit = 10000
    if "max-buckets" in q:
        raw = q["max-buckets"]
        if not raw.isdigit() or not 1 <= int(raw) <= 10000:
            raise S3Error("InvalidArgument", "max-buckets must be an integer between 1 and 10000",
                          ArgumentName="max-buckets", ArgumentValue=raw)
        limit = int(raw)
    buckets = [b for b in await engine.meta.list_buckets(req.user.canonical_id)
               if b.name > after and b.name.startswith(prefix)]
    page, more = buckets[:limit], len(buckets) > limit
    owner = (f"<Owner><ID>{req.user.canonical_id}</ID>"
             f"<DisplayName>{xml.escape(req.user.display_name)}</DisplayName></Owner>")
    items = "".join(f"<Bucket><Name>{b.name}</Name><CreationDate>{iso8601(b.created)}</CreationDate>"
                    f"<BucketRegion>{xml.escape(b.location or engine.settings.region)}</BucketRegion></Bucket>"
                    for b in page)
    tail = xml.element("ContinuationToken", page[-1].name) if more else ""
    tail += xml.element("Prefix", prefix) if "prefix" in q else ""
    return Response.xml(xml.document("ListAllMyBucketsResult", f"{owner}<Buckets>{items}</Buckets>{tail}"))


async def create_bucket(engine: Engine, req: S3Request) -> Response:
    require_user(req)
    assert req.user is not None and req.bucket is not None
    require_identity(req, "s3:CreateBucket", f"arn:aws:s3:::{req.bucket}")
    check_bucket_name(req.bucket)
    body = await req.body.read_all(xml.MAX_XML_BODY)
    location = ""
    if body.strip():
        root = xml.parse(body)
        if root.tag != "CreateBucketConfiguration":
            raise S3Error("MalformedXML")
        location = (xml.child_text(root, "LocationConstraint") or "").strip()
    acl = await acl_from_request(engine, req, req.user.canonical_id, req.user.display_name)
    lock = object_lock.requested_at_creation(req.headers)
    props = _initial_props(req, acl)
    if lock:  # Object Lock needs versioning, which it turns on for good
        props = json.dumps({**json.loads(props), object_lock.BUCKET_PROP: {"enabled": True}})
    bucket = Bucket(id=0, name=req.bucket, owner_id=req.user.canonical_id, created=time.time(),
                    location=location, acl=acl.to_json(), versioning="Enabled" if lock else None, props=props)
    created, holder = await engine.meta.create_bucket(bucket)
    # Re-creating your own bucket succeeds (us-east-1) unless it asks for a different ACL.
    if not created and (holder.owner_id != req.user.canonical_id or holder.acl != bucket.acl):
        raise S3Error("BucketAlreadyExists", BucketName=req.bucket)
    if not created and lock and object_lock.config_of(holder) is None:
        # Never a 200 that leaves the caller believing the bucket is locked.
        raise S3Error("BucketAlreadyOwnedByYou", BucketName=req.bucket)
    return Response(200, [("Location", f"/{req.bucket}")])


async def head_bucket(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_bucket(req, bucket, "READ")
    return Response(200, [("x-amz-bucket-region", bucket.location or engine.settings.region)])


async def delete_bucket(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    await engine.meta.delete_bucket(bucket.id)
    engine.collect_soon()  # data files of the uploads it aborted
    await bucket_logging.bucket_deleted(engine, bucket)
    return Response(204)


async def get_bucket_location(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    inner = xml.escape(bucket.location)
    return Response.xml(f'{xml.XML_DECL}<LocationConstraint xmlns="{xml.S3_NS}">{inner}</LocationConstraint>'
                        .encode())


async def get_bucket_versioning(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    inner = xml.element("Status", bucket.versioning) if bucket.versioning else ""
    return Response.xml(xml.document("VersioningConfiguration", inner))


async def put_bucket_versioning(engine: Engine, req: S3Request) -> Response:
    """Status Enabled or Suspended; MfaDelete only Disabled (MFA delete is
    not supported).  Once set, a bucket never returns to unversioned."""
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    body = await req.body.read_all(xml.MAX_XML_BODY)
    root = xml.parse(body)
    if root.tag != "VersioningConfiguration":
        raise S3Error("MalformedXML")
    for child in root:
        if child.tag not in ("Status", "MfaDelete"):
            raise S3Error("MalformedXML")
    status = xml.child_text(root, "Status")
    mfa = xml.child_text(root, "MfaDelete")
    if mfa is not None and mfa not in ("Disabled", "Enabled"):
        raise S3Error("MalformedXML")
    if mfa == "Enabled":
        raise S3Error("InvalidRequest", "MFA delete is not supported.")
    if status is None:
        if mfa is None:
            raise S3Error("MalformedXML")
        return Response(200)
    if status not in ("Enabled", "Suspended"):
        raise S3Error("MalformedXML")
    await engine.meta.change_bucket(bucket.id, object_lock.versioning_change(status))
    return Response(200)


def _initial_props(req: S3Request, acl: acls.Acl) -> str:
    """Bucket properties set at creation: x-amz-object-ownership."""
    mode = req.headers.get("x-amz-object-ownership")
    if mode is None:
        return "{}"
    if mode not in OWNERSHIP_MODES:
        raise S3Error("InvalidArgument", f"Invalid x-amz-object-ownership header: {mode}",
                      ArgumentName="x-amz-object-ownership")
    if mode == "BucketOwnerEnforced" and any(g.grantee_id != acl.owner_id for g in acl.grants):
        raise S3Error("InvalidBucketAclWithObjectOwnership")
    return json.dumps({OWNERSHIP_PROP: mode})
