"""Multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload, ListParts, ListMultipartUploads.

Each part streams to its own data file (fsync'd before its metadata row
commits).  Completion copies no bytes: the object's manifest lists the part
data files, and one metadata transaction makes the object visible, deletes the
upload and hands the data files nobody references any more (unused parts, the
replaced object) to blob collection.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from urllib.parse import quote

from pails.errors import S3Error
from pails.protocol import checksums as ck
from pails.protocol import xml
from pails.protocol.dates import iso8601
from pails.protocol.keys import prefix_successor
from pails.protocol.names import check_key
from pails.s3 import encryption, ingest, lifecycle, notification, object_lock
from pails.s3.objects import object_owner, storage_class, stored_headers, version_header
from pails.s3.permissions import acl_from_request, get_bucket, require_bucket
from pails.s3.request import Response, S3Request, query_int
from pails.storage.crypto import Piece
from pails.storage.engine import Engine
from pails.storage.meta import MultipartUpload, UploadedPart, WriteCondition
from pails.storage.notify import emitting
from pails.storage.records import Bucket, ObjectVersion

MAX_PART_NUMBER = 10000
MIN_PART_SIZE = 5 * 1024 * 1024  # every part but the last
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_LIST = 1000
_MAX_COMPLETE_BODY = 8 * 1024 * 1024  # 10,000 <Part> elements with checksums fit comfortably
_MAX_COMPLETE_ELEMENTS = 100_000  # 10,000 parts of PartNumber, ETag and five checksums each, and the root
_CHECKSUM_TYPES = frozenset({"COMPOSITE", "FULL_OBJECT"})


def _new_upload_id() -> str:
    # Time first, so that (key, upload id) order is initiation order, as AWS lists uploads.
    return f"{time.time_ns():016x}{secrets.token_hex(16)}"


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


async def _find_upload(engine: Engine, req: S3Request, bucket: Bucket) -> MultipartUpload:
    upload_id = req.query.get("uploadId", "")
    upload = await engine.meta.get_upload(upload_id) if upload_id else None
    if upload is None or upload.bucket_id != bucket.id or upload.key != req.key:
        raise S3Error("NoSuchUpload", UploadId=upload_id)
    return upload


def _part_number(raw: str | None) -> int:
    try:
        n = int(raw or "")
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_PART_NUMBER:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                      ArgumentName="partNumber", ArgumentValue=(raw or "")[:64])
    return n


async def _display_names(engine: Engine, owner_ids: set[str]) -> dict[str, str]:
    names = {}
    for oid in owner_ids:
        u = await engine.meta.get_user_by_id(oid)
        names[oid] = u.display_name if u else ""
    return names


def _person(tag: str, owner_id: str, names: dict[str, str]) -> str:
    return f"<{tag}><ID>{xml.escape(owner_id)}</ID><DisplayName>{xml.escape(names.get(owner_id, ''))}" \
           f"</DisplayName></{tag}>"


# --- CreateMultipartUpload ---------------------------------------------------------------------------------------

async def create_multipart_upload(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    assert req.key is not None
    check_key(req.key)
    require_bucket(req, bucket, "WRITE")
    headers = stored_headers(req)
    object_lock.apply_to_write(req, bucket, headers, use_default=False)  # the default applies at completion
    sc = storage_class(req)
    owner_id, owner_name = object_owner(req, bucket.owner_id)
    acl = await acl_from_request(engine, req, owner_id, owner_name, bucket)
    props: dict[str, object] = {}
    out: list[tuple[str, str]] = []
    algorithm = req.headers.get("x-amz-checksum-algorithm")
    checksum_type = req.headers.get("x-amz-checksum-type")
    if algorithm is not None:
        props["checksum_algorithm"] = ck.new_checksum(algorithm.strip()).algorithm  # validates the name
        out.append(("x-amz-checksum-algorithm", props["checksum_algorithm"]))
    if checksum_type is not None:
        checksum_type = checksum_type.strip().upper()
        if checksum_type not in _CHECKSUM_TYPES:
            raise S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
        if algorithm is None:
            raise S3Error("InvalidRequest", "The x-amz-checksum-type header can only be used with the "
                                            "x-amz-checksum-algorithm header.")
    if algorithm is not None:
        alg = props["checksum_algorithm"]
        if checksum_type is None:  # AWS's defaults: CRC64NVME only exists as a full-object checksum
            checksum_type = "FULL_OBJECT" if alg == "CRC64NVME" else "COMPOSITE"
        if checksum_type == "FULL_OBJECT" and alg not in ck.FULL_OBJECT_ALGORITHMS:
            raise S3Error("InvalidRequest", f"The FULL_OBJECT checksum type cannot be used with the "
                                            f"{alg.lower()} checksum algorithm.")
        if checksum_type == "COMPOSITE" and alg == "CRC64NVME":
            raise S3Error("InvalidRequest", "The COMPOSITE checksum type cannot be used with the crc64nvme "
                                            "checksum algorithm.")
        props["checksum_type"] = checksum_type
        out.append(("x-amz-checksum-type", checksum_type))
    enc = encryption.for_write(req, bucket)
    if enc is not None:
        props[encryption.UPLOAD_PROP] = enc.to_record()
        out.extend(enc.response_headers())
    upload = MultipartUpload(
        upload_id=_new_upload_id(), bucket_id=bucket.id, key=req.key, initiated=time.time(), owner_id=owner_id,
        storage_class=sc, headers=_compact(headers), acl=acl.to_json(), props=_compact(props))
    await engine.meta.create_upload(upload)
    inner = (f"<Bucket>{xml.escape(bucket.name)}</Bucket><Key>{xml.escape(req.key)}</Key>"
             f"<UploadId>{upload.upload_id}</UploadId>")
    resp = Response.xml(xml.document("InitiateMultipartUploadResult", inner))
    resp.headers.extend(out)
    resp.headers.extend(lifecycle.abort_headers(bucket, req.key, upload.initiated))
    return resp


# --- UploadPart --------------------------------------------------------------------------------------------------

async def upload_part(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    assert req.key is not None
    require_bucket(req, bucket, "WRITE")
    number = _part_number(req.query.get("partNumber"))
    upload = await _find_upload(engine, req, bucket)
    if req.body.declared_length is None and "content-length" not in req.headers \
            and "transfer-encoding" not in req.headers:
        raise S3Error("MissingContentLength")
    if req.body.declared_length is not None and req.body.declared_length > MAX_PART_SIZE:
        raise S3Error("EntityTooLarge", ProposedSize=str(req.body.declared_length),
                      MaxSizeAllowed=str(MAX_PART_SIZE))
    props = json.loads(upload.props or "{}")
    algorithm = props.get("checksum_algorithm")
    enc = encryption.for_upload(req, props)
    body = await ingest.receive(engine, req, allow_inline=False, compute=(algorithm,) if algorithm else (),
                                piece=enc.new_piece(engine) if enc is not None else None)
    writer = body.writer
    assert writer is not None  # parts always have a data file
    try:
        if writer.size > MAX_PART_SIZE:
            raise S3Error("EntityTooLarge", ProposedSize=str(writer.size), MaxSizeAllowed=str(MAX_PART_SIZE))
        etag = f'"{body.md5_hex}"'
        part = UploadedPart(upload_id=upload.upload_id, part_number=number, size=writer.size, etag=etag,
                            last_modified=time.time(), blob_id=writer.blob_id,
                            checksums=part_checksums(body.checksums, body.piece))
        if engine.settings.fsync:
            await asyncio.get_running_loop().run_in_executor(None, writer.seal)
        else:
            writer.seal()
        await engine.meta.put_part(part)
    except BaseException as exc:
        writer.abort(exc)
        raise
    engine.blobs.promote(writer.blob_id)
    engine.collect_soon()  # a replaced part's data file
    out = [("ETag", etag)]
    for alg, value in body.checksums.items():
        out.append((ck.header_name(alg), value))
    if enc is not None:
        out.extend(enc.response_headers())
    out.extend(lifecycle.abort_headers(bucket, upload.key, upload.initiated))
    return Response(200, out)


def part_checksums(checksums: dict[str, str], piece: Piece | None) -> str | None:
    """A part's checksums JSON, carrying its encryption key material (if any)
    under ``encryption.PART_KEY`` until completion."""
    out: dict[str, str] = dict(checksums)
    if piece is not None:
        out[encryption.PART_KEY] = piece.encode()
    return _compact(out) if out else None


def _part_sums(part: UploadedPart) -> dict[str, str]:
    """A part's flexible checksums, without its key material."""
    have = json.loads(part.checksums) if part.checksums else {}
    have.pop(encryption.PART_KEY, None)
    return have


# --- CompleteMultipartUpload -------------------------------------------------------------------------------------

def _requested_parts(body: bytes) -> list[tuple[int, str, dict[str, str]]]:
    root = xml.parse(body, max_elements=_MAX_COMPLETE_ELEMENTS)
    if root.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    out = []
    for el in root:
        if el.tag != "Part":
            continue
        num, etag = xml.child_text(el, "PartNumber"), xml.child_text(el, "ETag")
        if num is None or etag is None:
            raise S3Error("MalformedXML")
        try:
            n = int(num.strip())
        except ValueError:
            raise S3Error("MalformedXML") from None
        sums = {}
        for alg in ck.ALGORITHMS:
            value = xml.child_text(el, "Checksum" + alg)
            if value is not None:
                sums[alg] = value.strip()
        out.append((n, etag.strip(), sums))
    if not out:
        raise S3Error("MalformedXML")
    return out


def _conditions(req: S3Request) -> tuple[WriteCondition | None, str | None]:
    """(If-Match / If-None-Match: *, the ETags of any other If-None-Match)."""
    inm = req.headers.get("if-none-match")
    im = req.headers.get("if-match")
    any_ = inm is not None and inm.strip() == "*"
    cond = None
    if im is not None or any_:
        cond = WriteCondition(if_match=im.strip() if im is not None else None, if_none_match_any=any_)
    return cond, inm if inm is not None and not any_ else None


def _multipart_etag(md5_hexes: list[str]) -> str:
    return f'"{hashlib.md5(b"".join(bytes.fromhex(h) for h in md5_hexes)).hexdigest()}-{len(md5_hexes)}"'


def _completion(bucket: Bucket, key: str, etag: str, host: str, checksums: str | None = None) -> Response:
    location = f"http://{host}/{quote(bucket.name)}/{quote(key, safe='/')}"
    inner = (f"<Location>{xml.escape(location)}</Location><Bucket>{xml.escape(bucket.name)}</Bucket>"
             f"<Key>{xml.escape(key)}</Key><ETag>{xml.escape(etag)}</ETag>")
    sums, kind = ck.stored(checksums)
    for alg, value in sums.items():
        inner += f"<Checksum{alg}>{xml.escape(value)}</Checksum{alg}>"
    if sums and kind:
        inner += f"<ChecksumType>{kind}</ChecksumType>"
    response = Response.xml(xml.document("CompleteMultipartUploadResult", inner))
    response.headers.extend(ck.response_headers(checksums))
    return response


def _object_checksum(req: S3Request, upload: MultipartUpload, chosen: list[UploadedPart]) -> str | None:
    """The object's checksums JSON for an upload created with a checksum
    algorithm: COMPOSITE (checksum of the part checksums, ``-N``) or
    FULL_OBJECT (the parts' CRCs combined).  A whole-object value sent with
    the request must match (BadDigest)."""
    props = json.loads(upload.props or "{}")
    algorithm = props.get("checksum_algorithm")
    sent = {alg: req.headers[ck.header_name(alg)].strip() for alg in ck.ALGORITHMS
            if ck.header_name(alg) in req.headers}
    if algorithm is None:
        if sent:
            raise S3Error("InvalidRequest", "The upload was created without a checksum algorithm; a full "
                                            "object checksum cannot be given on completion.")
        return None
    kind = props.get("checksum_type", "COMPOSITE")
    for alg in sent:
        if alg != algorithm:
            raise S3Error("InvalidRequest", f"The upload was created using the {algorithm.lower()} checksum "
                                            f"algorithm; the completion carries a {alg.lower()} checksum.")
    values = []
    for part in chosen:
        have = json.loads(part.checksums) if part.checksums else {}
        if algorithm not in have:  # a part stored before it was computed: no object checksum
            return None
        values.append((have[algorithm], part.size))
    if kind == "FULL_OBJECT":
        value = ck.full_object(algorithm, values)
    else:
        value = ck.composite(algorithm, [v for v, _n in values])
    if algorithm in sent and sent[algorithm] not in (value, value.split("-")[0]):
        raise S3Error("BadDigest", f"The {algorithm.lower()} you specified did not match the calculated "
                                   "checksum.")
    # Part checksums left out of the request are taken from the stored parts
    # (as Ceph RGW and ceph/s3-tests expect; AWS refuses them for COMPOSITE).
    return ck.to_json({algorithm: value}, kind)


def _manifest_entry(part: UploadedPart, algorithm: str | None) -> list[object]:
    """[blob_id, size, part number, {algorithm: part checksum}?, key material?]"""
    entry: list[object] = [part.blob_id, part.size, part.part_number]
    have = json.loads(part.checksums) if part.checksums else {}
    if algorithm and algorithm in have:
        entry.append({algorithm: have[algorithm]})
    if encryption.PART_KEY in have:  # the part's key material: a string element
        entry.append(have[encryption.PART_KEY])
    return entry


def _dedupe(requested: list[tuple[int, str, dict[str, str]]]) -> list[tuple[int, str, dict[str, str]]]:
    """Part numbers must not decrease; a number listed twice counts once, its
    last entry winning (as Ceph RGW; a retried part the client recorded twice)."""
    out: list[tuple[int, str, dict[str, str]]] = []
    for item in requested:
        if out and item[0] < out[-1][0]:
            raise S3Error("InvalidPartOrder")
        if out and item[0] == out[-1][0]:
            out[-1] = item
        else:
            out.append(item)
    return out


async def complete_multipart_upload(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    assert req.key is not None
    require_bucket(req, bucket, "WRITE")
    condition, if_none_match = _conditions(req)
    upload_id = req.query.get("uploadId", "")
    upload = await engine.meta.get_upload(upload_id) if upload_id else None
    if upload is None or upload.bucket_id != bucket.id or upload.key != req.key:
        # A retried completion (the first answer was lost) succeeds again when
        # the key still holds what these parts made.
        try:
            requested = _dedupe(_requested_parts(await req.body.read_all(_MAX_COMPLETE_BODY)))
            etag = _multipart_etag([e.strip('"') for _n, e, _s in requested])
        except (S3Error, ValueError):
            raise S3Error("NoSuchUpload", UploadId=upload_id) from None
        current = await engine.meta.get_object(bucket.id, req.key)
        if upload is None and current is not None and current.manifest and current.etag == etag:
            response = _completion(bucket, req.key, etag, req.headers.get("host", ""), current.checksums)
            response.headers.extend(version_header(bucket, current.version_id))
            return response
        raise S3Error("NoSuchUpload", UploadId=upload_id)
    enc = encryption.for_upload(req, json.loads(upload.props or "{}"))
    requested = _dedupe(_requested_parts(await req.body.read_all(_MAX_COMPLETE_BODY)))
    stored = {p.part_number: p for p in await engine.meta.list_parts(upload.upload_id, 0, MAX_PART_NUMBER + 1)}
    chosen: list[UploadedPart] = []
    for n, etag, sums in requested:
        part = stored.get(n)
        if part is None or part.etag.strip('"') != etag.strip('"'):
            raise S3Error("InvalidPart", UploadId=upload.upload_id, PartNumber=str(n), ETag=etag)
        if sums:
            have = json.loads(part.checksums) if part.checksums else {}
            for alg, value in sums.items():
                if alg in have and have[alg] != value:
                    raise S3Error("InvalidPart", f"The {alg} checksum of part {n} does not match.",
                                  UploadId=upload.upload_id, PartNumber=str(n))
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise S3Error("EntityTooSmall", ProposedSize=str(part.size), MinSizeAllowed=str(MIN_PART_SIZE),
                          PartNumber=str(part.part_number), ETag=part.etag)
    etag = _multipart_etag([p.etag.strip('"') for p in chosen])
    checksums = _object_checksum(req, upload, chosen)
    algorithm = json.loads(upload.props or "{}").get("checksum_algorithm")
    version = ObjectVersion(
        bucket_id=bucket.id, key=upload.key, version_id="null", size=sum(p.size for p in chosen), etag=etag,
        last_modified=time.time(), headers=object_lock.with_default(_with_encryption(upload.headers, enc), bucket),
        acl=upload.acl, owner_id=upload.owner_id,
        storage_class=upload.storage_class, inline=None, blob_id=None,
        manifest=_compact([_manifest_entry(p, algorithm) for p in chosen]), checksums=checksums)
    events = notification.pending(req, bucket, "s3:ObjectCreated:CompleteMultipartUpload", upload.key,
                                  size=version.size, etag=etag)
    version_id = await emitting(events, engine.meta.complete_upload(upload.upload_id, version, condition,
                                                                     if_none_match))
    engine.collect_soon()
    response = _completion(bucket, upload.key, etag, req.headers.get("host", ""), checksums)
    response.headers.extend(version_header(bucket, version_id))
    response.headers.extend(lifecycle.version_expiration_header(bucket, version))
    if enc is not None:
        response.headers.extend(enc.response_headers())
    return response


def _with_encryption(headers: str, enc: encryption.Encryption | None) -> str:
    if enc is None:
        return headers
    return _compact(encryption.with_record(json.loads(headers), enc))


# --- GetObject / HeadObject ?partNumber=N ----------------------------------------------------------------------

def part_range(obj: ObjectVersion, raw: str, rng: tuple[int, int] | None,
               headers: list[tuple[str, str]]) -> tuple[int, int] | None:
    """The byte range of part ``raw`` of ``obj`` (None: the whole object); adds
    x-amz-mp-parts-count for multipart objects.  A single-part object has
    one part, itself."""
    n = _part_number(raw)
    if rng is not None:
        raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter.")
    if not obj.manifest:
        if n != 1:
            raise S3Error("InvalidPart", "The requested partnumber is not satisfiable", PartNumber=str(n))
        return None
    sizes = [entry[1] for entry in json.loads(obj.manifest)]
    if n > len(sizes):
        raise S3Error("InvalidPart", "The requested partnumber is not satisfiable", PartNumber=str(n))
    headers.append(("x-amz-mp-parts-count", str(len(sizes))))
    first = sum(sizes[:n - 1])
    if obj.size == 0:
        return None
    return first, first + sizes[n - 1] - 1  # an empty last part: an empty range


def part_checksum_headers(obj: ObjectVersion, raw: str) -> list[tuple[str, str]]:
    """x-amz-checksum-* of part ``raw`` (already validated by part_range)
    with the object's checksum type; a single-part object's own checksums."""
    if not obj.manifest:
        return ck.response_headers(obj.checksums)
    entry = json.loads(obj.manifest)[int(raw) - 1]
    sums = next((e for e in entry[2:] if isinstance(e, dict)), {})
    out = [(ck.header_name(alg), value) for alg, value in sums.items()]
    _whole, kind = ck.stored(obj.checksums)
    if out and kind:
        out.append(("x-amz-checksum-type", kind))
    return out


# --- AbortMultipartUpload ----------------------------------------------------------------------------------------

async def abort_multipart_upload(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    assert req.key is not None
    require_bucket(req, bucket, "WRITE")
    upload = await _find_upload(engine, req, bucket)
    if not await engine.meta.abort_upload(upload.upload_id):
        raise S3Error("NoSuchUpload", UploadId=upload.upload_id)
    engine.collect_soon()
    return Response(204)


# --- ListParts ---------------------------------------------------------------------------------------------------

async def list_parts(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    assert req.key is not None
    require_bucket(req, bucket, "WRITE")
    upload = await _find_upload(engine, req, bucket)
    max_parts = min(query_int(req, "max-parts", MAX_LIST, "Provided max-parts not an integer or within "
                                                         "integer range"), MAX_LIST)
    marker = query_int(req, "part-number-marker", 0, "Provided part-number-marker not an integer or within "
                                                    "integer range")
    parts = await engine.meta.list_parts(upload.upload_id, marker, max_parts + 1) if max_parts else []
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    props = json.loads(upload.props or "{}")
    names = await _display_names(engine, {upload.owner_id})
    inner = [f"<Bucket>{xml.escape(bucket.name)}</Bucket><Key>{xml.escape(upload.key)}</Key>"
             f"<UploadId>{upload.upload_id}</UploadId>",
             _person("Initiator", upload.owner_id, names), _person("Owner", upload.owner_id, names),
             f"<StorageClass>{upload.storage_class}</StorageClass>",
             f"<PartNumberMarker>{marker}</PartNumberMarker>"]
    if parts:
        inner.append(f"<NextPartNumberMarker>{parts[-1].part_number}</NextPartNumberMarker>")
    inner.append(f"<MaxParts>{max_parts}</MaxParts><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    for p in parts:
        sums = "".join(f"<Checksum{alg}>{xml.escape(v)}</Checksum{alg}>" for alg, v in _part_sums(p).items())
        inner.append(f"<Part><PartNumber>{p.part_number}</PartNumber>"
                     f"<LastModified>{iso8601(p.last_modified)}</LastModified>"
                     f"<ETag>{xml.escape(p.etag)}</ETag><Size>{p.size}</Size>{sums}</Part>")
    if "checksum_algorithm" in props:
        inner.append(f"<ChecksumAlgorithm>{props['checksum_algorithm']}</ChecksumAlgorithm>")
    if "checksum_type" in props:
        inner.append(f"<ChecksumType>{props['checksum_type']}</ChecksumType>")
    resp = Response.xml(xml.document("ListPartsResult", "".join(inner)))
    resp.headers.extend(lifecycle.abort_headers(bucket, upload.key, upload.initiated))
    return resp


# --- ListMultipartUploads ----------------------------------------------------------------------------------------

async def collect_uploads(engine: Engine, bucket_id: int, prefix: str, delimiter: str, key_marker: str,
                    upload_id_marker: str | None, max_uploads: int
                    ) -> tuple[list[MultipartUpload], list[str], bool, tuple[str, str] | None]:
    """One page: (uploads, common prefixes, truncated, last entry as (key or prefix, upload id or ""))."""
    uploads: list[MultipartUpload] = []
    prefixes: list[str] = []
    last: tuple[str, str] | None = None
    if max_uploads == 0:
        return uploads, prefixes, False, last
    count = 0
    after_key, after_id = key_marker, upload_id_marker
    while True:
        size = max_uploads - count + 1
        batch = await engine.meta.list_uploads(bucket_id, prefix, after_key, after_id, size)
        if not batch:
            return uploads, prefixes, False, last
        reseek = False
        for u in batch:
            if delimiter:
                idx = u.key.find(delimiter, len(prefix))
                if idx >= 0:
                    common = u.key[:idx + len(delimiter)]
                    if not key_marker.startswith(common):
                        if count == max_uploads:
                            return uploads, prefixes, True, last
                        prefixes.append(common)
                        count += 1
                        last = (common, "")
                    nxt = prefix_successor(common)
                    if nxt is None:
                        return uploads, prefixes, False, last
                    after_key, after_id, reseek = nxt, "", True  # keys >= nxt
                    break
            if count == max_uploads:
                return uploads, prefixes, True, last
            uploads.append(u)
            count += 1
            last = (u.key, u.upload_id)
        if not reseek:
            if len(batch) < size:
                return uploads, prefixes, False, last
            after_key, after_id = batch[-1].key, batch[-1].upload_id


async def list_multipart_uploads(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_bucket(req, bucket, "READ")
    q = req.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker = q.get("key-marker", "")
    upload_id_marker = q.get("upload-id-marker") or None
    if not key_marker:
        upload_id_marker = None  # ignored without a key-marker, as AWS
    max_uploads = min(query_int(req, "max-uploads", MAX_LIST, "Provided max-uploads not an integer or within "
                                                             "integer range"), MAX_LIST)
    enc = q.get("encoding-type")
    if enc is not None and enc.lower() != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type", ArgumentValue=enc)
    url = enc is not None

    def e(value: str) -> str:
        return xml.escape(quote(value, safe="/") if url else value)

    uploads, prefixes, truncated, last = await collect_uploads(engine, bucket.id, prefix, delimiter, key_marker,
                                                         upload_id_marker, max_uploads)
    names = await _display_names(engine, {u.owner_id for u in uploads})
    inner = [f"<Bucket>{xml.escape(bucket.name)}</Bucket><KeyMarker>{e(key_marker)}</KeyMarker>"
             f"<UploadIdMarker>{xml.escape(upload_id_marker or '')}</UploadIdMarker>"]
    if last is not None:
        inner.append(f"<NextKeyMarker>{e(last[0])}</NextKeyMarker>"
                     f"<NextUploadIdMarker>{xml.escape(last[1])}</NextUploadIdMarker>")
    if delimiter:
        inner.append(f"<Delimiter>{e(delimiter)}</Delimiter>")
    inner.append(f"<Prefix>{e(prefix)}</Prefix><MaxUploads>{max_uploads}</MaxUploads>"
                 f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    if url:
        inner.append("<EncodingType>url</EncodingType>")
    for u in uploads:
        props = json.loads(u.props or "{}")
        sums = ""
        if "checksum_algorithm" in props:
            sums += f"<ChecksumAlgorithm>{props['checksum_algorithm']}</ChecksumAlgorithm>"
        if "checksum_type" in props:
            sums += f"<ChecksumType>{props['checksum_type']}</ChecksumType>"
        inner.append(f"<Upload><Key>{e(u.key)}</Key><UploadId>{u.upload_id}</UploadId>"
                     f"{_person('Initiator', u.owner_id, names)}{_person('Owner', u.owner_id, names)}"
                     f"<StorageClass>{u.storage_class}</StorageClass><Initiated>{iso8601(u.initiated)}</Initiated>"
                     f"{sums}</Upload>")
    inner.extend(f"<CommonPrefixes><Prefix>{e(p)}</Prefix></CommonPrefixes>" for p in prefixes)
    return Response.xml(xml.document("ListMultipartUploadsResult", "".join(inner)))
