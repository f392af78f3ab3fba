"""CopyObject: PUT /bucket/key with ``x-amz-copy-source``.

Data is never streamed through Python.  Inline (small) objects copy the bytes
of the row; each data file of a file-backed or multipart source is hard-linked
to a new blob id, following the commit protocol of ``pails.storage.blobs``:

1. link the source file to ``tmp/<new id>`` and fsync ``tmp``;
2. one metadata commit makes the copy visible, referencing the new ids;
3. rename ``tmp/<new id>`` to ``blobs/<xx>/<new id>``.

A crash before 2 leaves unreferenced links in ``tmp`` that recovery deletes
(the source keeps its own name); after 2 recovery finishes the rename.  New
ids keep every data file referenced by exactly one row, so overwriting or
deleting either object frees only its own link.  Where a link is impossible
(link-count limit, another file system) the kernel copies the file instead.

Server-side encryption: links (with the source's key material) only when the
destination is encrypted with the same keys as the source (or neither is
encrypted); otherwise the copy is re-encrypted, decrypted and encrypted in
1 MiB slices in a worker thread into a new data file (``pails.s3.encryption``).
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qsl, unquote_to_bytes

from pails.errors import S3Error
from pails.protocol import checksums as ck
from pails.protocol import xml
from pails.protocol.conditional import evaluate_read
from pails.protocol.dates import iso8601
from pails.protocol.names import check_key
from pails.s3 import encryption, lifecycle, object_lock, tagging
from pails.s3.objects import (
    check_redirect_location,
    object_owner,
    storage_class,
    stored_headers,
    version_header,
    write_condition,
)
from pails.s3.permissions import acl_from_request, bucket_allows, get_bucket, require_bucket, require_object
from pails.s3.request import Response, S3Request
from pails.storage.blobs import BlobStore, BlobWriter
from pails.storage.engine import Engine
from pails.storage.meta import valid_version_id
from pails.storage.records import Bucket, ObjectVersion

_DIRECTIVES = ("COPY", "REPLACE")
_SELF_COPY = ("This copy request is illegal because it is trying to copy an object to itself without changing "
              "the object's metadata, storage class, website redirect location or encryption attributes.")
_ATTEMPTS = 5  # a source overwritten while we link is read again


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """(bucket, key, versionId or None) from ``x-amz-copy-source``:
    ``bucket/key`` or ``/bucket/key``, URL-encoded, optionally ``?versionId=``."""
    raw = value.strip()
    path, _, qs = raw.partition("?")
    version_id = None
    if qs:
        version_id = dict(parse_qsl(qs, keep_blank_values=True)).get("versionId")
    try:
        decoded = unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("InvalidArgument", "Invalid copy source encoding", ArgumentName="x-amz-copy-source",
                      ArgumentValue=raw[:1024]) from None
    bucket, sep, key = decoded.removeprefix("/").partition("/")
    if not bucket or not sep or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: "
                      "sourcebucket/sourcekey", ArgumentName="x-amz-copy-source", ArgumentValue=raw[:1024])
    return bucket, key, version_id


def _directive(req: S3Request, header: str) -> str:
    value = req.headers.get(header, "COPY").strip().upper()
    if value not in _DIRECTIVES:
        kind = "metadata" if "metadata" in header else "tagging"
        raise S3Error("InvalidArgument", f"Unknown {kind} directive.", ArgumentName=header,
                      ArgumentValue=req.headers[header][:256])
    return value


async def read_source(engine: Engine, req: S3Request, bucket_name: str, key: str,
                version_id: str | None) -> tuple[Bucket, ObjectVersion]:
    """The source bucket and object of a copy, readable by the requester
    (also for UploadPartCopy)."""
    bucket = await engine.meta.get_bucket(bucket_name)
    if bucket is None:
        raise S3Error("NoSuchBucket", BucketName=bucket_name)
    expected_owner = req.headers.get("x-amz-source-expected-bucket-owner")
    if expected_owner is not None and expected_owner != bucket.owner_id:
        raise S3Error("AccessDenied")
    if version_id is not None:
        if not valid_version_id(version_id):
            raise S3Error("InvalidArgument", "Invalid version id specified", ArgumentName="x-amz-copy-source",
                          ArgumentValue=version_id[:256])
        obj = await engine.meta.get_object_version(bucket.id, key, version_id)
        if obj is None:
            if not bucket_allows(req, bucket, "READ", key=None, action="s3:ListBucket"):
                raise S3Error("AccessDenied")
            raise S3Error("NoSuchVersion", Key=key, VersionId=version_id)
        if obj.delete_marker:
            raise S3Error("InvalidRequest", "The source of a copy request may not specifically refer to a delete "
                                            "marker by version id.")
    else:
        obj = await engine.meta.get_object(bucket.id, key)
        if obj is None or obj.delete_marker:
            if not bucket_allows(req, bucket, "READ", key=None, action="s3:ListBucket"):
                raise S3Error("AccessDenied")
            raise S3Error("NoSuchKey", Key=key)
    # A source named by version id is read as s3:GetObjectVersion, as AWS authorizes it.
    require_object(req, obj, "READ", bucket=bucket,
                   action="s3:GetObject" if version_id is None else "s3:GetObjectVersion")
    return bucket, obj


def check_source_conditions(req: S3Request, obj: ObjectVersion) -> None:
    """x-amz-copy-source-if-*: any that does not hold is 412 (never 304)."""
    prefix = "x-amz-copy-source-"
    names = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
    conditions = {n: req.headers[prefix + n] for n in names if prefix + n in req.headers}
    if not conditions:
        return
    if evaluate_read(conditions, obj.etag, obj.last_modified) is not None:
        failed = next((n for n in names if n in conditions), "")
        raise S3Error("PreconditionFailed", Condition=prefix + failed)


def _stage_links(blobs: BlobStore, src: ObjectVersion, new_ids: list[str]) -> tuple[str | None, str | None]:
    """Step 1 of the protocol: the source's data files staged under
    ``new_ids`` (announced by the caller); (new blob_id, new manifest)."""
    try:
        blob_id = manifest = None
        if src.blob_id:
            blob_id = new_ids[0]
            blobs.link(src.blob_id, blob_id)
        elif src.manifest:
            entries = []
            for entry, new_id in zip(json.loads(src.manifest), new_ids, strict=True):
                blobs.link(entry[0], new_id)
                entries.append([new_id, *entry[1:]])
            manifest = json.dumps(entries, separators=(",", ":"))
        blobs.sync_staged(new_ids)
    except BaseException:
        blobs.discard(new_ids)
        raise
    return blob_id, manifest


def _transcode(engine: Engine, enc: encryption.Encryption | None, src: ObjectVersion, writer: BlobWriter) -> None:
    """The whole source's plaintext into ``writer`` (encrypting as it says), sealed."""
    encryption.copy_pieces(engine, encryption.file_pieces(engine, enc, src, 0, src.size), writer)
    writer.seal()


def _is_self_copy_without_change(req: S3Request, src: ObjectVersion, metadata_directive: str) -> bool:
    if metadata_directive != "COPY":
        return False
    sc = req.headers.get("x-amz-storage-class")
    if sc is not None and sc != src.storage_class:
        return False
    redirect = req.headers.get("x-amz-website-redirect-location")
    if redirect is not None and redirect != json.loads(src.headers).get("x-amz-website-redirect-location"):
        return False
    return not any(h.startswith("x-amz-server-side-encryption") for h in req.headers)


async def copy_object(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    assert req.key is not None
    check_key(req.key)
    require_bucket(req, bucket, "WRITE")
    src_bucket_name, src_key, src_version = parse_copy_source(req.headers["x-amz-copy-source"])
    metadata_directive = _directive(req, "x-amz-metadata-directive")
    tagging_directive = _directive(req, "x-amz-tagging-directive")
    sc = storage_class(req)
    condition = write_condition(req)
    owner_id, owner_name = object_owner(req, bucket.owner_id)
    acl = await acl_from_request(engine, req, owner_id, owner_name, bucket)
    replaced = stored_headers(req) if metadata_directive == "REPLACE" else None
    request_tags = tagging.from_header(req.headers.get("x-amz-tagging")) if tagging_directive == "REPLACE" else None
    dst_enc = encryption.for_write(req, bucket)
    loop = asyncio.get_running_loop()
    for _attempt in range(_ATTEMPTS):
        src_bucket, src = await read_source(engine, req, src_bucket_name, src_key, src_version)
        check_source_conditions(req, src)
        src_enc = encryption.for_read(req, src, copy_source=True)
        if src_bucket.id == bucket.id and src.key == req.key and \
                _is_self_copy_without_change(req, src, metadata_directive):
            raise S3Error("InvalidRequest", _SELF_COPY)
        src_headers: dict[str, str] = json.loads(src.headers)
        source_tags = src_headers.pop(tagging.TAGS_KEY, None)
        if replaced is not None:
            headers = dict(replaced)
            headers.pop(tagging.TAGS_KEY, None)
        else:
            headers = src_headers
            redirect = req.headers.get("x-amz-website-redirect-location")
            if redirect is not None:
                check_redirect_location(redirect)
                headers["x-amz-website-redirect-location"] = redirect
        tags = request_tags if tagging_directive == "REPLACE" else source_tags
        if tags:
            headers[tagging.TAGS_KEY] = tags
        object_lock.strip(headers)  # the copy's lock is its own: the request's, else the bucket's default
        object_lock.apply_to_write(req, bucket, headers)
        inline = None
        blob_id = manifest = None
        staged: list[str] = []
        if (src_enc is None and dst_enc is None) or (dst_enc is not None and dst_enc.same_keys(src_enc)):
            # The same keys open the copy: share the data (and its key material).
            encryption.with_record(headers, dst_enc, encryption.stored(src)[1])
            if src.blob_id or src.manifest:
                staged = await engine.new_blob_ids(1 if src.blob_id else len(json.loads(src.manifest or "[]")))
                try:
                    blob_id, manifest = await loop.run_in_executor(None, _stage_links, engine.blobs, src, staged)
                except FileNotFoundError:  # the source was replaced or deleted and collected meanwhile
                    continue
            else:
                inline = src.inline or b""
        else:  # re-encrypt: decrypt and encrypt in 1 MiB slices into a data file of its own
            piece = dst_enc.new_piece(engine) if dst_enc is not None else None
            if src.blob_id or src.manifest:
                writer = await engine.create_blob()
                writer.sealer = piece.sealer() if piece is not None else None
                try:
                    await loop.run_in_executor(None, _transcode, engine, src_enc, src, writer)
                except FileNotFoundError:
                    writer.abort()
                    continue
                except BaseException:
                    writer.abort()
                    raise
                blob_id, staged = writer.blob_id, [writer.blob_id]
            else:
                plain = encryption.plain_inline(engine, src_enc, src)
                inline = piece.encrypt_all(plain) if piece is not None else plain
            encryption.with_record(headers, dst_enc, piece.encode() if piece is not None else None)
        now = time.time()
        version = ObjectVersion(
            bucket_id=bucket.id, key=req.key, version_id="null", size=src.size, etag=src.etag, last_modified=now,
            headers=json.dumps(headers, separators=(",", ":")), acl=acl.to_json(), owner_id=owner_id,
            storage_class=sc, inline=inline, blob_id=blob_id, manifest=manifest, checksums=src.checksums,
        )
        try:
            version_id = await engine.meta.put_object(version, condition)
        except Exception as exc:
            engine.blobs.discard(staged, exc)
            raise
        for new_id in staged:
            engine.blobs.promote(new_id)
        engine.collect_soon()
        response = _result(src, now, src_bucket)
        response.headers.extend(version_header(bucket, version_id))
        response.headers.extend(lifecycle.version_expiration_header(bucket, version))
        if dst_enc is not None:
            response.headers.extend(dst_enc.response_headers())
        return response
    raise S3Error("InternalError", "The copy source kept changing; please try again.")


def _result(src: ObjectVersion, last_modified: float, src_bucket: Bucket) -> Response:
    inner = xml.element("ETag", src.etag) + xml.element("LastModified", iso8601(last_modified))
    sums, kind = ck.stored(src.checksums)
    for alg, value in sums.items():
        inner += xml.element(f"Checksum{alg}", value)
    if sums and kind:
        inner += xml.element("ChecksumType", kind)
    response = Response.xml(xml.document("CopyObjectResult", inner))
    if src.version_id != "null" or src_bucket.versioning is not None:
        response.headers.append(("x-amz-copy-source-version-id", src.version_id))
    return response
