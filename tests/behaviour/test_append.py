"""Appends (PutObject with x-amz-write-offset-bytes) against a real Pails server."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest
from botocore.exceptions import ClientError

KiB = 1024
MiB = 1024 * KiB


def _err(e: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _read(s3, bucket, key) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _etag(*pieces: bytes) -> str:
    """The chained append ETag (see pails/s3/append.py)."""
    digest = hashlib.md5(pieces[0]).digest()
    for i, piece in enumerate(pieces[1:], 2):
        digest = hashlib.md5(digest + hashlib.md5(piece).digest()).digest()
        last = f'"{digest.hex()}-{i}"'
    return last if len(pieces) > 1 else f'"{digest.hex()}"'


def test_offset_zero_creates_then_appends(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="log", Body=b"hello ", WriteOffsetBytes=0, ContentType="text/plain")
    assert r["ETag"] == f'"{hashlib.md5(b"hello ").hexdigest()}"'
    r = s3.put_object(Bucket=bucket, Key="log", Body=b"world", WriteOffsetBytes=6)
    assert r["Size"] == 11
    got = s3.get_object(Bucket=bucket, Key="log")
    assert got["Body"].read() == b"hello world"
    assert got["ContentType"] == "text/plain"  # the object's metadata is kept
    # small objects stay inline with a plain MD5 ETag
    assert got["ETag"] == f'"{hashlib.md5(b"hello world").hexdigest()}"'


def test_wrong_offset_is_invalid_write_offset(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"12345")
    for offset in (0, 4, 6, 100):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x", WriteOffsetBytes=offset)
        assert _err(e) == (400, "InvalidWriteOffset")
    assert _read(s3, bucket, "k") == b"12345"


def test_missing_key_needs_offset_zero(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="nope", Body=b"x", WriteOffsetBytes=1)
    assert _err(e) == (400, "InvalidWriteOffset")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="nope")


def test_appends_to_a_file_backed_object_build_a_manifest(s3, bucket):
    a, b, c = b"a" * (200 * KiB), b"b" * (3 * MiB), b"c" * 10
    s3.put_object(Bucket=bucket, Key="big", Body=a)
    s3.put_object(Bucket=bucket, Key="big", Body=b, WriteOffsetBytes=len(a))
    r = s3.put_object(Bucket=bucket, Key="big", Body=c, WriteOffsetBytes=len(a) + len(b))
    assert r["ETag"] == _etag(a, b, c)
    assert _read(s3, bucket, "big") == a + b + c
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == len(a) + len(b) + len(c) and head["ETag"] == _etag(a, b, c)
    rng = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={len(a) - 2}-{len(a) + 1}")["Body"].read()
    assert rng == b"aabb"


def test_inline_object_grows_into_a_manifest(s3, bucket):
    small, big = b"s" * 1000, b"B" * (100 * KiB)
    s3.put_object(Bucket=bucket, Key="k", Body=small)
    r = s3.put_object(Bucket=bucket, Key="k", Body=big, WriteOffsetBytes=len(small))
    assert r["ETag"] == _etag(small, big)  # exactly the two-part multipart ETag
    assert _read(s3, bucket, "k") == small + big
    # a further small append to the manifest object
    s3.put_object(Bucket=bucket, Key="k", Body=b"!", WriteOffsetBytes=len(small) + len(big))
    assert _read(s3, bucket, "k") == small + big + b"!"


def test_append_to_a_multipart_object(s3, bucket):
    p1, p2 = b"1" * (5 * MiB), b"2" * 100
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    r = s3.put_object(Bucket=bucket, Key="mp", Body=b"tail", WriteOffsetBytes=len(p1) + len(p2))
    assert r["ETag"].strip('"').endswith("-3")
    assert _read(s3, bucket, "mp") == p1 + p2 + b"tail"


def test_full_object_crc_is_carried_across_appends(s3, bucket):
    a, b = b"x" * (70 * KiB), b"y" * (90 * KiB)
    s3.put_object(Bucket=bucket, Key="k", Body=a, ChecksumAlgorithm="CRC32")
    s3.put_object(Bucket=bucket, Key="k", Body=b, WriteOffsetBytes=len(a), ChecksumAlgorithm="CRC32")
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")  # boto3 validates it
    assert got["ChecksumCRC32"] == base64.b64encode(zlib.crc32(a + b).to_bytes(4, "big")).decode()
    assert got["Body"].read() == a + b


def test_zero_byte_append_changes_nothing(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"abc")["ETag"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"", WriteOffsetBytes=3)
    assert s3.head_object(Bucket=bucket, Key="k")["ETag"] == etag


def test_malformed_offset(s3, bucket):
    def bad_header(request, **_kw):
        request.headers["x-amz-write-offset-bytes"] = "-1"
    s3.meta.events.register("before-sign.s3.PutObject", bad_header)
    try:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert _err(e) == (400, "InvalidArgument")
    finally:
        s3.meta.events.unregister("before-sign.s3.PutObject", bad_header)


def test_overwrite_after_appends(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"a" * (100 * KiB))
    s3.put_object(Bucket=bucket, Key="k", Body=b"b" * (100 * KiB), WriteOffsetBytes=100 * KiB)
    s3.put_object(Bucket=bucket, Key="k", Body=b"fresh")
    assert _read(s3, bucket, "k") == b"fresh"
