"""RenameObject (S3 Express, 2025): ``PUT /bucket/newkey?renameObject`` with
``x-amz-rename-source: /bucket/oldkey``; an atomic, metadata-only rename
(``MetaStore.rename_object``) that keeps the object's data, metadata, ETag
and Last-Modified.

Conditions, decided inside the commit on both keys: on the destination
If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since; on the
source x-amz-rename-source-if-match, -if-none-match, -if-modified-since,
-if-unmodified-since.  Any that does not hold is 412 PreconditionFailed.
Buckets with versioning (enabled or suspended) answer NotImplemented: AWS
has RenameObject on directory buckets only, which have no versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from pails.errors import S3Error
from pails.protocol.dates import parse_http_date
from pails.protocol.names import check_key
from pails.s3.permissions import bucket_allows, get_bucket, require_bucket
from pails.s3.request import Response, S3Request
from pails.storage.conditions import RENAME_VERSIONED
from pails.storage.engine import Engine
from pails.storage.records import ObjectVersion

SOURCE_HEADER = "x-amz-rename-source"
_TOKEN_MAX = 64


def parse_rename_source(value: str, bucket: str) -> str:
    """The source key of ``x-amz-rename-source`` (``/bucket/key`` or
    ``bucket/key``, URL-encoded), which must name the request's bucket."""
    raw = value.strip()
    if "?versionId=" in raw:
        raise S3Error("InvalidArgument", "RenameObject does not take a version id in its source",
                      ArgumentName=SOURCE_HEADER, ArgumentValue=raw[:1024])
    try:
        text = unquote(raw.removeprefix("/"), errors="strict")
    except UnicodeDecodeError:
        raise S3Error("InvalidArgument", "Invalid rename source encoding", ArgumentName=SOURCE_HEADER,
                      ArgumentValue=raw[:1024]) from None
    source_bucket, slash, key = text.partition("/")
    if not slash or not source_bucket or not key:
        raise S3Error("InvalidArgument", "Invalid rename source: it must be of the form /bucket/key",
                      ArgumentName=SOURCE_HEADER, ArgumentValue=raw[:1024])
    if source_bucket != bucket:
        raise S3Error("InvalidRequest", "RenameObject renames within one bucket: the source must be in the "
                                        "destination's bucket.")
    return key


@dataclass(frozen=True, slots=True)
class Side:
    """The conditions on one of the two objects (dates: epoch seconds)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: float | None = None
    if_unmodified_since: float | None = None


def _date(value: str | None) -> float | None:
    return None if value is None else parse_http_date(value)


def conditions(headers: dict[str, str]) -> tuple[Side, Side]:
    """(source conditions, destination conditions) of a request."""
    p = SOURCE_HEADER + "-"
    source = Side(headers.get(p + "if-match"), headers.get(p + "if-none-match"),
                  _date(headers.get(p + "if-modified-since")), _date(headers.get(p + "if-unmodified-since")))
    dest = Side(headers.get("if-match"), headers.get("if-none-match"), _date(headers.get("if-modified-since")),
                _date(headers.get("if-unmodified-since")))
    return source, dest


def _etag_in(header: str, etag: str) -> bool:
    bare = etag.strip('"')
    return any(c.strip() == "*" or c.strip().strip('"') == bare for c in header.split(","))


def _failed(header: str) -> S3Error:
    return S3Error("PreconditionFailed", Condition=header)


def check(source_side: Side, dest_side: Side, source: ObjectVersion, dest: ObjectVersion | None) -> None:
    """PreconditionFailed unless every condition holds.  Pure: it runs
    inside the store's commit, on the versions read under its locks."""
    p = SOURCE_HEADER + "-"
    if source_side.if_match is not None and not _etag_in(source_side.if_match, source.etag):
        raise _failed(p + "if-match")
    if source_side.if_none_match is not None and _etag_in(source_side.if_none_match, source.etag):
        raise _failed(p + "if-none-match")
    if source_side.if_modified_since is not None and int(source.last_modified) <= source_side.if_modified_since:
        raise _failed(p + "if-modified-since")
    if source_side.if_unmodified_since is not None and int(source.last_modified) > source_side.if_unmodified_since:
        raise _failed(p + "if-unmodified-since")
    exists = dest is not None and not dest.delete_marker
    if dest_side.if_match is not None and (not exists or not _etag_in(dest_side.if_match, dest.etag)):  # type: ignore[union-attr]
        raise _failed("If-Match")
    if dest_side.if_none_match is not None and exists and _etag_in(dest_side.if_none_match, dest.etag):  # type: ignore[union-attr]
        raise _failed("If-None-Match")
    if dest_side.if_modified_since is not None and (
            not exists or int(dest.last_modified) <= dest_side.if_modified_since):  # type: ignore[union-attr]
        raise _failed("If-Modified-Since")
    if dest_side.if_unmodified_since is not None and exists and \
            int(dest.last_modified) > dest_side.if_unmodified_since:  # type: ignore[union-attr]
        raise _failed("If-Unmodified-Since")


def _check_client_token(headers: dict[str, str]) -> None:
    token = headers.get("x-amz-client-token")
    if token is not None and not (0 < len(token) <= _TOKEN_MAX and all(33 <= ord(c) <= 126 for c in token)):
        raise S3Error("InvalidArgument", "The client token must be 1 to 64 ASCII characters from 33 to 126.",
                      ArgumentName="x-amz-client-token")


async def rename_object(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    assert req.key is not None
    if SOURCE_HEADER not in req.headers:
        raise S3Error("InvalidArgument", "RenameObject needs the x-amz-rename-source header",
                      ArgumentName=SOURCE_HEADER)
    source = parse_rename_source(req.headers[SOURCE_HEADER], bucket.name)
    check_key(req.key)
    if source.endswith("/") or req.key.endswith("/"):
        raise S3Error("InvalidRequest", "RenameObject does not rename keys that end with a slash (/).")
    _check_client_token(req.headers)
    # Writing the new key, and removing the old one.
    require_bucket(req, bucket, "WRITE", action="s3:PutObject")
    if not bucket_allows(req, bucket, "WRITE", key=source, action="s3:DeleteObject"):
        raise S3Error("AccessDenied")
    if bucket.versioning is not None:
        raise S3Error("NotImplemented", RENAME_VERSIONED)
    source_side, dest_side = conditions(req.headers)

    def decide(src: ObjectVersion, dst: ObjectVersion | None) -> None:
        check(source_side, dest_side, src, dst)

    await engine.meta.rename_object(bucket.id, source, req.key, decide)
    engine.collect_soon(now=True)
    return Response(200)
