"""Multipart uploads against a real Pails server: boto3 (default config), raw
HTTP, the AWS CLI, and crash/restart."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import psutil
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.behaviour.test_hostile import assert_s3_error, request, sign_v4
from tests.conftest import client
from tests.pails_server import Server

MiB = 1024 * 1024
AWS = str(Path(sys.executable).with_name("aws"))


def _err(e: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _data(size: int, seed: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def _upload(s3, bucket: str, key: str, parts: list[bytes], **create) -> tuple[str, list[dict]]:
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for n, body in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=body)
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    return uid, done


def _mp_etag(parts: list[bytes]) -> str:
    return '"' + hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f'-{len(parts)}"'


def _data_files(srv: Server) -> int:
    n = 0
    for sub in ("blobs", "tmp"):
        for _dirpath, _dirs, files in os.walk(Path(srv.data_dir) / sub):
            n += len(files)
    return n


def _settled_count(srv: Server, timeout: float = 5.0) -> int:
    """The data-file count once background collection has stopped changing it."""
    deadline = time.monotonic() + timeout
    last = _data_files(srv)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = _data_files(srv)
        if now == last:
            return now
        last = now
    return last


def _wait_count_at_most(srv: Server, limit: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        n = _data_files(srv)
        if n <= limit or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


# --- the whole round trip ----------------------------------------------------------------------------------------

def test_three_part_round_trip(s3, bucket):
    parts = [_data(5 * MiB, 1), _data(5 * MiB, 2), _data(1 * MiB, 3)]
    whole = b"".join(parts)
    uid, done = _upload(s3, bucket, "big/obj", parts, ContentType="application/x-test",
                        Metadata={"colour": "blue"}, CacheControl="max-age=60")
    r = s3.complete_multipart_upload(Bucket=bucket, Key="big/obj", UploadId=uid, MultipartUpload={"Parts": done})
    assert r["ETag"] == _mp_etag(parts)
    assert r["Bucket"] == bucket and r["Key"] == "big/obj"
    assert r["Location"].endswith(f"/{bucket}/big/obj")
    got = s3.get_object(Bucket=bucket, Key="big/obj")
    body = got["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(whole).hexdigest()
    assert got["ETag"] == _mp_etag(parts)
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"colour": "blue"}
    assert got["CacheControl"] == "max-age=60"
    head = s3.head_object(Bucket=bucket, Key="big/obj")
    assert head["ContentLength"] == len(whole)
    assert head["ETag"] == _mp_etag(parts)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("big/obj", len(whole), _mp_etag(parts))]
    # the upload is gone
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="big/obj", UploadId=uid)
    assert _err(e) == (404, "NoSuchUpload")


def test_etag_format(s3, bucket):
    parts = [_data(5 * MiB, 4), b"tail"]
    uid, done = _upload(s3, bucket, "e", parts)
    assert done[0]["ETag"] == f'"{hashlib.md5(parts[0]).hexdigest()}"'
    assert done[1]["ETag"] == f'"{hashlib.md5(b"tail").hexdigest()}"'
    etag = s3.complete_multipart_upload(Bucket=bucket, Key="e", UploadId=uid, MultipartUpload={"Parts": done})["ETag"]
    assert etag.startswith('"') and etag.endswith('-2"')
    assert len(etag.strip('"').split("-")[0]) == 32
    assert etag == _mp_etag(parts)


def test_ranged_get_across_part_boundaries(s3, bucket):
    parts = [_data(5 * MiB, 5), _data(5 * MiB, 6), _data(3000, 7)]
    whole = b"".join(parts)
    uid, done = _upload(s3, bucket, "r", parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="r", UploadId=uid, MultipartUpload={"Parts": done})
    b1 = 5 * MiB
    for first, last in [(b1 - 10, b1 + 9), (b1 - 1, b1), (b1, b1), (100, 2 * b1 + 100), (2 * b1 - 5, 2 * b1 + 2999)]:
        got = s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={first}-{last}")
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"] == f"bytes {first}-{last}/{len(whole)}"
        assert got["Body"].read() == whole[first:last + 1]
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=-20")
    assert got["Body"].read() == whole[-20:]


def test_get_and_head_part_number(server, s3, bucket):
    parts = [_data(5 * MiB, 30), _data(5 * MiB, 31), _data(1000, 32)]
    uid, done = _upload(s3, bucket, "pn", parts)
    with pytest.raises(ClientError) as e:  # not completed yet
        s3.get_object(Bucket=bucket, Key="pn", PartNumber=1)
    assert _err(e) == (404, "NoSuchKey")
    etag = s3.complete_multipart_upload(Bucket=bucket, Key="pn", UploadId=uid, MultipartUpload={"Parts": done})["ETag"]
    total = sum(len(p) for p in parts)
    first = 0
    for n, data in enumerate(parts, 1):
        head = s3.head_object(Bucket=bucket, Key="pn", PartNumber=n)
        assert head["PartsCount"] == 3 and head["ETag"] == etag and head["ContentLength"] == len(data)
        got = s3.get_object(Bucket=bucket, Key="pn", PartNumber=n)
        assert got["PartsCount"] == 3 and got["ETag"] == etag
        assert got["ContentRange"] == f"bytes {first}-{first + len(data) - 1}/{total}"
        assert got["Body"].read() == data
        first += len(data)
    for n, code in ((4, "InvalidPart"), (0, "InvalidArgument")):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="pn", PartNumber=n)
        assert _err(e) == (400, code)
    r = request(server, "GET", f"/{bucket}/pn", [("partNumber", "1")], headers={"range": "bytes=0-1"})
    assert_s3_error(r, 400, "InvalidRequest")
    # a single-part object is its own part 1
    s3.put_object(Bucket=bucket, Key="plain", Body=b"body")
    got = s3.get_object(Bucket=bucket, Key="plain", PartNumber=1)
    assert got["Body"].read() == b"body" and "PartsCount" not in got
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", PartNumber=2)
    assert _err(e) == (400, "InvalidPart")


def test_single_part_and_empty_part(s3, bucket):
    uid, done = _upload(s3, bucket, "one", [b"just one small part"])
    s3.complete_multipart_upload(Bucket=bucket, Key="one", UploadId=uid, MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == b"just one small part"
    uid, done = _upload(s3, bucket, "empty", [b""])
    r = s3.complete_multipart_upload(Bucket=bucket, Key="empty", UploadId=uid, MultipartUpload={"Parts": done})
    assert r["ETag"] == _mp_etag([b""])
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["ContentLength"] == 0 and got["Body"].read() == b""


def test_completed_object_keeps_acl_and_storage_class(s3, alt_s3, bucket):
    uid, done = _upload(s3, bucket, "pub", [b"public data"], ACL="public-read", StorageClass="REDUCED_REDUNDANCY")
    s3.complete_multipart_upload(Bucket=bucket, Key="pub", UploadId=uid, MultipartUpload={"Parts": done})
    assert s3.head_object(Bucket=bucket, Key="pub")["StorageClass"] == "REDUCED_REDUNDANCY"
    assert alt_s3.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"public data"
    grants = s3.get_object_acl(Bucket=bucket, Key="pub")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") and g["Permission"] == "READ" for g in grants)
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="x", StorageClass="NO_SUCH_CLASS")
    assert _err(e) == (400, "InvalidStorageClass")


def test_completing_replaces_an_existing_object(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=_data(200_000, 8))  # its own data file
    before = _settled_count(server)
    uid, done = _upload(s3, bucket, "k", [_data(5 * MiB, 9), b"end"])
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == _data(5 * MiB, 9) + b"end"
    # two part files in, the replaced object's file collected
    assert _wait_count_at_most(server, before + 1) == before + 1
    s3.delete_object(Bucket=bucket, Key="k")
    assert _wait_count_at_most(server, before - 1) == before - 1


# --- checksums -----------------------------------------------------------------------------------------------------

def test_checksum_algorithm_and_part_checksums(s3, bucket):
    r = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="SHA256")
    assert r["ChecksumAlgorithm"] == "SHA256"
    uid = r["UploadId"]
    body = b"checksummed part"
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    p = s3.upload_part(Bucket=bucket, Key="c", UploadId=uid, PartNumber=1, Body=body, ChecksumAlgorithm="SHA256")
    assert p["ChecksumSHA256"] == sha
    listed = s3.list_parts(Bucket=bucket, Key="c", UploadId=uid)
    assert listed["ChecksumAlgorithm"] == "SHA256"
    assert listed["Parts"][0]["ChecksumSHA256"] == sha
    ups = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert ups[0]["ChecksumAlgorithm"] == "SHA256"
    s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p["ETag"], "ChecksumSHA256": sha}]})
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == body


def test_checksum_type_header_is_accepted(server, bucket):
    r = request(server, "POST", f"/{bucket}/t", [("uploads", "")],
                headers={"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "FULL_OBJECT"})
    assert r.status == 200, r.body
    assert r.header("x-amz-checksum-algorithm") == "CRC32"
    assert r.header("x-amz-checksum-type") == "FULL_OBJECT"
    r = request(server, "POST", f"/{bucket}/t", [("uploads", "")],
                headers={"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "SIDEWAYS"})
    assert_s3_error(r, 400, "InvalidRequest")
    r = request(server, "POST", f"/{bucket}/t", [("uploads", "")], headers={"x-amz-checksum-algorithm": "MD4"})
    assert_s3_error(r, 400, "InvalidRequest")


def test_wrong_part_checksum_is_refused(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="w")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="w", UploadId=uid, PartNumber=1, Body=b"abc",
                       ChecksumCRC32=base64.b64encode(b"\0\0\0\0").decode())
    assert _err(e) == (400, "BadDigest")
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="w", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="w", UploadId=uid, PartNumber=1, Body=b"abc",
                       ContentMD5=base64.b64encode(hashlib.md5(b"abd").digest()).decode())
    assert _err(e) == (400, "BadDigest")


# --- UploadPart -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", ["0", "10001", "-1", "abc", ""])
def test_part_number_out_of_range(server, s3, bucket, number):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="n")["UploadId"]
    r = request(server, "PUT", f"/{bucket}/n", [("partNumber", number), ("uploadId", uid)], body=b"x")
    assert_s3_error(r, 400, "InvalidArgument")


def test_part_numbers_at_the_limits(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="lim")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="lim", UploadId=uid, PartNumber=1, Body=b"first")
    s3.upload_part(Bucket=bucket, Key="lim", UploadId=uid, PartNumber=10000, Body=b"last")
    nums = [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="lim", UploadId=uid)["Parts"]]
    assert nums == [1, 10000]


def test_upload_part_no_such_upload(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="k", UploadId="nonexistent", PartNumber=1, Body=b"x")
    assert _err(e) == (404, "NoSuchUpload")
    # an upload id of another key is no upload of this one
    uid = s3.create_multipart_upload(Bucket=bucket, Key="a")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="b", UploadId=uid, PartNumber=1, Body=b"x")
    assert _err(e) == (404, "NoSuchUpload")


def test_reuploading_a_part_replaces_it(server, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="re")["UploadId"]
    before = _settled_count(server)
    first = s3.upload_part(Bucket=bucket, Key="re", UploadId=uid, PartNumber=1, Body=_data(5 * MiB, 10))["ETag"]
    assert _data_files(server) == before + 1
    second = s3.upload_part(Bucket=bucket, Key="re", UploadId=uid, PartNumber=1, Body=_data(5 * MiB, 11))["ETag"]
    assert first != second
    parts = s3.list_parts(Bucket=bucket, Key="re", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, second)]
    # the replaced part's data file is collected
    assert _wait_count_at_most(server, before + 1) == before + 1
    with pytest.raises(ClientError) as e:  # the old ETag no longer names part 1
        s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first}]})
    assert _err(e) == (400, "InvalidPart")
    s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": second}]})
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == _data(5 * MiB, 11)


def _aws_chunked(payload: bytes, trailer: str, chunk: int = 65536) -> bytes:
    out = b""
    for i in range(0, len(payload), chunk):
        piece = payload[i:i + chunk]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n" + trailer.encode() + b"\r\n\r\n"


def _put_transfer_chunked(server, path: str, query: list[tuple[str, str]], headers: dict[str, str],
                          body: bytes, payload_hash: str) -> tuple[int, dict[str, str], bytes]:
    """A PUT with ``Transfer-Encoding: chunked`` and no Content-Length."""
    hdrs = sign_v4("PUT", path, query, {"host": f"127.0.0.1:{server.port}", **headers}, payload_hash,
                   server.access_key, server.secret_key)
    qs = "&".join(f"{k}={v}" for k, v in query)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("PUT", f"{path}?{qs}", skip_host=True, skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.putheader("transfer-encoding", "chunked")
        conn.endheaders()
        for i in range(0, len(body), 100_000):
            piece = body[i:i + 100_000]
            conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_aws_chunked_part_without_content_length(server, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ac")["UploadId"]
    payload = _data(5 * MiB + 123, 12)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    body = _aws_chunked(payload, f"x-amz-checksum-crc32:{crc}")
    status, headers, out = _put_transfer_chunked(
        server, f"/{bucket}/ac", [("partNumber", "1"), ("uploadId", uid)],
        {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(payload)),
         "x-amz-trailer": "x-amz-checksum-crc32"}, body, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert status == 200, out
    assert headers["etag"] == f'"{hashlib.md5(payload).hexdigest()}"'
    assert headers["x-amz-checksum-crc32"] == crc
    # and a plain Transfer-Encoding: chunked body
    status, headers, out = _put_transfer_chunked(
        server, f"/{bucket}/ac", [("partNumber", "2"), ("uploadId", uid)], {}, b"plain chunked tail",
        "UNSIGNED-PAYLOAD")
    assert status == 200, out
    assert headers["etag"] == f'"{hashlib.md5(b"plain chunked tail").hexdigest()}"'
    parts = s3.list_parts(Bucket=bucket, Key="ac", UploadId=uid)["Parts"]
    assert [p["Size"] for p in parts] == [len(payload), len(b"plain chunked tail")]
    s3.complete_multipart_upload(Bucket=bucket, Key="ac", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]})
    body = s3.get_object(Bucket=bucket, Key="ac")["Body"].read()
    assert body == payload + b"plain chunked tail"


# --- CompleteMultipartUpload errors -----------------------------------------------------------------------------

def test_complete_invalid_part_order(s3, bucket):
    uid, done = _upload(s3, bucket, "o", [_data(5 * MiB, 13), b"two"])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="o", UploadId=uid,
                                     MultipartUpload={"Parts": [done[1], done[0]]})
    assert _err(e) == (400, "InvalidPartOrder")
    # a part listed twice counts once, its last entry winning (as Ceph RGW)
    stale = {"PartNumber": 2, "ETag": '"' + "0" * 32 + '"'}
    r = s3.complete_multipart_upload(Bucket=bucket, Key="o", UploadId=uid,
                                     MultipartUpload={"Parts": [done[0], stale, done[1], done[1]]})
    assert r["ETag"] == _mp_etag([_data(5 * MiB, 13), b"two"])


def test_complete_invalid_part(s3, bucket):
    uid, done = _upload(s3, bucket, "p", [b"only"])
    bad_etag = [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]
    missing = [done[0], {"PartNumber": 2, "ETag": done[0]["ETag"]}]
    for parts in (bad_etag, missing):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="p", UploadId=uid, MultipartUpload={"Parts": parts})
        assert _err(e) == (400, "InvalidPart")
    # unquoted ETags are fine
    s3.complete_multipart_upload(Bucket=bucket, Key="p", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": done[0]["ETag"].strip('"')}]})
    assert s3.get_object(Bucket=bucket, Key="p")["Body"].read() == b"only"


def test_complete_entity_too_small(s3, bucket):
    uid, done = _upload(s3, bucket, "s", [_data(5 * MiB - 1, 14), b"last"])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="s", UploadId=uid, MultipartUpload={"Parts": done})
    assert _err(e) == (400, "EntityTooSmall")
    # a subset whose only part is the last one is fine
    s3.complete_multipart_upload(Bucket=bucket, Key="s", UploadId=uid, MultipartUpload={"Parts": done[1:]})
    assert s3.get_object(Bucket=bucket, Key="s")["Body"].read() == b"last"


@pytest.mark.parametrize("body", [b"", b"not xml", b"<CompleteMultipartUpload></CompleteMultipartUpload>",
                                  b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part>"
                                  b"</CompleteMultipartUpload>",
                                  b"<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
                                  b"<Other><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></Other>"])
def test_complete_malformed_xml(server, s3, bucket, body):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=b"x")
    r = request(server, "POST", f"/{bucket}/m", [("uploadId", uid)], body=body)
    assert_s3_error(r, 400, "MalformedXML")


def test_complete_no_such_upload(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId="nope",
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})
    assert _err(e) == (404, "NoSuchUpload")
    uid, done = _upload(s3, bucket, "k", [b"x"])
    etag = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": done})["ETag"]
    # a retried completion (its first answer lost) succeeds again while the key holds what it made
    again = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": done})
    assert again["ETag"] == etag
    with pytest.raises(ClientError) as e:  # but the upload is gone
        s3.list_parts(Bucket=bucket, Key="k", UploadId=uid)
    assert _err(e) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"' + "1" * 32 + '"'}]})
    assert _err(e) == (404, "NoSuchUpload")
    s3.put_object(Bucket=bucket, Key="k", Body=b"overwritten")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": done})
    assert _err(e) == (404, "NoSuchUpload")


def test_complete_if_none_match_on_existing_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="exists", Body=b"old")
    uid, done = _upload(s3, bucket, "exists", [b"new"])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="exists", UploadId=uid, MultipartUpload={"Parts": done},
                                     IfNoneMatch="*")
    assert _err(e) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"old"
    # the upload is still there and completes without the condition
    s3.complete_multipart_upload(Bucket=bucket, Key="exists", UploadId=uid, MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"new"
    # on a new key, If-None-Match: * passes
    uid, done = _upload(s3, bucket, "fresh", [b"fresh"])
    s3.complete_multipart_upload(Bucket=bucket, Key="fresh", UploadId=uid, MultipartUpload={"Parts": done},
                                 IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == b"fresh"


def test_complete_if_none_match_etag(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="inm", Body=b"v1")["ETag"]
    uid, done = _upload(s3, bucket, "inm", [b"v2"])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="inm", UploadId=uid, MultipartUpload={"Parts": done},
                                     IfNoneMatch=etag)
    assert _err(e) == (412, "PreconditionFailed")
    s3.complete_multipart_upload(Bucket=bucket, Key="inm", UploadId=uid, MultipartUpload={"Parts": done},
                                 IfNoneMatch='"' + "2" * 32 + '"')
    assert s3.get_object(Bucket=bucket, Key="inm")["Body"].read() == b"v2"


def test_complete_if_match_on_missing_key(s3, bucket):
    uid, done = _upload(s3, bucket, "nokey", [b"v"])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="nokey", UploadId=uid, MultipartUpload={"Parts": done},
                                     IfMatch="*")
    assert _err(e) == (404, "NoSuchKey")


def test_complete_if_match(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="im", Body=b"v1")["ETag"]
    uid, done = _upload(s3, bucket, "im", [b"v2"])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="im", UploadId=uid, MultipartUpload={"Parts": done},
                                     IfMatch='"' + "1" * 32 + '"')
    assert _err(e) == (412, "PreconditionFailed")
    s3.complete_multipart_upload(Bucket=bucket, Key="im", UploadId=uid, MultipartUpload={"Parts": done},
                                 IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="im")["Body"].read() == b"v2"


def test_unused_parts_are_collected_on_complete(server, s3, bucket):
    before = _settled_count(server)
    uid, done = _upload(s3, bucket, "u", [b"one", b"two", b"three"])
    assert _data_files(server) == before + 3
    s3.complete_multipart_upload(Bucket=bucket, Key="u", UploadId=uid, MultipartUpload={"Parts": done[2:]})
    assert s3.get_object(Bucket=bucket, Key="u")["Body"].read() == b"three"
    assert _wait_count_at_most(server, before + 1) == before + 1


# --- AbortMultipartUpload ---------------------------------------------------------------------------------------

def test_abort_leaves_no_data_files(server, s3, bucket):
    before = _settled_count(server)
    uid, _done = _upload(s3, bucket, "ab", [_data(5 * MiB, 15), _data(2 * MiB, 16), b"small"])
    assert _data_files(server) == before + 3
    r = s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _wait_count_at_most(server, before) == before
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    for call in (lambda: s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid),
                 lambda: s3.list_parts(Bucket=bucket, Key="ab", UploadId=uid),
                 lambda: s3.upload_part(Bucket=bucket, Key="ab", UploadId=uid, PartNumber=1, Body=b"x")):
        with pytest.raises(ClientError) as e:
            call()
        assert _err(e) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="ab")
    assert _err(e)[0] == 404


def test_abort_unknown_upload(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId="does-not-exist")
    assert _err(e) == (404, "NoSuchUpload")


def test_delete_bucket_aborts_its_uploads(server, s3):
    name = f"mp-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    before = _settled_count(server)
    _upload(s3, name, "a", [b"1", b"2"])
    _upload(s3, name, "b", [b"3"])
    assert _data_files(server) == before + 3
    s3.delete_bucket(Bucket=name)
    assert _wait_count_at_most(server, before) == before
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert _err(e)[0] == 404


# --- ListParts ------------------------------------------------------------------------------------------------------

def test_list_parts_pagination(s3, bucket):
    uid, done = _upload(s3, bucket, "lp", [b"a", b"bb", b"ccc", b"dddd", b"eeeee"])
    page = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, MaxParts=2)
    assert page["IsTruncated"] is True
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2]
    assert page["NextPartNumberMarker"] == 2
    assert page["MaxParts"] == 2
    assert page["StorageClass"] == "STANDARD"
    assert page["Initiator"]["ID"] == page["Owner"]["ID"] and page["Owner"]["DisplayName"]
    page = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, MaxParts=2, PartNumberMarker=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [3, 4]
    assert page["PartNumberMarker"] == 2
    page = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, PartNumberMarker=4)
    assert page["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in page["Parts"]] == [(5, 5, done[4]["ETag"])]
    every = [p for pg in s3.get_paginator("list_parts").paginate(Bucket=bucket, Key="lp", UploadId=uid,
                                                                  PaginationConfig={"PageSize": 2})
             for p in pg["Parts"]]
    assert [p["PartNumber"] for p in every] == [1, 2, 3, 4, 5]


def test_list_parts_bad_arguments(server, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ba")["UploadId"]
    for name in ("max-parts", "part-number-marker"):
        r = request(server, "GET", f"/{bucket}/ba", [("uploadId", uid), (name, "x")])
        assert_s3_error(r, 400, "InvalidArgument")


# --- ListMultipartUploads ---------------------------------------------------------------------------------------

def test_list_multipart_uploads(s3, bucket):
    ids = {}
    for key in ("a/1", "a/2", "b", "c/x/y", "c/z"):
        ids[key] = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    second_b = s3.create_multipart_upload(Bucket=bucket, Key="b")["UploadId"]
    r = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in r["Uploads"]] == [
        ("a/1", ids["a/1"]), ("a/2", ids["a/2"]), ("b", ids["b"]), ("b", second_b), ("c/x/y", ids["c/x/y"]),
        ("c/z", ids["c/z"])]
    assert r["IsTruncated"] is False and r["MaxUploads"] == 1000
    u = r["Uploads"][0]
    assert u["StorageClass"] == "STANDARD" and u["Initiator"]["ID"] == u["Owner"]["ID"] and u["Initiated"]
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="c/")
    assert [u["Key"] for u in r["Uploads"]] == ["c/x/y", "c/z"] and r["Prefix"] == "c/"
    r = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in r["Uploads"]] == ["b", "b"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "c/"]
    r = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", Prefix="c/")
    assert [u["Key"] for u in r["Uploads"]] == ["c/z"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["c/x/"]
    # pagination with key and upload-id markers
    r = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=3)
    assert r["IsTruncated"] is True
    assert [u["Key"] for u in r["Uploads"]] == ["a/1", "a/2", "b"]
    assert (r["NextKeyMarker"], r["NextUploadIdMarker"]) == ("b", ids["b"])
    r = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b", UploadIdMarker=ids["b"])
    assert [(u["Key"], u["UploadId"]) for u in r["Uploads"]] == [
        ("b", second_b), ("c/x/y", ids["c/x/y"]), ("c/z", ids["c/z"])]
    r = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b")  # without upload-id-marker: keys after "b"
    assert [u["Key"] for u in r["Uploads"]] == ["c/x/y", "c/z"]
    # a truncated delimiter listing resumes after its last common prefix
    r = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", MaxUploads=1)
    assert r["IsTruncated"] is True and [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/"]
    r = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", KeyMarker=r["NextKeyMarker"])
    assert [u["Key"] for u in r["Uploads"]] == ["b", "b"]
    keys = [u["Key"] for page in s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for u in page.get("Uploads", [])]
    assert keys == ["a/1", "a/2", "b", "b", "c/x/y", "c/z"]
    r = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=0)
    assert "Uploads" not in r and r["IsTruncated"] is False


def test_list_multipart_uploads_url_encoding(server, s3, bucket):
    key = "sp ace/ü+&<x>"
    s3.create_multipart_upload(Bucket=bucket, Key=key)
    r = request(server, "GET", f"/{bucket}", [("uploads", ""), ("encoding-type", "url")])
    assert r.status == 200, r.body
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    root = ET.fromstring(r.body)
    assert root.findtext(f"{ns}EncodingType") == "url"
    assert root.findtext(f"{ns}Upload/{ns}Key") == "sp%20ace/%C3%BC%2B%26%3Cx%3E"
    # boto3 asks for url encoding and decodes
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [key]
    r = request(server, "GET", f"/{bucket}", [("uploads", ""), ("encoding-type", "base64")])
    assert_s3_error(r, 400, "InvalidArgument")
    r = request(server, "GET", f"/{bucket}", [("uploads", ""), ("max-uploads", "many")])
    assert_s3_error(r, 400, "InvalidArgument")


# --- permissions ------------------------------------------------------------------------------------------------

def test_other_user_needs_bucket_permissions(s3, alt_s3, bucket):
    uid, done = _upload(s3, bucket, "k", [b"x"])
    calls = [lambda: alt_s3.create_multipart_upload(Bucket=bucket, Key="k"),
             lambda: alt_s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"y"),
             lambda: alt_s3.list_parts(Bucket=bucket, Key="k", UploadId=uid),
             lambda: alt_s3.list_multipart_uploads(Bucket=bucket),
             lambda: alt_s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                                      MultipartUpload={"Parts": done}),
             lambda: alt_s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert _err(e) == (403, "AccessDenied")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    uid2, done2 = _upload(alt_s3, bucket, "alt", [b"by alt"])
    assert {u["Key"] for u in alt_s3.list_multipart_uploads(Bucket=bucket)["Uploads"]} == {"k", "alt"}
    alt_s3.complete_multipart_upload(Bucket=bucket, Key="alt", UploadId=uid2, MultipartUpload={"Parts": done2})
    assert alt_s3.get_object(Bucket=bucket, Key="alt")["Body"].read() == b"by alt"


# --- clients ----------------------------------------------------------------------------------------------------

def test_boto3_upload_file_and_download_file(s3, bucket, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(20 * MiB))
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "xfer.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="xfer.bin")
    assert head["ContentLength"] == 20 * MiB
    assert head["ETag"].endswith('-4"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "xfer.bin", str(dst), Config=cfg)
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()


def test_aws_cli_cp_100mib(server, s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(MiB))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "no-such-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-such-credentials"), AWS_PAGER="")

    def aws(*args: str) -> None:
        p = subprocess.run([AWS, "--endpoint-url", server.endpoint, *args], env=env, capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, (p.stdout, p.stderr)

    aws("s3", "cp", str(src), f"s3://{bucket}/big.bin")
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 100 * MiB
    assert "-" in head["ETag"]  # it went up in parts
    dst = tmp_path / "big.down"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(dst))

    def sha(p: Path) -> str:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while block := f.read(MiB):
                h.update(block)
        return h.hexdigest()

    assert sha(dst) == sha(src)


# --- crash and restart ------------------------------------------------------------------------------------------

def _crash_and_restart(srv: Server) -> None:
    """SIGKILL the server and start it again on the same port.  Server.kill()
    returns once the main process is gone; its workers may still hold the
    listening socket for a moment, and wait_for_port would then see the dying
    server instead of the new one."""
    workers = [psutil.Process(pid) for pid in srv.worker_pids()]
    srv.kill()
    psutil.wait_procs(workers, timeout=15)
    srv.start()


def test_sigkill_between_parts_then_complete_and_abort(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        s3 = client(srv, retries={"max_attempts": 1})
        s3.create_bucket(Bucket="crash")
        parts = [_data(5 * MiB, 20), _data(5 * MiB, 21), _data(MiB + 7, 22)]
        uid, done = _upload(s3, "crash", "obj", parts[:2])
        uid2, _ = _upload(s3, "crash", "gone", [_data(5 * MiB, 23), b"x"])
        _crash_and_restart(srv)
        s3 = client(srv, retries={"max_attempts": 1})
        listed = s3.list_parts(Bucket="crash", Key="obj", UploadId=uid)["Parts"]
        assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(d["PartNumber"], d["ETag"]) for d in done]
        r = s3.upload_part(Bucket="crash", Key="obj", UploadId=uid, PartNumber=3, Body=parts[2])
        done.append({"PartNumber": 3, "ETag": r["ETag"]})
        s3.complete_multipart_upload(Bucket="crash", Key="obj", UploadId=uid, MultipartUpload={"Parts": done})
        body = s3.get_object(Bucket="crash", Key="obj")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(b"".join(parts)).hexdigest()
        assert _data_files(srv) == 3 + 2
        s3.abort_multipart_upload(Bucket="crash", Key="gone", UploadId=uid2)
        assert _wait_count_at_most(srv, 3) == 3  # only the object's part files remain
        # and after another crash the completed object is still whole
        _crash_and_restart(srv)
        s3 = client(srv, retries={"max_attempts": 1})
        body = s3.get_object(Bucket="crash", Key="obj")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(b"".join(parts)).hexdigest()
        assert _data_files(srv) == 3
    finally:
        srv.stop()
