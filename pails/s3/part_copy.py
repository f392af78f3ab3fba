"""UploadPartCopy: a part made from a range of an existing object.

A whole file-backed source is hard-linked like CopyObject; a range (or an
inline or stitched source) is copied by the kernel (copy_file_range, then
sendfile), never through a Python byte loop, and hashed for the part ETag.
When the source or the upload is encrypted, the range streams through
decryption and the upload's encryption in 1 MiB slices instead.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import re
import time
from typing import Any

from pails.errors import S3Error
from pails.protocol import checksums as ck
from pails.protocol import xml
from pails.protocol.dates import iso8601
from pails.s3 import encryption
from pails.s3.copy import _ATTEMPTS as _COPY_ATTEMPTS
from pails.s3.copy import check_source_conditions, parse_copy_source, read_source
from pails.s3.multipart import MAX_PART_SIZE, _find_upload, _part_number, part_checksums
from pails.s3.objects import _pieces
from pails.s3.permissions import get_bucket, require_bucket
from pails.s3.request import Response, S3Request
from pails.storage.blobs import BlobStore
from pails.storage.crypto import Piece
from pails.storage.engine import Engine
from pails.storage.meta import UploadedPart
from pails.storage.records import ObjectVersion

_COPY_RANGE = re.compile(r"bytes=(\d+)-(\d+)")
_HASH_SLICE = 1024 * 1024
_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM})


def _copy_source_range(raw: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of ``x-amz-copy-source-range: bytes=first-last``; None: the whole source."""
    if raw is None:
        return None
    m = _COPY_RANGE.fullmatch(raw.strip())
    if m is None or int(m.group(1)) > int(m.group(2)):
        raise S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last "
                      "where first and last are the zero-based offsets of the first and last bytes to copy",
                      ArgumentName="x-amz-copy-source-range", ArgumentValue=raw[:256])
    first, last = int(m.group(1)), int(m.group(2))
    if last >= size:
        raise S3Error("InvalidRange", "The requested range is not satisfiable", ActualObjectSize=str(size),
                      RangeRequested=raw[:256])
    return first, last


def _kernel_copy(src_fd: int, dst_fd: int, offset: int, count: int, dst_offset: int) -> None:
    """Copy ``count`` bytes in the kernel: copy_file_range (reflinks where the
    file system can), else sendfile."""
    use_cfr = hasattr(os, "copy_file_range")
    while count > 0:
        n = -1
        if use_cfr:
            try:
                n = os.copy_file_range(src_fd, dst_fd, count, offset, dst_offset)
            except OSError as exc:
                if exc.errno not in _NO_KERNEL_COPY:
                    raise
                use_cfr = False
        if n < 0:
            os.lseek(dst_fd, dst_offset, os.SEEK_SET)
            n = os.sendfile(dst_fd, src_fd, offset, count)
        if n == 0:
            raise OSError(errno.EIO, "the copy source ended early")
        offset += n
        dst_offset += n
        count -= n


def _hash_range(fd: int, offset: int, count: int, md5: Any, extra: ck.Checksum | None) -> None:
    """MD5 (and a flexible checksum) of a byte range, read in 1 MiB slices (page cache)."""
    while count > 0:
        data = os.pread(fd, min(_HASH_SLICE, count), offset)
        if not data:
            raise OSError(errno.EIO, "the copy source ended early")
        md5.update(data)
        if extra is not None:
            extra.update(data)
        offset += len(data)
        count -= len(data)


def _stage_part(blobs: BlobStore, new_id: str, src: ObjectVersion, first: int, length: int,
                algorithm: str | None) -> tuple[str, str, dict[str, str]]:
    """Write the range into the new data file ``new_id`` (fsync'd): (blob id, md5 hex, checksums).
    FileNotFoundError if a source data file was collected meanwhile."""
    extra = ck.new_checksum(algorithm) if algorithm else None
    md5 = hashlib.md5()
    if src.blob_id and first == 0 and length == src.size:  # the whole file: a hard link
        blobs.link(src.blob_id, new_id)
        try:
            sums, kind = ck.stored(src.checksums)
            known_md5 = src.etag.strip('"') if "-" not in src.etag else None
            known_sum = sums.get(algorithm) if algorithm and kind == "FULL_OBJECT" else None
            if known_md5 is None or (algorithm and known_sum is None):
                fd = os.open(blobs.staging_path(new_id), os.O_RDONLY)
                try:
                    _hash_range(fd, 0, length, md5, extra)
                finally:
                    os.close(fd)
                known_md5 = md5.hexdigest()
                known_sum = extra.b64digest() if extra is not None else None
            blobs.sync_staged([new_id])
        except BaseException:
            blobs.discard([new_id])
            raise
        return new_id, known_md5, {algorithm: known_sum} if algorithm and known_sum else {}
    writer = blobs.create(new_id)
    try:
        if src.blob_id is None and not src.manifest:  # inline: at most a few KiB
            data = (src.inline or b"")[first:first + length]
            writer.write(data)
            if extra is not None:
                extra.update(data)
            md5 = writer.md5
        else:
            pos = 0
            for blob_id, offset, count in _pieces(src, first, length):
                fd = blobs.open(blob_id)
                try:
                    _kernel_copy(fd, writer.fd, offset, count, pos)
                    _hash_range(fd, offset, count, md5, extra)
                finally:
                    os.close(fd)
                pos += count
            writer.size = pos
        writer.seal()
    except BaseException:
        writer.abort()
        raise
    return writer.blob_id, md5.hexdigest(), {algorithm: extra.b64digest()} if extra is not None else {}


def _stage_encrypted_part(engine: Engine, new_id: str, src_enc: encryption.Encryption | None, src: ObjectVersion,
                          first: int, length: int, algorithm: str | None, dst_enc: encryption.Encryption | None
                          ) -> tuple[str, str, dict[str, str], Piece | None]:
    """The range's plaintext (decrypted from an encrypted source) into a new
    data file, encrypted for the upload when it is: (blob id, md5 hex,
    checksums, key material).  Streams in 1 MiB slices; fsync'd in ``tmp``."""
    piece = dst_enc.new_piece(engine) if dst_enc is not None else None
    extra = ck.new_checksum(algorithm) if algorithm else None
    writer = engine.blobs.create(new_id)
    writer.extra_hashes = [extra] if extra is not None else []
    writer.sealer = piece.sealer() if piece is not None else None
    try:
        if src.blob_id is None and not src.manifest:
            writer.write(encryption.plain_inline(engine, src_enc, src)[first:first + length])
        else:
            encryption.copy_pieces(engine, encryption.file_pieces(engine, src_enc, src, first, length), writer)
        writer.seal()
    except BaseException:
        writer.abort()
        raise
    return writer.blob_id, writer.md5.hexdigest(), {algorithm: extra.b64digest()} if extra is not None else {}, piece


async def upload_part_copy(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    assert req.key is not None
    require_bucket(req, bucket, "WRITE")
    number = _part_number(req.query.get("partNumber"))
    upload = await _find_upload(engine, req, bucket)
    src_bucket_name, src_key, src_version = parse_copy_source(req.headers["x-amz-copy-source"])
    props = json.loads(upload.props or "{}")
    algorithm = props.get("checksum_algorithm")
    dst_enc = encryption.for_upload(req, props)
    loop = asyncio.get_running_loop()
    for _attempt in range(_COPY_ATTEMPTS):
        _src_bucket, src = await read_source(engine, req, src_bucket_name, src_key, src_version)
        check_source_conditions(req, src)
        src_enc = encryption.for_read(req, src, copy_source=True)
        rng = _copy_source_range(req.headers.get("x-amz-copy-source-range"), src.size)
        first, length = (0, src.size) if rng is None else (rng[0], rng[1] - rng[0] + 1)
        if length > MAX_PART_SIZE:
            raise S3Error("EntityTooLarge", ProposedSize=str(length), MaxSizeAllowed=str(MAX_PART_SIZE))
        piece = None
        try:
            new_id = (await engine.new_blob_ids(1))[0]
            if src_enc is None and dst_enc is None:
                blob_id, md5_hex, sums = await loop.run_in_executor(
                    None, _stage_part, engine.blobs, new_id, src, first, length, algorithm)
            else:
                blob_id, md5_hex, sums, piece = await loop.run_in_executor(
                    None, _stage_encrypted_part, engine, new_id, src_enc, src, first, length, algorithm, dst_enc)
        except FileNotFoundError:  # the source was replaced and collected meanwhile: read it again
            continue
        now = time.time()
        etag = f'"{md5_hex}"'
        part = UploadedPart(upload_id=upload.upload_id, part_number=number, size=length, etag=etag,
                            last_modified=now, blob_id=blob_id, checksums=part_checksums(sums, piece))
        try:
            await engine.meta.put_part(part)
        except BaseException as exc:
            engine.blobs.discard([blob_id], exc)
            raise
        engine.blobs.promote(blob_id)
        engine.collect_soon()  # a replaced part's data file
        inner = xml.element("ETag", etag) + xml.element("LastModified", iso8601(now))
        for alg, value in sums.items():
            inner += xml.element(f"Checksum{alg}", value)
        response = Response.xml(xml.document("CopyPartResult", inner))
        if src.version_id != "null":
            response.headers.append(("x-amz-copy-source-version-id", src.version_id))
        if dst_enc is not None:
            response.headers.extend(dst_enc.response_headers())
        return response
    raise S3Error("InternalError", "The copy source kept changing; please try again.")
