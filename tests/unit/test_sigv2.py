"""SigV2 verification against the RESTAuthentication examples and botocore's HmacV1 signers.

The published example signatures were computed for the bucket ``johnsmith``
(the page later renamed it without recomputing them), so the vectors use it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pails.access import sigv2
from pails.access.authenticate import authenticate
from pails.access.request import SignedRequest
from pails.errors import S3Error
from tests.unit.signed import make

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def lookup(access_key: str) -> str | None:
    return {AKID: SECRET}.get(access_key)




def at(text: str) -> datetime:
    return datetime.strptime(text, "%a, %d %b %Y %H:%M:%S %z")


# (method, target, headers, virtual bucket, signature) from the RESTAuthentication examples.
DOC_EXAMPLES = [
    (
        "GET",
        "/photos/puppy.jpg",
        {"Date": "Tue, 27 Mar 2007 19:36:42 +0000"},
        "johnsmith",
        "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
    ),
    (
        "PUT",
        "/photos/puppy.jpg",
        {"Content-Type": "image/jpeg", "Content-Length": "94328", "Date": "Tue, 27 Mar 2007 21:15:45 +0000"},
        "johnsmith",
        "MyyxeRY7whkBe+bq8fHCL/2kKUg=",
    ),
    (
        "GET",
        "/?prefix=photos&max-keys=50&marker=puppy",
        {"User-Agent": "Mozilla/5.0", "Date": "Tue, 27 Mar 2007 19:42:41 +0000"},
        "johnsmith",
        "htDYFYduRNen8P9ZfE/s9SuKy0U=",
    ),
    (
        "GET",
        "/?acl",
        {"Date": "Tue, 27 Mar 2007 19:44:46 +0000"},
        "johnsmith",
        "c2WLPFtWHVgbEmeEG93a4cG37dM=",
    ),
    (
        "DELETE",
        "/johnsmith/photos/puppy.jpg",
        {
            "User-Agent": "dotnet",
            "Date": "Tue, 27 Mar 2007 21:20:27 +0000",
            "x-amz-date": "Tue, 27 Mar 2007 21:20:26 +0000",
        },
        None,
        "lx3byBScXR6KzyMaifNkardMwNk=",
    ),
    (
        "PUT",
        "/db-backup.dat.gz",
        {
            "User-Agent": "curl/7.15.5",
            "Date": "Tue, 27 Mar 2007 21:06:08 +0000",
            "x-amz-acl": "public-read",
            "content-type": "application/x-download",
            "Content-MD5": "4gJE4saaMU4BqNR0kLY+lw==",
            "X-Amz-Meta-ReviewedBy": "joe@johnsmith.net,jane@johnsmith.net",
            "X-Amz-Meta-FileChecksum": "0x02661779",
            "X-Amz-Meta-ChecksumAlgorithm": "crc32",
            "Content-Disposition": "attachment; filename=database.dat",
            "Content-Encoding": "gzip",
            "Content-Length": "5913339",
        },
        "static.johnsmith.net",
        "ilyl83RwaSoYIEdixDQcA4OnAnc=",
    ),
    ("GET", "/", {"Date": "Wed, 28 Mar 2007 01:29:59 +0000"}, None, "qGdzdERIC03wnaRNKh6OqZehG9s="),
    (
        "GET",
        "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
        {"Date": "Wed, 28 Mar 2007 01:49:49 +0000"},
        None,
        "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
    ),
]


@pytest.mark.parametrize(("method", "target", "headers", "bucket", "signature"), DOC_EXAMPLES)
def test_doc_examples(
    method: str, target: str, headers: dict[str, str], bucket: str | None, signature: str
) -> None:
    headers = dict(headers, Authorization=f"AWS {AKID}:{signature}")
    req = make(method, target, headers, bucket)
    now = at(headers.get("x-amz-date") or headers["Date"])
    res = authenticate(req, lookup, now)
    assert (res.access_key, res.signature_version, res.presigned, res.content_sha256) == (
        AKID,
        "v2",
        False,
        None,
    )
    # One flipped character in the signature must fail.
    bad = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    req = make(method, target, dict(headers, Authorization=f"AWS {AKID}:{bad}"), bucket)
    with pytest.raises(S3Error) as info:
        authenticate(req, lookup, now)
    assert info.value.code == "SignatureDoesNotMatch"
    assert "StringToSign" in info.value.extra


def test_doc_string_to_sign_for_upload() -> None:
    method, target, headers, bucket, _ = DOC_EXAMPLES[5]
    first = next(sigv2.strings_to_sign(make(method, target, headers, bucket)))
    assert first == (
        "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n"
        "x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n"
        "x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n/static.johnsmith.net/db-backup.dat.gz"
    )


DOC_QUERY = (
    "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE"
    "&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620"
)


def test_doc_query_string_auth() -> None:
    req = make("GET", DOC_QUERY, {"Host": "johnsmith.s3.amazonaws.com"}, "johnsmith")
    res = authenticate(req, lookup, datetime.fromtimestamp(1175139620, UTC))
    assert (res.access_key, res.signature_version, res.presigned) == (AKID, "v2", True)
    with pytest.raises(S3Error) as info:
        authenticate(req, lookup, datetime.fromtimestamp(1175139621, UTC))
    assert (info.value.code, info.value.message) == ("AccessDenied", "Request has expired")


@pytest.mark.parametrize(
    "target",
    [
        "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620",
        "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=x",
        "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=x&Expires=soon",
    ],
)
def test_query_auth_incomplete(target: str) -> None:
    with pytest.raises(S3Error) as info:
        authenticate(make("GET", target, {}, "johnsmith"), lookup, datetime.fromtimestamp(1175139620, UTC))
    assert info.value.code == "AccessDenied"


def test_sign_helper_is_base64_hmac_sha1() -> None:
    assert sigv2.sign(SECRET, "GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/") == "qGdzdERIC03wnaRNKh6OqZehG9s="


def test_subresources_sorted_with_decoded_values() -> None:
    req = make("GET", "/b/k?versionId=a%2Bb&acl&prefix=x&response-content-type=text%2Fplain", {"Date": "d"})
    assert next(sigv2.strings_to_sign(req)) == (
        "GET\n\n\nd\n/b/k?acl&response-content-type=text/plain&versionId=a+b"
    )


def test_x_amz_date_blanks_the_date_line() -> None:
    req = make("GET", "/", {"Date": "ignored", "x-amz-date": "Wed, 28 Mar 2007 01:29:59 +0000"})
    assert next(sigv2.strings_to_sign(req)) == "GET\n\n\n\nx-amz-date:Wed, 28 Mar 2007 01:29:59 +0000\n/"


def test_clock_skew_and_dates() -> None:
    method, target, headers, bucket, signature = DOC_EXAMPLES[0]
    req = make(method, target, dict(headers, Authorization=f"AWS {AKID}:{signature}"), bucket)
    now = at(headers["Date"])
    authenticate(req, lookup, now + timedelta(minutes=15))
    with pytest.raises(S3Error) as info:
        authenticate(req, lookup, now + timedelta(minutes=16))
    assert info.value.code == "RequestTimeTooSkewed"


@pytest.mark.parametrize("date", [None, "", "Bad Date", "Tue, 07 Jul 1950 21:53:04 GMT"])
def test_missing_or_invalid_date_is_access_denied(date: str | None) -> None:
    headers = {"Authorization": f"AWS {AKID}:bWq2s1WEIj+Ydj0vQ697zp+IXMU="}
    if date is not None:
        headers["Date"] = date
    with pytest.raises(S3Error) as info:
        authenticate(make("GET", "/x", headers), lookup, datetime.now(UTC))
    assert info.value.code == "AccessDenied"


@pytest.mark.parametrize("date", ["Tue, 07 Jul 2010 21:53:04 GMT", "Tue, 07 Jul 9999 21:53:04 GMT"])
def test_far_dates_are_skewed(date: str) -> None:
    headers = {"Authorization": f"AWS {AKID}:bWq2s1WEIj+Ydj0vQ697zp+IXMU=", "Date": date}
    with pytest.raises(S3Error) as info:
        authenticate(make("GET", "/x", headers), lookup, datetime.now(UTC))
    assert info.value.code == "RequestTimeTooSkewed"


def test_invalid_header_and_unknown_key() -> None:
    date = formatdate(usegmt=True)
    with pytest.raises(S3Error) as info:
        authenticate(
            make("GET", "/", {"Authorization": "AWS HAHAHA", "Date": date}), lookup, datetime.now(UTC)
        )
    assert (info.value.code, info.value.status) == ("InvalidArgument", 400)
    headers = {"Authorization": "AWS AKIAIGR7ZNNBHC5BKSUB:FWeDfwojDSdS2Ztmpfeubhd9isU=", "Date": date}
    with pytest.raises(S3Error) as info:
        authenticate(make("GET", "/", headers), lookup, datetime.now(UTC))
    assert (info.value.code, info.value.status) == ("InvalidAccessKeyId", 403)


# -- interop with botocore ------------------------------------------------------------------------------

KEYS = ["plain", "sp ace/x", "unicodé/日本", "a+b", "100%", "a//b", "../up", "./here/./x", "~(x)!*'"]
QUERIES = [
    "",
    "?acl",
    "?uploads",
    "?uploadId=a%2Bb%2F&partNumber=2",
    "?prefix=a%20b&delimiter=%2F&tagging",
    "?encryption",
    "?versionId=v1&response-content-disposition=attachment%3B%20filename%3D%22x%22",
]


def to_signed(aws: AWSRequest, bucket: str | None = None) -> SignedRequest:
    parts = urlsplit(aws.url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    return make(aws.method, target, {k: v for k, v in aws.headers.items()}, bucket)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
def test_botocore_header_roundtrip(key: str, query: str) -> None:
    aws = AWSRequest(
        method="PUT",
        url="http://localhost/bucket/" + quote(key, safe="/~") + query,
        data=b"x",
        headers={
            "Content-Type": "text/plain",
            "x-amz-meta-a": " b  c ",
            "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
        },
    )
    HmacV1Auth(Credentials(AKID, SECRET)).add_auth(aws)
    req = to_signed(aws)
    res = authenticate(req, lookup, datetime.now(UTC))
    assert (res.access_key, res.signature_version, res.presigned) == (AKID, "v2", False)
    forged = SignedRequest("DELETE", req.path, req.raw_path, req.query, req.headers)
    with pytest.raises(S3Error):
        authenticate(forged, lookup, datetime.now(UTC))


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", QUERIES)
def test_botocore_presigned_roundtrip(key: str, query: str) -> None:
    aws = AWSRequest(
        method="GET",
        url="http://bucket.localhost/" + quote(key, safe="/~") + query,
        headers={"x-amz-request-payer": "requester"},
    )
    aws.auth_path = "/bucket/" + quote(key, safe="/~")
    HmacV1QueryAuth(Credentials(AKID, SECRET), expires=60).add_auth(aws)
    aws.headers = {}  # a browser following the URL sends none of them
    res = authenticate(to_signed(aws, "bucket"), lookup, datetime.now(UTC))
    assert (res.access_key, res.signature_version, res.presigned) == (AKID, "v2", True)
    with pytest.raises(S3Error) as info:
        authenticate(to_signed(aws, "bucket"), lookup, datetime.now(UTC) + timedelta(seconds=3600))
    assert info.value.message == "Request has expired"


def test_bucket_path_signed_with_trailing_slash_verifies() -> None:
    """botocore signs CreateBucket on "/bucket" as "/bucket/"; AWS accepts that."""
    date = formatdate(usegmt=True)
    string_to_sign = f"PUT\n\n\n{date}\n/v2bucket/"
    signature = sigv2.sign(SECRET, string_to_sign)
    req = make("PUT", "/v2bucket", {"Date": date, "Authorization": f"AWS {AKID}:{signature}"})
    assert authenticate(req, lookup, datetime.now(UTC)).access_key == AKID
