"""Bucket policies against a real server: stored, validated, and enforced
together with ACLs (an explicit Deny wins; an Allow grants)."""

from __future__ import annotations

import json

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


@pytest.fixture
def anon(server):
    return boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                        config=Config(signature_version=botocore.UNSIGNED))


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_put_get_delete_policy(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert _code(e) == (404, "NoSuchBucketPolicy")
    text = _policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*"})
    s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(text)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert _code(e) == (404, "NoSuchBucketPolicy")


@pytest.mark.parametrize("bad", ["{not json", _policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                        "Resource": "arn:aws:s3:::some-other-bucket/*"})])
def test_malformed_policy_is_refused(s3, bucket, bad):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=bad)
    assert _code(e) == (400, "MalformedPolicy")


def test_only_the_owner_manages_the_policy(alt_s3, s3, bucket):
    with pytest.raises(ClientError) as e:
        alt_s3.put_bucket_policy(Bucket=bucket, Policy=_policy(
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert _code(e)[0] == 403
    with pytest.raises(ClientError) as e:
        alt_s3.get_bucket_policy(Bucket=bucket)
    assert _code(e)[0] == 403


def test_allow_grants_anonymous_read_and_list(s3, anon, bucket):
    s3.put_object(Bucket=bucket, Key="pub/a", Body=b"hello")
    with pytest.raises(ClientError):
        anon.get_object(Bucket=bucket, Key="pub/a")
    s3.put_bucket_policy(Bucket=bucket, Policy=_policy(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/pub/*"]}))
    assert anon.get_object(Bucket=bucket, Key="pub/a")["Body"].read() == b"hello"
    assert [o["Key"] for o in anon.list_objects_v2(Bucket=bucket)["Contents"]] == ["pub/a"]
    with pytest.raises(ClientError) as e:
        anon.put_object(Bucket=bucket, Key="pub/b", Body=b"x")
    assert _code(e) == (403, "AccessDenied")


def test_explicit_deny_beats_acl_and_owner(s3, alt_s3, bucket, alt_user):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    s3.put_object(Bucket=bucket, Key="secret/x", Body=b"s")
    s3.put_bucket_policy(Bucket=bucket, Policy=_policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/secret/*"}))
    for client in (alt_s3, s3):
        with pytest.raises(ClientError) as e:
            client.get_object(Bucket=bucket, Key="secret/x")
        assert _code(e) == (403, "AccessDenied")
    alt_s3.put_object(Bucket=bucket, Key="open/y", Body=b"y")  # the ACL still grants elsewhere
    # The owner can always take the policy away again.
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="secret/x")["Body"].read() == b"s"


def test_conditions_on_request_headers(s3, alt_s3, bucket, alt_user):
    s3.put_bucket_policy(Bucket=bucket, Policy=_policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::x:user/{alt_user['display_name']}"},
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}))
    with pytest.raises(ClientError) as e:
        alt_s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert _code(e) == (403, "AccessDenied")
    alt_s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_existing_object_tag_condition(s3, anon, bucket):
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"t", Tagging="security=public")
    s3.put_object(Bucket=bucket, Key="untagged", Body=b"u")
    s3.put_bucket_policy(Bucket=bucket, Policy=_policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/security": "public"}}}))
    assert anon.get_object(Bucket=bucket, Key="tagged")["Body"].read() == b"t"
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=bucket, Key="untagged")
    assert _code(e) == (403, "AccessDenied")


def test_delete_objects_checks_each_key(s3, alt_s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="tmp/b", Body=b"b")
    s3.put_bucket_policy(Bucket=bucket, Policy=_policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/tmp/*"}))
    out = alt_s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep/a"}, {"Key": "tmp/b"}]})
    assert [d["Key"] for d in out.get("Deleted", [])] == ["tmp/b"]
    assert [(e["Key"], e["Code"]) for e in out.get("Errors", [])] == [("keep/a", "AccessDenied")]
