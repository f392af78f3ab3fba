"""Flexible checksums of multipart uploads (COMPOSITE and FULL_OBJECT) against
a real Pails server, boto3 default configuration."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

MiB = 1024 * 1024
PART = 5 * MiB
BODIES = [b"A" * PART, b"B" * PART, b"C" * 1000]

RAW = {
    "CRC32": lambda b: zlib.crc32(b).to_bytes(4, "big"),
    "CRC32C": lambda b: crt.crc32c(b).to_bytes(4, "big"),
    "CRC64NVME": lambda b: crt.crc64nvme(b).to_bytes(8, "big"),
    "SHA1": lambda b: hashlib.sha1(b).digest(),
    "SHA256": lambda b: hashlib.sha256(b).digest(),
}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _err(e: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _upload(s3, bucket, key, alg, kind, with_part_sums=True):
    create = {"ChecksumAlgorithm": alg}
    if kind:
        create["ChecksumType"] = kind
    r = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)
    assert r["ChecksumAlgorithm"] == alg
    uid = r["UploadId"]
    parts = []
    for n, body in enumerate(BODIES, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=body, ChecksumAlgorithm=alg)
        assert r[f"Checksum{alg}"] == b64(RAW[alg](body))
        part = {"PartNumber": n, "ETag": r["ETag"]}
        if with_part_sums:
            part[f"Checksum{alg}"] = r[f"Checksum{alg}"]
        parts.append(part)
    return uid, parts


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_composite(s3, bucket, alg):
    uid, parts = _upload(s3, bucket, "obj", alg, "COMPOSITE")
    expected = b64(RAW[alg](b"".join(RAW[alg](b) for b in BODIES))) + "-3"
    r = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": parts})
    assert r[f"Checksum{alg}"] == expected
    assert r["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert head[f"Checksum{alg}"] == expected and head["ChecksumType"] == "COMPOSITE"
    attrs = s3.get_object_attributes(Bucket=bucket, Key="obj", ObjectAttributes=["Checksum", "ObjectParts"])
    assert attrs["Checksum"] == {f"Checksum{alg}": expected, "ChecksumType": "COMPOSITE"}
    assert [p[f"Checksum{alg}"] for p in attrs["ObjectParts"]["Parts"]] == [b64(RAW[alg](b)) for b in BODIES]
    for n, body in enumerate(BODIES, 1):
        got = s3.get_object(Bucket=bucket, Key="obj", PartNumber=n, ChecksumMode="ENABLED")
        assert got[f"Checksum{alg}"] == b64(RAW[alg](body))
        assert got["Body"].read() == body
    # a full GET (boto3 skips validating a composite value) returns the bytes
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"".join(BODIES)


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object(s3, bucket, alg):
    uid, parts = _upload(s3, bucket, "obj", alg, "FULL_OBJECT")
    expected = b64(RAW[alg](b"".join(BODIES)))
    r = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": parts},
                                     **{f"Checksum{alg}": expected})
    assert r[f"Checksum{alg}"] == expected and r["ChecksumType"] == "FULL_OBJECT"
    # boto3 validates a full-object CRC on GET
    got = s3.get_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert got[f"Checksum{alg}"] == expected and got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == b"".join(BODIES)
    part = s3.get_object(Bucket=bucket, Key="obj", PartNumber=2, ChecksumMode="ENABLED")
    assert part[f"Checksum{alg}"] == b64(RAW[alg](BODIES[1])) and part["ChecksumType"] == "FULL_OBJECT"
    ranged = s3.get_object(Bucket=bucket, Key="obj", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert f"Checksum{alg}" not in ranged
    attrs = s3.get_object_attributes(Bucket=bucket, Key="obj", ObjectAttributes=["Checksum"])
    assert attrs["Checksum"] == {f"Checksum{alg}": expected, "ChecksumType": "FULL_OBJECT"}


def test_crc64nvme_defaults_to_full_object(s3, bucket):
    r = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME")
    assert r["ChecksumType"] == "FULL_OBJECT"
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=r["UploadId"])


@pytest.mark.parametrize("alg,kind", [("SHA256", "FULL_OBJECT"), ("SHA1", "FULL_OBJECT"),
                                      ("CRC64NVME", "COMPOSITE")])
def test_unsupported_type_for_algorithm(s3, bucket, alg, kind):
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=alg, ChecksumType=kind)
    assert _err(e) == (400, "InvalidRequest")


def test_wrong_whole_object_checksum_is_bad_digest(s3, bucket):
    uid, parts = _upload(s3, bucket, "obj", "SHA256", "COMPOSITE")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": parts},
                                     ChecksumSHA256=b64(b"x" * 32) + "-3")
    assert _err(e) == (400, "BadDigest")
    uid, parts = _upload(s3, bucket, "obj2", "CRC32", "FULL_OBJECT")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="obj2", UploadId=uid, MultipartUpload={"Parts": parts},
                                     ChecksumCRC32="AAAAAA==")
    assert _err(e) == (400, "BadDigest")


def test_wrong_part_checksum_is_invalid_part(s3, bucket):
    uid, parts = _upload(s3, bucket, "obj", "SHA256", "COMPOSITE")
    parts[1]["ChecksumSHA256"] = parts[0]["ChecksumSHA256"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": parts})
    assert _err(e) == (400, "InvalidPart")


def test_part_checksums_may_be_left_out_of_the_request(s3, bucket):
    # as Ceph RGW (ceph/s3-tests completes SHA256 uploads without them); the stored ones are used
    uid, parts = _upload(s3, bucket, "obj", "CRC32C", "COMPOSITE", with_part_sums=False)
    r = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": parts})
    assert r["ChecksumCRC32C"] == b64(RAW["CRC32C"](b"".join(RAW["CRC32C"](b) for b in BODIES))) + "-3"


def test_full_object_without_part_checksums_in_the_request(s3, bucket):
    uid, parts = _upload(s3, bucket, "obj", "CRC32", "FULL_OBJECT", with_part_sums=False)
    r = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": parts})
    assert r["ChecksumCRC32"] == b64(RAW["CRC32"](b"".join(BODIES)))


def test_retried_completion_returns_the_same_checksum(s3, bucket):
    uid, parts = _upload(s3, bucket, "obj", "SHA256", "COMPOSITE")
    first = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": parts})
    assert again["ETag"] == first["ETag"] and again["ChecksumSHA256"] == first["ChecksumSHA256"]


def test_head_without_checksum_mode_has_no_checksum(s3, bucket):
    uid, parts = _upload(s3, bucket, "obj", "SHA256", "COMPOSITE")
    s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": parts})
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert "ChecksumSHA256" not in head


def test_copy_object_keeps_the_checksum_and_type(s3, bucket):
    uid, parts = _upload(s3, bucket, "obj", "CRC32C", "FULL_OBJECT")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": parts})
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "obj"})
    head = s3.head_object(Bucket=bucket, Key="copy", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == done["ChecksumCRC32C"] and head["ChecksumType"] == "FULL_OBJECT"
