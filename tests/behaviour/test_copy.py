"""CopyObject against a real Pails server, with boto3's default configuration
(and the AWS CLI for ``aws s3 cp s3://... s3://...``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client

MiB = 1024 * 1024
SELF_COPY = ("This copy request is illegal because it is trying to copy an object to itself without changing "
             "the object's metadata, storage class, website redirect location or encryption attributes.")


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _body(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _data_files(server, size: int) -> list[os.stat_result]:
    """The stat of every data file of ``size`` bytes (files collection unlinks meanwhile are skipped)."""
    out = []
    for directory, _dirs, files in os.walk(Path(server.data_dir) / "blobs"):
        for name in files:
            try:
                st = os.stat(os.path.join(directory, name))
            except FileNotFoundError:
                continue
            if st.st_size == size:
                out.append(st)
    return out


# --- data and metadata ---------------------------------------------------------------------------------------------

def test_copy_inline_keeps_data_headers_metadata_and_etag(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="src", Body=b"hello copy", ContentType="text/x-test",
                        Metadata={"colour": "blue"}, CacheControl="max-age=5", ContentDisposition="inline")
    before = datetime.now(UTC) - timedelta(seconds=2)
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    result = r["CopyObjectResult"]
    assert result["ETag"] == put["ETag"]
    assert result["LastModified"] >= before
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"hello copy"
    assert got["ETag"] == put["ETag"]
    assert got["ContentType"] == "text/x-test"
    assert got["Metadata"] == {"colour": "blue"}
    assert got["CacheControl"] == "max-age=5"
    assert got["ContentDisposition"] == "inline"
    assert _body(s3, bucket, "src") == b"hello copy"


def test_copy_result_is_xml_with_iso8601_last_modified(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    captured: list[bytes] = []

    def capture(http_response, **_):
        captured.append(http_response.content)
    s3.meta.events.register("after-call.s3.CopyObject", capture)
    try:
        r = s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src")
    finally:
        s3.meta.events.unregister("after-call.s3.CopyObject", capture)
    assert r["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/xml"
    text = captured[0].decode()
    assert "<CopyObjectResult" in text and "<ETag>&quot;" in text
    lm = text.split("<LastModified>")[1].split("</LastModified>")[0]
    assert datetime.strptime(lm, "%Y-%m-%dT%H:%M:%S.%fZ")


def test_copy_zero_size(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    s3.copy_object(Bucket=bucket, Key="empty2", CopySource={"Bucket": bucket, "Key": "empty"})
    got = s3.get_object(Bucket=bucket, Key="empty2")
    assert got["ContentLength"] == 0 and got["Body"].read() == b""


def test_copy_replace_metadata_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"abc", ContentType="audio/ogg", Metadata={"k1": "v1", "k2": "v2"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"k3": "v3"}, ContentType="audio/mpeg")
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["ContentType"] == "audio/mpeg"
    assert got["Metadata"] == {"k3": "v3"}
    # COPY ignores metadata sent with the request
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src", MetadataDirective="COPY",
                   Metadata={"ignored": "yes"}, ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="dst2")
    assert got["ContentType"] == "audio/ogg"
    assert got["Metadata"] == {"k1": "v1", "k2": "v2"}
    # REPLACE without Content-Type gets the default one
    s3.copy_object(Bucket=bucket, Key="dst3", CopySource=f"{bucket}/src", MetadataDirective="REPLACE")
    got = s3.head_object(Bucket=bucket, Key="dst3")
    assert got["ContentType"] == "binary/octet-stream" and got["Metadata"] == {}


def test_copy_unknown_directive_is_invalid_argument(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"abc")
    for kwargs in ({"MetadataDirective": "MOVE"}, {"TaggingDirective": "KEEP"}):
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", **kwargs)
        assert _error(e) == (400, "InvalidArgument")


def test_copy_storage_class_defaults_to_standard(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"abc", StorageClass="STANDARD_IA")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src")
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="dst")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", StorageClass="ONEZONE_IA")
    assert s3.head_object(Bucket=bucket, Key="dst")["StorageClass"] == "ONEZONE_IA"


def test_copy_source_forms_and_encoding(s3, bucket):
    key = "dir/with space+plus%percent/ünï?&=#.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"tricky")
    s3.copy_object(Bucket=bucket, Key="a", CopySource={"Bucket": bucket, "Key": key})  # boto3 URL-encodes
    assert _body(s3, bucket, "a") == b"tricky"

    def with_raw_source(value: str):
        def set_header(params, **_):
            params["headers"]["x-amz-copy-source"] = value
        s3.meta.events.register("before-call.s3.CopyObject", set_header)
        try:
            return s3.copy_object(Bucket=bucket, Key="b", CopySource="placeholder/x")
        finally:
            s3.meta.events.unregister("before-call.s3.CopyObject", set_header)

    from urllib.parse import quote
    with_raw_source(f"/{bucket}/{quote(key)}")  # leading slash
    assert _body(s3, bucket, "b") == b"tricky"
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    with_raw_source(f"{bucket}/plain?versionId=null")
    assert _body(s3, bucket, "b") == b"plain"
    for bad in (bucket, f"{bucket}/", "/"):
        with pytest.raises(ClientError) as e:
            with_raw_source(bad)
        assert _error(e) == (400, "InvalidArgument")


def test_copy_source_version_id(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"v")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": "null"})
    assert _body(s3, bucket, "dst") == b"v"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": "0" * 32})
    assert _error(e) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as e:  # not a version id at all
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": "nope"})
    assert _error(e) == (400, "InvalidArgument")


# --- copying onto itself -------------------------------------------------------------------------------------------

def test_copy_to_itself_without_change_is_rejected(s3, bucket):
    s3.put_object(Bucket=bucket, Key="same", Body=b"data", Metadata={"a": "1"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="same", CopySource={"Bucket": bucket, "Key": "same"})
    assert _error(e) == (400, "InvalidRequest")
    assert e.value.response["Error"]["Message"] == SELF_COPY
    with pytest.raises(ClientError) as e:  # the same storage class is no change either
        s3.copy_object(Bucket=bucket, Key="same", CopySource=f"{bucket}/same", StorageClass="STANDARD")
    assert _error(e) == (400, "InvalidRequest")
    assert s3.head_object(Bucket=bucket, Key="same")["Metadata"] == {"a": "1"}


def test_copy_to_itself_with_changes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="same", Body=b"x" * (200 * 1024), Metadata={"a": "1"})
    etag = s3.head_object(Bucket=bucket, Key="same")["ETag"]
    s3.copy_object(Bucket=bucket, Key="same", CopySource=f"{bucket}/same", MetadataDirective="REPLACE",
                   Metadata={"b": "2"})
    got = s3.get_object(Bucket=bucket, Key="same")
    assert got["Metadata"] == {"b": "2"} and got["ETag"] == etag
    assert got["Body"].read() == b"x" * (200 * 1024)
    s3.copy_object(Bucket=bucket, Key="same", CopySource=f"{bucket}/same", StorageClass="STANDARD_IA")
    got = s3.head_object(Bucket=bucket, Key="same")
    assert got["StorageClass"] == "STANDARD_IA" and got["Metadata"] == {"b": "2"}
    s3.copy_object(Bucket=bucket, Key="same", CopySource=f"{bucket}/same", WebsiteRedirectLocation="/elsewhere")
    assert s3.head_object(Bucket=bucket, Key="same")["WebsiteRedirectLocation"] == "/elsewhere"
    assert _body(s3, bucket, "same") == b"x" * (200 * 1024)


# --- errors --------------------------------------------------------------------------------------------------------

def test_copy_missing_source_and_buckets(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/missing")
    assert _error(e) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}-nosuch/key")
    assert _error(e) == (404, "NoSuchBucket")
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=f"{bucket}-nosuch", Key="dst", CopySource=f"{bucket}/src")
    assert _error(e) == (404, "NoSuchBucket")


@pytest.mark.parametrize("header,good,bad", [
    ("CopySourceIfMatch", "etag", '"0123456789abcdef0123456789abcdef"'),
    ("CopySourceIfNoneMatch", '"0123456789abcdef0123456789abcdef"', "etag"),
    ("CopySourceIfModifiedSince", "past", "future"),
    ("CopySourceIfUnmodifiedSince", "future", "past"),
])
def test_copy_source_preconditions(s3, bucket, header, good, bad):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"cond")["ETag"]
    values = {"etag": etag, "past": datetime.now(UTC) - timedelta(days=1),
              "future": datetime.now(UTC) + timedelta(days=1)}
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", **{header: values.get(bad, bad)})
    assert _error(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="dst")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", **{header: values.get(good, good)})
    assert _body(s3, bucket, "dst") == b"cond"


def test_copy_if_match_wins_over_unmodified_since(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"cond")["ETag"]
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", CopySourceIfMatch=etag,
                   CopySourceIfUnmodifiedSince=datetime.now(UTC) - timedelta(days=1))
    assert _body(s3, bucket, "dst") == b"cond"


def test_copy_conditional_write_on_destination(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"new")
    old = s3.put_object(Bucket=bucket, Key="dst", Body=b"old")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", IfNoneMatch="*")
    assert _error(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", IfMatch=f'"{"0" * 32}"')
    assert _error(e) == (412, "PreconditionFailed")
    assert _body(s3, bucket, "dst") == b"old"
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", IfMatch=old)
    assert _body(s3, bucket, "dst") == b"new"
    s3.copy_object(Bucket=bucket, Key="fresh", CopySource=f"{bucket}/src", IfNoneMatch="*")
    assert _body(s3, bucket, "fresh") == b"new"


def test_copy_conditional_write_failure_leaves_no_data_file(s3, bucket, server):
    size = 300 * 1024 + 7
    s3.put_object(Bucket=bucket, Key="src", Body=os.urandom(size))
    s3.put_object(Bucket=bucket, Key="dst", Body=b"old")
    with pytest.raises(ClientError):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", IfNoneMatch="*")
    files = _data_files(server, size)
    assert len(files) == 1 and files[0].st_nlink == 1
    assert not [p for p in (Path(server.data_dir) / "tmp").iterdir() if p.stat().st_size == size]


# --- permissions and ACLs --------------------------------------------------------------------------------------------

def test_copy_acl_of_new_object(s3, alt_s3, bucket, alt_user):
    s3.put_object(Bucket=bucket, Key="src", Body=b"acl", ACL="public-read")
    s3.copy_object(Bucket=bucket, Key="private", CopySource=f"{bucket}/src")  # ACLs are never copied
    with pytest.raises(ClientError) as e:
        alt_s3.get_object(Bucket=bucket, Key="private")
    assert _error(e)[1] == "AccessDenied"
    acl = s3.get_object_acl(Bucket=bucket, Key="private")
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    s3.copy_object(Bucket=bucket, Key="public", CopySource=f"{bucket}/src", ACL="public-read")
    assert alt_s3.get_object(Bucket=bucket, Key="public")["Body"].read() == b"acl"
    s3.copy_object(Bucket=bucket, Key="granted", CopySource=f"{bucket}/src",
                   GrantRead=f"id={alt_user['canonical_id']}")
    assert alt_s3.get_object(Bucket=bucket, Key="granted")["Body"].read() == b"acl"


def test_copy_across_users_and_buckets(s3, alt_s3, bucket, alt_user):
    alt_bucket = f"alt-{uuid.uuid4().hex[:16]}"
    alt_s3.create_bucket(Bucket=alt_bucket)
    try:
        s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
        s3.put_object(Bucket=bucket, Key="readable", Body=b"shared", ACL="public-read")
        # the source must be readable by the requester
        with pytest.raises(ClientError) as e:
            alt_s3.copy_object(Bucket=alt_bucket, Key="stolen", CopySource=f"{bucket}/private")
        assert _error(e) == (403, "AccessDenied")
        # a missing key in a bucket alt cannot list is not told apart from a forbidden one
        with pytest.raises(ClientError) as e:
            alt_s3.copy_object(Bucket=alt_bucket, Key="x", CopySource=f"{bucket}/nothing-here")
        assert _error(e) == (403, "AccessDenied")
        alt_s3.copy_object(Bucket=alt_bucket, Key="mine", CopySource=f"{bucket}/readable")
        assert alt_s3.get_object(Bucket=alt_bucket, Key="mine")["Body"].read() == b"shared"
        owner = alt_s3.get_object_acl(Bucket=alt_bucket, Key="mine")["Owner"]["ID"]
        assert owner == alt_user["canonical_id"]
        # the destination bucket must be writable by the requester
        with pytest.raises(ClientError) as e:
            alt_s3.copy_object(Bucket=bucket, Key="intruder", CopySource=f"{alt_bucket}/mine")
        assert _error(e) == (403, "AccessDenied")
        s3.put_bucket_acl(Bucket=bucket, GrantWrite=f"id={alt_user['canonical_id']}",
                          GrantFullControl=f"id={s3.get_bucket_acl(Bucket=bucket)['Owner']['ID']}")
        alt_s3.copy_object(Bucket=bucket, Key="guest", CopySource=f"{alt_bucket}/mine")
        assert alt_s3.get_object(Bucket=bucket, Key="guest")["Body"].read() == b"shared"
        # owned by alt, private: an ordinary bucket owner could not read it (test_acl_enforcement);
        # s3 is the operator, which reaches every object (docs/iam.md)
        assert s3.get_object(Bucket=bucket, Key="guest")["Body"].read() == b"shared"
        s3.delete_object(Bucket=bucket, Key="guest")
        # expected owners
        with pytest.raises(ClientError) as e:
            alt_s3.copy_object(Bucket=alt_bucket, Key="m2", CopySource=f"{bucket}/readable",
                               ExpectedSourceBucketOwner=alt_user["canonical_id"])
        assert _error(e) == (403, "AccessDenied")
    finally:
        for o in alt_s3.list_objects_v2(Bucket=alt_bucket).get("Contents", []):
            alt_s3.delete_object(Bucket=alt_bucket, Key=o["Key"])
        alt_s3.delete_bucket(Bucket=alt_bucket)


def test_copy_anonymous_is_denied(s3, bucket, server):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", ACL="public-read")
    req = urllib.request.Request(f"{server.endpoint}/{bucket}/dst", method="PUT", data=b"",
                                 headers={"x-amz-copy-source": f"/{bucket}/src"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403 and b"<Code>AccessDenied</Code>" in e.value.read()


# --- tags ------------------------------------------------------------------------------------------------------------

def test_copy_tagging_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"t", Tagging="a=1&b=2")
    s3.copy_object(Bucket=bucket, Key="copied", CopySource=f"{bucket}/src")
    assert s3.get_object_tagging(Bucket=bucket, Key="copied")["TagSet"] == [
        {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    s3.copy_object(Bucket=bucket, Key="copied2", CopySource=f"{bucket}/src", Tagging="ignored=yes")
    assert len(s3.get_object_tagging(Bucket=bucket, Key="copied2")["TagSet"]) == 2
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource=f"{bucket}/src", TaggingDirective="REPLACE",
                   Tagging="c=3")
    assert s3.get_object_tagging(Bucket=bucket, Key="replaced")["TagSet"] == [{"Key": "c", "Value": "3"}]
    assert s3.head_object(Bucket=bucket, Key="replaced")["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-tagging-count"] == "1"
    s3.copy_object(Bucket=bucket, Key="untagged", CopySource=f"{bucket}/src", TaggingDirective="REPLACE")
    assert s3.get_object_tagging(Bucket=bucket, Key="untagged")["TagSet"] == []
    # metadata REPLACE keeps the source tags unless tagging is replaced too
    s3.copy_object(Bucket=bucket, Key="meta", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"m": "1"})
    assert len(s3.get_object_tagging(Bucket=bucket, Key="meta")["TagSet"]) == 2
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=f"{bucket}/src", TaggingDirective="REPLACE",
                       Tagging="&".join(f"k{i}=v" for i in range(11)))
    assert _error(e) == (400, "InvalidTag")


# --- data files: hard links -------------------------------------------------------------------------------------------

def _wait_for_files(server, size: int, count: int) -> list[os.stat_result]:
    """The data files of ``size`` once there are ``count`` of them, each linked
    only from ``blobs`` (a scan that races the collector's unlink can see a
    file still counted twice)."""
    deadline = time.monotonic() + 20  # collection runs in the background
    while time.monotonic() < deadline:
        files = _data_files(server, size)
        if len(files) == count and all(st.st_nlink == count or count == 0 for st in files):
            return files
        time.sleep(0.05)
    return _data_files(server, size)


def test_copy_large_object_is_a_hard_link(s3, bucket, server):
    size = 20 * MiB + 4321  # a size no other test uses
    data = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    s3.copy_object(Bucket=bucket, Key="big-copy", CopySource=f"{bucket}/big")
    linked = _data_files(server, size)
    assert len(linked) == 2  # two data files (one per row) ...
    assert all(st.st_nlink == 2 for st in linked)  # ... that are one inode
    assert linked[0].st_ino == linked[1].st_ino
    assert _body(s3, bucket, "big-copy") == data
    # deleting the source leaves the copy readable; its data file is then linked once
    s3.delete_object(Bucket=bucket, Key="big")
    left = _wait_for_files(server, size, 1)
    assert len(left) == 1 and left[0].st_nlink == 1
    assert _body(s3, bucket, "big-copy") == data
    # overwriting the copy frees the last link
    s3.put_object(Bucket=bucket, Key="big-copy", Body=b"small")
    assert _wait_for_files(server, size, 0) == []


def test_copy_onto_itself_relinks_data(s3, bucket, server):
    size = 3 * MiB + 17
    data = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="self", Body=data)
    s3.copy_object(Bucket=bucket, Key="self", CopySource=f"{bucket}/self", MetadataDirective="REPLACE",
                   Metadata={"v": "2"})
    assert _body(s3, bucket, "self") == data
    files = _wait_for_files(server, size, 1)
    assert len(files) == 1 and files[0].st_nlink == 1


def test_copy_survives_restart(tmp_path):
    from tests.pails_server import Server

    srv = Server(tmp_path / "data").start()
    try:
        c = client(srv)
        c.create_bucket(Bucket="restart")
        data = os.urandom(MiB)
        c.put_object(Bucket="restart", Key="a", Body=data)
        c.copy_object(Bucket="restart", Key="b", CopySource="restart/a")
        srv.kill()
        srv.start()
        c = client(srv)  # no pooled connection to the killed server
        assert c.get_object(Bucket="restart", Key="b")["Body"].read() == data
        assert not list((tmp_path / "data" / "tmp").iterdir())
    finally:
        srv.stop()


def test_copy_multipart_source(s3, bucket, server):
    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="video/x", Metadata={"m": "p"})
    parts = []
    for n, chunk in enumerate(parts_data, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=chunk)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert done["ETag"].endswith('-3"')
    r = s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource=f"{bucket}/mp")
    assert r["CopyObjectResult"]["ETag"] == done["ETag"]
    got = s3.get_object(Bucket=bucket, Key="mp-copy")
    assert got["ETag"] == done["ETag"] and got["ContentType"] == "video/x" and got["Metadata"] == {"m": "p"}
    assert got["Body"].read() == b"".join(parts_data)
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp-copy", ObjectAttributes=["ObjectParts", "ETag"])
    assert attrs["ObjectParts"]["TotalPartsCount"] == 3
    s3.delete_object(Bucket=bucket, Key="mp")
    assert s3.get_object(Bucket=bucket, Key="mp-copy", Range="bytes=5242878-5242881")["Body"].read() == \
        parts_data[0][-2:] + parts_data[1][:2]


# --- the AWS CLI ---------------------------------------------------------------------------------------------------

def test_awscli_s3_cp_between_keys(s3, bucket, server, tmp_path):
    data = os.urandom(100 * 1024)
    s3.put_object(Bucket=bucket, Key="k", Body=data, Metadata={"from": "cli"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "nonexistent"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "nonexistent-credentials"), AWS_PAGER="")
    aws = str(Path(sys.executable).with_name("aws"))
    proc = subprocess.run([aws, "--endpoint-url", server.endpoint, "s3", "cp", f"s3://{bucket}/k", f"s3://{bucket}/k2"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "copy:" in proc.stdout
    assert _body(s3, bucket, "k2") == data
    assert s3.head_object(Bucket=bucket, Key="k2")["Metadata"] == {"from": "cli"}
