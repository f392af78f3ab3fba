"""Listing: ListObjects (v1), ListObjectsV2 and ListObjectVersions.

A page costs work proportional to the page: rows come from one range scan,
and a delimiter listing seeks past each common prefix instead of reading the
keys under it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from urllib.parse import quote

from pails.errors import S3Error
from pails.protocol import xml
from pails.protocol.dates import ISO_MILLIS, ISO_SECONDS, iso8601
from pails.protocol.keys import prefix_successor
from pails.s3.permissions import get_bucket, require_bucket
from pails.s3.request import Response, S3Request, query_int
from pails.storage.engine import Engine
from pails.storage.meta import valid_version_id
from pails.storage.records import ContentsRow, ListingRow

MAX_KEYS = 1000


def _max_keys(req: S3Request, name: str = "max-keys") -> int:
    return min(query_int(req, name, MAX_KEYS, "Provided max-keys not an integer or within integer range",
                         "Argument max-keys must be an integer between 0 and 2147483647"), MAX_KEYS)


def _encoding(req: S3Request) -> str | None:
    enc = req.query.get("encoding-type")
    if enc is None:
        return None
    if enc.lower() != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type", ArgumentValue=enc)
    return "url"


def _enc(value: str, encoding: str | None) -> str:
    return quote(value, safe="/") if encoding == "url" else value


def _contents(rows: list[ContentsRow], encoding: str | None, owners: dict[str, str] | None) -> list[str]:
    """The <Contents> of a page: the hot loop of every listing, kept lean.
    Keys and ETags are checked for characters to escape once per page (one
    regex pass); ETags are quoted hex, so escaping them is quoting their
    quotes.  Dates come from the per-second cache plus a table of milliseconds."""
    esc = xml.escape
    owner_xml = {} if owners is None else {
        oid: f"<Owner><ID>{oid}</ID><DisplayName>{esc(name)}</DisplayName></Owner>" for oid, name in owners.items()}
    if encoding == "url":
        keys = [esc(quote(r[0], safe="/")) for r in rows]
    else:
        keys = [r[0] for r in rows]
        if xml.needs_escape("".join(keys)):
            keys = [esc(k) for k in keys]
    plain_etags = not xml.needs_escape("".join([r[2] for r in rows]), quotes=False)
    heads, millis = ISO_SECONDS, ISO_MILLIS
    get_owner = owner_xml.get
    parts = []
    append = parts.append
    for key, (_, size, etag, last_modified, storage_class, owner) in zip(keys, rows, strict=True):
        sec = int(last_modified)
        when = heads[sec] + millis[int((last_modified - sec) * 1000)] if sec in heads else iso8601(last_modified)
        etag = etag.replace('"', "&quot;") if plain_etags else esc(etag)
        if owners is None:
            append(f"<Contents><Key>{key}</Key><LastModified>{when}</LastModified><ETag>{etag}</ETag><Size>{size}"
                   f"</Size><StorageClass>{storage_class}</StorageClass></Contents>")
        else:
            append(f"<Contents><Key>{key}</Key><LastModified>{when}</LastModified><ETag>{etag}</ETag><Size>{size}"
                   f"</Size>{get_owner(owner, '')}<StorageClass>{storage_class}</StorageClass></Contents>")
    return parts


def _common(prefixes: list[str], encoding: str | None) -> str:
    if encoding == "url":
        prefixes = [xml.escape(quote(p, safe="/")) for p in prefixes]
    elif xml.needs_escape("".join(prefixes)):  # one check per page, as keys
        prefixes = [xml.escape(p) for p in prefixes]
    return "".join([f"<CommonPrefixes><Prefix>{p}</Prefix></CommonPrefixes>" for p in prefixes])


async def _owner_names(engine: Engine, owner_ids: Iterable[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for oid in owner_ids:
        if oid not in names:
            u = await engine.meta.get_user_by_id(oid)
            names[oid] = u.display_name if u else ""
    return names


async def list_objects(engine: Engine, req: S3Request) -> Response:
    if req.query.get("list-type") == "2":
        return await list_objects_v2(engine, req)
    bucket = await get_bucket(engine, req)
    require_bucket(req, bucket, "READ")
    q = req.query
    prefix, delimiter, marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("marker", "")
    max_keys = _max_keys(req)
    encoding = _encoding(req)
    rows, prefixes, truncated, last = await engine.meta.list_page(bucket.id, prefix, delimiter, marker, max_keys, True)
    # v1 never URL-encodes <Prefix> (clients do not decode it).
    inner = [f"<Name>{bucket.name}</Name>", xml.element("Prefix", prefix),
             xml.element("Marker", _enc(marker, encoding)), f"<MaxKeys>{max_keys}</MaxKeys>"]
    if delimiter:
        inner.append(xml.element("Delimiter", _enc(delimiter, encoding)))
    inner.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    if truncated and delimiter and last is not None:
        inner.append(xml.element("NextMarker", _enc(last, encoding)))
    if encoding:
        inner.append("<EncodingType>url</EncodingType>")
    inner += _contents(rows, encoding, await _owner_names(engine, {r[5] for r in rows}))
    inner.append(_common(prefixes, encoding))
    return Response.xml(xml.document_of("ListBucketResult", inner))


def _token_encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _token_decode(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      ArgumentName="continuation-token") from None


async def list_objects_v2(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_bucket(req, bucket, "READ")
    q = req.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    start_after = q.get("start-after", "")
    token = q.get("continuation-token")
    after = _token_decode(token) if token else start_after  # an empty token starts from the beginning
    max_keys = _max_keys(req)
    encoding = _encoding(req)
    fetch_owner = q.get("fetch-owner", "").lower() == "true"
    rows, prefixes, truncated, last = await engine.meta.list_page(bucket.id, prefix, delimiter, after, max_keys,
                                                            fetch_owner)
    inner = [f"<Name>{bucket.name}</Name>", f"<Prefix>{xml.escape(_enc(prefix, encoding))}</Prefix>"]
    if start_after:
        inner.append(xml.element("StartAfter", _enc(start_after, encoding)))
    if token is not None:
        inner.append(xml.element("ContinuationToken", token))
    inner.append(f"<KeyCount>{len(rows) + len(prefixes)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>")
    if delimiter:
        inner.append(xml.element("Delimiter", _enc(delimiter, encoding)))
    inner.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    if truncated and last is not None:
        inner.append(xml.element("NextContinuationToken", _token_encode(last)))
    if encoding:
        inner.append("<EncodingType>url</EncodingType>")
    inner += _contents(rows, encoding, await _owner_names(engine, {r[5] for r in rows}) if fetch_owner else None)
    inner.append(_common(prefixes, encoding))
    return Response.xml(xml.document_of("ListBucketResult", inner))


async def collect_versions(engine: Engine, bucket_id: int, prefix: str, delimiter: str, key_marker: str,
                     version_marker: str, max_keys: int
                     ) -> tuple[list[ListingRow], list[str], bool, str | None, str | None]:
    """One ListObjectVersions page: (versions and delete markers, common
    prefixes, truncated, next key marker, next version-id marker).

    Rows come from ``MetaStore.list_versions`` (a merge of two range scans);
    a delimiter listing seeks past each common prefix, as ``MetaStore.list_page``."""
    rows: list[ListingRow] = []
    prefixes: list[str] = []
    if max_keys == 0:
        return rows, prefixes, False, None, None
    meta = engine.meta
    resume_key: str | None = None
    resume_seq = 0
    if version_marker:
        pos = await meta.version_position(bucket_id, key_marker, version_marker)
        if pos is not None:
            resume_key, resume_seq = key_marker, pos
    cursor, inclusive = key_marker, False
    count = 0
    last_key: str | None = None
    last_version: str | None = None
    while True:
        batch_size = max_keys - count + 1
        batch = await meta.list_versions(bucket_id, prefix, cursor, inclusive, batch_size, resume_key, resume_seq)
        resume_key = None
        if not batch:
            return rows, prefixes, False, last_key, last_version
        reseek = False
        for row in batch:
            key = row.key
            if delimiter:
                idx = key.find(delimiter, len(prefix))
                if idx >= 0:
                    common = key[:idx + len(delimiter)]
                    if not key_marker.startswith(common):
                        if count == max_keys:
                            return rows, prefixes, True, last_key, last_version
                        prefixes.append(common)
                        count += 1
                        last_key, last_version = common, None
                    nxt = prefix_successor(common)
                    if nxt is None:
                        return rows, prefixes, False, last_key, last_version
                    cursor, inclusive, reseek = nxt, True, True
                    break
            if count == max_keys:
                return rows, prefixes, True, last_key, last_version
            rows.append(row)
            count += 1
            last_key, last_version = key, row.version_id
        if not reseek:
            if len(batch) < batch_size:
                return rows, prefixes, False, last_key, last_version
            last = batch[-1]
            cursor, inclusive = last.key, False
            resume_key, resume_seq = last.key, last.seq


async def list_object_versions(engine: Engine, req: S3Request) -> Response:
    """Every version and delete marker, newest first per key."""
    bucket = await get_bucket(engine, req)
    require_bucket(req, bucket, "READ")
    q = req.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker = q.get("key-marker", "")
    version_marker = q.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise S3Error("InvalidArgument", "A version-id marker cannot be specified without a key marker.",
                      ArgumentName="version-id-marker", ArgumentValue=version_marker)
    if version_marker and not valid_version_id(version_marker):
        raise S3Error("InvalidArgument", "Invalid version id specified", ArgumentName="version-id-marker",
                      ArgumentValue=version_marker[:256])
    max_keys = _max_keys(req, "max-keys")
    encoding = _encoding(req)
    rows, prefixes, truncated, next_key, next_version = await collect_versions(
        engine, bucket.id, prefix, delimiter, key_marker, version_marker, max_keys)
    owners = await _owner_names(engine, {r.owner_id for r in rows})
    inner = [f"<Name>{bucket.name}</Name>", f"<Prefix>{xml.escape(_enc(prefix, encoding))}</Prefix>",
             f"<KeyMarker>{xml.escape(_enc(key_marker, encoding))}</KeyMarker>",
             f"<VersionIdMarker>{xml.escape(version_marker)}</VersionIdMarker>",
             f"<MaxKeys>{max_keys}</MaxKeys>"]
    if delimiter:
        inner.append(xml.element("Delimiter", _enc(delimiter, encoding)))
    inner.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    if truncated and next_key is not None:
        inner.append(xml.element("NextKeyMarker", _enc(next_key, encoding)))
        if next_version is not None:
            inner.append(xml.element("NextVersionIdMarker", next_version))
    if encoding:
        inner.append("<EncodingType>url</EncodingType>")
    for r in rows:
        owner = f"<Owner><ID>{r.owner_id}</ID><DisplayName>{xml.escape(owners.get(r.owner_id, ''))}" \
                "</DisplayName></Owner>"
        tag = "DeleteMarker" if r.delete_marker else "Version"
        body = "" if r.delete_marker else (f"<ETag>{xml.escape(r.etag)}</ETag><Size>{r.size}</Size>"
                                           f"<StorageClass>{r.storage_class}</StorageClass>")
        inner.append(f"<{tag}><Key>{xml.escape(_enc(r.key, encoding))}</Key>"
                     f"<VersionId>{r.version_id}</VersionId><IsLatest>{'true' if r.is_latest else 'false'}"
                     f"</IsLatest><LastModified>{iso8601(r.last_modified)}</LastModified>{body}{owner}</{tag}>")
    inner.append(_common(prefixes, encoding))
    return Response.xml(xml.document("ListVersionsResult", "".join(inner)))
