"""DeleteObjects: up to 1000 keys in one request."""

from __future__ import annotations

import base64
import hashlib

from pails.errors import S3Error
from pails.protocol import checksums as ck
from pails.protocol import xml
from pails.s3.permissions import bucket_allows, get_bucket
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine

MAX_DELETE_KEYS = 1000


def _check_integrity(req: S3Request, body: bytes) -> None:
    md5 = req.headers.get("content-md5")
    if md5 is not None:
        if base64.b64encode(hashlib.md5(body).digest()).decode() != md5.strip():
            raise S3Error("BadDigest")
        return
    for name, value in req.headers.items():
        alg = ck.algorithm_for_header(name) if name.startswith("x-amz-checksum-") else None
        if alg is not None:
            h = ck.new_checksum(alg)
            h.update(body)
            if h.b64digest() != value.strip():
                raise S3Error("BadDigest")
            return
    trailers = req.body.trailers()
    for name, value in trailers.items():
        alg = ck.algorithm_for_header(name)
        if alg is not None:
            h = ck.new_checksum(alg)
            h.update(body)
            if h.b64digest() != value.strip():
                raise S3Error("BadDigest")
            return
    if not trailers:
        raise S3Error("InvalidRequest", "Missing required header for this request: Content-MD5")


async def delete_objects(engine: Engine, req: S3Request) -> Response:
    bucket = get_bucket(engine, req)
    body = await req.body.read_all(2 * 1024 * 1024)
    _check_integrity(req, body)
    root = xml.parse(body)
    if root.tag != "Delete":
        raise S3Error("MalformedXML")
    quiet = (xml.child_text(root, "Quiet") or "").strip().lower() == "true"
    objects = root.findall("Object")
    if len(objects) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML", "The request must contain no more than 1000 keys.")
    if not objects:
        raise S3Error("MalformedXML")
    may_write = bucket_allows(req, bucket, "WRITE")
    out: list[str] = []
    for obj in objects:
        key = xml.child_text(obj, "Key")
        if key is None:
            raise S3Error("MalformedXML")
        version_id = xml.child_text(obj, "VersionId")
        vid = f"<VersionId>{xml.escape(version_id)}</VersionId>" if version_id else ""
        if not may_write:
            out.append(f"<Error><Key>{xml.escape(key)}</Key>{vid}<Code>AccessDenied</Code>"
                       "<Message>Access Denied</Message></Error>")
            continue
        if version_id not in (None, "", "null"):
            # Unversioned buckets hold only version "null".
            if not quiet:
                out.append(f"<Deleted><Key>{xml.escape(key)}</Key>{vid}</Deleted>")
            continue
        await engine.delete_object(bucket.id, key)
        if not quiet:
            out.append(f"<Deleted><Key>{xml.escape(key)}</Key>{vid}</Deleted>")
    return Response.xml(xml.document("DeleteResult", "".join(out)))
