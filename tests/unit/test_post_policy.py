"""POST policy documents: parsing, condition checks, SigV2 and SigV4 form signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from pails.access import post_policy as pp
from pails.errors import S3Error

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AKID = "AKIAIOSFODNN7EXAMPLE"


def b64(doc: object) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def lookup(key: str) -> str | None:
    return SECRET if key == AKID else None


def code_of(fn, *args) -> str:
    with pytest.raises(S3Error) as e:
        fn(*args)
    return e.value.code


# --- signatures -----------------------------------------------------------------------------------------------------


def test_sigv2_form() -> None:
    policy = b64({"expiration": "2030-01-01T00:00:00Z", "conditions": []})
    sig = base64.b64encode(hmac.new(SECRET.encode(), policy.encode(), hashlib.sha1).digest()).decode()
    fields = {"policy": policy, "awsaccesskeyid": AKID, "signature": sig}
    assert pp.authenticate_form(fields, lookup) == AKID
    assert code_of(pp.authenticate_form, {**fields, "signature": sig[::-1]}, lookup) == "SignatureDoesNotMatch"
    assert code_of(pp.authenticate_form, {**fields, "awsaccesskeyid": "nobody"}, lookup) == "InvalidAccessKeyId"
    no_sig = {"policy": policy, "awsaccesskeyid": AKID}
    assert code_of(pp.authenticate_form, no_sig, lookup) == "InvalidArgument"
    assert code_of(pp.authenticate_form, {"policy": policy, "signature": sig}, lookup) == "InvalidArgument"


def test_anonymous_form() -> None:
    assert pp.authenticate_form({"key": "k", "acl": "public-read"}, lookup) is None
    # signature fields without a policy are refused, not ignored
    assert code_of(pp.authenticate_form, {"awsaccesskeyid": AKID, "signature": "x"}, lookup) == "InvalidArgument"


def test_sigv4_form_aws_example() -> None:
    """The worked example of AWS's sigv4-post-example page."""
    policy = (
        "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6"
        "ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFj"
        "bCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tl"
        "dC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5"
        "cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZl"
        "ci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoN"
        "CiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVx"
        "dWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAx"
        "NTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9")
    fields = {
        "key": "user/user1/${filename}", "acl": "public-read",
        "success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
        "content-type": "image/jpeg", "x-amz-meta-uuid": "14365123651274",
        "x-amz-server-side-encryption": "AES256",
        "x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
        "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-date": "20151229T000000Z", "x-amz-meta-tag": "",
        "policy": policy, "x-amz-signature": "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e",
    }
    assert pp.authenticate_form(fields, lookup) == AKID
    parsed = pp.parse_policy(policy)
    fields["key"] = "user/user1/photo.jpg"
    pp.check_conditions(parsed, fields, "sigv4examplebucket")
    pp.check_coverage(parsed, fields)
    pp.check_expiration(parsed, 1451001600)  # 2015-12-25
    assert code_of(pp.check_expiration, parsed, 1451563200) == "AccessDenied"  # 2015-12-31
    assert code_of(pp.check_conditions, parsed, fields, "otherbucket") == "AccessDenied"
    bad = {**fields, "x-amz-signature": "0" * 64}
    assert code_of(pp.authenticate_form, bad, lookup) == "SignatureDoesNotMatch"
    for name in ("x-amz-credential", "x-amz-algorithm"):
        assert code_of(pp.authenticate_form, {**fields, name: "bogus"}, lookup) == "InvalidArgument"
    nobody = {**fields, "x-amz-credential": "NOBODY/20151229/us-east-1/s3/aws4_request"}
    assert code_of(pp.authenticate_form, nobody, lookup) == "InvalidAccessKeyId"


# --- the document ---------------------------------------------------------------------------------------------------


def test_parse_policy() -> None:
    doc = {"expiration": "2030-01-02T03:04:05.000Z", "conditions": [
        {"bUcKeT": "b"}, ["StArTs-WiTh", "$KeY", "user/"], ["eq", "$acl", "private"],
        ["content-length-range", 10, "100"], {"success_action_status": 201}]}
    policy = pp.parse_policy(b64(doc))
    assert policy.expiration == 1893553445
    assert [(c.op, c.field, c.value) for c in policy.conditions] == [
        ("eq", "bucket", "b"), ("starts-with", "key", "user/"), ("eq", "acl", "private"),
        ("eq", "success_action_status", "201")]
    assert policy.length_ranges == [(10, 100)]
    assert pp.min_length(policy) == 10 and pp.max_length(policy) == 100
    assert pp.max_length(None) is None and pp.min_length(None) == 0


def test_policy_escapes_and_whitespace() -> None:
    text = '{"expiration": "2030-01-01T00:00:00Z", "conditions": [["starts-with", "$key", "\\$a\\\\$b\\v"]]}'
    encoded = base64.encodebytes(text.encode()).decode()  # with newlines, as old SDKs sent it
    policy = pp.parse_policy(encoded)
    assert policy.conditions[0].value == "$a\\$b\x0b"


BAD_POLICIES = [
    "not base64!",
    base64.b64encode(b"\xff\xfe").decode(),
    base64.b64encode(b"{not json").decode(),
    b64([1, 2]),
    b64({"conditions": []}),  # no expiration
    b64({"expiration": "2030-01-01T00:00:00Z"}),  # no conditions
    b64({"EXPIRATION": "2030-01-01T00:00:00Z", "conditions": []}),
    b64({"expiration": "2030-01-01T00:00:00Z", "CONDITIONS": []}),
    b64({"expiration": "2030-01-01 00:00:00.123456+00:00", "conditions": []}),  # str(datetime)
    b64({"expiration": "2030-13-01T00:00:00Z", "conditions": []}),
    b64({"expiration": 1893456000, "conditions": []}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": {}}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": [{}]}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": [{"a": "1", "b": "2"}]}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": [{"a": ["x"]}]}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 0]]}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 0]]}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 0, True]]}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "key", "x"]]}),  # no $
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$key"]]}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": [["in", "$key", "x"]]}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": [[]]}),
    b64({"expiration": "2030-01-01T00:00:00Z", "conditions": ["eq"]}),
    base64.b64encode(b"[" * 100_000).decode(),
]


@pytest.mark.parametrize("policy", BAD_POLICIES)
def test_malformed_policies(policy: str) -> None:
    with pytest.raises(S3Error) as e:
        pp.parse_policy(policy)
    assert (e.value.code, e.value.status) == ("InvalidPolicyDocument", 400)


# --- conditions -----------------------------------------------------------------------------------------------------


def policy_of(*conditions: object) -> pp.Policy:
    return pp.parse_policy(b64({"expiration": "2030-01-01T00:00:00Z", "conditions": list(conditions)}))


def test_conditions() -> None:
    p = policy_of({"acl": "private"}, ["starts-with", "$key", "user/"], ["starts-with", "$x-amz-meta-any", ""],
                  ["eq", "$success_action_status", "201"], {"bucket": "b"})
    ok = {"acl": "private", "key": "user/x", "x-amz-meta-any": "whatever", "success_action_status": "201"}
    pp.check_conditions(p, ok, "b")
    pp.check_conditions(p, {k: v for k, v in ok.items() if k != "x-amz-meta-any"}, "b")  # starts-with ""
    for change in ({"acl": "public-read"}, {"key": "other/x"}, {"success_action_status": "200"}):
        with pytest.raises(S3Error) as e:
            pp.check_conditions(p, {**ok, **change}, "b")
        assert e.value.code == "AccessDenied" and "Policy Condition failed" in e.value.message
    assert code_of(pp.check_conditions, p, ok, "other") == "AccessDenied"
    missing = policy_of(["starts-with", "$x-amz-meta-foo", "bar"])
    assert code_of(pp.check_conditions, missing, {}, "b") == "AccessDenied"
    eq_empty = policy_of(["eq", "$x-amz-meta-foo", ""])
    assert code_of(pp.check_conditions, eq_empty, {"x-amz-meta-foo": "barclamp"}, "b") == "AccessDenied"


def test_content_type_list() -> None:
    p = policy_of(["starts-with", "$Content-Type", "image/"])
    pp.check_conditions(p, {"content-type": "image/png, image/jpeg"}, "b")
    assert code_of(pp.check_conditions, p, {"content-type": "image/png,text/plain"}, "b") == "AccessDenied"


def test_coverage() -> None:
    p = policy_of({"key": "k"}, ["starts-with", "$Content-Type", ""])
    pp.check_coverage(p, ["key", "content-type", "file", "policy", "signature", "awsaccesskeyid",
                          "x-amz-signature", "x-ignore-submit", "x-amz-checksum-sha256"])
    with pytest.raises(S3Error) as e:
        pp.check_coverage(p, ["key", "acl", "bucket"])
    assert e.value.code == "AccessDenied"
    assert e.value.message == "Invalid according to Policy: Extra input fields: acl, bucket"


def test_check_form_order_and_expiry() -> None:
    p = pp.parse_policy(b64({"expiration": "2020-01-01T00:00:00.5Z", "conditions": [{"key": "k"}]}))
    with pytest.raises(S3Error) as e:
        pp.check_form(p, {"key": "k"}, "b", 1577836801)
    assert e.value.message == "Invalid according to Policy: Policy expired."
    pp.check_form(p, {"key": "k"}, "b", 1577836799)


def test_size_errors() -> None:
    assert pp.too_large(10).code == "EntityTooLarge" and pp.too_large(10).status == 400
    small = pp.too_small(3, 512)
    assert (small.code, small.status, small.extra["MinSizeAllowed"]) == ("EntityTooSmall", 400, "512")
