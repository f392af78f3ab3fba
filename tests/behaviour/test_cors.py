"""Per-bucket CORS over real HTTP: Put/Get/DeleteBucketCors through boto3,
preflights and the Access-Control-* headers of actual responses (signed,
presigned V2 and V4, anonymous, POST uploads, errors) through raw requests."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import urlsplit

import pytest
import urllib3
from botocore.exceptions import ClientError

from tests.behaviour.test_hostile import assert_s3_error, request
from tests.conftest import client

SITE = "https://app.example.com"
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
RULES = {"CORSRules": [
    {"ID": "site", "AllowedOrigins": [SITE, "https://*.example.org"], "AllowedMethods": ["GET", "PUT", "POST"],
     "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag", "x-amz-version-id"],
     "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]}
_http = urllib3.PoolManager(retries=False)


def _error_code(e: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def _cors(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("access-control-") or k.lower() == "vary"}


def _preflight(server, path: str, origin: str | None, method: str | None, req_headers: str | None = None):
    h = {}
    if origin is not None:
        h["origin"] = origin
    if method is not None:
        h["access-control-request-method"] = method
    if req_headers is not None:
        h["access-control-request-headers"] = req_headers
    return request(server, "OPTIONS", path, headers=h, sign=False)


# --- the configuration ----------------------------------------------------------------------------------------------

def test_put_get_delete(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert _error_code(e) == (404, "NoSuchCORSConfiguration")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got == RULES["CORSRules"]
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert _error_code(e) == (404, "NoSuchCORSConfiguration")
    s3.delete_bucket_cors(Bucket=bucket)  # deleting nothing: 204 all the same


def test_other_bucket_settings_survive(s3, bucket):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "cors", "Value": "cors"}]})
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)  # "cors" in the props text is not a configuration
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    s3.delete_bucket_cors(Bucket=bucket)
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "cors", "Value": "cors"}]


@pytest.mark.parametrize("rules,code,message", [
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest",
     "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
    ([{"AllowedOrigins": ["https://*.*.com"], "AllowedMethods": ["GET"]}], "InvalidRequest",
     'AllowedOrigin "https://*.*.com" can not have more than one wildcard.'),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}], "InvalidRequest",
     'AllowedHeader "x-*-*" can not have more than one wildcard.'),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["*"]}], "InvalidRequest",
     'ExposeHeader "*" contains wildcard. We currently do not support wildcard for ExposeHeader.'),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "MalformedXML", None),
    ([], "MalformedXML", None),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ID": "x" * 256}], "MalformedXML", None),
])
def test_validation(s3, bucket, rules, code, message):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert _error_code(e) == (400, code)
    if message:
        assert e.value.response["Error"]["Message"] == message


def test_put_needs_content_md5_or_checksum(server, bucket):
    body = (b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            b"</CORSRule></CORSConfiguration>")
    r = request(server, "PUT", f"/{bucket}", [("cors", "")], body=body)
    assert_s3_error(r, 400, "InvalidRequest")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    r = request(server, "PUT", f"/{bucket}", [("cors", "")], headers={"content-md5": wrong}, body=body)
    assert_s3_error(r, 400, "BadDigest")
    right = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = request(server, "PUT", f"/{bucket}", [("cors", "")], headers={"content-md5": right}, body=body)
    assert r.status == 200
    r = request(server, "GET", f"/{bucket}", [("cors", "")])
    assert r.status == 200 and b"<AllowedOrigin>*</AllowedOrigin>" in r.body


def test_permissions(s3, alt_s3, alt_user, bucket):
    for call in (lambda: alt_s3.get_bucket_cors(Bucket=bucket),
                 lambda: alt_s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES),
                 lambda: alt_s3.delete_bucket_cors(Bucket=bucket)):
        with pytest.raises(ClientError) as e:
            call()
        assert _error_code(e) == (403, "AccessDenied")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    alt = {"CanonicalUser": alt_user["canonical_id"]}
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": alt, "Action": "s3:GetBucketCORS", "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Allow", "Principal": alt, "Action": "s3:PutBucketCORS", "Resource": f"arn:aws:s3:::{bucket}"}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    try:
        assert alt_s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES["CORSRules"]
        alt_s3.delete_bucket_cors(Bucket=bucket)  # DeleteBucketCors is s3:PutBucketCORS
        with pytest.raises(ClientError) as e:
            alt_s3.get_bucket_cors(Bucket=bucket)
        assert _error_code(e) == (404, "NoSuchCORSConfiguration")
    finally:
        s3.delete_bucket_policy(Bucket=bucket)


# --- preflights -----------------------------------------------------------------------------------------------------

def test_preflight(server, s3, bucket):
    r = _preflight(server, f"/{bucket}/k", SITE, "PUT")
    root = assert_s3_error(r, 403, "AccessForbidden")
    assert root.findtext("Message") == "CORSResponse: CORS is not enabled for this bucket."
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    r = _preflight(server, f"/{bucket}/k", SITE, "PUT", "Content-Type, X-Amz-Date")
    assert r.status == 200
    assert _cors(r.headers) == {
        "access-control-allow-origin": SITE, "access-control-allow-methods": "GET, PUT, POST",
        "access-control-allow-headers": "content-type, x-amz-date",
        "access-control-expose-headers": "ETag, x-amz-version-id", "access-control-max-age": "600",
        "access-control-allow-credentials": "true", "vary": VARY}
    r = _preflight(server, f"/{bucket}", "https://x.example.org", "POST")  # the bucket, a wildcard origin
    assert r.status == 200 and r.header("access-control-allow-origin") == "https://x.example.org"
    r = _preflight(server, f"/{bucket}/k", "https://else.example", "GET")  # falls through to the "*" rule
    assert _cors(r.headers) == {"access-control-allow-origin": "*", "access-control-allow-methods": "GET, HEAD",
                                "vary": VARY}
    for origin, method, hdrs in (("https://else.example", "PUT", None), (SITE, "DELETE", None),
                                 (SITE, "PUT", "authorization"), ("https://else.example", "GET", "content-type")):
        r = _preflight(server, f"/{bucket}/k", origin, method, hdrs)
        root = assert_s3_error(r, 403, "AccessForbidden")
        assert root.findtext("Method") == method and root.findtext("ResourceType") == "OBJECT"
        assert r.header("access-control-allow-origin") is None
    assert_s3_error(_preflight(server, f"/{bucket}/k", None, "GET"), 400, "BadRequest")
    assert_s3_error(_preflight(server, f"/{bucket}/k", SITE, None), 400, "BadRequest")
    assert_s3_error(_preflight(server, "/no-such-bucket-for-cors/k", SITE, "GET"), 404, "NoSuchBucket")


# --- actual responses -----------------------------------------------------------------------------------------------

def test_actual_responses(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    r = request(server, "GET", f"/{bucket}/k", headers={"origin": SITE})
    assert r.status == 200 and _cors(r.headers) == {}  # no configuration: no headers
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    site_headers = {"access-control-allow-origin": SITE, "access-control-allow-methods": "GET, PUT, POST",
                    "access-control-expose-headers": "ETag, x-amz-version-id", "access-control-max-age": "600",
                    "access-control-allow-credentials": "true", "vary": VARY}
    r = request(server, "GET", f"/{bucket}/k", headers={"origin": SITE})
    assert r.status == 200 and r.body == b"hello" and _cors(r.headers) == site_headers
    r = request(server, "GET", f"/{bucket}/k")
    assert r.status == 200 and _cors(r.headers) == {}  # no Origin: nothing added
    r = request(server, "HEAD", f"/{bucket}/k", headers={"origin": SITE})  # HEAD: only the "*" rule allows it
    assert r.status == 200 and r.header("access-control-allow-origin") == "*"
    r = request(server, "DELETE", f"/{bucket}/k", headers={"origin": SITE})  # no rule allows DELETE
    assert r.status == 204 and _cors(r.headers) == {}
    r = request(server, "GET", f"/{bucket}/missing", headers={"origin": SITE})  # an error answer too
    assert_s3_error(r, 404, "NoSuchKey")
    assert _cors(r.headers) == site_headers
    r = request(server, "GET", f"/{bucket}/k", headers={"origin": SITE}, sign=False)  # anonymous: refused, with CORS
    assert_s3_error(r, 403, "AccessDenied")
    assert r.header("access-control-allow-origin") == SITE
    r = request(server, "GET", f"/{bucket}/k", headers={"origin": SITE}, secret_key="wrong" * 8)  # bad signature
    assert_s3_error(r, 403, "SignatureDoesNotMatch")
    assert r.header("access-control-allow-origin") == SITE
    s3.delete_bucket_cors(Bucket=bucket)
    r = request(server, "GET", f"/{bucket}/missing", headers={"origin": SITE})
    assert _cors(r.headers) == {}


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_presigned(server, s3, bucket, signature_version):
    signer = client(server, signature_version=signature_version)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    put_url = signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"})
    r = _http.request("PUT", put_url, body=b"presigned", headers={"Origin": SITE})
    assert r.status == 200, r.data
    assert r.headers["Access-Control-Allow-Origin"] == SITE and r.headers["Access-Control-Expose-Headers"]
    get_url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"})
    r = _http.request("GET", get_url, headers={"Origin": "https://x.example.org"})
    assert r.status == 200 and r.data == b"presigned"
    assert r.headers["Access-Control-Allow-Origin"] == "https://x.example.org"
    r = _http.request("GET", get_url, headers={"Origin": "https://else.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # a preflight of the presigned URL ignores its signature
    path = urlsplit(put_url)
    r = _preflight(server, f"{path.path}?{path.query}", SITE, "PUT", "content-type")
    assert r.status == 200 and r.header("access-control-allow-origin") == SITE


def test_post_object_upload(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    post = s3.generate_presigned_post(bucket, "posted")
    r = _http.request("POST", post["url"], fields={**post["fields"], "file": ("f.txt", b"form")},
                      headers={"Origin": SITE})
    assert r.status == 204, r.data
    assert r.headers["Access-Control-Allow-Origin"] == SITE
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert s3.get_object(Bucket=bucket, Key="posted")["Body"].read() == b"form"


def test_config_change_is_seen_at_once(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    assert request(server, "GET", f"/{bucket}/k", headers={"origin": SITE}).header(
        "access-control-allow-origin") == SITE
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://other.example"], "AllowedMethods": ["GET"]}]})
    assert request(server, "GET", f"/{bucket}/k", headers={"origin": SITE}).header(
        "access-control-allow-origin") is None
    assert _preflight(server, f"/{bucket}/k", SITE, "GET").status == 403


def test_client_config_sends_checksum(server, bucket):
    # boto3 without its default flexible checksums still sends Content-MD5 for PutBucketCors
    c = client(server, request_checksum_calculation="when_required")
    c.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    assert c.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES["CORSRules"]

