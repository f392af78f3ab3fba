"""Requests that name a version are authorized as AWS does it, by the
*Version actions ("Actions, resources, and condition keys for Amazon S3"):
DeleteObject with versionId is s3:DeleteObjectVersion (also each entry of
DeleteObjects), GetObject/HeadObject s3:GetObjectVersion, tagging and ACLs
their *Version* variants, GetObjectAttributes s3:GetObjectVersionAttributes
and s3:GetObjectVersion, a CopyObject source s3:GetObjectVersion.  A policy
that allows s3:DeleteObject but denies s3:DeleteObjectVersion lets a
principal add delete markers and never remove a version."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


def _setup(s3, alt_user: dict[str, str], deny: list[str], allow: list[str] | None = None) -> tuple[str, str, str]:
    """A versioned bucket with key "k" in two versions; the policy lets the
    alt user do everything on its objects (or only ``allow``) except ``deny``."""
    bucket = f"va-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one", Tagging="a=1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two", Tagging="a=2")["VersionId"]
    alt = {"AWS": f"arn:aws:iam::x:user/{alt_user['display_name']}"}
    statements = [{"Effect": "Allow", "Principal": alt, "Action": allow or ["s3:*"],
                   "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]
    if deny:
        statements.append({"Effect": "Deny", "Principal": alt, "Action": deny, "Resource": f"arn:aws:s3:::{bucket}/*"})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return bucket, v1, v2


def _versions(s3, bucket: str) -> tuple[list[str], int]:
    r = s3.list_object_versions(Bucket=bucket)
    return [v["VersionId"] for v in r.get("Versions", [])], len(r.get("DeleteMarkers", []))


def test_delete_object_version_denied_delete_object_allowed(s3, alt_s3, alt_user) -> None:
    bucket, v1, v2 = _setup(s3, alt_user, ["s3:DeleteObjectVersion"])
    with pytest.raises(ClientError) as e:
        alt_s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    assert _code(e) == (403, "AccessDenied")
    r = alt_s3.delete_object(Bucket=bucket, Key="k")  # a delete marker: s3:DeleteObject
    assert r["DeleteMarker"] is True
    marker = r["VersionId"]
    with pytest.raises(ClientError) as e:  # removing the marker is a version delete too
        alt_s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert _code(e) == (403, "AccessDenied")
    assert _versions(s3, bucket) == ([v2, v1], 1)
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)  # the owner is not denied


def test_delete_objects_checks_each_versioned_entry_as_delete_object_version(s3, alt_s3, alt_user) -> None:
    bucket, v1, v2 = _setup(s3, alt_user, ["s3:DeleteObjectVersion"])
    s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    r = alt_s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "k", "VersionId": v1}, {"Key": "other"}, {"Key": "k", "VersionId": v2}]})
    assert sorted((e["Key"], e["VersionId"], e["Code"]) for e in r.get("Errors", [])) == sorted(
        [("k", v1, "AccessDenied"), ("k", v2, "AccessDenied")])
    assert [(d["Key"], d.get("DeleteMarker")) for d in r["Deleted"]] == [("other", True)]
    assert _versions(s3, bucket)[0][:2] == [v2, v1]


def test_delete_object_denied_delete_object_version_allowed(s3, alt_s3, alt_user) -> None:
    bucket, v1, v2 = _setup(s3, alt_user, ["s3:DeleteObject"])
    with pytest.raises(ClientError) as e:
        alt_s3.delete_object(Bucket=bucket, Key="k")
    assert _code(e) == (403, "AccessDenied")
    r = alt_s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}, {"Key": "k", "VersionId": v1}]})
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("k", "AccessDenied")]
    assert [(d["Key"], d["VersionId"]) for d in r["Deleted"]] == [("k", v1)]
    alt_s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert _versions(s3, bucket) == ([], 0)


def test_get_and_head_with_version_id_are_get_object_version(s3, alt_s3, alt_user) -> None:
    bucket, v1, _ = _setup(s3, alt_user, ["s3:GetObjectVersion"])
    assert alt_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    alt_s3.head_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as e:
        alt_s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert _code(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        alt_s3.head_object(Bucket=bucket, Key="k", VersionId=v1)
    assert _code(e)[0] == 403
    # A copy whose source names a version reads it as s3:GetObjectVersion.
    alt_s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"})
    with pytest.raises(ClientError) as e:
        alt_s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k", "VersionId": v1})
    assert _code(e) == (403, "AccessDenied")


def test_only_get_object_version_allowed(s3, alt_s3, alt_user) -> None:
    bucket, v1, _ = _setup(s3, alt_user, [], allow=["s3:GetObjectVersion"])
    assert alt_s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    with pytest.raises(ClientError) as e:
        alt_s3.get_object(Bucket=bucket, Key="k")
    assert _code(e) == (403, "AccessDenied")


def test_tagging_with_version_id_uses_the_version_actions(s3, alt_s3, alt_user) -> None:
    bucket, v1, _ = _setup(s3, alt_user, ["s3:GetObjectVersionTagging", "s3:PutObjectVersionTagging",
                                          "s3:DeleteObjectVersionTagging"])
    tags = {"TagSet": [{"Key": "b", "Value": "2"}]}
    assert alt_s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "a", "Value": "2"}]
    alt_s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tags)
    alt_s3.delete_object_tagging(Bucket=bucket, Key="k")
    for call in (lambda: alt_s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1),
                 lambda: alt_s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1, Tagging=tags),
                 lambda: alt_s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=v1)):
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == (403, "AccessDenied")
    assert s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)["TagSet"] == [{"Key": "a", "Value": "1"}]


def test_acl_with_version_id_uses_the_version_actions(s3, alt_s3, alt_user) -> None:
    bucket, v1, _ = _setup(s3, alt_user, ["s3:GetObjectVersionAcl", "s3:PutObjectVersionAcl"])
    alt_s3.get_object_acl(Bucket=bucket, Key="k")
    alt_s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    with pytest.raises(ClientError) as e:
        alt_s3.get_object_acl(Bucket=bucket, Key="k", VersionId=v1)
    assert _code(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        alt_s3.put_object_acl(Bucket=bucket, Key="k", VersionId=v1, ACL="public-read")
    assert _code(e) == (403, "AccessDenied")


@pytest.mark.parametrize("denied", ["s3:GetObjectVersionAttributes", "s3:GetObjectVersion"])
def test_attributes_with_version_id_need_both_version_actions(s3, alt_s3, alt_user, denied: str) -> None:
    bucket, v1, _ = _setup(s3, alt_user, [denied])
    assert alt_s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])["ObjectSize"] == 3
    with pytest.raises(ClientError) as e:
        alt_s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=v1, ObjectAttributes=["ObjectSize"])
    assert _code(e) == (403, "AccessDenied")


def test_attributes_without_version_id_need_get_object_too(s3, alt_s3, alt_user) -> None:
    bucket, _, _ = _setup(s3, alt_user, ["s3:GetObject"])
    with pytest.raises(ClientError) as e:
        alt_s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert _code(e) == (403, "AccessDenied")
