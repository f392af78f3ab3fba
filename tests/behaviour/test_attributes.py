"""GetObjectAttributes (and GET ?torrent) against a real Pails server, boto3 default configuration."""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client

ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
MiB = 1024 * 1024


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _multipart(s3, bucket: str, key: str, sizes: list[int], **kwargs) -> tuple[str, bytes]:
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **kwargs)
    parts, chunks = [], []
    for n, size in enumerate(sizes, 1):
        chunk = os.urandom(size)
        chunks.append(chunk)
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=chunk)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    return done["ETag"], b"".join(chunks)


def test_simple_object_attributes(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="obj", Body=b"foo")
    r = s3.get_object_attributes(Bucket=bucket, Key="obj", ObjectAttributes=ALL)
    assert r["ETag"] == put["ETag"].strip('"')
    assert r["ObjectSize"] == 3
    assert r["StorageClass"] == "STANDARD"
    assert "ObjectParts" not in r and "DeleteMarker" not in r and "VersionId" not in r
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert r["LastModified"] == head["LastModified"]
    assert abs(r["LastModified"] - datetime.now(UTC)) < timedelta(minutes=1)


def test_only_requested_attributes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"foo", StorageClass="STANDARD_IA")
    r = s3.get_object_attributes(Bucket=bucket, Key="obj", ObjectAttributes=["ObjectSize"])
    assert r["ObjectSize"] == 3
    assert not {"ETag", "StorageClass", "Checksum", "ObjectParts"} & set(r)
    r = s3.get_object_attributes(Bucket=bucket, Key="obj", ObjectAttributes=["StorageClass", "ETag"])
    assert r["StorageClass"] == "STANDARD_IA" and "ObjectSize" not in r


def test_checksum_attribute(s3, bucket):
    body = b"A" * 1024
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="sum", Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=sha)
    r = s3.get_object_attributes(Bucket=bucket, Key="sum", ObjectAttributes=ALL)
    assert r["Checksum"]["ChecksumSHA256"] == sha
    assert r["ObjectSize"] == 1024 and "ObjectParts" not in r
    # large (file-backed) object with boto3's default CRC32
    s3.put_object(Bucket=bucket, Key="big", Body=b"B" * (200 * 1024))
    r = s3.get_object_attributes(Bucket=bucket, Key="big", ObjectAttributes=["Checksum"])
    assert set(r["Checksum"]) >= {"ChecksumCRC32"}


def test_checksum_absent_when_none_stored(s3, bucket, server):
    plain = client(server, request_checksum_calculation="when_required")  # sends no flexible checksum
    plain.put_object(Bucket=bucket, Key="nosum", Body=b"no checksum")
    r = s3.get_object_attributes(Bucket=bucket, Key="nosum", ObjectAttributes=ALL)
    assert "Checksum" not in r
    assert r["ObjectSize"] == len(b"no checksum")


def test_multipart_object_parts(s3, bucket):
    etag, data = _multipart(s3, bucket, "mp", [5 * MiB, 5 * MiB, 5 * MiB, 1000])
    r = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL)
    assert r["ETag"] == etag.strip('"') and r["ETag"].endswith("-4")
    assert r["ObjectSize"] == len(data)
    parts = r["ObjectParts"]
    assert parts["TotalPartsCount"] == 4
    assert parts["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, 5 * MiB), (2, 5 * MiB), (3, 5 * MiB),
                                                                      (4, 1000)]
    page = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1,
                                    PartNumberMarker=2)["ObjectParts"]
    assert page["TotalPartsCount"] == 4 and page["MaxParts"] == 1 and page["PartNumberMarker"] == 2
    assert page["IsTruncated"] is True and page["NextPartNumberMarker"] == 3
    assert [p["PartNumber"] for p in page["Parts"]] == [3]
    page = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=10,
                                    PartNumberMarker=3)["ObjectParts"]
    assert page["IsTruncated"] is False and [p["PartNumber"] for p in page["Parts"]] == [4]


def test_attributes_errors(s3, alt_s3, bucket):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"foo")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="obj", ObjectAttributes=["Colour"])
    assert _error(e) == (400, "InvalidArgument")

    def drop_header(params, **_):
        params["headers"].pop("x-amz-object-attributes", None)
    s3.meta.events.register("before-call.s3.GetObjectAttributes", drop_header)
    try:
        with pytest.raises(ClientError) as e:
            s3.get_object_attributes(Bucket=bucket, Key="obj", ObjectAttributes=["ETag"])
    finally:
        s3.meta.events.unregister("before-call.s3.GetObjectAttributes", drop_header)
    assert _error(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=ALL)
    assert _error(e) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=f"{bucket}-nosuch", Key="obj", ObjectAttributes=ALL)
    assert _error(e) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="obj", ObjectAttributes=ALL, VersionId="0" * 32)
    assert _error(e) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as e:  # malformed
        s3.get_object_attributes(Bucket=bucket, Key="obj", ObjectAttributes=ALL, VersionId="nope")
    assert _error(e) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="obj", ObjectAttributes=["ObjectParts"], MaxParts=-1)
    assert _error(e) == (400, "InvalidArgument")


def test_attributes_need_object_read(s3, alt_s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"x")
    s3.put_object(Bucket=bucket, Key="public", Body=b"xy", ACL="public-read")
    with pytest.raises(ClientError) as e:
        alt_s3.get_object_attributes(Bucket=bucket, Key="private", ObjectAttributes=ALL)
    assert _error(e) == (403, "AccessDenied")
    assert alt_s3.get_object_attributes(Bucket=bucket, Key="public", ObjectAttributes=["ObjectSize"])[
        "ObjectSize"] == 2


def test_torrent_is_not_implemented(s3, bucket, server):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    url = s3.generate_presigned_url("get_object_torrent", Params={"Bucket": bucket, "Key": "obj"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=10)
    assert e.value.code == 501 and b"<Code>NotImplemented</Code>" in e.value.read()
