"""Appends: PutObject with ``x-amz-write-offset-bytes`` (S3 Express One Zone semantics).

The offset must equal the object's current size (0 for a missing key, which
the append then creates), else ``400 InvalidWriteOffset``.  The decision is
taken inside the metadata commit (``MetaStore.append_object``), so of racing
appends that read the same size exactly one wins and the others get
InvalidWriteOffset; no append is ever lost or torn.

Data is never rewritten.  The appended bytes become a new data file, and the
object's manifest becomes the old one (or the old single data file) plus that
file — the same representation as a completed multipart upload.  A small
(inline) object stays inline while the result fits in a metadata row;
otherwise its bytes are first written to a data file of their own.

ETag: the MD5 of the whole object is not known without reading it again, so
an append gives a multipart-style ETag, chained: ``md5(md5(previous ETag's
hex digest) || md5(appended bytes))-N`` where N is the number of data pieces
(the first append to a single-part object gives exactly the ETag a two-part
multipart upload of the same pieces would).  Objects that stay inline keep a
plain MD5 ETag.  Full-object CRC checksums (CRC32, CRC32C, CRC64NVME) are
carried across appends by CRC combination when the append sends or lets the
server compute the same algorithm; other checksums are dropped.

Encrypted objects (and buckets with default encryption) take no appends
(``InvalidRequest``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import replace
from typing import Any

from pails.errors import S3Error
from pails.protocol import checksums as ck
from pails.s3 import encryption, ingest, notification
from pails.s3.objects import object_owner, storage_class, stored_headers
from pails.s3.permissions import acl_from_request
from pails.s3.request import Response, S3Request
from pails.storage.blobs import BlobWriter
from pails.storage.engine import Engine
from pails.storage.notify import emitting
from pails.storage.records import Bucket, ObjectVersion

_ATTEMPTS = 5


class _Stale(Exception):
    """The object changed shape between the handler's read and the commit."""


def _offset(req: S3Request) -> int:
    raw = req.headers["x-amz-write-offset-bytes"].strip()
    if not raw.isdigit() or len(raw) > 19:
        raise S3Error("InvalidArgument", "x-amz-write-offset-bytes must be a non-negative integer",
                      ArgumentName="x-amz-write-offset-bytes", ArgumentValue=raw[:64])
    return int(raw)


def _chained_etag(old_etag: str, new_md5_hex: str, pieces: int) -> str:
    old_hex = old_etag.strip('"').split("-")[0]
    return f'"{hashlib.md5(bytes.fromhex(old_hex) + bytes.fromhex(new_md5_hex)).hexdigest()}-{pieces}"'


def _combined_checksums(old: ObjectVersion, body: ingest.Ingested) -> str | None:
    sums, kind = ck.stored(old.checksums)
    if kind != "FULL_OBJECT":
        return None
    out = {alg: ck.full_object(alg, [(value, old.size), (body.checksums[alg], body.size)])
           for alg, value in sums.items() if alg in ck.FULL_OBJECT_ALGORITHMS and alg in body.checksums}
    return ck.to_json(out) if out else None


def _crc_algorithms(obj: ObjectVersion | None) -> tuple[str, ...]:
    if obj is None or obj.delete_marker:
        return ()
    sums, kind = ck.stored(obj.checksums)
    return tuple(a for a in sums if kind == "FULL_OBJECT" and a in ck.FULL_OBJECT_ALGORITHMS)


async def append_object(engine: Engine, req: S3Request, bucket: Bucket) -> Response:
    assert req.key is not None
    key = req.key
    offset = _offset(req)
    if "if-match" in req.headers or "if-none-match" in req.headers:
        raise S3Error("InvalidRequest", "Conditional headers cannot be combined with x-amz-write-offset-bytes.")
    # Only used when the append creates the object.
    headers = stored_headers(req)
    sc = storage_class(req)
    owner_id, owner_name = object_owner(req, bucket.owner_id)
    acl = await acl_from_request(engine, req, owner_id, owner_name, bucket)
    snapshot = await engine.meta.get_object(bucket.id, key)
    if encryption.for_write(req, bucket) is not None or (snapshot is not None and encryption.stored(snapshot)[0]):
        raise S3Error("InvalidRequest", "Appends to encrypted objects (or in buckets with default encryption) are "
                                        "not supported.")
    body = await ingest.receive(engine, req, compute=_crc_algorithms(snapshot))
    loop = asyncio.get_running_loop()
    body_writer: BlobWriter | None = body.writer
    staged: list[BlobWriter] = [body_writer] if body_writer is not None else []
    failure: BaseException | None = None
    try:
        if body_writer is not None:
            await loop.run_in_executor(None, body_writer.seal)
        for attempt in range(_ATTEMPTS):
            if attempt:
                snapshot = await engine.meta.get_object(bucket.id, key)
            if snapshot is not None and snapshot.delete_marker:
                snapshot = None
            snap_inline = snapshot is not None and snapshot.blob_id is None and not snapshot.manifest
            snap_size = snapshot.size if snapshot is not None else 0
            stay_inline = (body.inline is not None and (snapshot is None or snap_inline)
                           and snap_size + body.size <= engine.settings.inline_max)
            old_file: BlobWriter | None = None
            if not stay_inline:
                if body_writer is None:  # the appended bytes need a data file of their own
                    body_writer = await engine.create_blob()
                    staged.append(body_writer)
                    body_writer.write(body.inline or b"")
                    await loop.run_in_executor(None, body_writer.seal)
                if snapshot is not None and snap_inline and snap_size > 0:
                    old_file = await engine.create_blob()
                    staged.append(old_file)
                    old_file.write(snapshot.inline or b"")
                    await loop.run_in_executor(None, old_file.seal)
            snap_bytes = snapshot.inline if snapshot is not None and snap_inline else None
            now = time.time()
            body_blob = body_writer.blob_id if body_writer is not None else None

            def build(cur: ObjectVersion | None, stay_inline: bool = stay_inline,
                      old_file: BlobWriter | None = old_file, snap_bytes: bytes | None = snap_bytes,
                      body_blob: str | None = body_blob, now: float = now) -> ObjectVersion:
                if cur is None or cur.size == 0:  # create (or fill an empty object)
                    base = cur
                    return ObjectVersion(
                        bucket_id=bucket.id, key=key, version_id="null", size=body.size, etag=f'"{body.md5_hex}"',
                        last_modified=now,
                        headers=base.headers if base else json.dumps(headers, separators=(",", ":")),
                        acl=base.acl if base else acl.to_json(), owner_id=base.owner_id if base else owner_id,
                        storage_class=base.storage_class if base else sc,
                        inline=body.inline if stay_inline else None, blob_id=None if stay_inline else body_blob,
                        manifest=None, checksums=ck.to_json(body.checksums))
                if body.size == 0:
                    return replace(cur, last_modified=now)
                cur_inline = cur.blob_id is None and not cur.manifest
                fields: dict[str, Any] = {"size": cur.size + body.size, "last_modified": now}
                if stay_inline:
                    if not cur_inline:
                        raise _Stale()
                    data = (cur.inline or b"") + (body.inline or b"")
                    sums, _kind = ck.stored(cur.checksums)
                    new_sums = {}
                    for alg in sums:
                        if "-" not in sums[alg]:
                            h = ck.new_checksum(alg)
                            h.update(data)
                            new_sums[alg] = h.b64digest()
                    fields.update(inline=data, etag=f'"{hashlib.md5(data).hexdigest()}"',
                                  checksums=ck.to_json(new_sums))
                    return replace(cur, **fields)
                if cur_inline:
                    if old_file is None or cur.inline != snap_bytes:
                        raise _Stale()
                    entries: list[list[object]] = [[old_file.blob_id, cur.size]]
                elif cur.blob_id:
                    entries = [[cur.blob_id, cur.size]]
                else:
                    entries = json.loads(cur.manifest or "[]")
                entries.append([body_blob, body.size])
                fields.update(inline=None, blob_id=None, manifest=json.dumps(entries, separators=(",", ":")),
                              etag=_chained_etag(cur.etag, body.md5_hex, len(entries)),
                              checksums=_combined_checksums(cur, body))
                return replace(cur, **fields)

            try:
                new = await emitting(notification.pending(req, bucket, "s3:ObjectCreated:Put", key),
                                     engine.meta.append_object(bucket.id, key, offset, build))
            except _Stale:
                if old_file is not None:
                    old_file.abort()
                    staged.remove(old_file)
                continue
            used = set(new.blob_ids())
            for w in staged:
                if w.blob_id in used:
                    engine.blobs.promote(w.blob_id)
                else:
                    w.abort()
            staged = []
            engine.collect_soon()
            out = [("ETag", new.etag), ("x-amz-object-size", str(new.size))]
            out.extend(ck.response_headers(new.checksums))
            return Response(200, out)
        raise S3Error("ConditionalRequestConflict", "The object kept changing; please try again.")
    except BaseException as exc:
        failure = exc
        raise
    finally:
        for w in staged:
            w.abort(failure)
