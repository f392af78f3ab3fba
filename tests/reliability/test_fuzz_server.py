"""Socket-level fuzzing of a running server (docs/reliability.md).

Valid S3 requests (about thirty operations, signed with SigV4 header,
SigV4 presigned, SigV2 or not at all; plain, aws-chunked with chunk
signatures and with trailers) are mutated by a seeded random generator:
method, path, query parameters and sub-resources, header values and extra
hostile headers, body bytes; most are re-signed after the mutation so they
get past authentication into the handlers, some keep a stale signature.
Some are sent cut short and the connection closed; some have their bytes
mangled as a whole (request line and headers), for the HTTP server's parser.

Every answer must be a well-formed HTTP response whose status is not 5xx
(501 NotImplemented is AWS's answer for what Pails lacks), every error an S3
XML <Error> with a Code and the response's RequestId, and requests Granian
refuses before Pails sees them (a malformed request line or header) its bare
400 with no body.  Afterwards the server still answers a normal request and
its log holds no traceback.  Quick mode sends ~1,500 requests; full mode
(PAILS_RELIABILITY=full) 100,000.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import socket
import time
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.conftest import client
from tests.pails_server import Server
from tests.reliability import FULL
from tests.reliability.fuzzing import TOKENS, mutate, mutate_text
from tests.reliability.report import record
from tests.reliability.wire import (
    STREAMING_SIGNED,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED,
    Malformed,
    Reply,
    Request,
    chunked_signed,
    chunked_unsigned,
    exchange,
    presign_v4,
    serialize,
    sign_v2,
    sign_v4,
)

SEED = 20240613
REQUESTS = 100_000 if FULL else 1_500
EPOCH = 250  # requests per fresh bucket (a fuzzed policy or ACL may lock the old one)
TIMEOUT = 30.0


@dataclass
class Ctx:
    bucket: str
    upload: str
    part_etag: str
    secret: str
    access_key: str


# --- valid requests: (request, payload mode) ------------------------------------------------------------------------

Template = Callable[[Ctx, random.Random], tuple[Request, str]]
TEMPLATES: list[Template] = []


def template(fn: Template) -> Template:
    TEMPLATES.append(fn)
    return fn


def _xml(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' \
           f"{inner}</{root}>".encode()


def _md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


@template
def list_buckets(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("GET", "/", [("max-buckets", "10"), ("prefix", "f")] if r.random() < 0.5 else []), UNSIGNED


@template
def list_objects(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("GET", f"/{c.bucket}", [("prefix", "k"), ("delimiter", "/"), ("max-keys", "5"),
                                            ("marker", "a"), ("encoding-type", "url")]), UNSIGNED


@template
def list_objects_v2(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("GET", f"/{c.bucket}", [("list-type", "2"), ("start-after", "a"), ("fetch-owner", "true"),
                                            ("continuation-token", "a2V5"), ("max-keys", "2")]), UNSIGNED


@template
def list_versions(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("GET", f"/{c.bucket}", [("versions", ""), ("key-marker", "k"), ("version-id-marker", "null"),
                                            ("max-keys", "3")]), UNSIGNED


@template
def list_uploads(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("GET", f"/{c.bucket}", [("uploads", ""), ("key-marker", "a"), ("upload-id-marker", c.upload),
                                            ("max-uploads", "2")]), UNSIGNED


@template
def get_object(c: Ctx, r: random.Random) -> tuple[Request, str]:
    key = r.choice(["k", "big", "dir/sub key+é"])
    return Request("GET", f"/{c.bucket}/{key}", [("response-content-type", "text/plain"),
                                                  ("response-content-disposition", "attachment")],
                   {"range": "bytes=1-100", "if-modified-since": "Sun, 06 Nov 1994 08:49:37 GMT",
                    "x-amz-checksum-mode": "ENABLED"}), UNSIGNED


@template
def head_object(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("HEAD", f"/{c.bucket}/k", [("versionId", "null")] if r.random() < 0.3 else [],
                   {"if-none-match": '"abc"', "if-unmodified-since": "Sun, 06 Nov 2094 08:49:37 GMT"}), UNSIGNED


@template
def get_part(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("GET", f"/{c.bucket}/big", [("partNumber", "1")]), UNSIGNED


@template
def put_object(c: Ctx, r: random.Random) -> tuple[Request, str]:
    body = r.randbytes(r.choice([0, 10, 1000, 70_000]))
    req = Request("PUT", f"/{c.bucket}/new-{r.randrange(20)}", [], {
        "content-type": "text/plain", "x-amz-meta-color": "blue", "x-amz-tagging": "a=1&b=2",
        "x-amz-storage-class": "STANDARD", "content-md5": _md5(body), "cache-control": "max-age=1",
        "x-amz-acl": "private", "x-amz-checksum-crc32": base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode(),
    }, body)
    return req, r.choice([UNSIGNED, hashlib.sha256(body).hexdigest()])


@template
def put_chunked_signed(c: Ctx, r: random.Random) -> tuple[Request, str]:
    payload = r.randbytes(r.choice([1, 9000, 20000]))
    return Request("PUT", f"/{c.bucket}/chunked", [], {
        "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(payload))}, payload), \
        STREAMING_SIGNED


@template
def put_chunked_trailer(c: Ctx, r: random.Random) -> tuple[Request, str]:
    payload = r.randbytes(r.choice([1, 9000]))
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    return Request("PUT", f"/{c.bucket}/trailer", [], {
        "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(payload)),
        "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm": "CRC32"},
        chunked_unsigned(payload, f"x-amz-checksum-crc32:{crc}")), STREAMING_UNSIGNED_TRAILER


@template
def copy_object(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("PUT", f"/{c.bucket}/copy", [], {
        "x-amz-copy-source": f"/{c.bucket}/k", "x-amz-metadata-directive": "REPLACE",
        "x-amz-tagging-directive": "COPY", "x-amz-copy-source-if-match": "*",
        "x-amz-copy-source-if-modified-since": "Sun, 06 Nov 1994 08:49:37 GMT", "content-type": "a/b"}), UNSIGNED


@template
def upload_part(c: Ctx, r: random.Random) -> tuple[Request, str]:
    body = r.randbytes(100)
    return Request("PUT", f"/{c.bucket}/mp", [("partNumber", "2"), ("uploadId", c.upload)],
                   {"content-md5": _md5(body)}, body), UNSIGNED


@template
def upload_part_copy(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("PUT", f"/{c.bucket}/mp", [("partNumber", "3"), ("uploadId", c.upload)], {
        "x-amz-copy-source": f"{c.bucket}/big", "x-amz-copy-source-range": "bytes=0-99"}), UNSIGNED


@template
def complete_upload(c: Ctx, r: random.Random) -> tuple[Request, str]:
    body = _xml("CompleteMultipartUpload", f"<Part><PartNumber>1</PartNumber><ETag>{c.part_etag}</ETag></Part>")
    return Request("POST", f"/{c.bucket}/mp", [("uploadId", c.upload)], {}, body), UNSIGNED


@template
def create_upload(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("POST", f"/{c.bucket}/mp2", [("uploads", "")], {
        "x-amz-checksum-algorithm": "SHA256", "content-type": "x/y", "x-amz-meta-a": "b"}), UNSIGNED


@template
def list_parts(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("GET", f"/{c.bucket}/mp", [("uploadId", c.upload), ("max-parts", "2"),
                                               ("part-number-marker", "0")]), UNSIGNED


@template
def abort_upload(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("DELETE", f"/{c.bucket}/mp", [("uploadId", c.upload)]), UNSIGNED


@template
def delete_objects(c: Ctx, r: random.Random) -> tuple[Request, str]:
    body = _xml("Delete", "<Quiet>false</Quiet><Object><Key>new-1</Key></Object>"
                          "<Object><Key>nope</Key><VersionId>null</VersionId></Object>")
    return Request("POST", f"/{c.bucket}", [("delete", "")], {"content-md5": _md5(body)}, body), UNSIGNED


@template
def put_tagging(c: Ctx, r: random.Random) -> tuple[Request, str]:
    body = _xml("Tagging", "<TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet>")
    path = f"/{c.bucket}" if r.random() < 0.5 else f"/{c.bucket}/k"
    return Request("PUT", path, [("tagging", "")], {"content-md5": _md5(body)}, body), UNSIGNED


@template
def get_subresource(c: Ctx, r: random.Random) -> tuple[Request, str]:
    sub = r.choice(["acl", "tagging", "versioning", "policy", "location", "encryption", "ownershipControls",
                    "publicAccessBlock", "policyStatus", "cors", "lifecycle", "uploads"])
    return Request(r.choice(["GET", "DELETE"]) if sub != "location" else "GET", f"/{c.bucket}", [(sub, "")]), UNSIGNED


@template
def put_acl(c: Ctx, r: random.Random) -> tuple[Request, str]:
    if r.random() < 0.5:
        return Request("PUT", f"/{c.bucket}/k", [("acl", "")], {"x-amz-acl": "public-read",
                                                                  "x-amz-grant-read": 'uri="x"'}), UNSIGNED
    body = _xml("AccessControlPolicy", "<Owner><ID>OWNER</ID></Owner><AccessControlList><Grant>"
                "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\">"
                "<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee>"
                "<Permission>READ</Permission></Grant></AccessControlList>")
    return Request("PUT", f"/{c.bucket}", [("acl", "")], {}, body), UNSIGNED


@template
def put_bucket_config(c: Ctx, r: random.Random) -> tuple[Request, str]:
    sub, body = r.choice([
        ("versioning", _xml("VersioningConfiguration", "<Status>Enabled</Status>")),
        ("encryption", _xml("ServerSideEncryptionConfiguration", "<Rule><ApplyServerSideEncryptionByDefault>"
                            "<SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>")),
        ("ownershipControls", _xml("OwnershipControls", "<Rule><ObjectOwnership>BucketOwnerPreferred"
                                   "</ObjectOwnership></Rule>")),
        ("publicAccessBlock", _xml("PublicAccessBlockConfiguration", "<BlockPublicAcls>false</BlockPublicAcls>")),
        ("policy", json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{c.bucket}/*",
            "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}]}).encode()),
    ])
    return Request("PUT", f"/{c.bucket}", [(sub, "")], {"content-md5": _md5(body)}, body), UNSIGNED


@template
def create_bucket(c: Ctx, r: random.Random) -> tuple[Request, str]:
    body = _xml("CreateBucketConfiguration", "<LocationConstraint>us-east-1</LocationConstraint>") \
        if r.random() < 0.5 else b""
    return Request("PUT", f"/fz-{r.randrange(10**6)}", [], {"x-amz-acl": "private",
                                                             "x-amz-object-ownership": "ObjectWriter"}, body), UNSIGNED


@template
def delete_object(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("DELETE", f"/{c.bucket}/new-{r.randrange(20)}", [("versionId", "null")] if r.random() < 0.3
                   else [], {"x-amz-if-match-size": "10"} if r.random() < 0.2 else {}), UNSIGNED


@template
def attributes(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("GET", f"/{c.bucket}/big", [("attributes", "")], {
        "x-amz-object-attributes": "ETag,Checksum,ObjectParts,StorageClass,ObjectSize", "x-amz-max-parts": "2"}), \
        UNSIGNED


@template
def append(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("PUT", f"/{c.bucket}/k", [], {"x-amz-write-offset-bytes": "5"}, b"more"), UNSIGNED


@template
def options(c: Ctx, r: random.Random) -> tuple[Request, str]:
    return Request("OPTIONS", f"/{c.bucket}/k", [], {"origin": "http://example.com",
                                                      "access-control-request-method": "PUT",
                                                      "access-control-request-headers": "x-amz-meta-a"}), "anonymous"


@template
def post_object(c: Ctx, r: random.Random) -> tuple[Request, str]:
    boundary = "FuZzBoUnDaRy"
    fields = [("key", "posted/${filename}"), ("Content-Type", "text/plain"), ("x-amz-meta-a", "b"),
              ("success_action_status", "201"), ("acl", "private")]
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode()
                    for n, v in fields)
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n'
             f"Content-Type: text/plain\r\n\r\n").encode() + r.randbytes(50) + f"\r\n--{boundary}--\r\n".encode()
    return Request("POST", f"/{c.bucket}", [], {"content-type": f"multipart/form-data; boundary={boundary}"},
                   body), "anonymous"


# --- mutations --------------------------------------------------------------------------------------------------------

METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "PROPFIND", "G\x00T", "get", "X" * 40]
SUBRESOURCES = ["acl", "tagging", "uploads", "uploadId", "partNumber", "versionId", "versioning", "delete", "policy",
                "attributes", "location", "versions", "list-type", "continuation-token", "max-keys", "prefix",
                "delimiter", "encoding-type", "marker", "key-marker", "version-id-marker", "upload-id-marker",
                "max-parts", "part-number-marker", "max-uploads", "response-content-type", "response-expires",
                "response-content-disposition", "cors", "lifecycle", "website", "encryption", "ownershipControls",
                "publicAccessBlock", "policyStatus", "torrent", "restore", "select", "select-type", "append",
                "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature",
                "AWSAccessKeyId", "Signature", "Expires", "x-id", "fetch-owner", "start-after"]
HOSTILE_HEADERS = ["range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
                   "x-amz-content-sha256", "x-amz-decoded-content-length", "x-amz-checksum-crc32",
                   "x-amz-checksum-crc32c", "x-amz-checksum-sha1", "x-amz-checksum-sha256", "x-amz-checksum-crc64nvme",
                   "x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm", "x-amz-checksum-type",
                   "x-amz-trailer", "content-md5", "content-encoding", "content-type", "x-amz-storage-class",
                   "x-amz-acl", "x-amz-grant-read", "x-amz-grant-full-control", "x-amz-metadata-directive",
                   "x-amz-tagging-directive", "x-amz-tagging", "x-amz-copy-source", "x-amz-copy-source-range",
                   "x-amz-copy-source-if-match", "x-amz-copy-source-if-modified-since", "x-amz-date", "date",
                   "authorization", "x-amz-security-token", "x-amz-server-side-encryption",
                   "x-amz-server-side-encryption-customer-algorithm", "x-amz-server-side-encryption-customer-key",
                   "x-amz-server-side-encryption-customer-key-md5", "x-amz-server-side-encryption-aws-kms-key-id",
                   "x-amz-object-ownership", "x-amz-bucket-object-lock-enabled", "x-amz-object-lock-mode",
                   "x-amz-object-attributes", "x-amz-max-parts", "x-amz-part-number-marker", "x-amz-write-offset-bytes",
                   "x-amz-if-match-size", "x-amz-if-match-last-modified-time", "x-amz-website-redirect-location",
                   "x-amz-meta-x", "x-amz-expected-bucket-owner", "x-amz-request-payer", "expect", "origin",
                   "access-control-request-method", "x-forwarded-proto", "x-amz-mfa",
                   "x-amz-bypass-governance-retention"]
VALUES = ["", " ", "0", "-1", "1", "10001", "99999999999999999999", "abc", "*", '"etag"', "null", "true", "bytes=0-",
          "bytes=-1", "bytes=5-2", "bytes=0-1,2-3", "Sun, 06 Nov 1994 08:49:37 GMT", "20240101T000000Z",
          "UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
          "1B2M2Y8AsgTpgAmY7PhCfg==", "AAAAAA==", "CRC32", "sha256", "COMPOSITE", "FULL_OBJECT", "aws-chunked",
          "AES256", "aws:kms", "GLACIER", "public-read-write", "REPLACE", "COPY", "/other/k", "bucket/k?versionId=x",
          "100-continue", 'id="abc"', 'emailAddress="a@b"', "x" * 3000, "é", "%", "%ZZ", "a/../b", "\t",
          "0 NOV 3000000000 0:0 GMT", "Sun, 06 Nov 0000 08:49:37 GMT", "Fri, 31 Dec 9999 23:59:59 -2359"]
FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "upgrade", "host", "te"})


def mutate_request(req: Request, rng: random.Random) -> None:
    kind = rng.randrange(10)
    if kind == 0:
        req.method = rng.choice(METHODS)
    elif kind == 1:  # the path, as text: re-encoded, so a fresh signature still matches
        bucket, _, key = req.path[1:].partition("/")
        if key and rng.random() < 0.7:
            key = mutate_text(rng, key) if rng.random() < 0.8 else "k" * rng.choice([1024, 1025, 5000])
        else:
            bucket = mutate_text(rng, bucket)
        req.path = f"/{bucket}/{key}" if key else f"/{bucket}"
    elif kind in (2, 3):  # a query parameter
        if req.query and rng.random() < 0.5:
            i = rng.randrange(len(req.query))
            name, value = req.query[i]
            req.query[i] = (name, mutate_text(rng, value) if rng.random() < 0.6 else rng.choice(VALUES)) \
                if rng.random() < 0.8 else (mutate_text(rng, name), value)
        elif req.query and rng.random() < 0.3:
            req.query.append(rng.choice(req.query))  # duplicated
        else:
            req.query.append((rng.choice(SUBRESOURCES), rng.choice(VALUES)))
    elif kind in (4, 5, 6):  # a header
        names = [n for n in req.headers if n.lower() not in FRAMING]
        if names and rng.random() < 0.4:
            name = rng.choice(names)
            if rng.random() < 0.2:
                del req.headers[name]
            else:
                req.headers[name] = mutate_text(rng, req.headers[name])
        else:
            value = rng.choice(VALUES)
            req.headers[rng.choice(HOSTILE_HEADERS)] = mutate_text(rng, value) if rng.random() < 0.3 else value
    else:  # the body
        req.body = mutate(rng, req.body or rng.choice(TOKENS))


@dataclass
class Stats:
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    fivexx: Counter[str] = field(default_factory=Counter)  # "status code": every 5xx answer, by class
    failures: list[str] = field(default_factory=list)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=4))  # the requests before this one

    def fail(self, what: str, data: bytes) -> None:
        if len(self.failures) < 20:
            before = "".join(f"\n    after: {r}" for r in list(self.recent)[:-1])
            self.failures.append(f"{what}\n    request: {data[:600]!r}{before}")


def check(reply: Reply | None, method_sent: str, data: bytes, stats: Stats, *, raw: bool) -> None:
    if reply is None:
        stats.statuses["closed"] += 1
        if not raw:
            stats.fail("closed without an answer", data)
        return
    stats.statuses[f"{reply.status // 100}xx"] += 1
    rid = reply.headers.get("x-amz-request-id")
    if rid is None:
        # Only Granian's own refusal of a request it could not parse comes without a request id.
        stats.codes["(http-server 400)"] += 1
        if reply.status != 400 or reply.body:
            stats.fail(f"{reply.status} without x-amz-request-id: {reply.body[:200]!r}", data)
        return
    code = None
    if reply.status >= 400 and method_sent != "HEAD":
        try:
            root = ET.fromstring(reply.body)
            code = root.findtext("Code")
            ok = root.tag == "Error" and bool(code) and root.findtext("RequestId") == rid
        except ET.ParseError:
            ok = False
        if not ok:
            stats.fail(f"{reply.status} error that is not S3 XML: {reply.body[:300]!r}", data)
    stats.codes[code or str(reply.status)] += 1
    if reply.status >= 500:
        stats.fivexx[f"{reply.status} {code or ''}".strip()] += 1
    if reply.status >= 500 and not (reply.status == 501 and code in ("NotImplemented", None)):
        stats.fail(f"{reply.status} {code}: {reply.body[:300]!r}", data)


def _setup(server: Server, s3, rng: random.Random) -> Ctx:
    bucket = f"fuzz-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello world")
    s3.put_object(Bucket=bucket, Key="dir/sub key+é", Body=b"x")
    s3.put_object(Bucket=bucket, Key="big", Body=rng.randbytes(100_000))
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * 100)["ETag"]
    return Ctx(bucket, upload, etag, server.secret_key, server.access_key)


def _one(rng: random.Random, ctx: Ctx, port: int, stats: Stats) -> None:
    host = f"127.0.0.1:{port}"
    req, payload = rng.choice(TEMPLATES)(ctx, rng)
    req.headers["host"] = host  # signed, so set first
    mode = rng.choices(["resigned", "stale", "presigned", "v2", "unsigned", "truncated", "raw"],
                       [55, 12, 8, 8, 7, 5, 5])[0]
    if payload == "anonymous":
        mode, payload = ("truncated" if mode == "truncated" else "unsigned"), UNSIGNED
    stats.modes[mode] += 1
    edits = 0 if rng.random() < 0.08 else rng.randint(1, 3)

    def sign() -> None:
        if mode == "presigned":
            presign_v4(req, ctx.access_key, ctx.secret)
        elif mode == "v2":
            sign_v2(req, ctx.access_key, ctx.secret)
        elif mode != "unsigned":
            seed = sign_v4(req, ctx.access_key, ctx.secret, payload)
            if payload == STREAMING_SIGNED:
                req.body = chunked_signed(req.body, seed, ctx.secret, req.headers["x-amz-date"])

    if payload == STREAMING_SIGNED and mode not in ("resigned", "stale", "truncated"):
        payload = UNSIGNED  # chunk signatures need a SigV4 header signature
        req.headers.pop("content-encoding", None)
    if mode == "stale":
        sign()
    for _ in range(edits):
        mutate_request(req, rng)
    if mode != "stale":
        sign()
    data = serialize(req, host)
    stats.sent += 1
    stats.recent.append(f"{mode} {data[:160]!r}")
    if mode == "truncated":  # part of the request, then the connection closes: nothing to answer
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(data[:rng.randrange(len(data))])
        return
    raw = mode == "raw"
    if raw:  # the bytes as a whole (request line, headers, body): the HTTP server's parser
        data = mutate(rng, data)
    method = data.split(b" ", 1)[0].decode("latin-1")
    try:
        reply = exchange(port, data, head=method == "HEAD", timeout=TIMEOUT, half_close=raw)
    except Malformed as exc:
        stats.fail(f"malformed HTTP response: {exc}", data)
        return
    except TimeoutError:
        stats.fail(f"no answer within {TIMEOUT} s", data)
        return
    if raw and reply is not None and reply.status == 500 and "x-amz-request-id" not in reply.headers \
            and _short_body(data):
        # The mangled head announces more body than follows before the client's half-close: Granian
        # answers the handler's disconnect itself (docs/reliability.md; short bodies are another test's).
        stats.statuses["short body"] += 1
        stats.fivexx["500 (Granian: body cut short by the client's half-close; no reader)"] += 1
        return
    check(reply, method, data, stats, raw=raw)


def _short_body(data: bytes) -> bool:
    """Whether a request's head announces more body than ``data`` holds."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and value.strip().isdigit() and int(value.strip()) > len(body):
            return True
    return False


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("fuzz") / "data").start()
    yield srv
    srv.stop()


def test_fuzz_server(fuzz_server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(SEED)
    s3 = client(fuzz_server)
    stats = Stats()
    started = time.monotonic()
    ctx = _setup(fuzz_server, s3, rng)
    for i in range(REQUESTS):
        if i and i % EPOCH == 0:
            ctx = _setup(fuzz_server, s3, rng)  # also proves the server still serves normal requests
        _one(rng, ctx, fuzz_server.port, stats)
    # Still serving, as before.
    s3.put_object(Bucket=ctx.bucket, Key="after", Body=b"still here")
    assert s3.get_object(Bucket=ctx.bucket, Key="after")["Body"].read() == b"still here"
    assert any(b["Name"] == ctx.bucket for b in s3.list_buckets()["Buckets"])
    elapsed = time.monotonic() - started
    summary = (f"fuzzed {stats.sent} requests in {elapsed:.0f} s (seed {SEED}, "
               f"{fuzz_server.meta_url and 'postgresql' or 'sqlite'}): "
               f"statuses {dict(sorted(stats.statuses.items()))}; modes {dict(sorted(stats.modes.items()))}; "
               f"top codes {dict(stats.codes.most_common(12))}")
    with capsys.disabled():
        print(f"\n{summary}")
    record("fuzz server", fuzzed=stats.sent, statuses=dict(stats.statuses), modes=dict(stats.modes),
           **{"5xx": dict(stats.fivexx)}, failures=len(stats.failures), fault_seconds=round(elapsed, 1))
    assert not stats.failures, "\n".join(stats.failures)
    assert fuzz_server.log_path is not None
    log = fuzz_server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 300:][:3000]
