"""Tagging: Get/Put/DeleteObjectTagging, Get/Put/DeleteBucketTagging, and the
tag codec behind the ``x-amz-tagging`` header (PutObject, CopyObject,
CreateMultipartUpload).

Where object tags live: in the object's stored ``headers`` JSON, under the
name ``x-amz-tagging`` (``TAGS_KEY``), as the query-encoded tag set sorted
by key (the order S3 and Ceph RGW return tags in).  ``x-amz-tagging`` is a request-only header that S3 never
returns, so it cannot clash with a real stored header; the one place that
replays stored headers (``objects._object_headers``) turns it into
``x-amz-tagging-count`` instead.  Keeping tags there, rather than in a new
column, means every path that already carries an object's headers carries its
tags in the same commit with no schema change: PutObject (``stored_headers``
parses the header), CreateMultipartUpload -> CompleteMultipartUpload (the
upload keeps the same headers), CopyObject, and noncurrent versions.

Bucket tags live in ``buckets.props`` under ``"tagging"`` as [[key, value], ...], sorted by key.

This module must not import ``pails.s3.objects`` (which imports it).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, quote, urlencode

from pails.access import acl as acls
from pails.errors import S3Error
from pails.protocol import xml
from pails.s3 import notification
from pails.s3.permissions import access_decision, get_bucket, require_object, require_owner
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine
from pails.storage.notify import emitting
from pails.storage.records import Bucket, ObjectVersion

TAGS_KEY = "x-amz-tagging"
BUCKET_PROP = "tagging"
MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
# Besides Unicode letters, digits and white space, as AWS documents for tags.
_PUNCTUATION = frozenset("+-=._:/@")

Tags = list[tuple[str, str]]


# --- the codec ----------------------------------------------------------------
def _allowed_text(text: str) -> bool:
    return all(c.isalnum() or c.isspace() or c in _PUNCTUATION for c in text)


def validate(tags: Tags, limit: int) -> Tags:
    """Check a tag set against AWS's limits (InvalidTag otherwise)."""
    if len(tags) > limit:
        what = "Object" if limit == MAX_OBJECT_TAGS else "Bucket"
        raise S3Error("InvalidTag", f"{what} tags cannot be greater than {limit}")
    seen: set[str] = set()
    for key, value in tags:
        if not key or len(key) > MAX_KEY_LENGTH or not _allowed_text(key):
            raise S3Error("InvalidTag", "The TagKey you have provided is invalid", TagKey=key[:MAX_KEY_LENGTH + 1])
        if key.lower().startswith("aws:"):
            raise S3Error("InvalidTag", "Your TagKey cannot be prefixed with aws:", TagKey=key)
        if len(value) > MAX_VALUE_LENGTH or not _allowed_text(value):
            raise S3Error("InvalidTag", "The TagValue you have provided is invalid", TagKey=key)
        if key in seen:
            raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key", TagKey=key)
        seen.add(key)
    return tags


def encode(tags: Tags) -> str:
    return urlencode(sorted(tags), quote_via=quote, safe="")


def decode(stored: str | None) -> Tags:
    if not stored:
        return []
    return parse_qsl(stored, keep_blank_values=True)


def count(stored: str | None) -> int:
    return len(decode(stored))


def from_header(value: str | None) -> str | None:
    """The stored form of an ``x-amz-tagging`` request header (URL-query
    encoded, ``k1=v1&k2``), or None when it names no tags."""
    if value is None or not value.strip():
        return None
    try:
        tags = parse_qsl(value.strip(), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise S3Error("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded "
                                         "URL query parameters without tag name duplicates.",
                      ArgumentName="x-amz-tagging", ArgumentValue=value[:256]) from None
    validate(tags, MAX_OBJECT_TAGS)
    return encode(tags) if tags else None


def of_object(obj: ObjectVersion) -> str | None:
    """The stored tags of an object (query-encoded), or None."""
    value: str | None = json.loads(obj.headers).get(TAGS_KEY)
    return value


def parse_xml(body: bytes, limit: int) -> Tags:
    """A ``<Tagging><TagSet><Tag><Key/><Value/></Tag>...`` request body."""
    root = xml.parse(body)
    if root.tag != "Tagging":
        raise S3Error("MalformedXML")
    tag_set = root.find("TagSet")
    if tag_set is None:
        raise S3Error("MalformedXML")
    tags: Tags = []
    for tag in tag_set:
        if tag.tag != "Tag":
            raise S3Error("MalformedXML")
        key = xml.child_text(tag, "Key")
        value = xml.child_text(tag, "Value")
        if key is None or value is None:
            raise S3Error("MalformedXML")
        tags.append((key, value))
    return validate(tags, limit)


def render(tags: Tags) -> bytes:
    items = "".join(f"<Tag>{xml.element('Key', k)}{xml.element('Value', v)}</Tag>" for k, v in tags)
    return xml.document("Tagging", f"<TagSet>{items}</TagSet>")


# --- object tagging -------------------------------------------------------------
async def _current(engine: Engine, req: S3Request) -> tuple[Bucket, ObjectVersion]:
    """The version addressed (``?versionId=`` or the current one)."""
    from pails.s3.objects import locate  # imports this module

    return await locate(engine, req)


def _require_tag_writer(req: S3Request, obj: ObjectVersion) -> None:
    """Changing an object's tags takes a bucket-policy Allow, its owner, or a
    WRITE (FULL_CONTROL) grant on it."""
    if req.bucket_record is not None:
        decision = access_decision(req, req.bucket_record, obj.key, obj)
        if decision == "Deny":
            raise S3Error("AccessDenied")
        if decision == "Allow":
            return
    if req.principal_id is not None and req.principal_id == obj.owner_id:
        return
    if not acls.allowed(acls.Acl.from_json(obj.acl), req.principal_id, "WRITE"):
        raise S3Error("AccessDenied")


def _version_header(obj: ObjectVersion, bucket: Bucket | None = None) -> list[tuple[str, str]]:
    if obj.version_id != "null" or (bucket is not None and bucket.versioning is not None):
        return [("x-amz-version-id", obj.version_id)]
    return []


async def get_object_tagging(engine: Engine, req: S3Request) -> Response:
    bucket, obj = await _current(engine, req)
    require_object(req, obj, "READ")
    response = Response.xml(render(decode(of_object(obj))))
    response.headers.extend(_version_header(obj, bucket))
    return response


async def put_object_tagging(engine: Engine, req: S3Request) -> Response:
    bucket, obj = await _current(engine, req)
    _require_tag_writer(req, obj)
    tags = parse_xml(await req.body.read_all(xml.MAX_XML_BODY), MAX_OBJECT_TAGS)
    assert req.key is not None
    events = notification.pending(req, bucket, "s3:ObjectTagging:Put", req.key, etag=obj.etag,
                                  version_id=obj.version_id)
    if not await emitting(events, engine.meta.set_object_header(
            bucket.id, req.key, TAGS_KEY, encode(tags) if tags else None, obj.version_id)):
        raise S3Error("NoSuchKey", Key=req.key)
    return Response(200, _version_header(obj, bucket))


async def delete_object_tagging(engine: Engine, req: S3Request) -> Response:
    bucket, obj = await _current(engine, req)
    _require_tag_writer(req, obj)
    assert req.key is not None
    events = notification.pending(req, bucket, "s3:ObjectTagging:Delete", req.key, etag=obj.etag,
                                  version_id=obj.version_id)
    if not await emitting(events, engine.meta.set_object_header(bucket.id, req.key, TAGS_KEY, None,
                                                                obj.version_id)):
        raise S3Error("NoSuchKey", Key=req.key)
    return Response(204, _version_header(obj, bucket))


# --- bucket tagging -------------------------------------------------------------
async def get_bucket_tagging(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    stored = json.loads(bucket.props or "{}").get(BUCKET_PROP)
    if stored is None:
        raise S3Error("NoSuchTagSet", BucketName=bucket.name)
    return Response.xml(render([(k, v) for k, v in stored]))


async def put_bucket_tagging(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    tags = parse_xml(await req.body.read_all(xml.MAX_XML_BODY), MAX_BUCKET_TAGS)
    await engine.meta.set_bucket_prop(bucket.id, BUCKET_PROP, [[k, v] for k, v in sorted(tags)])
    return Response(204)


async def delete_bucket_tagging(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    await engine.meta.set_bucket_prop(bucket.id, BUCKET_PROP, None)
    return Response(204)
