"""Property-based fuzzing of the pure parsers (pails/protocol, pails/access):
any input gives a parsed value or the module's documented error (S3Error;
ValueError where a docstring says so), never another exception.

Inputs are arbitrary (hypothesis text and bytes) and mutations of valid
seeds (tests/reliability/fuzzing.py), which get deeper into each parser.
Derandomized, so every run tries the same inputs; quick mode runs
``QUICK`` examples per property, full mode ``FULL_EXAMPLES``.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pails.access import acl as acls
from pails.access import policy, post_policy, sigv2, sigv4
from pails.access.authenticate import authenticate
from pails.access.aws_chunked import AwsChunkedDecoder
from pails.access.request import ChunkSigningContext, SignedRequest
from pails.errors import S3Error
from pails.protocol import checksums, header_values, keys, names, sse, xml
from pails.protocol.conditional import evaluate_read
from pails.protocol.dates import parse_http_date
from pails.protocol.multipart_form import MultipartParser, boundary_from_content_type, parse_content_disposition
from pails.protocol.ranges import parse_range
from pails.s3 import tagging
from tests.pails_server import STORE
from tests.reliability import FULL
from tests.reliability.fuzzing import mutate, mutate_text

QUICK = 150
FULL_EXAMPLES = 5_000
# Pure code: the SQLite pass runs it; the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.skipif(STORE == "postgresql", reason="store-independent (run in the SQLite pass)")
FUZZ = settings(max_examples=FULL_EXAMPLES if FULL else QUICK, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), print_blob=True)

rngs = st.randoms(use_true_random=False)
texts = st.text(max_size=300)
latin1 = st.text(st.characters(max_codepoint=0xFF), max_size=300)  # as header values arrive


def seeded(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed as is, mutated, or arbitrary bytes."""
    return st.one_of(
        st.sampled_from(seeds),
        st.builds(lambda rng, s: mutate(rng, s), rngs, st.sampled_from(seeds)),
        st.binary(max_size=400),
    )


def seeded_text(seeds: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(seeds), st.builds(lambda rng, s: mutate_text(rng, s), rngs,
                                                       st.sampled_from(seeds)), latin1)


# --- XML ----------------------------------------------------------------------------------------------------------

XML_SEEDS = [
    b'<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>'
    b"<Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
    b"<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key><VersionId>null</VersionId></Object></Delete>",
    b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part></CompleteMultipartUpload>',
    b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
    b'<AccessControlPolicy xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Owner><ID>o</ID></Owner>'
    b'<AccessControlList><Grant><Grantee xsi:type="CanonicalUser"><ID>o</ID></Grantee>'
    b"<Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>",
    b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>",
]


@FUZZ
@given(seeded(XML_SEEDS))
def test_xml_parse(body: bytes) -> None:
    try:
        root = xml.parse(body)
    except S3Error as err:
        assert err.code == "MalformedXML"
        return
    assert isinstance(root.tag, str) and "}" not in root.tag


@FUZZ
@given(seeded(XML_SEEDS))
def test_access_control_policy(body: bytes) -> None:
    try:
        acls.parse_access_control_policy(body, lambda email: None, lambda cid: "name" if cid == "o" else None)
    except S3Error as err:
        assert err.status == 400


@FUZZ
@given(seeded(XML_SEEDS))
def test_tagging_xml(body: bytes) -> None:
    try:
        tagging.parse_xml(body, tagging.MAX_OBJECT_TAGS)
    except S3Error as err:
        assert err.status == 400


@FUZZ
@given(seeded_text(["k1=v1&k2=v2", "a%20b=c%2Fd", "k=", "=v", "&&"]))
def test_tagging_header(value: str) -> None:
    try:
        tagging.from_header(value)
    except S3Error as err:
        assert err.status == 400


# --- ranges, dates, conditional headers, names, keys --------------------------------------------------------------

@FUZZ
@given(seeded_text(["bytes=0-10", "bytes=-5", "bytes=5-", "bytes=0-0,2-3"]), st.integers(0, 2**63))
def test_range(header: str, size: int) -> None:
    try:
        rng = parse_range(header, size)
    except S3Error as err:
        assert err.code == "InvalidRange"
        return
    if rng is not None:
        first, last = rng
        assert 0 <= first <= last < size


# Dates at and past the calendar's ends (found by full-mode runs: years 0 and
# 3000000000 raised ValueError and OverflowError deep in the standard library).
ODD_DATES = ["Sun, 06 Nov 0000 08:49:37 GMT", "06 Nov 99999 08:49:37 GMT", "0 NOV 3000000000 0:0 GMT",
             "Fri, 31 Dec 9999 23:59:59 -2359", "Mon, 01 Jan 0001 00:00:00 +2359", "20240230T250000Z"]


@FUZZ
@given(seeded_text(["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                    "2024-01-01T00:00:00.000Z", *ODD_DATES]))
def test_http_date(value: str) -> None:
    result = parse_http_date(value)  # documented: None when unparsable, never an exception
    assert result is None or isinstance(result, float)


@FUZZ
@given(st.dictionaries(st.sampled_from(["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]),
                       seeded_text(['"abc"', "*", 'W/"abc", "def"', "Sun, 06 Nov 1994 08:49:37 GMT"])))
def test_conditional(headers: dict[str, str]) -> None:
    assert evaluate_read(headers, '"abc"', 784111777.0) in (None, 304, 412)


@FUZZ
@given(seeded_text(["my-bucket", "a.b.c", "x" * 63, "192.168.0.1"]))
def test_bucket_names(name: str) -> None:
    try:
        names.check_bucket_name(name)
    except S3Error as err:
        assert err.code == "InvalidBucketName"
        return
    assert names.valid_bucket_name(name)


@FUZZ
@given(st.one_of(texts, st.text(min_size=1000, max_size=1100), seeded_text(["photos/2024/a.jpg"])))
def test_keys(key: str) -> None:
    try:
        names.check_key(key)
    except S3Error as err:
        assert err.code in ("KeyTooLongError", "InvalidArgument")
    successor = keys.prefix_successor(key)
    assert successor is None or successor.encode("utf-8", "surrogatepass") > key.encode("utf-8", "surrogatepass")


@FUZZ
@given(latin1, texts)
def test_header_values(name: str, value: str) -> None:
    try:
        header_values.check(name, value)
    except S3Error as err:
        assert err.code == "InvalidArgument"
        return
    value.encode("latin-1")  # what the HTTP server will do with it
    assert "\r" not in value and "\n" not in value and "\x00" not in value


# --- checksums and SSE headers ------------------------------------------------------------------------------------

@FUZZ
@given(seeded_text(["x-amz-checksum-crc32", "x-amz-checksum-sha256", "CRC32C", "crc64nvme"]),
       seeded_text(["AAAAAA==", "AAAAAAAAAAA=", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]))
def test_checksum_names_and_stored(name: str, raw: str) -> None:
    alg = checksums.algorithm_for_header(name)
    try:
        checksums.new_checksum(name).update(b"data")
    except S3Error as err:
        assert err.status == 400
    try:
        checksums.check_value(alg or "CRC32", raw)
    except S3Error as err:
        assert (err.code, err.status) == ("BadDigest", 400)


@FUZZ
@given(st.dictionaries(st.sampled_from([
    "x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-bucket-key-enabled", "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-customer-key", "x-amz-server-side-encryption-customer-key-md5",
    "x-amz-copy-source-server-side-encryption-customer-algorithm",
    "x-amz-copy-source-server-side-encryption-customer-key"]),
    seeded_text(["AES256", "aws:kms", "true", base64.b64encode(b"k" * 32).decode(), "kv9rWq0kx7TPHXOJoFXp0A=="])))
def test_sse_headers(headers: dict[str, str]) -> None:
    for call in (lambda: sse.customer_key(headers), lambda: sse.customer_key(headers, copy_source=True),
                 lambda: sse.requested(headers), lambda: sse.refuse_on_read(headers)):
        try:
            call()
        except S3Error as err:
            assert err.status == 400


# --- multipart/form-data ------------------------------------------------------------------------------------------

FORM = (b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nup/a.txt\r\n"
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
        b"Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n")


@FUZZ
@given(seeded([FORM]), st.integers(1, 64))
def test_multipart_form(body: bytes, piece: int) -> None:
    parser = MultipartParser(b"XyZ")
    try:
        for i in range(0, len(body), piece):
            parser.feed(body[i:i + piece])
        parser.close()
    except S3Error as err:
        assert err.code == "MalformedPOSTRequest"


@FUZZ
@given(seeded_text(['multipart/form-data; boundary="XyZ"', "multipart/form-data; boundary=abc; charset=utf-8"]),
       seeded_text(['form-data; name="file"; filename="a.txt"', "form-data; name=key; filename*=UTF-8''%C3%A9",
                    "form-data; name=file; filename*=\x00''%41"]))  # full mode found: a NUL charset
def test_form_headers(content_type: str, disposition: str) -> None:
    for call in (lambda: boundary_from_content_type(content_type), lambda: parse_content_disposition(disposition)):
        try:
            call()
        except S3Error as err:
            assert err.code == "MalformedPOSTRequest"


# --- aws-chunked --------------------------------------------------------------------------------------------------

CHUNK_KEY = sigv4.signing_key("secret", "20130524", "us-east-1", "s3")
CHUNKED = [
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n",
    b"5;chunk-signature=" + b"a" * 64 + b"\r\nhello\r\n0;chunk-signature=" + b"b" * 64 + b"\r\n\r\n",
]


@FUZZ
@given(seeded(CHUNKED), st.integers(1, 32), st.booleans(), st.booleans())
def test_aws_chunked(body: bytes, piece: int, signed: bool, trailer: bool) -> None:
    signing = ChunkSigningContext(CHUNK_KEY, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
                                  "c" * 64) if signed else None
    decoder = AwsChunkedDecoder(signing=signing, expect_trailer=trailer, signed_trailer=trailer and signed)
    try:
        size = 0
        for i in range(0, len(body), piece):
            size += sum(len(p) for p in decoder.feed(body[i:i + piece]))
        decoder.finish()
        assert size == decoder.decoded_bytes
    except S3Error as err:
        assert err.status in (400, 403)


# --- signatures ---------------------------------------------------------------------------------------------------

AKID, SECRET = "AKIDFUZZ", "fuzz/secret"


def _signed_seeds() -> list[tuple[str, list[tuple[str, str]], dict[str, str]]]:
    """(path, query, headers) of valid requests signed by botocore just now:
    SigV4 and SigV2, header and presigned."""
    creds = Credentials(AKID, SECRET)
    out = []
    for auth in (S3SigV4Auth(creds, "s3", "us-east-1"), S3SigV4QueryAuth(creds, "s3", "us-east-1", 3600),
                 HmacV1Auth(creds), HmacV1QueryAuth(creds, 3600)):
        req = AWSRequest("GET", "http://127.0.0.1:9000/bucket/some%20key?tagging&x=1",
                         headers={"host": "127.0.0.1:9000"})
        if isinstance(auth, S3SigV4Auth):
            req.context["payload_signing_enabled"] = False
        auth.add_auth(req)
        parts = urlsplit(req.url)
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in req.headers.items()}
        out.append((parts.path, parse_qsl(parts.query, keep_blank_values=True), headers))
    return out


NOW = datetime.now(UTC)  # the seeds' signing time: authenticate() is told it is still then
SIGNED = _signed_seeds()


@st.composite
def signed_requests(draw: st.DrawFn) -> SignedRequest:
    path, query, headers = draw(st.sampled_from(SIGNED))
    rng = draw(rngs)
    headers, query = dict(headers), list(query)
    for _ in range(draw(st.integers(0, 3))):
        if headers and rng.random() < 0.5:
            name = rng.choice(sorted(headers))
            headers[name] = mutate_text(rng, headers[name])
        elif query:
            i = rng.randrange(len(query))
            query[i] = (query[i][0], mutate_text(rng, query[i][1]))
    if draw(st.booleans()):
        headers[draw(st.sampled_from(["authorization", "x-amz-date", "date", "x-amz-content-sha256",
                                      "x-amz-security-token"]))] = draw(st.one_of(latin1, st.sampled_from(ODD_DATES)))
    return SignedRequest("GET", path, path, query, headers)


@FUZZ
@given(signed_requests())
def test_authenticate(req: SignedRequest) -> None:
    try:
        result = authenticate(req, lambda key: SECRET if key == AKID else None, NOW)
    except S3Error as err:
        assert err.status in (400, 403)
        return
    assert result.access_key in (None, AKID)


def test_signed_seeds_authenticate() -> None:
    """The seeds are valid requests: the fuzzing starts from accepted input."""
    for path, query, headers in SIGNED:
        assert authenticate(SignedRequest("GET", path, path, query, headers), lambda k: SECRET, NOW).access_key == AKID


@FUZZ
@given(seeded_text(["AWS AKID:c2lnbmF0dXJl", "AWS4-HMAC-SHA256 Credential=a/b/c/s3/aws4_request, SignedHeaders=host, "
                    "Signature=" + "0" * 64]))
def test_sigv2_authorization(value: str) -> None:
    try:
        sigv2.parse_authorization(value)
    except S3Error as err:
        assert err.status in (400, 403)


# --- policies -----------------------------------------------------------------------------------------------------

BUCKET_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::bkt/*",
     "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "DateLessThan": {"aws:CurrentTime": "2030-01-01"}}},
    {"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::1:root"]}, "Action": "s3:*",
     "Resource": ["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"]}]})


@FUZZ
@given(st.one_of(seeded([BUCKET_POLICY.encode()]), st.just(b"[" * 10_000), st.just(b'{"a":' * 5_000)))
def test_bucket_policy(text: bytes) -> None:
    try:
        policy.parse_policy(text, "bkt")
    except S3Error as err:
        assert err.code == "MalformedPolicy"


POST_POLICY = json.dumps({"expiration": "2030-01-01T00:00:00.000Z", "conditions": [
    {"bucket": "bkt"}, ["starts-with", "$key", "up/"], ["content-length-range", 1, 1048576],
    ["eq", "$Content-Type", "text/plain"], {"x-amz-meta-a": "b"}]}).encode()


POST_POLICY_YEAR_0 = POST_POLICY.replace(b"2030-01-01", b"0000-01-01")


@FUZZ
@given(st.one_of(seeded([POST_POLICY, POST_POLICY_YEAR_0]), st.just(b"[" * 10_000)), st.booleans())
def test_post_policy(doc: bytes, encode: bool) -> None:
    text = base64.b64encode(doc).decode() if encode else doc.decode("latin-1")
    try:
        parsed = post_policy.parse_policy(text)
        post_policy.check_form(parsed, {"bucket": "bkt", "key": "up/x", "content-type": "text/plain"}, "bkt",
                               NOW.timestamp())
    except S3Error as err:
        assert err.status in (400, 403)


def test_mutation_is_seeded() -> None:
    """The same seed gives the same mutations: a failure found once is found again."""
    a = [mutate(random.Random(7), FORM) for _ in range(3)]
    b = [mutate(random.Random(7), FORM) for _ in range(3)]
    assert a == b
