"""Put/Get/DeleteBucketWebsite (on the S3 endpoint): the configuration lives
in ``buckets.props["website"]`` in the record form of
``pails.website.configuration``, which parses and validates it."""

from __future__ import annotations

import json

from pails.errors import S3Error
from pails.protocol import xml
from pails.s3 import integrity
from pails.s3.permissions import get_bucket, require_owner
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine
from pails.storage.records import Bucket
from pails.website import configuration


def stored_configuration(bucket: Bucket) -> configuration.Record | None:
    if configuration.MARK not in bucket.props:  # most buckets: no JSON parse
        return None
    config: configuration.Record | None = json.loads(bucket.props).get(configuration.BUCKET_PROP)
    return config


async def put_bucket_website(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    body = await req.body.read_all(xml.MAX_XML_BODY)
    integrity.check_body(req, body)
    config = configuration.parse_configuration(body)
    await engine.meta.set_bucket_prop(bucket.id, configuration.BUCKET_PROP, config)
    return Response(200)


async def get_bucket_website(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    config = stored_configuration(bucket)
    if config is None:
        raise S3Error("NoSuchWebsiteConfiguration", BucketName=bucket.name)
    return Response.xml(configuration.render_configuration(config))


async def delete_bucket_website(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    await engine.meta.set_bucket_prop(bucket.id, configuration.BUCKET_PROP, None)
    return Response(204)
