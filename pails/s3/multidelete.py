"""DeleteObjects: up to 1000 keys in one request."""

from __future__ import annotations

import asyncio
from datetime import datetime
from xml.etree.ElementTree import Element

from pails.errors import S3Error
from pails.protocol import xml
from pails.protocol.dates import parse_http_date
from pails.s3 import integrity, object_lock
from pails.s3.objects import object_owner
from pails.s3.permissions import bucket_allows, get_bucket
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine
from pails.storage.meta import DeleteCondition, Deleted, valid_version_id

MAX_DELETE_KEYS = 1000


def _error(key: str, vid: str, code: str, message: str) -> str:
    return (f"<Error><Key>{xml.escape(key)}</Key>{vid}<Code>{code}</Code>"
            f"<Message>{xml.escape(message)}</Message></Error>")


def _entry_condition(obj: Element) -> DeleteCondition | None:
    """An entry's ETag, LastModifiedTime and Size conditions."""
    etag = xml.child_text(obj, "ETag")
    lm_raw = xml.child_text(obj, "LastModifiedTime")
    size_raw = xml.child_text(obj, "Size")
    if etag is None and lm_raw is None and size_raw is None:
        return None
    last_modified = None
    if lm_raw is not None:
        last_modified = parse_http_date(lm_raw.strip())  # as SDKs send it
        if last_modified is None:
            try:
                last_modified = datetime.fromisoformat(lm_raw.strip()).timestamp()
            except ValueError:
                raise S3Error("InvalidArgument", "Invalid LastModifiedTime") from None
    size = None
    if size_raw is not None:
        if not size_raw.strip().isdigit():
            raise S3Error("InvalidArgument", "Invalid Size")
        size = int(size_raw.strip())
    return DeleteCondition(if_match=etag.strip() if etag is not None else None, last_modified=last_modified,
                           size=size)


async def delete_objects(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    body = await req.body.read_all(2 * 1024 * 1024)
    integrity.check_body(req, body)
    root = xml.parse(body)
    if root.tag != "Delete":
        raise S3Error("MalformedXML")
    quiet = (xml.child_text(root, "Quiet") or "").strip().lower() == "true"
    objects = root.findall("Object")
    if len(objects) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML", "The request must contain no more than 1000 keys.")
    if not objects:
        raise S3Error("MalformedXML")
    # Every entry is queued at once, in order, so the deletes share a group
    # commit; each one's conditions are decided inside it.
    entries: list[tuple[str, str | None, DeleteCondition | None]] = []
    out: list[str | None] = []
    jobs = []
    for obj in objects:
        key = xml.child_text(obj, "Key")
        if key is None:
            raise S3Error("MalformedXML")
        version_id = xml.child_text(obj, "VersionId")
        vid = f"<VersionId>{xml.escape(version_id)}</VersionId>" if version_id else ""
        # Each entry as its own DeleteObject: with a version id, s3:DeleteObjectVersion.
        action = "s3:DeleteObject" if version_id is None else "s3:DeleteObjectVersion"
        if not bucket_allows(req, bucket, "WRITE", key=key, action=action):
            out.append(_error(key, vid, "AccessDenied", "Access Denied"))
            continue
        if version_id is not None and not valid_version_id(version_id):
            out.append(_error(key, vid, "NoSuchVersion", "The specified version does not exist."))
            continue
        try:
            condition = _entry_condition(obj)
        except S3Error as err:
            out.append(_error(key, vid, err.code, err.message))
            continue
        entries.append((key, version_id, condition))
        out.append(None)
        if version_id is None:
            owner_id, _name = object_owner(req, bucket.owner_id)
            jobs.append(engine.delete_object(bucket.id, key, owner_id, condition))
        else:
            jobs.append(engine.delete_version(bucket.id, key, version_id, condition,
                                              object_lock.may_bypass(req, bucket, key)))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    it = iter(zip(entries, results, strict=True))
    for i, item in enumerate(out):
        if item is not None:
            continue
        (key, version_id, _cond), result = next(it)
        vid = f"<VersionId>{xml.escape(version_id)}</VersionId>" if version_id else ""
        if isinstance(result, S3Error):
            out[i] = _error(key, vid, result.code, result.message)
        elif isinstance(result, BaseException):
            raise result
        else:
            req.logged_keys = [*(req.logged_keys or []), (key, version_id or result.version_id)]
        if not quiet and isinstance(result, Deleted):
            marker = ""
            if result.delete_marker and result.version_id is not None:
                marker = ("<DeleteMarker>true</DeleteMarker>"
                          f"<DeleteMarkerVersionId>{xml.escape(result.version_id)}</DeleteMarkerVersionId>")
            out[i] = f"<Deleted><Key>{xml.escape(key)}</Key>{vid}{marker}</Deleted>"
    return Response.xml(xml.document("DeleteResult", "".join(o for o in out if o)))
