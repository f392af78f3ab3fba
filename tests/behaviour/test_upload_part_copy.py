"""UploadPartCopy against a real Pails server (boto3, default configuration)."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
import zlib

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def _err(e: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _data(size: int, seed: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def _md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def _copy_parts(s3, bucket, src_key, dst_key, size, part_size, **create):
    uid = s3.create_multipart_upload(Bucket=bucket, Key=dst_key, **create)["UploadId"]
    parts = []
    for n, first in enumerate(range(0, size, part_size), 1):
        last = min(first + part_size, size) - 1
        r = s3.upload_part_copy(Bucket=bucket, Key=dst_key, UploadId=uid, PartNumber=n,
                                CopySource={"Bucket": bucket, "Key": src_key}, CopySourceRange=f"bytes={first}-{last}")
        parts.append({"PartNumber": n, "ETag": r["CopyPartResult"]["ETag"], **{
            k: v for k, v in r["CopyPartResult"].items() if k.startswith("Checksum") and k != "ChecksumType"}})
    return uid, parts


def test_ranged_copy_of_a_file_backed_object(s3, bucket):
    data = _data(12 * MiB + 123, 1)
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    uid, parts = _copy_parts(s3, bucket, "src", "dst", len(data), 5 * MiB)
    assert [p["ETag"] for p in parts] == [_md5(data[i:i + 5 * MiB]) for i in range(0, len(data), 5 * MiB)]
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket=bucket, Key="dst")["Body"].read()
    assert got == data


def test_copy_from_a_multipart_source_across_part_boundaries(s3, bucket):
    data = _data(11 * MiB, 2)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    ps = []
    for n, first in enumerate(range(0, len(data), 5 * MiB), 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n, Body=data[first:first + 5 * MiB])
        ps.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": ps})
    # parts of 6 MiB straddle the source's 5 MiB parts
    uid, parts = _copy_parts(s3, bucket, "mp", "dst", len(data), 6 * MiB)
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == data


def test_whole_object_copy_without_range(s3, bucket):
    small, big = b"tiny source", _data(5 * MiB, 3)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "big"})
    r2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2,
                             CopySource=f"{bucket}/small")
    assert r1["CopyPartResult"]["ETag"] == _md5(big)
    assert r2["CopyPartResult"]["ETag"] == _md5(small)
    assert "LastModified" in r1["CopyPartResult"]
    # a whole file-backed source is hard-linked, not copied
    listed = s3.list_parts(Bucket=bucket, Key="dst", UploadId=uid)["Parts"]
    assert [p["Size"] for p in listed] == [len(big), len(small)]
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == big + small
    # the source is unaffected by the copy's data file being replaced or deleted
    s3.delete_object(Bucket=bucket, Key="dst")
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big


def test_ranged_copy_of_an_inline_source(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=2-5")
    assert r["CopyPartResult"]["ETag"] == _md5(b"2345")
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"2345"


def test_copy_part_checksum_for_an_upload_with_an_algorithm(s3, bucket):
    data = _data(2 * MiB + 7, 4)
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst", ChecksumAlgorithm="CRC32")["UploadId"]
    whole = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src"})["CopyPartResult"]
    ranged = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2,
                                 CopySource={"Bucket": bucket, "Key": "src"},
                                 CopySourceRange="bytes=100-199")["CopyPartResult"]

    def crc(b: bytes) -> str:
        return base64.b64encode(zlib.crc32(b).to_bytes(4, "big")).decode()
    assert whole["ChecksumCRC32"] == crc(data)
    assert ranged["ChecksumCRC32"] == crc(data[100:200])


@pytest.mark.parametrize("rng", ["0-2", "bytes=0", "bytes=hello-world", "bytes=0-bar", "bytes=hello-",
                                 "bytes=0-2,3-5", "bytes=3-1"])
def test_malformed_range_is_invalid_argument(s3, bucket, rng):
    s3.put_object(Bucket=bucket, Key="src", Body=b"12345")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=rng)
    assert _err(e) == (400, "InvalidArgument")


def test_range_outside_the_source_is_invalid_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"12345")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=0-21")
    assert _err(e)[1] == "InvalidRange"


def test_no_such_upload_and_missing_source(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"12345")
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId="nope", PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"})
    assert _err(e) == (404, "NoSuchUpload")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "missing"})
    assert _err(e) == (404, "NoSuchKey")


def test_source_conditions(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"12345")["ETag"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    src = {"Bucket": bucket, "Key": "src"}
    s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1, CopySource=src, CopySourceIfMatch=etag)
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1, CopySource=src,
                            CopySourceIfMatch='"00000000000000000000000000000000"')
    assert _err(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1, CopySource=src,
                            CopySourceIfNoneMatch=etag)
    assert _err(e) == (412, "PreconditionFailed")


def test_unreadable_source_is_access_denied(s3, alt_s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    mine = f"alt-{uuid.uuid4().hex[:12]}"
    alt_s3.create_bucket(Bucket=mine)
    try:
        uid = alt_s3.create_multipart_upload(Bucket=mine, Key="dst")["UploadId"]
        with pytest.raises(ClientError) as e:
            alt_s3.upload_part_copy(Bucket=mine, Key="dst", UploadId=uid, PartNumber=1,
                                    CopySource={"Bucket": bucket, "Key": "private"})
        assert _err(e) == (403, "AccessDenied")
        alt_s3.abort_multipart_upload(Bucket=mine, Key="dst", UploadId=uid)
    finally:
        alt_s3.delete_bucket(Bucket=mine)


def test_empty_source(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "empty"})
    assert r["CopyPartResult"]["ETag"] == _md5(b"")
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b""


def test_big_random_ranges(s3, bucket):
    data = os.urandom(7 * MiB + 5)
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=3,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=1-{len(data) - 2}")
    assert r["CopyPartResult"]["ETag"] == _md5(data[1:-1])
