"""Object operations through boto3 (default configuration: flexible checksums on)
against a real Pails server."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import zlib

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# --- put / get / head / delete ----------------------------------------------------------------------------------

def test_put_get_head_delete(s3, bucket):
    data = b"hello, pails\n"
    r = s3.put_object(Bucket=bucket, Key="greeting.txt", Body=data)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ETag"] == _md5_etag(data)

    g = s3.get_object(Bucket=bucket, Key="greeting.txt")
    assert g["Body"].read() == data
    assert g["ETag"] == _md5_etag(data)
    assert g["ContentLength"] == len(data)
    assert g["ResponseMetadata"]["HTTPHeaders"]["accept-ranges"] == "bytes"

    h = s3.head_object(Bucket=bucket, Key="greeting.txt")
    assert h["ContentLength"] == len(data)
    assert h["ETag"] == _md5_etag(data)
    assert h["ResponseMetadata"]["HTTPHeaders"]["content-length"] == str(len(data))

    d = s3.delete_object(Bucket=bucket, Key="greeting.txt")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="greeting.txt")
    assert _err(e) == (404, "NoSuchKey")
    assert e.value.response["Error"].get("Key") == "greeting.txt"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="greeting.txt")
    assert _err(e) == (404, "404")


def test_delete_is_idempotent(s3, bucket):
    for _ in range(2):
        r = s3.delete_object(Bucket=bucket, Key="never-existed")
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_overwrite_replaces_body_and_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one", Metadata={"a": "1"}, ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["Body"].read() == b"second"
    assert g["Metadata"] == {}
    assert g["ContentType"] == "binary/octet-stream"


def test_object_in_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="no-such-bucket-pails-x1", Key="k", Body=b"x")
    assert _err(e) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="no-such-bucket-pails-x1", Key="k")
    assert _err(e) == (404, "NoSuchBucket")


def test_rejected_put_does_not_poison_the_connection(s3, bucket):
    """PutObject sends Expect: 100-continue; after an early NoSuchBucket (body never sent) the same pooled
    connection is reused, and the next request must be answered as itself."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"ok")
    for i in range(150):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="no-such-bucket-pails-x2", Key="k", Body=b"x" * (1 + i % 3))
        assert _err(e) == (404, "NoSuchBucket")
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"ok"


def test_zero_byte_object(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert r["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    g = s3.get_object(Bucket=bucket, Key="empty")
    assert g["Body"].read() == b""
    assert g["ContentLength"] == 0
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


def test_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentType"] == "binary/octet-stream"
    assert s3.get_object(Bucket=bucket, Key="k")["ContentType"] == "binary/octet-stream"


def test_standard_headers_round_trip(s3, bucket):
    expires = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    s3.put_object(Bucket=bucket, Key="page.html", Body=b"<html></html>", ContentType="text/html; charset=utf-8",
                  ContentEncoding="identity", ContentDisposition='attachment; filename="p.html"',
                  ContentLanguage="de-CH", CacheControl="max-age=60, public", Expires=expires)
    for r in (s3.get_object(Bucket=bucket, Key="page.html"), s3.head_object(Bucket=bucket, Key="page.html")):
        assert r["ContentType"] == "text/html; charset=utf-8"
        assert r["ContentEncoding"] == "identity"
        assert r["ContentDisposition"] == 'attachment; filename="p.html"'
        assert r["ContentLanguage"] == "de-CH"
        assert r["CacheControl"] == "max-age=60, public"
        assert r["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Thu, 02 Jan 2031 03:04:05 GMT"


def test_user_metadata_round_trip(s3, bucket):
    meta = {"colour": "blue", "with-dash": "a value with spaces", "num": "42"}
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata=meta)
    assert s3.get_object(Bucket=bucket, Key="k")["Metadata"] == meta
    h = s3.head_object(Bucket=bucket, Key="k")
    assert h["Metadata"] == meta
    assert h["ResponseMetadata"]["HTTPHeaders"]["x-amz-meta-colour"] == "blue"


def test_user_metadata_names_are_lowercased(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"MixedCase": "V"})
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"mixedcase": "V"}


def test_metadata_too_large(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"big": "v" * 2100})
    assert _err(e) == (400, "MetadataTooLarge")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")
    # just under the limit is fine
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"big": "v" * 2000})
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"]["big"] == "v" * 2000


# --- Content-MD5, ETag, Last-Modified ---------------------------------------------------------------------------

def test_content_md5_good(s3, bucket):
    data = b"checked body"
    r = s3.put_object(Bucket=bucket, Key="k", Body=data, ContentMD5=_b64(hashlib.md5(data).digest()))
    assert r["ETag"] == _md5_etag(data)


def test_content_md5_mismatch_is_bad_digest(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"checked body", ContentMD5=_b64(hashlib.md5(b"other").digest()))
    assert _err(e) == (400, "BadDigest")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert _err(e) == (404, "404")


@pytest.mark.parametrize("value", ["not-base64!!", _b64(b"short")])
def test_content_md5_malformed_is_invalid_digest(s3, bucket, value):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"checked body", ContentMD5=value)
    assert _err(e) == (400, "InvalidDigest")


def test_last_modified(s3, bucket):
    before = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=2)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    h = s3.head_object(Bucket=bucket, Key="k")
    assert before <= h["LastModified"] <= after
    raw = h["ResponseMetadata"]["HTTPHeaders"]["last-modified"]
    assert raw.endswith(" GMT") and dt.datetime.strptime(raw, "%a, %d %b %Y %H:%M:%S GMT")


# --- ranges -----------------------------------------------------------------------------------------------------

DATA = bytes(range(256)) * 4  # 1024 bytes


@pytest.fixture
def obj(s3, bucket) -> tuple[str, str]:
    s3.put_object(Bucket=bucket, Key="ranged", Body=DATA)
    return bucket, "ranged"


@pytest.mark.parametrize("rng,start,end", [
    ("bytes=0-9", 0, 9),
    ("bytes=100-199", 100, 199),
    ("bytes=1000-5000", 1000, 1023),  # last past the end: clipped
    ("bytes=-10", 1014, 1023),  # suffix
    ("bytes=-5000", 0, 1023),  # suffix longer than object
    ("bytes=1020-", 1020, 1023),  # open-ended
    ("bytes=1023-1023", 1023, 1023),
])
def test_range(s3, obj, rng, start, end):
    r = s3.get_object(Bucket=obj[0], Key=obj[1], Range=rng)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["Body"].read() == DATA[start:end + 1]
    assert r["ContentRange"] == f"bytes {start}-{end}/1024"
    assert r["ContentLength"] == end - start + 1
    assert r["ETag"] == _md5_etag(DATA)


@pytest.mark.parametrize("rng", ["bytes=1024-", "bytes=5000-6000", "bytes=1024-1024"])
def test_range_not_satisfiable(s3, obj, rng):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=obj[0], Key=obj[1], Range=rng)
    assert _err(e) == (416, "InvalidRange")


def test_range_on_empty_object_is_not_satisfiable(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0")
    assert _err(e) == (416, "InvalidRange")


@pytest.mark.parametrize("rng", ["bytes=abc", "bytes=10-5", "items=0-5", "bytes=", "bytes=0-1,5-6"])
def test_malformed_or_multi_range_returns_whole_object(s3, obj, rng):
    r = s3.get_object(Bucket=obj[0], Key=obj[1], Range=rng)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["Body"].read() == DATA
    assert "ContentRange" not in r


def test_head_with_range(s3, obj):
    r = s3.head_object(Bucket=obj[0], Key=obj[1], Range="bytes=0-99")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["ContentLength"] == 100
    assert r["ContentRange"] == "bytes 0-99/1024"


# --- conditional requests ---------------------------------------------------------------------------------------

def test_if_match(s3, obj):
    etag = _md5_etag(DATA)
    assert s3.get_object(Bucket=obj[0], Key=obj[1], IfMatch=etag)["Body"].read() == DATA
    assert s3.get_object(Bucket=obj[0], Key=obj[1], IfMatch="*")["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=obj[0], Key=obj[1], IfMatch='"0123456789abcdef0123456789abcdef"')
    assert _err(e) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=obj[0], Key=obj[1], IfMatch='"0123456789abcdef0123456789abcdef"')
    assert _err(e)[0] == 412


def test_if_none_match(s3, obj):
    etag = _md5_etag(DATA)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=obj[0], Key=obj[1], IfNoneMatch=etag)
    assert _err(e)[0] == 304
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"].get("etag") == etag
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=obj[0], Key=obj[1], IfNoneMatch=etag)
    assert _err(e)[0] == 304
    r = s3.get_object(Bucket=obj[0], Key=obj[1], IfNoneMatch='"0123456789abcdef0123456789abcdef"')
    assert r["Body"].read() == DATA


def test_if_modified_since(s3, obj):
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=obj[0], Key=obj[1], IfModifiedSince=future)
    assert _err(e)[0] == 304
    assert s3.get_object(Bucket=obj[0], Key=obj[1], IfModifiedSince=past)["Body"].read() == DATA


def test_if_unmodified_since(s3, obj):
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=obj[0], Key=obj[1], IfUnmodifiedSince=past)
    assert _err(e) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=obj[0], Key=obj[1], IfUnmodifiedSince=future)["Body"].read() == DATA


def test_if_match_wins_over_if_unmodified_since(s3, obj):
    # RFC 7232 / S3: If-Match true and If-Unmodified-Since false -> 200
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    r = s3.get_object(Bucket=obj[0], Key=obj[1], IfMatch=_md5_etag(DATA), IfUnmodifiedSince=past)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_if_none_match_wins_over_if_modified_since(s3, obj):
    # If-None-Match false and If-Modified-Since true -> 304
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=obj[0], Key=obj[1], IfNoneMatch=_md5_etag(DATA), IfModifiedSince=past)
    assert _err(e)[0] == 304


# --- response-* overrides ---------------------------------------------------------------------------------------

def test_response_header_overrides(s3, obj):
    r = s3.get_object(Bucket=obj[0], Key=obj[1], ResponseContentType="text/x-custom",
                      ResponseContentDisposition="inline; filename=x.bin", ResponseCacheControl="no-store",
                      ResponseContentEncoding="x-enc", ResponseContentLanguage="fr",
                      ResponseExpires=dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=dt.UTC))
    assert r["ContentType"] == "text/x-custom"
    assert r["ContentDisposition"] == "inline; filename=x.bin"
    assert r["CacheControl"] == "no-store"
    assert r["ContentEncoding"] == "x-enc"
    assert r["ContentLanguage"] == "fr"
    assert r["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Mon, 06 May 2030 07:08:09 GMT"
    assert r["Body"].read() == DATA
    # the stored object is unchanged
    assert s3.head_object(Bucket=obj[0], Key=obj[1])["ContentType"] == "binary/octet-stream"


# --- keys -------------------------------------------------------------------------------------------------------

AWKWARD_KEYS = [
    "a b c.txt",
    "plus+sign",
    "percent%20literal%",
    "dir//double//slash",
    "trailing/",
    "../dot-dot/../x",
    "./dot/./y",
    "unicode/ünïcödé/日本語/😀",
    "tilde~and*star'quote\"(paren)",
    "amp&eq=semi;colon:at@hash#q?",
    "<xml>&amp;</xml>",
    "tab\there",
    " leading-and-trailing-space ",
    "x" * 1024,
]


@pytest.mark.parametrize("key", AWKWARD_KEYS, ids=range(len(AWKWARD_KEYS)))
def test_awkward_keys_round_trip(s3, bucket, key):
    body = key.encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [key]
    assert s3.delete_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_1024_byte_multibyte_key_ok_and_1025_too_long(s3, bucket):
    key = "é" * 512  # 1024 bytes
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="x" + key, Body=b"x")
    assert _err(e) == (400, "KeyTooLongError")


def test_1025_byte_key_too_long(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert _err(e) == (400, "KeyTooLongError")


# --- flexible checksums -----------------------------------------------------------------------------------------

def _crc64nvme(data: bytes) -> bytes:
    from awscrt import checksums

    return checksums.crc64nvme(data).to_bytes(8, "big")


def _crc32c(data: bytes) -> bytes:
    from awscrt import checksums

    return checksums.crc32c(data).to_bytes(4, "big")


CHECKSUMS = {
    "CRC32": lambda d: zlib.crc32(d).to_bytes(4, "big"),
    "CRC32C": _crc32c,
    "SHA1": lambda d: hashlib.sha1(d).digest(),
    "SHA256": lambda d: hashlib.sha256(d).digest(),
    "CRC64NVME": _crc64nvme,
}


@pytest.mark.parametrize("algorithm", sorted(CHECKSUMS))
def test_flexible_checksum_put_and_get(server, s3, bucket, algorithm):
    data = os.urandom(3000) + b"checksummed"
    expected = _b64(CHECKSUMS[algorithm](data))
    r = s3.put_object(Bucket=bucket, Key="c", Body=data, ChecksumAlgorithm=algorithm)
    assert r[f"Checksum{algorithm}"] == expected
    g = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert g["Body"].read() == data  # botocore validates the returned checksum while reading
    assert g[f"Checksum{algorithm}"] == expected
    h = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert h[f"Checksum{algorithm}"] == expected
    # a ranged GET carries no whole-object checksum
    rg = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED", Range="bytes=0-9")
    assert rg["Body"].read() == data[:10]
    assert f"Checksum{algorithm}" not in rg
    # without ChecksumMode (boto3 >= 1.36 sets it by default unless told not to), no checksum header
    plain = client(server, response_checksum_validation="when_required")
    assert f"Checksum{algorithm}" not in plain.get_object(Bucket=bucket, Key="c")


def test_default_put_sends_and_stores_crc32(s3, bucket):
    data = b"default checksum"
    r = s3.put_object(Bucket=bucket, Key="c", Body=data)
    assert r.get("ChecksumCRC32") == _b64(CHECKSUMS["CRC32"](data))
    g = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert g["ChecksumCRC32"] == _b64(CHECKSUMS["CRC32"](data))


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256"])
def test_wrong_checksum_rejected(s3, bucket, algorithm):
    wrong = _b64(CHECKSUMS[algorithm](b"something else"))
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="c", Body=b"the real body", **{f"Checksum{algorithm}": wrong})
    status, code = _err(e)
    assert status == 400
    assert code == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c")
    assert _err(e)[0] == 404


def test_malformed_checksum_value_rejected(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="c", Body=b"body", ChecksumCRC32="!!notbase64")
    assert _err(e)[0] == 400


# --- large bodies and s3transfer --------------------------------------------------------------------------------

def test_large_object_round_trip(s3, bucket):
    data = os.urandom(20 * 1024 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    r = s3.put_object(Bucket=bucket, Key="big", Body=data)
    assert r["ETag"] == _md5_etag(data)
    g = s3.get_object(Bucket=bucket, Key="big")
    got = hashlib.sha256()
    n = 0
    for chunk in g["Body"].iter_chunks(1 << 20):
        got.update(chunk)
        n += len(chunk)
    assert n == len(data)
    assert got.hexdigest() == digest
    r = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={15 * 1024 * 1024}-{15 * 1024 * 1024 + 99}")
    assert r["Body"].read() == data[15 * 1024 * 1024:15 * 1024 * 1024 + 100]


def test_upload_and_download_fileobj(s3, bucket):
    data = os.urandom(3 * 1024 * 1024 + 17)
    s3.upload_fileobj(io.BytesIO(data), bucket, "transfer/file.bin", ExtraArgs={"ContentType": "application/x-test"})
    out = io.BytesIO()
    s3.download_fileobj(bucket, "transfer/file.bin", out)
    assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(data).digest()
    assert s3.head_object(Bucket=bucket, Key="transfer/file.bin")["ContentType"] == "application/x-test"


def test_upload_and_download_file(s3, bucket, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(1024 * 1024))
    s3.upload_file(str(src), bucket, "f.bin")
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "f.bin", str(dst))
    assert dst.read_bytes() == src.read_bytes()


# --- permissions ------------------------------------------------------------------------------------------------

def test_other_user_cannot_read_or_write_private_bucket(s3, alt_s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    with pytest.raises(ClientError) as e:
        alt_s3.get_object(Bucket=bucket, Key="k")
    assert _err(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        alt_s3.put_object(Bucket=bucket, Key="k2", Body=b"x")
    assert _err(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        alt_s3.delete_object(Bucket=bucket, Key="k")
    assert _err(e) == (403, "AccessDenied")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"


def test_public_read_object_is_readable_by_others(s3, alt_s3, bucket):
    s3.put_object(Bucket=bucket, Key="pub", Body=b"public", ACL="public-read")
    assert alt_s3.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"public"
