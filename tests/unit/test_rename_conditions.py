"""RenameObject's source parsing and conditions: pure functions."""

from __future__ import annotations

import pytest

from pails.errors import S3Error
from pails.s3.rename import Side, check, conditions, parse_rename_source
from pails.storage.records import ObjectVersion


def _version(etag: str, last_modified: float, marker: bool = False) -> ObjectVersion:
    return ObjectVersion(bucket_id=1, key="k", version_id="null", size=1, etag=etag, last_modified=last_modified,
                         headers="{}", acl="{}", owner_id="o", storage_class="STANDARD", inline=b"x", blob_id=None,
                         manifest=None, checksums=None, delete_marker=marker)


def test_parse_rename_source() -> None:
    assert parse_rename_source("/b/a%20key/x", "b") == "a key/x"
    assert parse_rename_source("b/k", "b") == "k"
    for bad in ("/b/", "/b", "b", "/", "/b/k?versionId=1", "/b/%ff"):
        with pytest.raises(S3Error) as exc:
            parse_rename_source(bad, "b")
        assert exc.value.code == "InvalidArgument", bad
    with pytest.raises(S3Error) as exc:
        parse_rename_source("/other/k", "b")
    assert exc.value.code == "InvalidRequest"


def test_conditions_from_headers() -> None:
    source, dest = conditions({"if-match": '"d"', "x-amz-rename-source-if-none-match": "*",
                               "if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert source == Side(None, "*", None, None)
    assert dest == Side('"d"', None, 978307200.0, None)


SRC = _version('"s"', 1000.0)
DST = _version('"d"', 2000.0)


@pytest.mark.parametrize(("source", "dest", "dst", "failed"), [
    (Side(if_match='"s"'), Side(), DST, None),
    (Side(if_match='"x", "s"'), Side(), DST, None),
    (Side(if_match='"x"'), Side(), DST, "x-amz-rename-source-if-match"),
    (Side(if_none_match="*"), Side(), DST, "x-amz-rename-source-if-none-match"),
    (Side(if_none_match='"s"'), Side(), DST, "x-amz-rename-source-if-none-match"),
    (Side(if_none_match='"x"'), Side(), DST, None),
    (Side(if_modified_since=1000), Side(), DST, "x-amz-rename-source-if-modified-since"),
    (Side(if_modified_since=999), Side(), DST, None),
    (Side(if_unmodified_since=999), Side(), DST, "x-amz-rename-source-if-unmodified-since"),
    (Side(if_unmodified_since=1000), Side(), DST, None),
    (Side(), Side(if_match='"d"'), DST, None),
    (Side(), Side(if_match='"d"'), None, "If-Match"),
    (Side(), Side(if_match='"s"'), DST, "If-Match"),
    (Side(), Side(if_none_match="*"), DST, "If-None-Match"),
    (Side(), Side(if_none_match="*"), None, None),
    (Side(), Side(if_none_match="*"), _version('"m"', 5.0, marker=True), None),  # a delete marker: no object
    (Side(), Side(if_modified_since=1999), DST, None),
    (Side(), Side(if_modified_since=2000), DST, "If-Modified-Since"),
    (Side(), Side(if_modified_since=1), None, "If-Modified-Since"),
    (Side(), Side(if_unmodified_since=1999), DST, "If-Unmodified-Since"),
    (Side(), Side(if_unmodified_since=1), None, None),
])
def test_check(source: Side, dest: Side, dst: ObjectVersion | None, failed: str | None) -> None:
    if failed is None:
        check(source, dest, SRC, dst)
        return
    with pytest.raises(S3Error) as exc:
        check(source, dest, SRC, dst)
    assert exc.value.code == "PreconditionFailed" and exc.value.extra["Condition"] == failed
