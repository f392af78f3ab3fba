"""GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl."""

from __future__ import annotations

from pails.access import acl as acls
from pails.errors import S3Error
from pails.protocol import xml
from pails.s3 import notification
from pails.s3.objects import locate, version_header
from pails.s3.permissions import (
    acl_from_request,
    check_acl_not_blocked,
    get_bucket,
    ownership_mode,
    require_bucket,
    require_object,
    user_resolvers,
)
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine
from pails.storage.notify import emitting


async def _acl_from_put(engine: Engine, req: S3Request, current: acls.Acl,
                        bucket_owner: str | None = None) -> acls.Acl:
    """The new ACL a PUT ?acl asks for: canned header, grant headers or XML body."""
    if ownership_mode(req.bucket_record) == "BucketOwnerEnforced":
        raise S3Error("AccessControlListNotSupported")
    body = await req.body.read_all(xml.MAX_XML_BODY)
    has_headers = "x-amz-acl" in req.headers or any(h.startswith("x-amz-grant-") for h in req.headers)
    if body.strip():
        if has_headers:
            raise S3Error("UnexpectedContent", "This request does not support content")
        new = acls.parse_access_control_policy(body, *await user_resolvers(engine))
        if new.owner_id != current.owner_id:
            raise S3Error("AccessDenied")
        check_acl_not_blocked(req.bucket_record, new)
        return acls.Acl(current.owner_id, current.owner_display_name, new.grants)
    if not has_headers:
        raise S3Error("MissingSecurityHeader", "Your request was missing a required header",
                      MissingHeaderName="x-amz-acl")
    bucket = None
    if bucket_owner is not None:
        bucket = await get_bucket(engine, req)
    acl = await acl_from_request(engine, req, current.owner_id, current.owner_display_name, bucket)
    check_acl_not_blocked(req.bucket_record, acl)
    return acl


async def get_bucket_acl(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_bucket(req, bucket, "READ_ACP")
    return Response.xml(acls.render_access_control_policy(acls.Acl.from_json(bucket.acl)))


async def put_bucket_acl(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_bucket(req, bucket, "WRITE_ACP")
    new = await _acl_from_put(engine, req, acls.Acl.from_json(bucket.acl))
    await engine.meta.update_bucket(bucket.id, acl=new.to_json())
    return Response(200)


async def get_object_acl(engine: Engine, req: S3Request) -> Response:
    bucket, obj = await locate(engine, req)
    require_object(req, obj, "READ_ACP")
    response = Response.xml(acls.render_access_control_policy(acls.Acl.from_json(obj.acl)))
    response.headers.extend(version_header(bucket, obj.version_id))
    return response


async def put_object_acl(engine: Engine, req: S3Request) -> Response:
    bucket, obj = await locate(engine, req)
    require_object(req, obj, "WRITE_ACP")
    new = await _acl_from_put(engine, req, acls.Acl.from_json(obj.acl), bucket.owner_id)
    assert req.key is not None
    events = notification.pending(req, bucket, "s3:ObjectAcl:Put", req.key, etag=obj.etag,
                                  version_id=obj.version_id)
    if not await emitting(events, engine.meta.set_object_acl(bucket.id, req.key, new.to_json(), obj.version_id)):
        raise S3Error("NoSuchVersion", Key=req.key, VersionId=obj.version_id)
    return Response(200, version_header(bucket, obj.version_id))
