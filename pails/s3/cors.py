"""CORS preflight (OPTIONS).  Bucket CORS configurations are not stored yet,
so every well-formed preflight is refused as AWS refuses it for a bucket
without one."""

from __future__ import annotations

from pails.errors import S3Error
from pails.s3.permissions import get_bucket
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine


async def preflight(engine: Engine, req: S3Request) -> Response:
    if "origin" not in req.headers:
        raise S3Error("BadRequest", "Insufficient information. Origin request header needed.")
    if "access-control-request-method" not in req.headers:
        raise S3Error("BadRequest", "Invalid Access-Control-Request-Method header.")
    await get_bucket(engine, req)
    raise S3Error("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.")
