"""Object and bucket tagging against a real Pails server, boto3 default configuration."""

from __future__ import annotations

import random
import string
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _tagset(n: int) -> list[dict[str, str]]:
    return [{"Key": str(i), "Value": str(i)} for i in range(n)]


def _rand(n: int) -> str:
    return "".join(random.choice(string.ascii_letters) for _ in range(n))


def _tags(s3, bucket: str, key: str) -> list[dict[str, str]]:
    return s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]


# --- object tagging ------------------------------------------------------------------------------------------------

def test_put_get_delete_object_tagging(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"data", Metadata={"m": "1"})
    assert _tags(s3, bucket, "k") == []
    assert "x-amz-tagging-count" not in s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]
    tagset = [{"Key": "zeta", "Value": "last"}, {"Key": "alpha", "Value": ""}, {"Key": "with space", "Value": "a+b=c"}]
    r = s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tagset})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _tags(s3, bucket, "k") == sorted(tagset, key=lambda t: t["Key"])  # sorted by key, as S3 and RGW
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "3"
    assert head["ETag"] == put["ETag"] and head["Metadata"] == {"m": "1"}
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["TagCount"] == 3
    assert "x-amz-tagging" not in got["ResponseMetadata"]["HTTPHeaders"]
    assert got["Body"].read() == b"data"
    # a PUT replaces the whole set
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "only", "Value": "one"}]})
    assert _tags(s3, bucket, "k") == [{"Key": "only", "Value": "one"}]
    r = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _tags(s3, bucket, "k") == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")
    # an empty set clears them too
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": _tagset(2)})
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": []})
    assert _tags(s3, bucket, "k") == []


def test_object_tagging_xml_shape(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=b%2Bc")
    captured: list[bytes] = []

    def capture(http_response, **_):
        captured.append(http_response.content)
    s3.meta.events.register("after-call.s3.GetObjectTagging", capture)
    try:
        assert _tags(s3, bucket, "k") == [{"Key": "a", "Value": "b+c"}]
    finally:
        s3.meta.events.unregister("after-call.s3.GetObjectTagging", capture)
    assert b'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a</Key>' \
           b"<Value>b+c</Value></Tag></TagSet></Tagging>" in captured[0]


def test_tag_limits(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": _tagset(10)})
    assert _tags(s3, bucket, "k") == _tagset(10)
    biggest = [{"Key": _rand(128), "Value": _rand(256)} for _ in range(10)]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": biggest})
    assert _tags(s3, bucket, "k") == sorted(biggest, key=lambda t: t["Key"])
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    bad_sets = [
        _tagset(11),
        [{"Key": _rand(129), "Value": "v"}],
        [{"Key": "k", "Value": _rand(257)}],
        [{"Key": "same", "Value": "1"}, {"Key": "same", "Value": "2"}],
        [{"Key": "aws:reserved", "Value": "v"}],
        [{"Key": "comma,key", "Value": "v"}],
        [{"Key": "k", "Value": "hash#value"}],
        [{"Key": "k", "Value": "<&>"}],
    ]
    for tagset in bad_sets:
        with pytest.raises(ClientError) as e:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tagset})
        assert _error(e) == (400, "InvalidTag"), tagset
        assert _tags(s3, bucket, "k") == []
    # Unicode letters, digits, spaces and + - = . _ : / @ are allowed
    fine = [{"Key": "Ünïcødé 1", "Value": "+-=._:/@ ok"}]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": fine})
    assert _tags(s3, bucket, "k") == fine


def test_malformed_tagging_xml(s3, bucket, server):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    bodies = [b"<Tagging></Tagging>", b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
              b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>", b"<NotTagging/>", b"not xml"]
    for body in bodies:
        def set_body(params, body=body, **_):
            params["body"] = body  # checksums are computed after this event
        s3.meta.events.register("before-call.s3.PutObjectTagging", set_body)
        try:
            with pytest.raises(ClientError) as e:
                s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": []})
        finally:
            s3.meta.events.unregister("before-call.s3.PutObjectTagging", set_body)
        assert _error(e) == (400, "MalformedXML"), body


def test_object_tagging_missing_key(s3, bucket):
    for call in (lambda: s3.get_object_tagging(Bucket=bucket, Key="nope"),
                 lambda: s3.put_object_tagging(Bucket=bucket, Key="nope", Tagging={"TagSet": _tagset(1)}),
                 lambda: s3.delete_object_tagging(Bucket=bucket, Key="nope")):
        with pytest.raises(ClientError) as e:
            call()
        assert _error(e) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=f"{bucket}-nosuch", Key="nope")
    assert _error(e) == (404, "NoSuchBucket")


def test_put_object_with_tagging_header(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"A" * 100, Tagging="foo=bar&bar")
    assert _tags(s3, bucket, "k") == [{"Key": "bar", "Value": ""}, {"Key": "foo", "Value": "bar"}]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"A" * 100
    # URL-encoded keys and values
    s3.put_object(Bucket=bucket, Key="enc", Body=b"x", Tagging="a%20b=c%2Fd&%C3%BC=%40")
    assert _tags(s3, bucket, "enc") == [{"Key": "a b", "Value": "c/d"}, {"Key": "ü", "Value": "@"}]
    # a large (file-backed) object keeps its tags too
    s3.put_object(Bucket=bucket, Key="big", Body=b"B" * (300 * 1024), Tagging="size=big")
    assert _tags(s3, bucket, "big") == [{"Key": "size", "Value": "big"}]
    # overwriting an object drops its tags
    s3.put_object(Bucket=bucket, Key="k", Body=b"new")
    assert _tags(s3, bucket, "k") == []
    # an empty header means no tags
    s3.put_object(Bucket=bucket, Key="none", Body=b"x", Tagging="")
    assert _tags(s3, bucket, "none") == []


def test_put_object_with_bad_tagging_header(s3, bucket):
    for header in ("&".join(f"k{i}=v" for i in range(11)), "a=1&a=2", f"{'k' * 129}=v", f"k={'v' * 257}"):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging=header)
        assert _error(e) == (400, "InvalidTag"), header
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert e.value.response["Error"]["Code"] == "404"


def test_multipart_upload_with_tagging(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="Hello=World&foo=bar")
    r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"x")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
    assert _tags(s3, bucket, "mp") == [{"Key": "Hello", "Value": "World"}, {"Key": "foo", "Value": "bar"}]
    assert s3.head_object(Bucket=bucket, Key="mp")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    s3.delete_object_tagging(Bucket=bucket, Key="mp")
    assert _tags(s3, bucket, "mp") == []


def test_object_tagging_permissions(s3, alt_s3, bucket, server):
    s3.put_object(Bucket=bucket, Key="private", Body=b"x", Tagging="a=1")
    s3.put_object(Bucket=bucket, Key="public", Body=b"x", Tagging="a=1", ACL="public-read")
    with pytest.raises(ClientError) as e:
        alt_s3.get_object_tagging(Bucket=bucket, Key="private")
    assert _error(e) == (403, "AccessDenied")
    assert _tags(alt_s3, bucket, "public") == [{"Key": "a", "Value": "1"}]
    # reading is not writing
    for call in (lambda: alt_s3.put_object_tagging(Bucket=bucket, Key="public", Tagging={"TagSet": _tagset(1)}),
                 lambda: alt_s3.delete_object_tagging(Bucket=bucket, Key="public")):
        with pytest.raises(ClientError) as e:
            call()
        assert _error(e) == (403, "AccessDenied")
    assert _tags(s3, bucket, "public") == [{"Key": "a", "Value": "1"}]
    # a missing key is not told apart from a forbidden one without READ on the bucket
    with pytest.raises(ClientError) as e:
        alt_s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert _error(e) == (403, "AccessDenied")
    # anonymous
    with pytest.raises(urllib.error.HTTPError) as he:
        urllib.request.urlopen(f"{server.endpoint}/{bucket}/private?tagging", timeout=10)
    assert he.value.code == 403
    with urllib.request.urlopen(f"{server.endpoint}/{bucket}/public?tagging", timeout=10) as r:
        assert b"<Key>a</Key>" in r.read()
    # FULL_CONTROL on the object lets another user change its tags
    s3.put_object(Bucket=bucket, Key="shared", Body=b"x",
                  GrantFullControl=f"id={_alt_id(alt_s3)},id={_alt_id(s3)}")
    alt_s3.put_object_tagging(Bucket=bucket, Key="shared", Tagging={"TagSet": _tagset(1)})
    assert _tags(s3, bucket, "shared") == _tagset(1)


def _alt_id(alt_s3) -> str:
    return alt_s3.list_buckets()["Owner"]["ID"]


# --- bucket tagging --------------------------------------------------------------------------------------------------

def test_bucket_tagging(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert _error(e) == (404, "NoSuchTagSet")
    tagset = [{"Key": "team", "Value": "storage"}, {"Key": "cost-centre", "Value": "42"}]
    r = s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tagset[::-1]  # sorted by key
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tagset(50)})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == sorted(_tagset(50), key=lambda t: t["Key"])
    for bad in (_tagset(51), [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
                [{"Key": _rand(129), "Value": "v"}]):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": bad})
        assert _error(e) == (400, "InvalidTag")
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    r = s3.delete_bucket_tagging(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert _error(e) == (404, "NoSuchTagSet")
    s3.delete_bucket_tagging(Bucket=bucket)  # deleting nothing is fine


def test_bucket_tagging_owner_only(s3, alt_s3, bucket):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tagset(1)})
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    for call in (lambda: alt_s3.get_bucket_tagging(Bucket=bucket),
                 lambda: alt_s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tagset(2)}),
                 lambda: alt_s3.delete_bucket_tagging(Bucket=bucket)):
        with pytest.raises(ClientError) as e:
            call()
        assert _error(e) == (403, "AccessDenied")
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == _tagset(1)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=f"{bucket}-nosuch")
    assert _error(e) == (404, "NoSuchBucket")


def test_bucket_tags_and_object_tags_are_separate(s3, bucket):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "b", "Value": "1"}]})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert _tags(s3, bucket, "k") == []
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "o", "Value": "2"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "b", "Value": "1"}]
