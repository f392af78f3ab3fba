"""Malformed requests the reliability fuzzer and an operator's probes found
answered with a 500 (or Granian's plain-text "Internal server error"): each
must be AWS's 4xx S3 XML error, and change nothing."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.behaviour.test_hostile import assert_s3_error, request
from tests.behaviour.test_post_object import form_body, post, signed_v2

BOGUS = b'<?xml version="1.0" encoding="bogus"?>'


def _md5(body: bytes) -> dict[str, str]:
    return {"content-md5": base64.b64encode(hashlib.md5(body).digest()).decode()}


@pytest.fixture
def keyed(s3, bucket: str) -> Iterator[str]:
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    yield bucket


# --- XML bodies whose declaration names an unknown encoding -----------------------------------------------------

@pytest.mark.parametrize("sub,root,code", [
    ("tagging", "Tagging", "MalformedXML"),
    ("acl", "AccessControlPolicy", "MalformedACLError"),
    ("versioning", "VersioningConfiguration", "MalformedXML"),
    ("encryption", "ServerSideEncryptionConfiguration", "MalformedXML"),
    ("ownershipControls", "OwnershipControls", "MalformedXML"),
    ("publicAccessBlock", "PublicAccessBlockConfiguration", "MalformedXML"),
])
@pytest.mark.parametrize("prolog", [BOGUS, b'<?xml version="1.0" encoding="utf-7"?>',
                                    b'<!DOCTYPE x [<!ENTITY e "e">]>'], ids=["bogus", "utf-7", "doctype"])
def test_bucket_configuration_with_bad_prolog(server, s3, keyed: str, sub: str, root: str, code: str,
                                              prolog: bytes) -> None:
    body = prolog + f"<{root}/>".encode()
    r = request(server, "PUT", f"/{keyed}", [(sub, "")], _md5(body), body)
    assert_s3_error(r, 400, code)


def test_create_bucket_with_unknown_encoding(server, s3) -> None:
    name = f"bogus-{uuid.uuid4().hex[:12]}"
    r = request(server, "PUT", f"/{name}", body=BOGUS + b"<CreateBucketConfiguration/>")
    assert_s3_error(r, 400, "MalformedXML")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


def test_delete_objects_with_unknown_encoding(server, s3, keyed: str) -> None:
    body = BOGUS + b"<Delete><Object><Key>k</Key></Object></Delete>"
    r = request(server, "POST", f"/{keyed}", [("delete", "")], _md5(body), body)
    assert_s3_error(r, 400, "MalformedXML")
    assert s3.head_object(Bucket=keyed, Key="k")["ContentLength"] == 5


@pytest.mark.parametrize("sub,code", [("tagging", "MalformedXML"), ("acl", "MalformedACLError")])
def test_object_configuration_with_unknown_encoding(server, keyed: str, sub: str, code: str) -> None:
    r = request(server, "PUT", f"/{keyed}/k", [(sub, "")], body=BOGUS + b"<Tagging/>")
    assert_s3_error(r, 400, code)


def test_complete_multipart_with_unknown_encoding(server, s3, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"x")
    body = BOGUS + (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{part['ETag']}</ETag></Part>"
                    "</CompleteMultipartUpload>").encode()
    r = request(server, "POST", f"/{bucket}/mp", [("uploadId", upload)], body=body)
    assert_s3_error(r, 400, "MalformedXML")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)


@pytest.mark.parametrize("body", [
    b"<Tagging>" + b"<a>" * 100 + b"</a>" * 100 + b"</Tagging>",  # deep nesting
    "<?xml version='1.0' encoding='utf-16'?><!DOCTYPE t [<!ENTITY a 'a'>]><Tagging>&a;</Tagging>".encode("utf-16"),
    b"<Tagging><TagSet><Tag><Key>\xff</Key><Value>v</Value></Tag></TagSet></Tagging>",  # not UTF-8
    b"<Tagging><TagSet><Tag><Key>k</Key><Value>v",  # truncated
], ids=["deep", "utf16-doctype", "not-utf8", "truncated"])
def test_hostile_tagging_bodies(server, keyed: str, body: bytes) -> None:
    r = request(server, "PUT", f"/{keyed}", [("tagging", "")], _md5(body), body)
    assert_s3_error(r, 400, "MalformedXML")


# --- response header overrides: never a 500, never header injection ---------------------------------------------

OVERRIDES = ["response-content-type", "response-content-language", "response-expires", "response-cache-control",
             "response-content-disposition", "response-content-encoding"]


@pytest.mark.parametrize("param", OVERRIDES)
@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b", "a\x7fb", "x\r\nX-Injected: 1", "\x1b[31m",
                                   "attachment; filename=\u2019.txt"],
                         ids=["cr", "lf", "nul", "del", "crlf-injection", "esc", "not-latin-1"])
def test_response_override_with_unsendable_value(server, keyed: str, param: str, value: str) -> None:
    for method in ("GET", "HEAD"):
        r = request(server, method, f"/{keyed}/k", [(param, value)])
        assert r.header("x-injected") is None
        root = assert_s3_error(r, 400, "InvalidArgument", method=method)
        if root is not None:
            assert root.findtext("ArgumentName") == param


def test_response_override_that_is_sendable_still_works(server, keyed: str) -> None:
    r = request(server, "GET", f"/{keyed}/k", [("response-content-disposition", "attachment; filename=\"\u00e9.txt\""),
                                                ("response-content-type", "text/plain;\tcharset=utf-8")])
    assert r.status == 200 and r.body == b"hello"
    assert r.header("content-type") == "text/plain;\tcharset=utf-8"


# --- POST Object: form fields become stored headers ------------------------------------------------------------

@pytest.fixture
def public_bucket(s3) -> Iterator[str]:
    name = f"post-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name, ACL="public-read-write")
    yield name
    for o in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=o["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("field", ["Content-Type", "x-amz-meta-color", "Cache-Control", "Content-Disposition",
                                   "success_action_redirect"])
def test_post_object_field_with_control_characters(server, s3, public_bucket: str, field: str) -> None:
    value = "http://example.com/\r\nX-Injected: 1" if field == "success_action_redirect" else "a\r\nX-Injected: 1"
    r = post(server, public_bucket, form_body([("key", "posted"), (field, value)]))
    assert r.status == 400 and r.headers.get("x-injected") is None, (r.status, r.body)
    assert re.search(rb"<Code>InvalidArgument</Code>", r.body), r.body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=public_bucket, Key="posted")


# --- JSON nested past Python's recursion limit ------------------------------------------------------------------

def test_bucket_policy_nested_too_deep(server, keyed: str) -> None:
    r = request(server, "PUT", f"/{keyed}", [("policy", "")], body=b"[" * 15_000)
    assert_s3_error(r, 400, "MalformedPolicy")
    r = request(server, "PUT", f"/{keyed}", [("policy", "")], body=b'{"Statement":' * 1_500)
    assert_s3_error(r, 400, "MalformedPolicy")


# --- dates past what a datetime holds ---------------------------------------------------------------------------

HUGE_DATE = "0 NOV 3000000000 0:0 GMT"


@pytest.mark.parametrize("header", ["if-modified-since", "if-unmodified-since"])
def test_conditional_read_with_an_overflowing_date_is_ignored(server, keyed: str, header: str) -> None:
    r = request(server, "GET", f"/{keyed}/k", headers={header: HUGE_DATE})  # AWS ignores a date it cannot read
    assert r.status == 200 and r.body == b"hello"


def test_copy_condition_with_an_overflowing_date_is_ignored(server, keyed: str) -> None:
    r = request(server, "PUT", f"/{keyed}/copied", headers={"x-amz-copy-source": f"/{keyed}/k",
                                                           "x-amz-copy-source-if-unmodified-since": HUGE_DATE})
    assert r.status == 200, r.body


def test_delete_condition_with_an_overflowing_date(server, keyed: str) -> None:
    r = request(server, "DELETE", f"/{keyed}/k", headers={"x-amz-if-match-last-modified-time": HUGE_DATE})
    assert_s3_error(r, 400, "InvalidArgument")


@pytest.mark.parametrize("date", ["Sun, 06 Nov 0000 08:49:37 GMT", "06 Nov 99999 08:49:37 GMT"])
@pytest.mark.parametrize("header", ["date", "x-amz-date"])
def test_sigv2_date_outside_the_calendar(server, keyed: str, header: str, date: str) -> None:
    r = request(server, "GET", f"/{keyed}/k", headers={header: date, "authorization": f"AWS {server.access_key}:c2ln"},
                sign=False)
    assert_s3_error(r, 403, "AccessDenied")


def test_post_policy_expiration_outside_the_calendar(server, s3, bucket: str) -> None:
    fields = [("key", "up/x"), ("Content-Type", "a"),
              *signed_v2(server, bucket, expiration="0000-01-01T00:00:00.000Z")]
    r = post(server, bucket, form_body(fields))
    assert (r.status, r.code()) == (400, "InvalidPolicyDocument"), r.body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="up/x")


# --- checksum values that are not a digest ----------------------------------------------------------------------

@pytest.mark.parametrize("header,value", [("x-amz-checksum-crc32", "!!!"), ("x-amz-checksum-crc32", "AAAAAAAA"),
                                          ("x-amz-checksum-sha256", "AAAA"), ("x-amz-checksum-crc64nvme", "x"),
                                          ("x-amz-checksum-sha1", "")])
def test_malformed_checksum_value(server, s3, bucket: str, header: str, value: str) -> None:
    r = request(server, "PUT", f"/{bucket}/k", headers={header: value}, body=b"x")
    root = assert_s3_error(r, 400, "BadDigest")
    assert root is not None and root.findtext("Message") == f"Value for {header} header is invalid."
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_malformed_trailing_checksum_value(server, s3, bucket: str) -> None:
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:not-base64!\r\n\r\n"
    r = request(server, "PUT", f"/{bucket}/k", headers={"content-encoding": "aws-chunked",
                                                        "x-amz-decoded-content-length": "5",
                                                        "x-amz-trailer": "x-amz-checksum-crc32"},
                body=body, payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert_s3_error(r, 400, "BadDigest")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_post_object_filename_star_with_a_nul_charset(server, s3, public_bucket: str) -> None:
    body = (b'--B\r\nContent-Disposition: form-data; name="key"\r\n\r\nposted\r\n'
            b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename*=\x00''%41\r\n\r\nhello\r\n--B--\r\n")
    r = post(server, public_bucket, body, content_type="multipart/form-data; boundary=B")
    assert (r.status, r.code()) == (400, "MalformedPOSTRequest"), r.body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=public_bucket, Key="posted")


@pytest.mark.parametrize("length", [5 * 1024**3 + 1, 10**14])
def test_put_larger_than_a_put_may_be_is_entity_too_large(server, s3, bucket: str, length: int) -> None:
    """Found by the fuzzer: a Content-Length larger than the disk's free
    space answered 507 InsufficientStorage; AWS refuses any PutObject over
    5 GiB with EntityTooLarge first, before reading the body."""
    r = request(server, "PUT", f"/{bucket}/huge", headers={"content-length": str(length)}, body=b"x" * 10,
                payload_hash="UNSIGNED-PAYLOAD")
    root = assert_s3_error(r, 400, "EntityTooLarge", method="PUT")
    assert root is not None and root.findtext("ProposedSize") == str(length)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="huge")
