"""Bucket versioning against a real server, with boto3's default configuration."""

from __future__ import annotations

import datetime
import signal
import threading
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.pails_server import Server


def _error(e: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _body(s3, bucket: str, key: str, version_id: str | None = None) -> bytes:
    kw = {"VersionId": version_id} if version_id else {}
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


def _empty(s3, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if items:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": items, "Quiet": True})


@pytest.fixture
def vbucket(s3) -> Iterator[str]:
    name = f"ver-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    _empty(s3, name)
    s3.delete_bucket(Bucket=name)


def _versions(s3, bucket: str, **kw) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is delete marker, is latest) in listing order."""
    r = s3.list_object_versions(Bucket=bucket, **kw)
    items = [(v["Key"], v["VersionId"], False, v["IsLatest"], v["LastModified"]) for v in r.get("Versions", [])]
    items += [(d["Key"], d["VersionId"], True, d["IsLatest"], d["LastModified"]) for d in r.get("DeleteMarkers", [])]
    return [i[:4] for i in items]


# --- configuration ------------------------------------------------------------------------------------------------

def test_get_put_bucket_versioning(s3, bucket, alt_s3):
    r = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in r and "MFADelete" not in r
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Disabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "On"})
    assert _error(e) == (400, "MalformedXML")
    with pytest.raises(ClientError) as e:
        alt_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert _error(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        alt_s3.get_bucket_versioning(Bucket=bucket)
    assert _error(e) == (403, "AccessDenied")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    _empty(s3, bucket)


def test_malformed_versioning_bodies(s3, bucket):
    def with_body(body: bytes):
        def swap(request, **_):
            request.data = body
            for name in [h for h in request.headers
                         if h.lower() == "content-md5" or h.lower().startswith("x-amz-checksum-")]:
                del request.headers[name]
        s3.meta.events.register("before-sign.s3.PutBucketVersioning", swap)
        try:
            with pytest.raises(ClientError) as e:
                s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        finally:
            s3.meta.events.unregister("before-sign.s3.PutBucketVersioning", swap)
        return _error(e)

    assert with_body(b"<VersioningConfiguration><Status>Enabled") == (400, "MalformedXML")
    assert with_body(b"<Other><Status>Enabled</Status></Other>") == (400, "MalformedXML")
    assert with_body(b"<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>") == \
        (400, "MalformedXML")
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


# --- writes, reads and deletes ------------------------------------------------------------------------------------

def test_overwrites_keep_versions(s3, vbucket):
    ids = [s3.put_object(Bucket=vbucket, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    assert len(set(ids)) == 3 and all(i != "null" for i in ids)
    assert ids == sorted(ids)  # sortable by creation
    assert _body(s3, vbucket, "k") == b"v2"
    for i, vid in enumerate(ids):
        assert _body(s3, vbucket, "k", vid) == f"v{i}".encode()
        h = s3.head_object(Bucket=vbucket, Key="k", VersionId=vid)
        assert h["VersionId"] == vid and h["ContentLength"] == 2
    assert s3.get_object(Bucket=vbucket, Key="k")["VersionId"] == ids[2]
    assert _versions(s3, vbucket) == [("k", ids[2], False, True), ("k", ids[1], False, False),
                                      ("k", ids[0], False, False)]


def test_large_versions_are_whole(s3, vbucket):
    bodies = [bytes([i]) * (300 * 1024) for i in range(3)]
    ids = [s3.put_object(Bucket=vbucket, Key="big", Body=b)["VersionId"] for b in bodies]
    for vid, b in zip(ids, bodies, strict=True):
        assert _body(s3, vbucket, "big", vid) == b
    s3.delete_object(Bucket=vbucket, Key="big", VersionId=ids[1])
    assert _body(s3, vbucket, "big", ids[0]) == bodies[0]
    assert _body(s3, vbucket, "big") == bodies[2]


def test_delete_marker_lifecycle(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    r = s3.delete_object(Bucket=vbucket, Key="k")
    assert r["DeleteMarker"] is True
    marker = r["VersionId"]
    assert marker not in ("null", v1)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k")
    assert _error(e) == (404, "NoSuchKey")
    headers = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=vbucket, Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert _error(e) == (405, "MethodNotAllowed")
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    # hidden from listings, but kept by version listing
    assert "Contents" not in s3.list_objects_v2(Bucket=vbucket)
    assert "Contents" not in s3.list_objects(Bucket=vbucket)
    assert _versions(s3, vbucket) == [("k", v1, False, False), ("k", marker, True, True)]
    # the old version is still readable by id
    assert _body(s3, vbucket, "k", v1) == b"one"
    # removing the marker restores the object
    r = s3.delete_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert r["DeleteMarker"] is True and r["VersionId"] == marker
    assert _body(s3, vbucket, "k") == b"one"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket)["Contents"]] == ["k"]


def test_stacked_delete_markers(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="a/b", Body=b"x")
    markers = [s3.delete_object(Bucket=vbucket, Key="a/b")["VersionId"] for _ in range(3)]
    vs = _versions(s3, vbucket)
    assert len([v for v in vs if not v[2]]) == 1
    assert [v[1] for v in vs if v[2]] == markers[::-1]
    # a prefix whose keys are all deleted is not listed
    assert "CommonPrefixes" not in s3.list_objects_v2(Bucket=vbucket, Delimiter="/")


def test_delete_current_version_promotes_previous(s3, vbucket):
    ids = [s3.put_object(Bucket=vbucket, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    r = s3.delete_object(Bucket=vbucket, Key="k", VersionId=ids[2])
    assert r["VersionId"] == ids[2] and "DeleteMarker" not in r
    assert _body(s3, vbucket, "k") == b"v1"
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=ids[0])
    assert _versions(s3, vbucket) == [("k", ids[1], False, True)]
    # unknown versions: deleting is idempotent, reading is NoSuchVersion
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=ids[0])
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId=ids[0])
    assert _error(e) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=vbucket, Key="k", VersionId=ids[0])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId="not-a-version")
    assert _error(e) == (400, "InvalidArgument")
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=ids[1])
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k")
    assert _error(e) == (404, "NoSuchKey")
    assert _versions(s3, vbucket) == []


def test_null_version_from_before_versioning(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"plain")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"new")["VersionId"]
    assert _versions(s3, bucket) == [("k", v2, False, True), ("k", "null", False, False)]
    assert _body(s3, bucket, "k", "null") == b"plain"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert _body(s3, bucket, "k") == b"plain"
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert _versions(s3, bucket) == []
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})


def test_suspended_writes_replace_null_only(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"v1")["VersionId"]
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    assert "VersionId" not in s3.put_object(Bucket=vbucket, Key="k", Body=b"n1")  # "null" is not named
    s3.put_object(Bucket=vbucket, Key="k", Body=b"n2")
    assert s3.head_object(Bucket=vbucket, Key="k")["VersionId"] == "null"
    assert _versions(s3, vbucket) == [("k", "null", False, True), ("k", v1, False, False)]
    assert _body(s3, vbucket, "k") == b"n2"
    r = s3.delete_object(Bucket=vbucket, Key="k")
    assert r["DeleteMarker"] is True and r["VersionId"] == "null"
    # the null version was replaced by the null delete marker
    assert _versions(s3, vbucket) == [("k", v1, False, False), ("k", "null", True, True)]
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Enabled"})
    v3 = s3.put_object(Bucket=vbucket, Key="k", Body=b"v3")["VersionId"]
    assert _versions(s3, vbucket) == [("k", v3, False, True), ("k", v1, False, False), ("k", "null", True, False)]
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=vbucket, Key="k", Body=b"n3")  # drops the noncurrent null marker
    assert _versions(s3, vbucket) == [("k", "null", False, True), ("k", v3, False, False),
                                      ("k", v1, False, False)]
    assert _body(s3, vbucket, "k", v1) == b"v1"
    assert _body(s3, vbucket, "k", v3) == b"v3"


def test_never_versioned_bucket_unchanged(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "VersionId" not in r
    assert "VersionId" not in s3.get_object(Bucket=bucket, Key="k")
    r = s3.delete_object(Bucket=bucket, Key="k")
    assert "DeleteMarker" not in r and "VersionId" not in r
    assert _versions(s3, bucket) == []
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert _versions(s3, bucket) == [("k", "null", False, True)]


def test_delete_bucket_with_versions_or_markers(s3):
    name = f"ver-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    v = s3.put_object(Bucket=name, Key="k", Body=b"x")["VersionId"]
    m = s3.delete_object(Bucket=name, Key="k")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert _error(e) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k", VersionId=v)
    with pytest.raises(ClientError) as e:  # only the delete marker is left
        s3.delete_bucket(Bucket=name)
    assert _error(e) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k", VersionId=m)
    s3.delete_bucket(Bucket=name)


# --- sub-resources by version -------------------------------------------------------------------------------------

def test_acl_tagging_attributes_by_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one", Tagging="a=1")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two!")["VersionId"]
    s3.put_object_acl(Bucket=vbucket, Key="k", VersionId=v1, ACL="public-read")
    grants = s3.get_object_acl(Bucket=vbucket, Key="k", VersionId=v1)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    assert len(s3.get_object_acl(Bucket=vbucket, Key="k")["Grants"]) == 1
    assert s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)["TagSet"] == [{"Key": "a", "Value": "1"}]
    assert s3.get_object_tagging(Bucket=vbucket, Key="k")["TagSet"] == []
    r = s3.put_object_tagging(Bucket=vbucket, Key="k", VersionId=v1, Tagging={"TagSet": [{"Key": "b", "Value": "2"}]})
    assert r["VersionId"] == v1
    assert s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)["TagSet"] == [{"Key": "b", "Value": "2"}]
    s3.delete_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)
    assert s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)["TagSet"] == []
    a = s3.get_object_attributes(Bucket=vbucket, Key="k", VersionId=v1, ObjectAttributes=["ObjectSize"])
    assert a["ObjectSize"] == 3 and a["VersionId"] == v1
    a = s3.get_object_attributes(Bucket=vbucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert a["ObjectSize"] == 4 and a["VersionId"] == v2


def test_copy_with_source_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="src", Body=b"first")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="src", Body=b"second")
    r = s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1})
    assert r["CopySourceVersionId"] == v1
    assert r["VersionId"] not in (v1, "null")
    assert _body(s3, vbucket, "dst") == b"first"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": "0" * 32})
    assert _error(e) == (404, "NoSuchVersion")
    marker = s3.delete_object(Bucket=vbucket, Key="src")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src"})
    assert _error(e) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": marker})
    assert _error(e)[0] == 400


def test_multipart_creates_versions(s3, vbucket):
    part = b"p" * (5 * 1024 * 1024)
    v1 = s3.put_object(Bucket=vbucket, Key="src", Body=b"0123456789")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="src", Body=b"abcdefghij")
    ids = []
    for tail in (b"one", b"two"):
        up = s3.create_multipart_upload(Bucket=vbucket, Key="mp")["UploadId"]
        e1 = s3.upload_part(Bucket=vbucket, Key="mp", UploadId=up, PartNumber=1, Body=tail + part)["ETag"]
        r = s3.upload_part_copy(Bucket=vbucket, Key="mp", UploadId=up, PartNumber=2,
                                CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1},
                                CopySourceRange="bytes=0-4")
        assert r["CopySourceVersionId"] == v1
        e2 = r["CopyPartResult"]["ETag"]
        r = s3.complete_multipart_upload(Bucket=vbucket, Key="mp", UploadId=up, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        ids.append(r["VersionId"])
    assert len(set(ids)) == 2
    assert _body(s3, vbucket, "mp", ids[0]) == b"one" + part + b"01234"
    assert _body(s3, vbucket, "mp", ids[1]) == b"two" + part + b"01234"
    assert s3.head_object(Bucket=vbucket, Key="mp")["VersionId"] == ids[1]


# --- ListObjectVersions -------------------------------------------------------------------------------------------

def test_list_versions_pagination(s3, vbucket):
    expected = []
    for key in ("a", "b/1", "b/2", "c"):
        ids = [s3.put_object(Bucket=vbucket, Key=key, Body=b"x")["VersionId"] for _ in range(3)]
        if key == "b/2":
            ids.append(s3.delete_object(Bucket=vbucket, Key=key)["VersionId"])
        expected += [(key, vid) for vid in reversed(ids)]
    seen = []
    kw: dict[str, str] = {}
    pages = 0
    while True:
        r = s3.list_object_versions(Bucket=vbucket, MaxKeys=2, **kw)
        pages += 1
        items = sorted(r.get("Versions", []) + r.get("DeleteMarkers", []), key=lambda v: (v["Key"],))
        assert len(items) <= 2
        seen += [(v["Key"], v["VersionId"]) for v in r.get("Versions", []) + r.get("DeleteMarkers", [])]
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
    assert sorted(seen) == sorted(expected) and len(seen) == len(expected)
    assert pages == 7
    # the paginator sees the same, in order
    got = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=vbucket, PaginationConfig={"PageSize": 5}):
        batch = [(v["Key"], v["VersionId"], v["LastModified"]) for v in page.get("Versions", [])]
        batch += [(d["Key"], d["VersionId"], d["LastModified"]) for d in page.get("DeleteMarkers", [])]
        got += sorted(batch, key=lambda t: (t[0], -t[2].timestamp(), [-ord(c) for c in t[1]]))
    assert [g[:2] for g in got] == expected
    # key-marker alone skips every version of that key
    r = s3.list_object_versions(Bucket=vbucket, KeyMarker="b/1")
    assert {v["Key"] for v in r["Versions"]} == {"b/2", "c"}


def test_list_versions_prefix_delimiter_encoding(s3, vbucket):
    for key in ("dir/a", "dir/b", "dir/sub/x", "top", "sp ace"):
        s3.put_object(Bucket=vbucket, Key=key, Body=b"1")
        s3.put_object(Bucket=vbucket, Key=key, Body=b"2")
    r = s3.list_object_versions(Bucket=vbucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/"]
    assert [v["Key"] for v in r["Versions"]] == ["sp ace", "sp ace", "top", "top"]
    r = s3.list_object_versions(Bucket=vbucket, Prefix="dir/", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/sub/"]
    assert [v["Key"] for v in r["Versions"]] == ["dir/a", "dir/a", "dir/b", "dir/b"]
    assert [v["IsLatest"] for v in r["Versions"]] == [True, False, True, False]
    r = s3.list_object_versions(Bucket=vbucket, Prefix="dir/", Delimiter="/", MaxKeys=3)
    assert r["IsTruncated"] and len(r["Versions"]) == 3
    r = s3.list_object_versions(Bucket=vbucket, Prefix="dir/", Delimiter="/", MaxKeys=3,
                                KeyMarker=r["NextKeyMarker"], VersionIdMarker=r["NextVersionIdMarker"])
    assert [v["Key"] for v in r.get("Versions", [])] == ["dir/b"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/sub/"]
    r = s3.list_object_versions(Bucket=vbucket, Prefix="sp", EncodingType="url")
    assert {v["Key"] for v in r["Versions"]} == {"sp%20ace"}


# --- DeleteObjects ------------------------------------------------------------------------------------------------

def test_delete_objects_versions_and_markers(s3, vbucket):
    ids = [s3.put_object(Bucket=vbucket, Key="k", Body=b"x")["VersionId"] for _ in range(2)]
    r = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [{"Key": "k"}, {"Key": "fresh"}]})
    deleted = {d["Key"]: d for d in r["Deleted"]}
    assert deleted["k"]["DeleteMarker"] is True and deleted["fresh"]["DeleteMarker"] is True
    marker = deleted["k"]["DeleteMarkerVersionId"]
    objects = [{"Key": "k", "VersionId": v} for v in [*ids, marker]]
    objects.append({"Key": "fresh", "VersionId": deleted["fresh"]["DeleteMarkerVersionId"]})
    r = s3.delete_objects(Bucket=vbucket, Delete={"Objects": objects})
    assert len(r["Deleted"]) == 4 and "Errors" not in r
    by_vid = {d["VersionId"]: d for d in r["Deleted"]}
    assert by_vid[marker]["DeleteMarker"] is True and by_vid[marker]["DeleteMarkerVersionId"] == marker
    assert "DeleteMarker" not in by_vid[ids[0]]
    assert _versions(s3, vbucket) == []
    r = s3.delete_objects(Bucket=vbucket, Delete={"Objects": objects})  # idempotent
    assert len(r["Deleted"]) == 4


# --- conditional deletes and writes ----------------------------------------------------------------------------

def test_conditional_delete(s3, bucket, vbucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch='"0000"')
    assert _error(e) == (412, "PreconditionFailed")
    s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    assert s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")["ResponseMetadata"]["HTTPStatusCode"] == 204
    # versioned: against the current version, then a specific one
    r = s3.put_object(Bucket=vbucket, Key="k", Body=b"y")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=vbucket, Key="k", IfMatch="bad")
    assert _error(e) == (412, "PreconditionFailed")
    assert s3.delete_object(Bucket=vbucket, Key="k", IfMatch=r["ETag"])["DeleteMarker"] is True
    with pytest.raises(ClientError) as e:  # the current version is a delete marker
        s3.delete_object(Bucket=vbucket, Key="k", IfMatch="bad")
    assert _error(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=vbucket, Key="k", VersionId=r["VersionId"], IfMatch="bad")
    assert _error(e) == (412, "PreconditionFailed")
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=r["VersionId"], IfMatch=r["ETag"])
    # DeleteObjects entries with ETag
    etag = s3.put_object(Bucket=bucket, Key="m", Body=b"z")["ETag"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "m", "ETag": "bad"}]})
    assert r["Errors"][0]["Code"] == "PreconditionFailed" and "Deleted" not in r
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "m", "ETag": etag}]})
    assert r["Deleted"][0]["Key"] == "m"


def test_conditional_delete_size_and_mtime(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"abc")
    mtime = s3.head_object(Bucket=vbucket, Key="k")["LastModified"]
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=vbucket, Key="k", IfMatchSize=99)
    assert _error(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=vbucket, Key="k", IfMatchLastModifiedTime=datetime.datetime(2015, 1, 1))
    assert _error(e) == (412, "PreconditionFailed")
    assert s3.delete_object(Bucket=vbucket, Key="k", IfMatchSize=3, IfMatchLastModifiedTime=mtime)["DeleteMarker"]


def test_conditional_writes_against_current_version(s3, vbucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=vbucket, Key="k", Body=b"x", IfMatch="*")
    assert _error(e) == (404, "NoSuchKey")
    e1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
    e2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"2")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=vbucket, Key="k", Body=b"x", IfNoneMatch="*")
    assert _error(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=vbucket, Key="k", Body=b"x", IfMatch=e1)  # a noncurrent version's ETag
    assert _error(e) == (412, "PreconditionFailed")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"3", IfMatch=e2)
    s3.delete_object(Bucket=vbucket, Key="k")
    with pytest.raises(ClientError) as e:  # a delete marker is no object
        s3.put_object(Bucket=vbucket, Key="k", Body=b"x", IfMatch="*")
    assert _error(e) == (404, "NoSuchKey")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"4", IfNoneMatch="*")


def test_appends_refused_in_versioned_buckets(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")

    def add_offset(params, **_):
        params["headers"]["x-amz-write-offset-bytes"] = "1"
    s3.meta.events.register("before-call.s3.PutObject", add_offset)
    try:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=vbucket, Key="k", Body=b"y")
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", add_offset)
    assert _error(e) == (400, "InvalidRequest")


def test_concurrent_versioned_writes_and_deletes(s3, vbucket):
    def put(i: int) -> None:
        s3.put_object(Bucket=vbucket, Key="k", Body=f"body-{i}".encode() * 1000)
    threads = [threading.Thread(target=put, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    vs = _versions(s3, vbucket)
    assert len(vs) == 12 and sum(v[3] for v in vs) == 1
    threads = [threading.Thread(target=s3.delete_object, kwargs={"Bucket": vbucket, "Key": "k", "VersionId": v[1]})
               for v in vs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _versions(s3, vbucket) == []


# --- crash safety -------------------------------------------------------------------------------------------------

def test_sigkill_during_versioned_overwrites(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="crash")
        s3.put_bucket_versioning(Bucket="crash", VersioningConfiguration={"Status": "Enabled"})
        stop = threading.Event()
        acked: dict[str, bytes] = {}

        def writer(n: int) -> None:
            w = client(srv, retries={"max_attempts": 1})
            i = 0
            while not stop.is_set():
                body = bytes([n * 16 + i % 16]) * (100 * 1024 + i)
                try:
                    vid = w.put_object(Bucket="crash", Key=f"k{n % 2}", Body=body)["VersionId"]
                except Exception:  # noqa: BLE001 - the server died under us
                    return
                acked[vid] = body
                i += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        deadline = threading.Event()
        deadline.wait(1.5)
        srv.stop(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join()
        srv.start()
        s3 = client(srv)
        listed = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket="crash"):
            listed += page.get("Versions", [])
        assert listed
        listed_ids = {v["VersionId"] for v in listed}
        assert set(acked) <= listed_ids  # every acknowledged version survived
        for v in listed:
            body = _body(s3, "crash", v["Key"], v["VersionId"])
            assert len(body) == v["Size"] and len(set(body)) == 1  # whole, never torn
            if v["VersionId"] in acked:
                assert body == acked[v["VersionId"]]
    finally:
        srv.stop()


def _delete_marker_header(s3, bucket: str, key: str) -> str | None:
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key=key)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    return info.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker")


def test_not_found_says_whether_a_delete_marker_hides_the_key(s3, bucket, vbucket):
    assert _delete_marker_header(s3, bucket, "never") == "false"
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="plain")
    assert _delete_marker_header(s3, bucket, "plain") == "false"
    s3.put_object(Bucket=vbucket, Key="kept", Body=b"x")
    s3.delete_object(Bucket=vbucket, Key="kept")
    assert _delete_marker_header(s3, vbucket, "kept") == "true"
