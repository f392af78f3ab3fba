"""Scheme selection and the error codes ceph/s3-tests and AWS clients expect from authenticate()."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pails.access import sigv2, sigv4
from pails.access.authenticate import ANONYMOUS, authenticate
from pails.access.aws_chunked import AwsChunkedDecoder
from pails.access.request import SignedRequest
from pails.errors import S3Error
from tests.unit.signed import make

AKID = "AKIDPAILS"
SECRET = "pails/secret+key"


def lookup(access_key: str) -> str | None:
    return {AKID: SECRET}.get(access_key)




def error(req: SignedRequest, now: datetime | None = None) -> S3Error:
    with pytest.raises(S3Error) as info:
        authenticate(req, lookup, now or datetime.now(UTC))
    return info.value


def test_anonymous() -> None:
    assert authenticate(make("GET", "/b/k", {"host": "h"}), lookup, datetime.now(UTC)) is ANONYMOUS
    res = authenticate(make("GET", "/b?list-type=2&prefix=x", {}), lookup, datetime.now(UTC))
    assert (res.access_key, res.signature_version, res.presigned) == (None, "anonymous", False)


@pytest.mark.parametrize(
    ("authorization", "code", "status"),
    [
        ("", "AccessDenied", 403),
        ("   ", "AccessDenied", 403),
        ("Bearer abc", "InvalidArgument", 400),
        ("\x07", "InvalidArgument", 400),
        ("AWS4 HAHAHA", "InvalidArgument", 400),
        ("AWS HAHAHA", "InvalidArgument", 400),
        ("AWS4-HMAC-SHA256 Credential=HAHAHA", "AuthorizationHeaderMalformed", 400),
        ("AWS AKIAIGR7ZNNBHC5BKSUB:FWeDfwojDSdS2Ztmpfeubhd9isU=", "InvalidAccessKeyId", 403),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAIGR7ZNNBHC5BKSUB/20150930/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;user-agent,Signature=FWeDfwojDSdS2Ztmpfeubhd9isU=",
            "InvalidAccessKeyId",
            403,
        ),
    ],
)
def test_bad_authorization_headers(authorization: str, code: str, status: int) -> None:
    err = error(make("PUT", "/b/k", {"Authorization": authorization, "Date": formatdate(usegmt=True)}))
    assert (err.code, err.status) == (code, status)


def test_error_details_are_xml_safe() -> None:
    err = error(make("GET", "/b/k", {"Authorization": "\x07bad\x00"}))
    assert err.extra["ArgumentValue"] == "?bad?"
    err = error(make("GET", "/b/k?AWSAccessKeyId=A%01&Signature=s&Expires=9999999999", {}))
    assert err.extra["AWSAccessKeyId"] == "A?"


def test_only_one_mechanism() -> None:
    err = error(make("GET", "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256", {"Authorization": "AWS a:b"}))
    assert (err.code, err.extra["ArgumentName"]) == ("InvalidArgument", "Authorization")
    err = error(make("GET", "/b/k?X-Amz-Signature=x&AWSAccessKeyId=a&Signature=b&Expires=1", {}))
    assert err.code == "InvalidArgument"


def test_presigned_v4_missing_parameters() -> None:
    err = error(make("GET", "/b/k?X-Amz-Signature=abc", {}))
    assert err.code == "AuthorizationQueryParametersError"


def test_unknown_key_presigned() -> None:
    now = datetime.now(UTC)
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    target = (
        f"/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=NOPE%2F{amz[:8]}%2Fus-east-1%2Fs3%2Faws4_request"
        f"&X-Amz-Date={amz}&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
    )
    assert error(make("GET", target, {"host": "h"})).code == "InvalidAccessKeyId"
    assert error(make("GET", "/b/k?AWSAccessKeyId=NOPE&Signature=x&Expires=99999999999", {})).code == (
        "InvalidAccessKeyId"
    )


def v2_request(headers: dict[str, str]) -> SignedRequest:
    req = make("GET", "/b/k", headers)
    sts = next(sigv2.strings_to_sign(req))
    return make("GET", "/b/k", dict(headers, Authorization=f"AWS {AKID}:{sigv2.sign(SECRET, sts)}"))


def test_v2_x_amz_date_wins_over_date() -> None:
    now = datetime.now(UTC)
    stale = "Tue, 07 Jul 2010 21:53:04 GMT"
    res = authenticate(
        v2_request({"Date": stale, "x-amz-date": formatdate(now.timestamp(), usegmt=True)}), lookup, now
    )
    assert res.signature_version == "v2"
    err = error(v2_request({"Date": formatdate(now.timestamp(), usegmt=True), "x-amz-date": stale}), now)
    assert err.code == "RequestTimeTooSkewed"


def test_naive_now_is_utc() -> None:
    now = datetime.now(UTC)
    req = v2_request({"Date": formatdate(now.timestamp(), usegmt=True)})
    assert authenticate(req, lookup, now.replace(tzinfo=None)).access_key == AKID


def v4_signed(
    headers: dict[str, str], amz_date: str, payload: str, region: str = "us-east-1"
) -> SignedRequest:
    """Sign with the module's public helpers (used where botocore cannot produce the request)."""
    base = make("PUT", "/b/k", headers)
    signed = sorted(base.headers)
    signed_str = ";".join(signed)
    creq = sigv4.canonical_request("PUT", "/b/k", "", base.headers, signed, signed_str, payload)
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    key = sigv4.signing_key(SECRET, amz_date[:8], region, "s3")
    sig = sigv4.sign_hex(key, sigv4.string_to_sign(amz_date, scope, creq))
    auth = f"AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={signed_str}, Signature={sig}"
    return make("PUT", "/b/k", dict(headers, Authorization=auth))


def test_v4_with_date_header_only() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    req = v4_signed(
        {
            "host": "h",
            "date": formatdate(now.timestamp(), usegmt=True),
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        },
        amz,
        "UNSIGNED-PAYLOAD",
    )
    res = authenticate(req, lookup, now)
    assert (res.signature_version, res.content_sha256) == ("v4", "UNSIGNED-PAYLOAD")


def test_v4_missing_date() -> None:
    req = v4_signed(
        {"host": "h", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, "20130524T000000Z", "UNSIGNED-PAYLOAD"
    )
    err = error(req)
    assert (err.code, err.message) == (
        "AccessDenied",
        "AWS authentication requires a valid Date or x-amz-date header",
    )


@pytest.mark.parametrize(
    ("mode", "chunked"),
    [
        ("UNSIGNED-PAYLOAD", False),
        ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", False),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", True),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", True),
    ],
)
def test_v4_payload_modes(mode: str, chunked: bool) -> None:
    now = datetime.now(UTC)
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    res = authenticate(
        v4_signed({"host": "h", "x-amz-date": amz, "x-amz-content-sha256": mode}, amz, mode), lookup, now
    )
    assert res.content_sha256 == mode
    assert (res.chunk_signing is not None) == chunked


def test_uppercase_hex_payload_is_signed_as_sent_and_returned_lowercase() -> None:
    now = datetime.now(UTC)
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    upper = sigv4.EMPTY_SHA256.upper()
    res = authenticate(
        v4_signed({"host": "h", "x-amz-date": amz, "x-amz-content-sha256": upper}, amz, upper), lookup, now
    )
    assert res.content_sha256 == sigv4.EMPTY_SHA256


class StreamingSigner(S3SigV4Auth):
    """botocore signer for the signed streaming mode (botocore itself only streams unsigned)."""

    def payload(self, request: AWSRequest) -> str:
        return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"


def test_streaming_end_to_end_with_botocore_seed() -> None:
    aws = AWSRequest(
        method="PUT",
        url="http://localhost:9000/b/obj%20key",
        headers={
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": "10",
            "x-amz-trailer": "x-amz-checksum-crc32",
        },
    )
    StreamingSigner(Credentials(AKID, SECRET), "s3", "").add_auth(aws)
    headers = {k: v for k, v in aws.headers.items()}
    headers["host"] = urlsplit(aws.url).netloc
    res = authenticate(make("PUT", urlsplit(aws.url).path, headers), lookup, datetime.now(UTC))
    ctx = res.chunk_signing
    assert ctx is not None and ctx.scope.endswith("//s3/aws4_request")

    # Build the body independently, straight from the documented algorithm.
    empty = hashlib.sha256(b"").hexdigest()
    prev = ctx.seed_signature
    body = b""
    head = f"{ctx.amz_date}\n{ctx.scope}\n"
    for data in (b"0123456789", b""):
        sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{head}{prev}\n{empty}\n{hashlib.sha256(data).hexdigest()}"
        prev = hmac.new(ctx.signing_key, sts.encode(), hashlib.sha256).hexdigest()
        body += f"{len(data):x};chunk-signature={prev}\r\n".encode() + data + (b"\r\n" if data else b"")
    trailer = b"x-amz-checksum-crc32:poTHxg==\n"
    sts = f"AWS4-HMAC-SHA256-TRAILER\n{head}{prev}\n{hashlib.sha256(trailer).hexdigest()}"
    tsig = hmac.new(ctx.signing_key, sts.encode(), hashlib.sha256).hexdigest()
    body += b"x-amz-checksum-crc32:poTHxg==\r\nx-amz-trailer-signature:" + tsig.encode() + b"\r\n\r\n"

    decoder = AwsChunkedDecoder(signing=ctx, expect_trailer=True, signed_trailer=True)
    out = b"".join(bytes(p) for p in decoder.feed(body))
    assert out == b"0123456789"
    assert decoder.finish() == {"x-amz-checksum-crc32": "poTHxg=="}


def test_presigned_v4_far_future_date_is_not_valid_yet() -> None:
    now = datetime.now(UTC)
    future = (now + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    target = (
        f"/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AKID}%2F{future[:8]}%2F%2Fs3%2Faws4_request"
        f"&X-Amz-Date={future}&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
    )
    err = error(make("GET", target, {"host": "h"}), now)
    assert (err.code, err.message) == ("AccessDenied", "Request is not valid yet")


def test_claimed_service_reads_the_credential_scope_before_any_check() -> None:
    from pails.access.authenticate import claimed_service

    def req(headers: dict[str, str], query: list[tuple[str, str]] | None = None) -> SignedRequest:
        return SignedRequest("POST", "/", "/", query or [], headers)

    auth = "AWS4-HMAC-SHA256 Credential=AK/20261206/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=00"
    assert claimed_service(req({"authorization": auth.format("sts")})) == "sts"
    assert claimed_service(req({"authorization": auth.format("iam")})) == "iam"
    assert claimed_service(req({}, [("X-Amz-Credential", "AK/20261206/us-east-1/s3/aws4_request")])) == "s3"
    assert claimed_service(req({"authorization": "AWS AK:sig"})) is None
    assert claimed_service(req({"authorization": "AWS4-HMAC-SHA256 Credential=AK/x, Signature=00"})) is None
    assert claimed_service(req({})) is None
