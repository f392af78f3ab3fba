"""PostObject: browser-based uploads with multipart/form-data forms, built as a
browser builds them and sent over http.client; SigV2 and SigV4 policies,
anonymous forms, every condition type, success statuses, redirects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

BOUNDARY = "----WebKitFormBoundaryPails0123456789"


class Resp:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def code(self) -> str | None:
        return ET.fromstring(self.body).findtext("Code") if self.body else None


def form_body(fields: list[tuple[str, str]], file: tuple[str, bytes] | None = ("hello.txt", b"hello"),
              after: list[tuple[str, str]] | None = None) -> bytes:
    out = []
    for name, value in fields:
        out.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                   + value.encode() + b"\r\n")
    if file is not None:
        out.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{file[0]}"\r\n'
                   f"Content-Type: application/octet-stream\r\n\r\n".encode() + file[1] + b"\r\n")
    for name, value in after or []:
        out.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    out.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(out)


def post(server, bucket: str, body: bytes | Iterator[bytes], length: int | None = None,
         content_type: str = f"multipart/form-data; boundary={BOUNDARY}") -> Resp:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.putrequest("POST", f"/{bucket}", skip_accept_encoding=True)
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(len(body) if isinstance(body, bytes) else length))
        conn.putheader("Origin", "http://example.com")
        conn.endheaders()
        for piece in [body] if isinstance(body, bytes) else body:
            conn.send(piece)
        resp = conn.getresponse()
        return Resp(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def expiration(seconds: int = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def v2_fields(server, policy_doc: dict, access_key: str | None = None, secret: str | None = None
              ) -> list[tuple[str, str]]:
    policy = base64.b64encode(json.dumps(policy_doc).encode()).decode()
    sig = base64.b64encode(hmac.new((secret or server.secret_key).encode(), policy.encode(),
                                    hashlib.sha1).digest()).decode()
    return [("AWSAccessKeyId", access_key or server.access_key), ("policy", policy), ("signature", sig)]


def v4_fields(server, conditions: list, *, secret: str | None = None) -> list[tuple[str, str]]:
    now = datetime.now(UTC)
    day, amz_date = now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{server.access_key}/{day}/us-east-1/s3/aws4_request"
    doc = {"expiration": expiration(), "conditions": [*conditions, {"x-amz-credential": credential},
                                                      {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                                                      {"x-amz-date": amz_date}]}
    policy = base64.b64encode(json.dumps(doc).encode()).decode()
    key = f"AWS4{secret or server.secret_key}".encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
    return [("x-amz-credential", credential), ("x-amz-algorithm", "AWS4-HMAC-SHA256"), ("x-amz-date", amz_date),
            ("policy", policy), ("x-amz-signature", sig)]


def basic_conditions(bucket: str) -> list:
    return [{"bucket": bucket}, ["starts-with", "$key", "up/"], ["starts-with", "$Content-Type", ""]]


def signed_v2(server, bucket: str, extra_conditions: list | None = None, **doc_overrides) -> list[tuple[str, str]]:
    doc = {"expiration": expiration(), "conditions": basic_conditions(bucket) + (extra_conditions or [])}
    doc.update(doc_overrides)
    return v2_fields(server, doc)


@pytest.fixture
def public_bucket(s3) -> Iterator[str]:
    name = f"post-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name, ACL="public-read-write")
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for o in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=o["Key"])
    s3.delete_bucket(Bucket=name)


# --- anonymous ------------------------------------------------------------------------------------------------------


def test_anonymous_form_to_public_bucket(server, s3, public_bucket: str) -> None:
    body = form_body([("key", "anon.txt"), ("acl", "public-read"), ("Content-Type", "text/plain")],
                     ("a.txt", b"anonymous data"))
    r = post(server, public_bucket, body)
    assert r.status == 204, r.body
    assert r.headers["ETag"] == f'"{hashlib.md5(b"anonymous data").hexdigest()}"'
    got = s3.get_object(Bucket=public_bucket, Key="anon.txt")
    assert got["Body"].read() == b"anonymous data"
    assert got["ContentType"] == "text/plain"


def test_anonymous_form_to_private_bucket_is_denied(server, s3, bucket: str) -> None:
    r = post(server, bucket, form_body([("key", "anon.txt")]))
    assert (r.status, r.code()) == (403, "AccessDenied")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="anon.txt")


# --- signed forms ---------------------------------------------------------------------------------------------------


def test_sigv2_form_with_metadata_round_trip(server, s3, bucket: str) -> None:
    extra = [["starts-with", "$x-amz-meta-color", ""], {"cache-control": "max-age=60"},
             ["eq", "$Content-Disposition", "attachment"], {"x-amz-storage-class": "STANDARD_IA"},
             {"acl": "private"}]
    fields = [("key", "up/meta.bin"), ("acl", "private"), ("Content-Type", "image/png"),
              ("Cache-Control", "max-age=60"), ("Content-Disposition", "attachment"),
              ("x-amz-meta-color", "blue"), ("x-amz-storage-class", "STANDARD_IA"),
              ("x-ignore-submit", "Upload"), *signed_v2(server, bucket, extra)]
    r = post(server, bucket, form_body(fields, ("photo.png", b"\x89PNG...")))
    assert r.status == 204, r.body
    head = s3.head_object(Bucket=bucket, Key="up/meta.bin")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == "attachment"
    assert head["Metadata"] == {"color": "blue"}
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ETag"] == r.headers["ETag"]


def test_sigv4_form(server, s3, bucket: str) -> None:
    fields = [("key", "up/v4.txt"), ("Content-Type", "text/plain"), *v4_fields(server, basic_conditions(bucket))]
    r = post(server, bucket, form_body(fields, ("v4.txt", b"signed with v4")))
    assert r.status == 204, r.body
    assert s3.get_object(Bucket=bucket, Key="up/v4.txt")["Body"].read() == b"signed with v4"


def test_bad_signatures(server, bucket: str) -> None:
    v2 = dict(signed_v2(server, bucket))
    bad_v2 = [("key", "up/x"), ("Content-Type", "a"), ("AWSAccessKeyId", server.access_key),
              ("policy", v2["policy"]), ("signature", v2["signature"][::-1])]
    r = post(server, bucket, form_body(bad_v2))
    assert (r.status, r.code()) == (403, "SignatureDoesNotMatch")
    unknown = [*bad_v2[:2], ("AWSAccessKeyId", "NOSUCHKEY"), *bad_v2[3:]]
    r = post(server, bucket, form_body(unknown))
    assert (r.status, r.code()) == (403, "InvalidAccessKeyId")
    v4 = v4_fields(server, basic_conditions(bucket), secret="not-the-secret")
    r = post(server, bucket, form_body([("key", "up/x"), ("Content-Type", "a"), *v4]))
    assert (r.status, r.code()) == (403, "SignatureDoesNotMatch")
    no_signature = [("key", "up/x"), ("AWSAccessKeyId", server.access_key), ("policy", v2["policy"])]
    r = post(server, bucket, form_body(no_signature))
    assert (r.status, r.code()) == (400, "InvalidArgument")


def test_signed_by_a_user_without_write_access(server, bucket: str, alt_user: dict[str, str]) -> None:
    doc = {"expiration": expiration(), "conditions": basic_conditions(bucket)}
    fields = [("key", "up/x"), ("Content-Type", "a"),
              *v2_fields(server, doc, alt_user["access_key"], alt_user["secret_key"])]
    r = post(server, bucket, form_body(fields))
    assert (r.status, r.code()) == (403, "AccessDenied")


# --- conditions -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra_conditions, extra_fields, ok", [
    ([{"acl": "public-read"}], [("acl", "public-read")], True),
    ([{"acl": "public-read"}], [("acl", "private")], False),
    ([["eq", "$x-amz-meta-a", "1"]], [("x-amz-meta-a", "1")], True),
    ([["eq", "$x-amz-meta-a", "1"]], [("x-amz-meta-a", "12")], False),
    ([["starts-with", "$x-amz-meta-a", "ab"]], [("x-amz-meta-a", "abc")], True),
    ([["starts-with", "$x-amz-meta-a", "ab"]], [("x-amz-meta-a", "ba")], False),
    ([["starts-with", "$x-amz-meta-a", "ab"]], [], False),  # a condition on a field the form lacks
    ([["starts-with", "$x-amz-meta-a", ""]], [("x-amz-meta-a", "anything")], True),
    ([], [("x-amz-meta-a", "uncovered")], False),  # extra input field
    ([], [("x-ignore-anything", "x")], True),
    ([["content-length-range", 0, 5]], [], True),  # hello = 5 bytes
])
def test_conditions(server, s3, bucket: str, extra_conditions: list, extra_fields: list, ok: bool) -> None:
    fields = [("key", "up/c.txt"), ("Content-Type", "text/plain"), *extra_fields,
              *signed_v2(server, bucket, extra_conditions)]
    r = post(server, bucket, form_body(fields))
    if ok:
        assert r.status == 204, r.body
    else:
        assert (r.status, r.code()) == (403, "AccessDenied"), r.body
        assert b"Invalid according to Policy" in r.body


def test_wrong_bucket_and_key_prefix(server, s3, bucket: str, public_bucket: str) -> None:
    fields = [("key", "up/x"), ("Content-Type", "a"), *signed_v2(server, bucket)]
    r = post(server, public_bucket, form_body(fields))
    assert (r.status, r.code()) == (403, "AccessDenied")
    fields = [("key", "down/x"), ("Content-Type", "a"), *signed_v2(server, bucket)]
    assert post(server, bucket, form_body(fields)).status == 403


@pytest.mark.parametrize("low, high, size, code", [
    (0, 0, 3, "EntityTooLarge"),
    (10, 100, 5, "EntityTooSmall"),
    (0, 1000, 200_000, "EntityTooLarge"),  # refused while streaming, past the inline limit
])
def test_content_length_range(server, s3, bucket: str, low: int, high: int, size: int, code: str) -> None:
    fields = [("key", "up/size"), ("Content-Type", "a"),
              *signed_v2(server, bucket, [["content-length-range", low, high]])]
    r = post(server, bucket, form_body(fields, ("f", b"x" * size)))
    assert (r.status, r.code()) == (400, code), r.body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="up/size")


def test_expired_policy(server, bucket: str) -> None:
    fields = [("key", "up/x"), ("Content-Type", "a"), *signed_v2(server, bucket, expiration=expiration(-60))]
    r = post(server, bucket, form_body(fields))
    assert (r.status, r.code()) == (403, "AccessDenied")
    assert b"Policy expired" in r.body


@pytest.mark.parametrize("doc", [
    {"conditions": []},
    {"expiration": "2030-01-01 00:00:00", "conditions": []},
    {"expiration": "2030-01-01T00:00:00Z"},
    {"expiration": "2030-01-01T00:00:00Z", "conditions": [{}]},
    {"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 10]]},
])
def test_malformed_policy(server, bucket: str, doc: dict) -> None:
    fields = [("key", "up/x"), *v2_fields(server, doc)]
    r = post(server, bucket, form_body(fields))
    assert (r.status, r.code()) == (400, "InvalidPolicyDocument")


# --- responses ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status_field, expected", [("200", 200), ("201", 201), ("204", 204), ("404", 204),
                                                    (None, 204)])
def test_success_action_status(server, public_bucket: str, status_field: str | None, expected: int) -> None:
    fields = [("key", "st/obj.txt")]
    if status_field is not None:
        fields.append(("success_action_status", status_field))
    r = post(server, public_bucket, form_body(fields, ("f", b"data")))
    assert r.status == expected, r.body
    assert r.headers["ETag"] == f'"{hashlib.md5(b"data").hexdigest()}"'
    if expected == 201:
        root = ET.fromstring(r.body)
        assert root.tag == "PostResponse"
        assert root.findtext("Bucket") == public_bucket
        assert root.findtext("Key") == "st/obj.txt"
        assert root.findtext("ETag") == r.headers["ETag"]
        assert root.findtext("Location") == f"{server.endpoint}/{public_bucket}/st/obj.txt"
    else:
        assert r.body == b""


@pytest.mark.parametrize("field", ["success_action_redirect", "redirect"])
def test_redirect(server, public_bucket: str, field: str) -> None:
    target = "http://example.com/done?x=1"
    r = post(server, public_bucket, form_body([("key", "a b/r.txt"), (field, target)], ("f", b"r")))
    assert r.status == 303, r.body
    loc = urlsplit(r.headers["Location"])
    assert (loc.scheme, loc.netloc, loc.path) == ("http", "example.com", "/done")
    q = parse_qs(loc.query)
    assert q == {"x": ["1"], "bucket": [public_bucket], "key": ["a b/r.txt"],
                 "etag": [f'"{hashlib.md5(b"r").hexdigest()}"']}


def test_key_from_filename(server, s3, bucket: str) -> None:
    fields = [("key", "up/${filename}"), ("Content-Type", "a"), *signed_v2(server, bucket)]
    r = post(server, bucket, form_body(fields, ("C:\\Users\\me\\cat.jpg", b"meow")))
    assert r.status == 204, r.body
    assert s3.get_object(Bucket=bucket, Key="up/cat.jpg")["Body"].read() == b"meow"


def test_fields_after_the_file_are_ignored(server, s3, public_bucket: str) -> None:
    body = form_body([("key", "after.txt")], ("f", b"x"), after=[("key", "other"), ("x-amz-meta-late", "1")])
    assert post(server, public_bucket, body).status == 204
    head = s3.head_object(Bucket=public_bucket, Key="after.txt")
    assert head["Metadata"] == {}


def test_large_file_streams(server, s3, bucket: str) -> None:
    size = 20 * 1024 * 1024
    fields = [("key", "up/big.bin"), ("Content-Type", "application/octet-stream"),
              *signed_v2(server, bucket, [["content-length-range", size, size]])]
    whole = form_body(fields, ("big.bin", b"@"))
    head, tail = whole.split(b"\r\n\r\n@\r\n", 1)
    head += b"\r\n\r\n"
    tail = b"\r\n" + tail
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)

    def pieces() -> Iterator[bytes]:
        yield head
        for i in range(size // len(block)):
            chunk = block[i:] + block[:i]
            digest.update(chunk)
            yield chunk
        yield tail

    r = post(server, bucket, pieces(), len(head) + size + len(tail))
    assert r.status == 204, r.body
    got = s3.get_object(Bucket=bucket, Key="up/big.bin")
    assert got["ContentLength"] == size
    check = hashlib.sha256()
    for chunk in got["Body"].iter_chunks(1024 * 1024):
        check.update(chunk)
    assert check.hexdigest() == digest.hexdigest()


def test_checksum_field(server, s3, public_bucket: str) -> None:
    good = base64.b64encode(hashlib.sha256(b"sum").digest()).decode()
    r = post(server, public_bucket, form_body([("key", "ck"), ("x-amz-checksum-sha256", good)], ("f", b"sum")))
    assert r.status == 204, r.body
    r = post(server, public_bucket, form_body([("key", "ck2"), ("x-amz-checksum-sha256", good)], ("f", b"bad")))
    assert r.status == 400


# --- malformed requests ---------------------------------------------------------------------------------------------


def test_request_errors(server, s3, public_bucket: str) -> None:
    r = post(server, public_bucket, form_body([("key", "k")], file=None))
    assert (r.status, r.code()) == (400, "IncorrectNumberOfFilesInPostRequest")
    r = post(server, public_bucket, form_body([("acl", "private")]))
    assert (r.status, r.code()) == (400, "InvalidArgument")
    assert ET.fromstring(r.body).findtext("ArgumentName") == "key"
    r = post(server, f"nosuch-{uuid.uuid4().hex[:12]}", form_body([("key", "k")]))
    assert (r.status, r.code()) == (404, "NoSuchBucket")
    r = post(server, public_bucket, b"key=k", content_type="application/x-www-form-urlencoded")
    assert (r.status, r.code()) == (412, "PreconditionFailed")
    r = post(server, public_bucket, form_body([("key", "k"), ("x-amz-meta-big", "x" * 25_000)]))
    assert (r.status, r.code()) == (400, "MaxPostPreDataLengthExceeded")
    r = post(server, public_bucket, form_body([("key", "k")])[:-30])
    assert (r.status, r.code()) == (400, "MalformedPOSTRequest")
    r = post(server, public_bucket, b"--" + BOUNDARY.encode() + b"\r\nbroken\r\n\r\n")
    assert (r.status, r.code()) == (400, "MalformedPOSTRequest")
    r = post(server, public_bucket, form_body([("key", "k"), ("acl", "bogus-acl")]))
    assert (r.status, r.code()) == (400, "InvalidArgument")
    # still serving, nothing stored
    assert "Contents" not in s3.list_objects_v2(Bucket=public_bucket)


def test_keep_alive_after_post(server, public_bucket: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for i in range(4):
            fields = [("key", f"ka{i}")] if i != 1 else [("acl", "bogus")]  # a refused form keeps it too
            body = form_body(fields, ("f", b"x"), after=[("x-ignore-a", "y" * 1000)])
            conn.request("POST", f"/{public_bucket}", body, {"Content-Type": f"multipart/form-data; "
                                                             f"boundary={BOUNDARY}"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == (400 if i == 1 else 204)
            assert resp.headers.get("Connection", "").lower() != "close"
    finally:
        conn.close()
