"""Server-side encryption as S3 operations see it: which encryption a write
gets (its headers, else the bucket's default), what a read must present
(SSE-C keys), the response headers, and Put/Get/DeleteBucketEncryption.

The bytes are encrypted by the storage layer (``pails.storage.crypto``).
Where the settings live:

- an object: ``headers`` JSON, under ``RECORD_KEY`` (never replayed as a
  header): algorithm, KMS key id, bucket key flag, SSE-C key MD5, and for a
  single-piece object (one data file, or inline) the piece's key material;
- a multipart object: each manifest entry ends with its part's key material
  (a string element, which readers of part numbers and checksums skip);
- an upload: ``props["sse"]``; each part's key material rides in the part's
  checksums JSON under ``PART_KEY`` until completion.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from typing import Any

from pails.errors import S3Error
from pails.protocol import sse, xml
from pails.s3.permissions import get_bucket, require_owner
from pails.s3.request import Response, S3Request
from pails.storage.blobs import BlobWriter
from pails.storage.crypto import IntegrityError, Opener, Piece, UnwrapError
from pails.storage.engine import Engine
from pails.storage.records import Bucket, ObjectVersion

RECORD_KEY = "x-pails-sse"
PART_KEY = "_sse"
UPLOAD_PROP = "sse"
BUCKET_PROP = "encryption"
SLICE = 1024 * 1024

_NOT_APPLICABLE = "The encryption parameters are not applicable to this object."
_KEY_NEEDED = ("The object was stored using a form of Server Side Encryption. The correct parameters must be "
               "provided to retrieve the object.")
_KEY_MISMATCH = "The provided encryption key does not match the key the object was stored with."


@dataclass(slots=True)
class Encryption:
    algorithm: str  # sse.SSE_S3, SSE_KMS, SSE_DSSE or SSE_C
    kms_key_id: str | None = None
    bucket_key: bool = False
    customer_md5: str | None = None
    customer_key: bytes | None = None  # SSE-C: only in memory, for this request

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"a": self.algorithm}
        if self.kms_key_id is not None:
            rec["k"] = self.kms_key_id
        if self.bucket_key:
            rec["b"] = True
        if self.customer_md5 is not None:
            rec["m"] = self.customer_md5
        return rec

    @staticmethod
    def from_record(rec: dict[str, Any]) -> Encryption:
        return Encryption(rec["a"], rec.get("k"), bool(rec.get("b")), rec.get("m"))

    def same_keys(self, other: Encryption | None) -> bool:
        """Data encrypted for one opens with the other's keys."""
        return other is not None and (self.algorithm, self.kms_key_id, self.customer_md5) == \
            (other.algorithm, other.kms_key_id, other.customer_md5)

    def response_headers(self) -> list[tuple[str, str]]:
        if self.algorithm == sse.SSE_C:
            return [("x-amz-server-side-encryption-customer-algorithm", "AES256"),
                    ("x-amz-server-side-encryption-customer-key-MD5", self.customer_md5 or "")]
        out = [("x-amz-server-side-encryption", self.algorithm)]
        if self.kms_key_id is not None:
            out.append(("x-amz-server-side-encryption-aws-kms-key-id", self.kms_key_id))
        if self.bucket_key:
            out.append(("x-amz-server-side-encryption-bucket-key-enabled", "true"))
        return out

    def wrapping_key(self, engine: Engine) -> bytes:
        if self.algorithm == sse.SSE_C:
            assert self.customer_key is not None
            return self.customer_key
        if self.algorithm == sse.SSE_S3:
            return engine.keys.sse_s3()
        return engine.keys.kms(self.kms_key_id or sse.DEFAULT_KMS_KEY)

    def new_piece(self, engine: Engine) -> Piece:
        return Piece.new(self.wrapping_key(engine))

    def open_piece(self, engine: Engine, text: str) -> Piece:
        try:
            return Piece.decode(text, self.wrapping_key(engine))
        except UnwrapError:
            if self.algorithm == sse.SSE_C:
                raise S3Error("AccessDenied", _KEY_MISMATCH) from None
            raise S3Error("InternalError", "The object's encryption key cannot be opened.") from None


# --- which encryption a write gets -------------------------------------------------------------------------------

def bucket_default(bucket: Bucket) -> Encryption | None:
    rec = json.loads(bucket.props or "{}").get(BUCKET_PROP)
    if not rec:
        return None
    enc = Encryption.from_record(rec)
    if enc.algorithm in (sse.SSE_KMS, sse.SSE_DSSE) and enc.kms_key_id is None:
        enc.kms_key_id = sse.DEFAULT_KMS_KEY
    return enc


def for_write(req: S3Request, bucket: Bucket) -> Encryption | None:
    """The encryption of a new object: the request's headers, else the
    bucket's default encryption, else none."""
    asked = sse.requested(req.headers)
    if asked.customer is not None:
        return Encryption(sse.SSE_C, customer_md5=asked.customer.md5, customer_key=asked.customer.key)
    if asked.algorithm is not None:
        kms = None
        if asked.algorithm in (sse.SSE_KMS, sse.SSE_DSSE):
            kms = asked.kms_key_id or sse.DEFAULT_KMS_KEY
        return Encryption(asked.algorithm, kms, bool(asked.bucket_key))
    default = bucket_default(bucket)
    if default is not None and asked.bucket_key is not None:
        default.bucket_key = asked.bucket_key
    return default


def for_upload(req: S3Request, props: dict[str, Any]) -> Encryption | None:
    """The encryption of a multipart upload's parts: SSE-C uploads need the
    same customer key on every UploadPart, UploadPartCopy and the completion."""
    rec = props.get(UPLOAD_PROP)
    enc = Encryption.from_record(rec) if rec else None
    customer = sse.customer_key(req.headers)
    if enc is None or enc.algorithm != sse.SSE_C:
        if customer is not None:
            raise S3Error("InvalidRequest", "The multipart upload was not initiated with a customer-provided "
                                            "encryption key.")
        return enc
    if customer is None:
        raise S3Error("InvalidRequest", "The multipart upload initiate requested encryption. Subsequent part "
                                        "requests must include the appropriate encryption parameters.")
    if customer.md5 != enc.customer_md5:
        raise S3Error("InvalidRequest", "The provided encryption parameters did not match the ones used "
                                        "originally.")
    enc.customer_key = customer.key
    return enc


# --- what a read must present ------------------------------------------------------------------------------------

def stored(obj: ObjectVersion) -> tuple[Encryption | None, str | None]:
    """(the object's encryption, its single piece's key material) — (None, None) if plain."""
    if RECORD_KEY not in obj.headers:  # the common case costs one substring search
        return None, None
    rec = json.loads(obj.headers).get(RECORD_KEY)
    if not rec:
        return None, None
    return Encryption.from_record(rec), rec.get("p")


def for_read(req: S3Request, obj: ObjectVersion, *, copy_source: bool = False) -> Encryption | None:
    """The object's encryption, with the SSE-C key the request must carry
    (the copy source's headers for a copy)."""
    enc, _piece = stored(obj)
    customer = sse.customer_key(req.headers, copy_source)
    if enc is None or enc.algorithm != sse.SSE_C:
        if customer is not None:
            raise S3Error("InvalidRequest", _NOT_APPLICABLE)
        return enc
    if customer is None:
        raise S3Error("InvalidRequest", _KEY_NEEDED)
    if customer.md5 != enc.customer_md5:
        raise S3Error("InvalidRequest", _KEY_MISMATCH)
    enc.customer_key = customer.key
    return enc


def with_record(headers: dict[str, Any], enc: Encryption | None, piece: str | None = None) -> dict[str, Any]:
    """``headers`` (an object's stored headers) carrying ``enc`` (or none)."""
    headers.pop(RECORD_KEY, None)
    if enc is not None:
        rec = enc.to_record()
        if piece is not None:
            rec["p"] = piece
        headers[RECORD_KEY] = rec
    return headers


# --- reading encrypted data --------------------------------------------------------------------------------------

def _entries(obj: ObjectVersion, piece: str | None) -> list[tuple[str, int, str | None]]:
    """(blob id, size, key material) of each data file of an object."""
    if obj.blob_id:
        return [(obj.blob_id, obj.size, piece)]
    out = []
    for entry in json.loads(obj.manifest or "[]"):
        text = next((e for e in entry[2:] if isinstance(e, str)), None)
        out.append((entry[0], int(entry[1]), text))
    return out


def file_pieces(engine: Engine, enc: Encryption | None, obj: ObjectVersion, first: int,
                length: int) -> list[tuple[Any, ...]]:
    """The response body pieces of bytes [first, first+length) of a
    file-backed object: (blob id, offset, size) for plain data files, with a
    fourth element for encrypted ones: a function returning the Opener that
    decrypts the slices read (pails.http.app reads them)."""
    _enc, piece = stored(obj) if enc is not None else (None, None)
    out: list[tuple[Any, ...]] = []
    pos, end = 0, first + length
    for blob_id, size, text in _entries(obj, piece):
        lo, hi = max(first, pos), min(end, pos + size)
        if lo < hi:
            if enc is not None and text is not None:
                key = enc.open_piece(engine, text)
                out.append((blob_id, lo - pos, hi - lo, functools.partial(key.opener, lo - pos, hi - lo, size)))
            else:
                out.append((blob_id, lo - pos, hi - lo))
        pos += size
        if pos >= end:
            break
    return out


def plain_inline(engine: Engine, enc: Encryption | None, obj: ObjectVersion) -> bytes:
    data = obj.inline or b""
    if enc is None or not data:
        return data
    _enc, piece = stored(obj)
    if piece is None:
        return data
    try:
        return enc.open_piece(engine, piece).decrypt_all(data)
    except IntegrityError:
        raise S3Error("InternalError", "The object's data does not match its integrity tag.") from None


def copy_pieces(engine: Engine, pieces: list[tuple[Any, ...]], writer: BlobWriter) -> None:
    """Stream file pieces (decrypting encrypted ones) into ``writer`` (which
    hashes the plaintext and encrypts it with its own sealer), 1 MiB at a time.
    Run in a worker thread."""
    for piece in pieces:
        blob_id, offset, size = piece[0], piece[1], piece[2]
        opener: Opener | None = piece[3]() if len(piece) > 3 else None
        fd = engine.blobs.open(blob_id)
        try:
            pos, end = offset, offset + size
            while pos < end:
                data = os.pread(fd, min(SLICE, end - pos), pos)
                if not data:
                    raise OSError(f"data file {blob_id} is shorter than its metadata says")
                pos += len(data)
                writer.write(opener.update(data) if opener is not None else data)
            if opener is not None:
                opener.finish()
        finally:
            os.close(fd)


def read_plain(engine: Engine, enc: Encryption | None, obj: ObjectVersion, first: int, length: int) -> bytes:
    """A (small) range of an object's plaintext, in memory."""
    if obj.blob_id is None and not obj.manifest:
        return plain_inline(engine, enc, obj)[first:first + length]
    out = bytearray()
    for piece in file_pieces(engine, enc, obj, first, length):
        opener: Opener | None = piece[3]() if len(piece) > 3 else None
        fd = engine.blobs.open(piece[0])
        try:
            data = os.pread(fd, piece[2], piece[1])
        finally:
            os.close(fd)
        if opener is not None:
            data = opener.update(data)
            opener.finish()
        out += data
    return bytes(out)


# --- Put/Get/DeleteBucketEncryption ------------------------------------------------------------------------------

async def put_bucket_encryption(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    root = xml.parse(await req.body.read_all(xml.MAX_XML_BODY))
    if root.tag != "ServerSideEncryptionConfiguration":
        raise S3Error("MalformedXML")
    rules = [el for el in root if el.tag == "Rule"]
    if len(rules) != 1:
        raise S3Error("MalformedXML")
    rule = rules[0]
    default = next((el for el in rule if el.tag == "ApplyServerSideEncryptionByDefault"), None)
    if default is None:
        raise S3Error("MalformedXML")
    algorithm = (xml.child_text(default, "SSEAlgorithm") or "").strip()
    if algorithm not in sse.ALGORITHMS:
        raise S3Error("MalformedXML")
    key_id = xml.child_text(default, "KMSMasterKeyID")
    if key_id is not None:
        key_id = key_id.strip()
        if algorithm == sse.SSE_S3:
            raise S3Error("InvalidArgument", "a KMSMasterKeyID is not applicable if the default sse algorithm "
                                             "is not aws:kms or aws:kms:dsse", ArgumentName="ApplyServerSide"
                                                                                        "EncryptionByDefault")
        if not key_id:
            key_id = None
    bucket_key = (xml.child_text(rule, "BucketKeyEnabled") or "false").strip().lower()
    if bucket_key not in ("true", "false"):
        raise S3Error("MalformedXML")
    enc = Encryption(algorithm, key_id, bucket_key == "true")
    await engine.meta.set_bucket_prop(bucket.id, BUCKET_PROP, enc.to_record())
    return Response(200)


async def get_bucket_encryption(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    rec = json.loads(bucket.props or "{}").get(BUCKET_PROP)
    if not rec:
        raise S3Error("ServerSideEncryptionConfigurationNotFoundError", BucketName=bucket.name)
    enc = Encryption.from_record(rec)
    inner = xml.element("SSEAlgorithm", enc.algorithm)
    if enc.kms_key_id is not None:
        inner += xml.element("KMSMasterKeyID", enc.kms_key_id)
    body = (f"<Rule><ApplyServerSideEncryptionByDefault>{inner}</ApplyServerSideEncryptionByDefault>"
            f"{xml.element('BucketKeyEnabled', 'true' if enc.bucket_key else 'false')}</Rule>")
    return Response.xml(xml.document("ServerSideEncryptionConfiguration", body))


async def delete_bucket_encryption(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    await engine.meta.set_bucket_prop(bucket.id, BUCKET_PROP, None)
    return Response(204)
