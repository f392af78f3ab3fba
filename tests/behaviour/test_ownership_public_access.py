"""Object Ownership controls and the public access block, against a real server."""

from __future__ import annotations

import json
import uuid

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


def _public_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]})


@pytest.fixture
def new_bucket(s3):
    names = []

    def make(**kwargs) -> str:
        name = f"own-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=name, **kwargs)
        names.append(name)
        return name

    yield make
    for name in names:
        s3.delete_bucket_policy(Bucket=name)
        for o in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=o["Key"])
        s3.delete_bucket(Bucket=name)


def test_no_ownership_controls_by_default(s3, new_bucket):
    bucket = new_bucket()
    with pytest.raises(ClientError) as e:
        s3.get_bucket_ownership_controls(Bucket=bucket)
    assert _code(e) == (404, "OwnershipControlsNotFoundError")


def test_bucket_owner_enforced_disables_acls(s3, alt_s3, new_bucket, server):
    bucket = new_bucket(ObjectOwnership="BucketOwnerEnforced")
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    s3.put_bucket_policy(Bucket=bucket, Policy=_public_policy(bucket))
    alt_s3.put_object(Bucket=bucket, Key="by-alt", Body=b"x")
    owner = s3.get_object_acl(Bucket=bucket, Key="by-alt")["Owner"]
    assert owner["ID"] == s3.list_buckets()["Owner"]["ID"]  # the bucket owner owns it
    with pytest.raises(ClientError) as e:
        alt_s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert _code(e) == (400, "AccessControlListNotSupported")
    alt_s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert _code(e) == (400, "AccessControlListNotSupported")


def test_bucket_owner_preferred(s3, alt_s3, new_bucket):
    bucket = new_bucket(ObjectOwnership="BucketOwnerPreferred")
    s3.put_bucket_policy(Bucket=bucket, Policy=_public_policy(bucket))
    owner_id = s3.list_buckets()["Owner"]["ID"]
    alt_s3.put_object(Bucket=bucket, Key="mine", Body=b"x")
    assert s3.get_object_acl(Bucket=bucket, Key="mine")["Owner"]["ID"] != owner_id
    alt_s3.put_object(Bucket=bucket, Key="theirs", Body=b"x", ACL="bucket-owner-full-control")
    assert s3.get_object_acl(Bucket=bucket, Key="theirs")["Owner"]["ID"] == owner_id


def test_enforced_needs_a_private_bucket_acl(s3, new_bucket):
    bucket = new_bucket(ACL="public-read")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
            "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert _code(e) == (400, "InvalidBucketAclWithObjectOwnership")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_ownership_controls(Bucket=bucket)


def test_public_access_block(s3, alt_s3, new_bucket, server):
    bucket = new_bucket()
    with pytest.raises(ClientError) as e:
        s3.get_public_access_block(Bucket=bucket)
    assert _code(e) == (404, "NoSuchPublicAccessBlockConfiguration")
    conf = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=conf)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == conf
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert _code(e)[0] == 403
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert _code(e)[0] == 403
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=_public_policy(bucket))
    assert _code(e)[0] == 403
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=_public_policy(bucket))


def test_restrict_public_buckets_and_ignore_public_acls(s3, new_bucket, server):
    anon = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                        config=Config(signature_version=botocore.UNSIGNED))
    bucket = new_bucket()
    s3.put_object(Bucket=bucket, Key="foo", Body=b"bar", ACL="public-read")
    assert anon.get_object(Bucket=bucket, Key="foo")["Body"].read() == b"bar"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True})
    with pytest.raises(ClientError) as e:  # the public-read grant is ignored
        anon.get_object(Bucket=bucket, Key="foo")
    assert _code(e)[0] == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=_public_policy(bucket))
    with pytest.raises(ClientError) as e:  # the public policy is restricted to the owner
        anon.get_object(Bucket=bucket, Key="foo")
    assert _code(e)[0] == 403
    assert s3.get_object(Bucket=bucket, Key="foo")["Body"].read() == b"bar"
