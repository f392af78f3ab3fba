"""Put/Get/DeleteBucketCors, the CORS preflight (OPTIONS), and the
``Access-Control-*`` headers of actual responses.

The configuration lives in ``buckets.props["cors"]`` in the record form of
``pails.s3.cors_rules``, which parses, validates and matches it; the handlers
here stay thin.
"""

from __future__ import annotations

import json

from pails.errors import S3Error
from pails.protocol import xml
from pails.s3 import cors_rules, integrity
from pails.s3.permissions import get_bucket, require_owner
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine
from pails.storage.records import Bucket


def _rules(bucket: Bucket) -> tuple[cors_rules.Rule, ...] | None:
    if cors_rules.MARK not in bucket.props:  # most buckets: no JSON parse, no cache lookup
        return None
    return cors_rules.rules_of(bucket.props)


async def put_bucket_cors(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    body = await req.body.read_all(xml.MAX_XML_BODY)
    integrity.check_body(req, body)
    records = cors_rules.parse_configuration(body)
    await engine.meta.set_bucket_prop(bucket.id, cors_rules.BUCKET_PROP, records)
    return Response(200)


async def get_bucket_cors(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    records = json.loads(bucket.props).get(cors_rules.BUCKET_PROP) if cors_rules.MARK in bucket.props else None
    if not records:
        raise S3Error("NoSuchCORSConfiguration", BucketName=bucket.name)
    return Response.xml(cors_rules.render_configuration(records))


async def delete_bucket_cors(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    await engine.meta.set_bucket_prop(bucket.id, cors_rules.BUCKET_PROP, None)
    return Response(204)


async def preflight(engine: Engine, req: S3Request) -> Response:
    """OPTIONS on a bucket or object: unauthenticated, answered from the bucket's rules."""
    h = req.headers
    origin, method = h.get("origin"), h.get("access-control-request-method")
    if origin and method in cors_rules.METHODS:  # otherwise BadRequest, before the bucket is looked up
        bucket = await get_bucket(engine, req)
        rules = _rules(bucket)
    else:
        rules = None
    resource_type = "OBJECT" if req.key is not None else "BUCKET"
    headers = cors_rules.preflight_headers(rules, origin, method, h.get("access-control-request-headers"),
                                           resource_type)
    return Response(200, headers)


def response_headers(bucket: Bucket, headers: dict[str, str], method: str) -> list[tuple[str, str]]:
    """The CORS headers an actual response to a request with an ``Origin``
    gets from its bucket's rules.  An ``Access-Control-Request-Method``
    header, when sent, is the method matched (as Ceph RGW, which
    ceph/s3-tests checks; browsers never send it on actual requests)."""
    rules = _rules(bucket)
    origin = headers.get("origin")
    if rules is None or not origin:
        return []
    return cors_rules.response_headers(rules, origin, headers.get("access-control-request-method", method))
