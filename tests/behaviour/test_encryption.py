"""Server-side encryption (SSE-S3, SSE-KMS, SSE-C, bucket default encryption)
against a real Pails server, boto3 with its default configuration."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))

MODES: dict[str, dict[str, object]] = {
    "plain": {},
    "sse-s3": {"ServerSideEncryption": "AES256"},
    "sse-kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "pails-test-key-1"},
    "sse-c": {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY_A},
}
DEST_MODES: dict[str, dict[str, object]] = {
    **MODES,
    "sse-kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "pails-test-key-2"},
    "sse-c": {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY_B},
}


def _read_args(args: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in args.items() if k.startswith("SSECustomer")}


def _attr_args(args: dict[str, object]) -> dict[str, object]:
    """GetObjectAttributes: botocore does not encode the key there; give it encoded, with its MD5."""
    key = args.get("SSECustomerKey")
    if not isinstance(key, bytes):
        return {}
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(key).decode(),
            "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode()}


def _copy_source_args(args: dict[str, object]) -> dict[str, object]:
    return {"CopySource" + k: v for k, v in _read_args(args).items()}


def _err(e: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _data(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def _headers(response: dict) -> dict[str, str]:
    return response["ResponseMetadata"]["HTTPHeaders"]


def _check_mode(response: dict, mode_args: dict[str, object]) -> None:
    h = _headers(response)
    if "SSECustomerKey" in mode_args:
        key = mode_args["SSECustomerKey"]
        assert isinstance(key, bytes)
        assert h["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
        assert h["x-amz-server-side-encryption-customer-key-md5"] == base64.b64encode(
            hashlib.md5(key).digest()).decode()
        assert "x-amz-server-side-encryption" not in h
    elif "ServerSideEncryption" in mode_args:
        assert h["x-amz-server-side-encryption"] == mode_args["ServerSideEncryption"]
        if "SSEKMSKeyId" in mode_args:
            assert h["x-amz-server-side-encryption-aws-kms-key-id"] == mode_args["SSEKMSKeyId"]
    else:
        assert not any(n.startswith("x-amz-server-side-encryption") for n in h)


@pytest.mark.parametrize("size", [1, 1000, 200 * 1024 + 3])
@pytest.mark.parametrize("mode", ["sse-s3", "sse-kms", "sse-c"])
def test_round_trip(s3, bucket, mode, size):
    args = MODES[mode]
    data = _data(size, size)
    r = s3.put_object(Bucket=bucket, Key="k", Body=data, **args)
    _check_mode(r, args)
    assert r["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    g = s3.get_object(Bucket=bucket, Key="k", **_read_args(args))
    _check_mode(g, args)
    assert g["Body"].read() == data
    h = s3.head_object(Bucket=bucket, Key="k", **_read_args(args))
    _check_mode(h, args)
    assert h["ContentLength"] == size


def test_kms_without_key_id_uses_default_key(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 100, ServerSideEncryption="aws:kms")
    assert _headers(r)["x-amz-server-side-encryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x" * 100


@pytest.mark.parametrize("size", [100, 100 * 1024])
def test_sse_c_key_required(s3, bucket, size):
    s3.put_object(Bucket=bucket, Key="k", Body=_data(size), SSECustomerAlgorithm="AES256", SSECustomerKey=KEY_A)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert _err(e) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", SSECustomerAlgorithm="AES256", SSECustomerKey=KEY_B)
    assert _err(e)[0] == 400
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert _err(e)[0] == 400
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag", "ObjectSize"])
    assert _err(e)[0] == 400
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag", "ObjectSize"],
                                     **_attr_args(MODES["sse-c"]))
    assert attrs["ObjectSize"] == size
    # SSE-C headers on an object stored without them
    s3.put_object(Bucket=bucket, Key="plain", Body=b"abc")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", SSECustomerAlgorithm="AES256", SSECustomerKey=KEY_A)
    assert _err(e) == (400, "InvalidRequest")


def _raw_put(s3, bucket, key, headers, body=b"data"):
    def add(params, **_):
        params["headers"].update(headers)

    s3.meta.events.register("before-call.s3.PutObject", add)
    try:
        return s3.put_object(Bucket=bucket, Key=key, Body=body)
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", add)


MD5_A = base64.b64encode(hashlib.md5(KEY_A).digest()).decode()
B64_A = base64.b64encode(KEY_A).decode()


@pytest.mark.parametrize("headers", [
    {"x-amz-server-side-encryption": "aes:kms"},
    {"x-amz-server-side-encryption-aws-kms-key-id": "k1"},
    {"x-amz-server-side-encryption": "AES256", "x-amz-server-side-encryption-aws-kms-key-id": "k1"},
    {"x-amz-server-side-encryption": "AES256", "x-amz-server-side-encryption-customer-algorithm": "AES256",
     "x-amz-server-side-encryption-customer-key": B64_A, "x-amz-server-side-encryption-customer-key-md5": MD5_A},
    {"x-amz-server-side-encryption-customer-algorithm": "AES256",
     "x-amz-server-side-encryption-customer-key": B64_A,
     "x-amz-server-side-encryption-customer-key-md5": "AAAAAAAAAAAAAAAAAAAAAA=="},
    {"x-amz-server-side-encryption-customer-algorithm": "AES256",
     "x-amz-server-side-encryption-customer-key": B64_A},
    {"x-amz-server-side-encryption-customer-algorithm": "AES256"},
    {"x-amz-server-side-encryption-customer-key": B64_A, "x-amz-server-side-encryption-customer-key-md5": MD5_A},
    {"x-amz-server-side-encryption-customer-algorithm": "AES256",
     "x-amz-server-side-encryption-customer-key": base64.b64encode(b"short").decode(),
     "x-amz-server-side-encryption-customer-key-md5": base64.b64encode(hashlib.md5(b"short").digest()).decode()},
])
def test_invalid_headers(s3, bucket, headers):
    with pytest.raises(ClientError) as e:
        _raw_put(s3, bucket, "k", headers)
    assert _err(e)[0] == 400
    assert _err(e)[1] in ("InvalidArgument", "InvalidEncryptionAlgorithmError")


def test_read_refuses_sse_headers(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"abc", ServerSideEncryption="AES256")

    def add(params, **_):
        params["headers"]["x-amz-server-side-encryption"] = "AES256"

    s3.meta.events.register("before-call.s3.HeadObject", add)
    try:
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=bucket, Key="k")
        assert _err(e)[0] == 400
    finally:
        s3.meta.events.unregister("before-call.s3.HeadObject", add)


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_data_at_rest_is_not_plaintext(s3, bucket, server):
    marker = f"PAILS-PLAINTEXT-MARKER-{uuid.uuid4().hex}".encode()
    for mode in ("sse-s3", "sse-kms", "sse-c"):
        for size in (1000, 300 * 1024):
            body = (marker + b" ") * (size // (len(marker) + 1))
            s3.put_object(Bucket=bucket, Key=f"{mode}-{size}", Body=body, **MODES[mode])
        uid = s3.create_multipart_upload(Bucket=bucket, Key=f"{mode}-mp", **MODES[mode])["UploadId"]
        r = s3.upload_part(Bucket=bucket, Key=f"{mode}-mp", UploadId=uid, PartNumber=1, Body=marker * 1000,
                           **_read_args(MODES[mode]))
        s3.complete_multipart_upload(Bucket=bucket, Key=f"{mode}-mp", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]},
                                     **_read_args(MODES[mode]))
    for path in _all_files(Path(server.data_dir)):
        assert marker not in path.read_bytes(), f"plaintext found in {path}"
    # the scan does see what is stored in the clear (in a data file: small
    # bodies live in the metadata, which is not in the data directory on PostgreSQL)
    control = f"PAILS-CONTROL-MARKER-{uuid.uuid4().hex}".encode()
    s3.put_object(Bucket=bucket, Key="plain", Body=control * 2000)
    assert any(control in p.read_bytes() for p in _all_files(Path(server.data_dir)))
    # keys: 0600 files under keys/
    keys = list((Path(server.data_dir) / "keys").glob("*.key"))
    assert keys and all(p.stat().st_mode & 0o777 == 0o600 for p in keys)


@pytest.mark.parametrize("mode", ["sse-s3", "sse-c"])
def test_ranged_gets(s3, bucket, mode):
    args = MODES[mode]
    data = _data(300 * 1024 + 7, 3)
    s3.put_object(Bucket=bucket, Key="k", Body=data, **args)
    for first, last in ((0, 0), (1, 16), (15, 17), (17, 100_000), (65_535, 65_537), (len(data) - 5, len(data) - 1)):
        g = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={first}-{last}", **_read_args(args))
        assert g["Body"].read() == data[first:last + 1]
    g = s3.get_object(Bucket=bucket, Key="k", Range="bytes=-33", **_read_args(args))
    assert g["Body"].read() == data[-33:]
    small = _data(1000, 4)
    s3.put_object(Bucket=bucket, Key="small", Body=small, **args)
    g = s3.get_object(Bucket=bucket, Key="small", Range="bytes=10-19", **_read_args(args))
    assert g["Body"].read() == small[10:20]


def _multipart(s3, bucket, key, args, sizes, seed=0):
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **args)
    _check_mode(uid, args)
    parts, blobs = [], []
    for n, size in enumerate(sizes, 1):
        blob = _data(size, seed + n)
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid["UploadId"], PartNumber=n, Body=blob,
                           **_read_args(args))
        _check_mode(r, args)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
        blobs.append(blob)
    return uid["UploadId"], parts, b"".join(blobs)


@pytest.mark.parametrize("mode", ["sse-s3", "sse-kms", "sse-c"])
def test_multipart(s3, bucket, mode):
    args = MODES[mode]
    sizes = [5 * MiB + 1, 5 * MiB, 1000]
    uid, parts, data = _multipart(s3, bucket, "mp", args, sizes)
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert [p["Size"] for p in listed["Parts"]] == sizes
    if mode == "sse-c":
        with pytest.raises(ClientError) as e:  # every part needs the key
            s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=9, Body=b"x")
        assert _err(e)[0] == 400
        with pytest.raises(ClientError) as e:  # and the same key
            s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=9, Body=b"x",
                           SSECustomerAlgorithm="AES256", SSECustomerKey=KEY_B)
        assert _err(e)[0] == 400
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts})
        assert _err(e)[0] == 400
    r = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts},
                                     **_read_args(args))
    _check_mode(r, args)
    g = s3.get_object(Bucket=bucket, Key="mp", **_read_args(args))
    _check_mode(g, args)
    assert g["Body"].read() == data
    boundary = sizes[0]
    for first, last in ((boundary - 10, boundary + 10), (boundary - 1, boundary), (5, 2 * boundary + 3),
                        (len(data) - 1001, len(data) - 1)):
        g = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={first}-{last}", **_read_args(args))
        assert g["Body"].read() == data[first:last + 1]
    g = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2, **_read_args(args))
    assert g["Body"].read() == data[sizes[0]:sizes[0] + sizes[1]]
    attrs = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"],
                                     **_attr_args(args))
    assert attrs["ObjectParts"]["TotalPartsCount"] == 3


@pytest.mark.parametrize("size", [1000, 100 * 1024])
@pytest.mark.parametrize("dst", list(DEST_MODES))
@pytest.mark.parametrize("src", list(MODES))
def test_copy_between_modes(s3, bucket, src, dst, size):
    data = _data(size, 7)
    s3.put_object(Bucket=bucket, Key="src", Body=data, **MODES[src])
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                       **DEST_MODES[dst], **_copy_source_args(MODES[src]))
    _check_mode(r, DEST_MODES[dst])
    g = s3.get_object(Bucket=bucket, Key="dst", **_read_args(DEST_MODES[dst]))
    _check_mode(g, DEST_MODES[dst])
    assert g["Body"].read() == data
    # the source is untouched
    assert s3.get_object(Bucket=bucket, Key="src", **_read_args(MODES[src]))["Body"].read() == data


def test_copy_sse_c_source_needs_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"abc" * 100, **MODES["sse-c"])
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert _err(e)[0] == 400
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                       CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=KEY_B)
    assert _err(e)[0] == 400


def test_copy_multipart_source_reencrypts(s3, bucket):
    uid, parts, data = _multipart(s3, bucket, "mp", MODES["sse-kms"], [5 * MiB, 4321])
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts})
    s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "mp"}, **DEST_MODES["sse-c"])
    g = s3.get_object(Bucket=bucket, Key="c", **_read_args(DEST_MODES["sse-c"]))
    assert g["Body"].read() == data
    s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "mp"},
                   ServerSideEncryption="aws:kms", SSEKMSKeyId="pails-test-key-1")  # same keys: linked
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == data


@pytest.mark.parametrize(("src", "dst"), [("sse-c", "sse-kms"), ("sse-s3", "sse-c"), ("plain", "sse-s3"),
                                          ("sse-kms", "plain")])
def test_upload_part_copy(s3, bucket, src, dst):
    data = _data(6 * MiB + 5, 11)
    s3.put_object(Bucket=bucket, Key="src", Body=data, **MODES[src])
    dargs = DEST_MODES[dst]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst", **dargs)["UploadId"]
    if dst == "sse-c":
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src"}, **_copy_source_args(MODES[src]))
        assert _err(e)[0] == 400
    parts = []
    for n, (first, last) in enumerate(((0, 5 * MiB - 1), (5 * MiB, len(data) - 1)), 1):
        r = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=n,
                                CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes={first}-{last}",
                                **_copy_source_args(MODES[src]), **_read_args(dargs))
        _check_mode(r, dargs)
        assert r["CopyPartResult"]["ETag"] == f'"{hashlib.md5(data[first:last + 1]).hexdigest()}"'
        parts.append({"PartNumber": n, "ETag": r["CopyPartResult"]["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": parts},
                                 **_read_args(dargs))
    g = s3.get_object(Bucket=bucket, Key="dst", **_read_args(dargs))
    _check_mode(g, dargs)
    assert g["Body"].read() == data


def test_bucket_default_encryption(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert _err(e) == (404, "ServerSideEncryptionConfigurationNotFoundError")
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    r = s3.put_object(Bucket=bucket, Key="a", Body=b"x" * 100)
    assert _headers(r)["x-amz-server-side-encryption"] == "AES256"
    big = _data(100 * 1024)
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    g = s3.get_object(Bucket=bucket, Key="big")
    assert _headers(g)["x-amz-server-side-encryption"] == "AES256" and g["Body"].read() == big
    # explicit headers win over the default
    r = s3.put_object(Bucket=bucket, Key="c", Body=b"x", **MODES["sse-c"])
    _check_mode(r, MODES["sse-c"])
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "bucket-key"},
         "BucketKeyEnabled": True}]})
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == "bucket-key"
    assert rule["BucketKeyEnabled"] is True
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"y" * 10)
    h = _headers(r)
    assert h["x-amz-server-side-encryption"] == "aws:kms"
    assert h["x-amz-server-side-encryption-aws-kms-key-id"] == "bucket-key"
    assert h["x-amz-server-side-encryption-bucket-key-enabled"] == "true"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert _headers(uid)["x-amz-server-side-encryption"] == "aws:kms"
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=uid["UploadId"])
    assert s3.delete_bucket_encryption(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert _err(e)[1] == "ServerSideEncryptionConfigurationNotFoundError"
    r = s3.put_object(Bucket=bucket, Key="p", Body=b"z")
    assert "x-amz-server-side-encryption" not in _headers(r)
    # the objects written under the defaults still read back
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"y" * 10


def test_bucket_encryption_malformed(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "x"}}]})
    assert _err(e)[0] == 400


def test_tampered_data_fails_whole_reads(s3, bucket, server):
    size = 200 * 1024 + 12345
    data = _data(size, 99)
    s3.put_object(Bucket=bucket, Key="t", Body=data, ServerSideEncryption="AES256")
    blobs = [p for p in (Path(server.data_dir) / "blobs").rglob("*") if p.is_file() and p.stat().st_size == size]
    path = max(blobs, key=lambda p: p.stat().st_mtime)
    raw = bytearray(path.read_bytes())
    raw[1000] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(Exception):  # noqa: B017 - the connection is cut after the last byte
        s3.get_object(Bucket=bucket, Key="t")["Body"].read()
    # a ranged read does not cover the tag: it decrypts what is there
    g = s3.get_object(Bucket=bucket, Key="t", Range="bytes=0-999")
    assert g["Body"].read() == data[:1000]


def test_appends_refused_for_encrypted_objects(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"abc", ServerSideEncryption="AES256")

    def add(params, **_):
        params["headers"]["x-amz-write-offset-bytes"] = "3"

    s3.meta.events.register("before-call.s3.PutObject", add)
    try:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="a", Body=b"def")
        assert _err(e)[0] == 400
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", add)


def test_versions_keep_their_keys(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"one" * 30000, **MODES["sse-c"])["VersionId"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"two" * 30000, ServerSideEncryption="AES256")
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"two" * 30000
    g = s3.get_object(Bucket=bucket, Key="v", VersionId=v1, **_read_args(MODES["sse-c"]))
    assert g["Body"].read() == b"one" * 30000
    for v in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])


def test_post_object_with_encryption(server, s3, bucket):
    import urllib.request

    post = s3.generate_presigned_post(bucket, "posted", Fields={"x-amz-server-side-encryption": "AES256"},
                                      Conditions=[{"x-amz-server-side-encryption": "AES256"}])
    boundary = uuid.uuid4().hex
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode()
                    for n, v in post["fields"].items())
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n\r\n'
             ).encode() + b"posted body\r\n" + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(post["url"], data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request) as r:
        assert r.status == 204
        assert r.headers["x-amz-server-side-encryption"] == "AES256"
    g = s3.get_object(Bucket=bucket, Key="posted")
    assert _headers(g)["x-amz-server-side-encryption"] == "AES256"
    assert g["Body"].read() == b"posted body"


def test_keys_survive_restart(tmp_path):
    from tests.conftest import client
    from tests.pails_server import Server

    srv = Server(tmp_path / "data").start()
    try:
        c = client(srv)
        c.create_bucket(Bucket="sse-restart")
        for mode in ("sse-s3", "sse-kms"):
            c.put_object(Bucket="sse-restart", Key=mode, Body=_data(70 * 1024, 5), **MODES[mode])
    finally:
        srv.stop()
    srv = Server(tmp_path / "data", meta_url=srv.meta_url).start()
    try:
        c = client(srv)
        for mode in ("sse-s3", "sse-kms"):
            assert c.get_object(Bucket="sse-restart", Key=mode)["Body"].read() == _data(70 * 1024, 5)
    finally:
        srv.stop()
    assert oct(os.stat(tmp_path / "data" / "keys").st_mode & 0o777) == oct(0o700)
