"""Put/Get/DeletePublicAccessBlock.  The four switches are enforced where
access is decided (pails.s3.permissions) and where ACLs and policies are set."""

from __future__ import annotations

from pails.errors import S3Error
from pails.protocol import xml
from pails.s3.permissions import PUBLIC_ACCESS_PROP, PUBLIC_BLOCK_FLAGS, get_bucket, public_access_block, require_owner
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine


async def put_public_access_block(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    root = xml.parse(await req.body.read_all(xml.MAX_XML_BODY))
    if root.tag != "PublicAccessBlockConfiguration":
        raise S3Error("MalformedXML")
    flags: dict[str, bool] = {}
    for name in PUBLIC_BLOCK_FLAGS:
        value = (xml.child_text(root, name) or "false").strip().lower()
        if value not in ("true", "false"):
            raise S3Error("MalformedXML")
        flags[name] = value == "true"
    await engine.meta.set_bucket_prop(bucket.id, PUBLIC_ACCESS_PROP, flags)
    return Response(200)


async def get_public_access_block(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    flags = public_access_block(bucket)
    if flags is None:
        raise S3Error("NoSuchPublicAccessBlockConfiguration", BucketName=bucket.name)
    inner = "".join(f"<{n}>{'true' if flags.get(n) else 'false'}</{n}>" for n in PUBLIC_BLOCK_FLAGS)
    return Response.xml(xml.document("PublicAccessBlockConfiguration", inner))


async def delete_public_access_block(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    await engine.meta.set_bucket_prop(bucket.id, PUBLIC_ACCESS_PROP, None)
    return Response(204)
