"""Object Ownership controls: Put/Get/DeleteBucketOwnershipControls.

``BucketOwnerEnforced`` disables ACLs (the bucket owner owns every object and
only the bucket policy grants others access); ``BucketOwnerPreferred`` gives
the bucket owner objects written with ``bucket-owner-full-control``;
``ObjectWriter`` (and no setting) is the classic ACL model."""

from __future__ import annotations

from pails.access import acl as acls
from pails.errors import S3Error
from pails.protocol import xml
from pails.s3.permissions import OWNERSHIP_MODES, OWNERSHIP_PROP, get_bucket, ownership_mode, require_owner
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine


def check_mode(value: str) -> str:
    if value not in OWNERSHIP_MODES:
        raise S3Error("InvalidArgument", f"Invalid ObjectOwnership: {value}", ArgumentName="ObjectOwnership")
    return value


def acl_is_private(acl: acls.Acl) -> bool:
    return all(g.grantee_type == "CanonicalUser" and g.grantee_id == acl.owner_id for g in acl.grants)


async def put_bucket_ownership_controls(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    root = xml.parse(await req.body.read_all(xml.MAX_XML_BODY))
    rules = root.findall("Rule") if root.tag == "OwnershipControls" else []
    if len(rules) != 1:
        raise S3Error("MalformedXML")
    value = check_mode((xml.child_text(rules[0], "ObjectOwnership") or "").strip())
    if value == "BucketOwnerEnforced" and not acl_is_private(acls.Acl.from_json(bucket.acl)):
        raise S3Error("InvalidBucketAclWithObjectOwnership")
    await engine.meta.set_bucket_prop(bucket.id, OWNERSHIP_PROP, value)
    return Response(200)


async def get_bucket_ownership_controls(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    value = ownership_mode(bucket)
    if value is None:
        raise S3Error("OwnershipControlsNotFoundError", BucketName=bucket.name)
    inner = f"<Rule><ObjectOwnership>{value}</ObjectOwnership></Rule>"
    return Response.xml(xml.document("OwnershipControls", inner))


async def delete_bucket_ownership_controls(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    await engine.meta.set_bucket_prop(bucket.id, OWNERSHIP_PROP, None)
    return Response(204)
