"""Bucket usage and hard quotas (docs/quotas.md): the counters a store keeps
in each write's transaction match a full listing after every kind of write,
and concurrent writers against a nearly full quota never pass it together."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.pails_server import Server


def pails(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pails", *args, "--data", str(server.data_dir), *server.meta_args],
                          capture_output=True, text=True, timeout=60)


def bucket_info(server: Server, bucket: str) -> dict[str, Any]:
    out = pails(server, "bucket", "info", bucket, "--json")
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def set_quota(server: Server, bucket: str, *args: str) -> dict[str, Any]:
    out = pails(server, "bucket", "quota", bucket, *args, "--json")
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def listed_usage(s3: Any, bucket: str) -> dict[str, int]:
    """The usage counters recomputed from ListObjectVersions, ListMultipartUploads and ListParts."""
    u = dict.fromkeys(("objects", "bytes", "noncurrent_objects", "noncurrent_bytes", "delete_markers", "uploads",
                       "parts", "part_bytes"), 0)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            prefix = "" if v["IsLatest"] else "noncurrent_"
            u[prefix + "objects"] += 1
            u[prefix + "bytes"] += v["Size"]
        u["delete_markers"] += len(page.get("DeleteMarkers", []))
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for up in page.get("Uploads", []):
            u["uploads"] += 1
            for parts in s3.get_paginator("list_parts").paginate(Bucket=bucket, Key=up["Key"],
                                                                 UploadId=up["UploadId"]):
                for p in parts.get("Parts", []):
                    u["parts"] += 1
                    u["part_bytes"] += p["Size"]
    return u


def assert_usage_matches(server: Server, s3: Any, bucket: str) -> dict[str, int]:
    usage = bucket_info(server, bucket)["usage"]
    expected = listed_usage(s3, bucket)
    assert {k: usage[k] for k in expected} == expected
    assert usage["stored_bytes"] == expected["bytes"] + expected["noncurrent_bytes"] + expected["part_bytes"]
    return expected


def _empty(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for up in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if items:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": items, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


@pytest.fixture
def new_bucket(s3: Any):
    made: list[str] = []

    def make(versioning: str | None = None) -> str:
        name = f"quota-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=name)
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
        made.append(name)
        return name
    yield make
    for name in made:
        _empty(s3, name)


def _multipart(s3: Any, bucket: str) -> None:
    done = s3.create_multipart_upload(Bucket=bucket, Key="mp/done")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp/done", UploadId=done, PartNumber=1, Body=b"p" * 7000)
    part = s3.upload_part(Bucket=bucket, Key="mp/done", UploadId=done, PartNumber=1, Body=b"q" * 3000)  # again
    s3.complete_multipart_upload(Bucket=bucket, Key="mp/done", UploadId=done,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    aborted = s3.create_multipart_upload(Bucket=bucket, Key="mp/aborted")["UploadId"]
    for n in (1, 2):
        s3.upload_part(Bucket=bucket, Key="mp/aborted", UploadId=aborted, PartNumber=n, Body=b"a" * 2000)
    s3.abort_multipart_upload(Bucket=bucket, Key="mp/aborted", UploadId=aborted)
    pending = s3.create_multipart_upload(Bucket=bucket, Key="mp/pending")["UploadId"]
    for n, size in ((1, 6000), (2, 100_000), (2, 500)):
        s3.upload_part(Bucket=bucket, Key="mp/pending", UploadId=pending, PartNumber=n, Body=b"x" * size)


@pytest.mark.parametrize("versioning", [None, "Enabled", "Suspended"])
def test_usage_matches_a_full_listing_after_every_kind_of_write(server, s3, new_bucket, versioning):
    bucket = new_bucket("Enabled" if versioning == "Suspended" else versioning)
    for key, size in (("a", 10), ("b", 70_000), ("c", 300), ("a", 20), ("b", 5)):
        s3.put_object(Bucket=bucket, Key=key, Body=b"v" * size)
    if versioning == "Suspended":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
        s3.put_object(Bucket=bucket, Key="a", Body=b"null one")  # a null version over a versioned one
        s3.put_object(Bucket=bucket, Key="a", Body=b"null two, replacing null one")
        s3.put_object(Bucket=bucket, Key="n", Body=b"n" * 99)
    assert_usage_matches(server, s3, bucket)
    s3.delete_object(Bucket=bucket, Key="c")  # a delete marker, or gone
    s3.copy_object(Bucket=bucket, Key="copy-of-b", CopySource={"Bucket": bucket, "Key": "b"})
    s3.copy_object(Bucket=bucket, Key="a", CopySource={"Bucket": bucket, "Key": "copy-of-b"})
    if versioning is None:  # appends need a bucket that never had versioning
        s3.put_object(Bucket=bucket, Key="appendable", Body=b"first", WriteOffsetBytes=0)
        s3.put_object(Bucket=bucket, Key="appendable", Body=b" and more" * 10_000, WriteOffsetBytes=5)
    _multipart(s3, bucket)
    assert_usage_matches(server, s3, bucket)
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "missing"}, {"Key": "mp/done"}]})
    versions = s3.list_object_versions(Bucket=bucket, Prefix="b")
    some = versions.get("Versions", [])[-1:] + versions.get("DeleteMarkers", [])[:1]
    if versioning and some:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]}
                                                             for v in some]})
    markers = s3.list_object_versions(Bucket=bucket).get("DeleteMarkers", [])
    if markers:  # removing the current delete marker makes the newest noncurrent version current again
        s3.delete_object(Bucket=bucket, Key=markers[0]["Key"], VersionId=markers[0]["VersionId"])
    expected = assert_usage_matches(server, s3, bucket)
    assert expected["uploads"] == 1 and expected["parts"] == 2 and expected["part_bytes"] == 6500
    if versioning == "Enabled":
        assert expected["noncurrent_objects"] > 0 and expected["delete_markers"] > 0


def _put_all(s3: Any, bucket: str, bodies: list[tuple[str, bytes]]) -> list[str]:
    """PUT every (key, body) at once from as many threads; each one's outcome: "ok" or the error code."""
    def put(item: tuple[str, bytes]) -> str:
        try:
            s3.put_object(Bucket=bucket, Key=item[0], Body=item[1])
            return "ok"
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(put, bodies))


@pytest.mark.parametrize("size", [1024, 100 * 1024])
def test_concurrent_writers_never_pass_a_byte_quota(server, new_bucket, size):
    s3 = client(server, max_pool_connections=40, retries={"max_attempts": 1})
    bucket = new_bucket()
    s3.put_object(Bucket=bucket, Key="existing", Body=b"e" * 1000)
    room = 5
    limit = 1000 + room * size + size // 2
    assert set_quota(server, bucket, "--max-bytes", str(limit))["quota"] == {"max_bytes": limit, "max_objects": None}
    outcomes = _put_all(s3, bucket, [(f"k{i:02d}", bytes([i]) * size) for i in range(32)])
    assert outcomes.count("ok") == room
    assert outcomes.count("QuotaExceeded") == 32 - room
    usage = assert_usage_matches(server, s3, bucket)
    assert usage["bytes"] == 1000 + room * size <= limit
    # Deletes always pass; then there is room again.
    gone = [k for k, o in zip((f"k{i:02d}" for i in range(32)), outcomes, strict=True) if o == "ok"][:2]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in gone]})
    assert _put_all(s3, bucket, [(f"again{i}", b"a" * size) for i in range(4)]).count("ok") == 2


def test_concurrent_writers_never_pass_an_object_quota(server, new_bucket):
    s3 = client(server, max_pool_connections=40, retries={"max_attempts": 1})
    bucket = new_bucket("Enabled")
    set_quota(server, bucket, "--max-objects", "7")
    outcomes = _put_all(s3, bucket, [("same-key" if i % 2 else f"key{i}", b"x" * 100) for i in range(32)])
    assert outcomes.count("ok") == 7 and outcomes.count("QuotaExceeded") == 25
    usage = assert_usage_matches(server, s3, bucket)
    assert usage["objects"] + usage["noncurrent_objects"] == 7
    # A delete marker is not an object for the quota; a delete by version id frees one.
    s3.delete_object(Bucket=bucket, Key="key0")
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="one-more", Body=b"x")
    assert err.value.response["Error"]["Code"] == "QuotaExceeded"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    version = s3.list_object_versions(Bucket=bucket, Prefix="same-key")["Versions"][-1]["VersionId"]
    s3.delete_object(Bucket=bucket, Key="same-key", VersionId=version)
    s3.put_object(Bucket=bucket, Key="one-more", Body=b"x")


def test_quota_covers_uploads_copies_and_is_refused_before_the_body(server, s3, new_bucket):
    bucket = new_bucket()
    set_quota(server, bucket, "--max-bytes", "10KiB")
    s3.put_object(Bucket=bucket, Key="six", Body=b"6" * 6000)
    with pytest.raises(ClientError) as err:  # a copy's size is known only in the commit
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "six"})
    assert err.value.response["Error"]["Code"] == "QuotaExceeded"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * 4000)
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2, Body=b"p" * 1000)
    assert err.value.response["Error"]["Code"] == "QuotaExceeded"
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)
    # Lowering the quota below what is stored: writes are refused (their length passes the room left), deletes pass.
    set_quota(server, bucket, "--max-bytes", "1000")
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="six", Body=b"smaller")
    assert err.value.response["Error"]["Code"] == "QuotaExceeded"
    s3.delete_object(Bucket=bucket, Key="six")
    s3.put_object(Bucket=bucket, Key="six", Body=b"smaller")
    info = set_quota(server, bucket, "--max-bytes", "none", "--max-objects", "3")
    assert info["quota"] == {"max_bytes": None, "max_objects": 3}
    assert set_quota(server, bucket, "--clear")["quota"] is None
    s3.put_object(Bucket=bucket, Key="big", Body=b"b" * 20_000)
    assert bucket_info(server, bucket)["usage"]["stored_bytes"] == 20_007


def test_a_known_length_over_the_quota_is_refused_before_its_body(server, new_bucket):
    """The server answers before reading the body: the client's Expect:
    100-continue gets the error instead of a go-ahead."""
    import http.client

    s3 = client(server)
    bucket = new_bucket()
    set_quota(server, bucket, "--max-bytes", "1M")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "huge"})
    path = url.split(str(server.port), 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("PUT", path)
    conn.putheader("Content-Length", str(50 * 1024 * 1024))
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    response = conn.getresponse()  # no body byte was sent
    assert response.status == 403 and b"QuotaExceeded" in response.read()
    conn.close()


def test_lifecycle_expiry_keeps_the_usage_exact(tmp_path):
    """The lifecycle worker's expiries, noncurrent expiries and aborted
    uploads go through the same store writes: the counters follow."""
    import time

    srv = Server(tmp_path / "data", env={"PAILS_LIFECYCLE_DAY_SECONDS": "1"}).start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="expiring")
        s3.put_bucket_versioning(Bucket="expiring", VersioningConfiguration={"Status": "Enabled"})
        for key in ("a", "b"):
            s3.put_object(Bucket="expiring", Key=key, Body=b"old" * 1000)
            s3.put_object(Bucket="expiring", Key=key, Body=b"new" * 30_000)
        upload = s3.create_multipart_upload(Bucket="expiring", Key="mp")["UploadId"]
        s3.upload_part(Bucket="expiring", Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * 9000)
        s3.put_bucket_lifecycle_configuration(Bucket="expiring", LifecycleConfiguration={"Rules": [{
            "ID": "all", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]})
        end = time.monotonic() + 30
        while True:  # until everything but delete markers is gone, and the counters agree with the listing
            counted = bucket_info(srv, "expiring")["usage"]
            listed = listed_usage(s3, "expiring")
            if listed == {k: counted[k] for k in listed} and not any(
                    v for k, v in listed.items() if k != "delete_markers"):
                break
            assert time.monotonic() < end, (listed, counted)
            time.sleep(0.2)
    finally:
        srv.stop()
