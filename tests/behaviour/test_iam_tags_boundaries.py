"""Tags and permissions boundaries of IAM users and roles (docs/iam.md):
the IAM actions with AWS's limits and errors, ``aws:PrincipalTag`` in
policies, and a boundary that caps what identity policies allow."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.behaviour.test_iam import _code, _policy, iam_client
from tests.behaviour.test_sts import s3_with, sts_client
from tests.conftest import client
from tests.pails_server import Server


def _name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def account(server: Server) -> dict[str, str]:
    return server.add_user(_name("tb"), f"{_name()}@example.com")


@pytest.fixture(scope="module")
def root_iam(server: Server, account: dict[str, str]) -> Any:
    return iam_client(server, account["access_key"], account["secret_key"])


@pytest.fixture(scope="module")
def bucket(server: Server, account: dict[str, str]) -> str:
    name = _name("tb-")
    s3 = client(server, account["access_key"], account["secret_key"])
    s3.create_bucket(Bucket=name)
    for key in ("team-a/doc", "team-b/doc", "public/doc"):
        s3.put_object(Bucket=name, Key=key, Body=b"x")
    return name


def _user_with_key(root_iam: Any, **create: Any) -> tuple[str, dict[str, str]]:
    name = _name()
    root_iam.create_user(UserName=name, **create)
    return name, root_iam.create_access_key(UserName=name)["AccessKey"]


def test_user_tags(root_iam: Any) -> None:
    name = _name()
    made = root_iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "a"}])["User"]
    assert made["Tags"] == [{"Key": "team", "Value": "a"}]
    root_iam.tag_user(UserName=name, Tags=[{"Key": "Team", "Value": "b"}, {"Key": "cost", "Value": ""}])
    tags = root_iam.list_user_tags(UserName=name)
    assert sorted((t["Key"], t["Value"]) for t in tags["Tags"]) == [("Team", "b"), ("cost", "")]
    assert not tags["IsTruncated"]
    assert sorted(t["Key"] for t in root_iam.get_user(UserName=name)["User"]["Tags"]) == ["Team", "cost"]
    root_iam.untag_user(UserName=name, TagKeys=["TEAM"])
    assert root_iam.list_user_tags(UserName=name)["Tags"] == [{"Key": "cost", "Value": ""}]
    root_iam.untag_user(UserName=name, TagKeys=["cost"])
    assert root_iam.list_user_tags(UserName=name)["Tags"] == []
    assert "Tags" not in root_iam.get_user(UserName=name)["User"]


def test_role_tags(root_iam: Any) -> None:
    name = _name("r")
    trust = _policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    made = root_iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Tags=[{"Key": "k", "Value": "v"}])
    assert made["Role"]["Tags"] == [{"Key": "k", "Value": "v"}]
    root_iam.tag_role(RoleName=name, Tags=[{"Key": "k2", "Value": "v2"}])
    assert len(root_iam.list_role_tags(RoleName=name)["Tags"]) == 2
    assert len(root_iam.get_role(RoleName=name)["Role"]["Tags"]) == 2
    root_iam.untag_role(RoleName=name, TagKeys=["k"])
    assert root_iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "k2", "Value": "v2"}]


def test_tag_limits_and_errors(root_iam: Any) -> None:
    name = _name()
    root_iam.create_user(UserName=name)
    assert _code(lambda: root_iam.tag_user(UserName=_name(), Tags=[{"Key": "a", "Value": "b"}])) == \
        (404, "NoSuchEntity")
    assert _code(lambda: root_iam.tag_user(UserName=name, Tags=[{"Key": "aws:x", "Value": "b"}])) == \
        (400, "InvalidInput")
    assert _code(lambda: root_iam.tag_user(UserName=name, Tags=[{"Key": "a", "Value": "1"},
                                                                 {"Key": "A", "Value": "2"}])) == (400, "InvalidInput")
    assert _code(lambda: root_iam.tag_user(UserName=name, Tags=[{"Key": "bad#key", "Value": "1"}])) == \
        (400, "ValidationError")
    root_iam.tag_user(UserName=name, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert _code(lambda: root_iam.tag_user(UserName=name, Tags=[{"Key": "one-more", "Value": "v"}])) == \
        (409, "LimitExceeded")
    root_iam.tag_user(UserName=name, Tags=[{"Key": "K0", "Value": "replaced"}])  # the same key: no new tag
    assert len(root_iam.list_user_tags(UserName=name)["Tags"]) == 50
    page = root_iam.list_user_tags(UserName=name, MaxItems=20)
    assert len(page["Tags"]) == 20 and page["IsTruncated"]
    rest = root_iam.list_user_tags(UserName=name, Marker=page["Marker"])
    assert len(rest["Tags"]) == 30 and not rest["IsTruncated"]


def test_principal_tag_in_a_policy(server: Server, root_iam: Any, bucket: str) -> None:
    name, key = _user_with_key(root_iam, Tags=[{"Key": "team", "Value": "team-a"}])
    root_iam.put_user_policy(UserName=name, PolicyName="own-team", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/${{aws:PrincipalTag/team}}/*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/team": "team-b"}}}))
    s3 = client(server, key["AccessKeyId"], key["SecretAccessKey"])
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="team-b/doc")) == (403, "AccessDenied")
    root_iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "team-b"}])  # applies at once
    assert s3.get_object(Bucket=bucket, Key="team-b/doc")["Body"].read() == b"x"


def test_role_tags_are_the_sessions_principal_tags(server: Server, account: dict[str, str], root_iam: Any,
                                                   bucket: str) -> None:
    name = _name("r")
    trust = _policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account['account_id']}:root"},
                     "Action": "sts:AssumeRole"})
    arn = root_iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust,
                               Tags=[{"Key": "level", "Value": "reader"}])["Role"]["Arn"]
    root_iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/level": "reader", "aws:PrincipalType": "AssumedRole"}}}))
    creds = sts_client(server, account["access_key"], account["secret_key"]).assume_role(
        RoleArn=arn, RoleSessionName="tagged")["Credentials"]
    s3 = s3_with(server, creds)
    assert s3.get_object(Bucket=bucket, Key="public/doc")["Body"].read() == b"x"
    root_iam.untag_role(RoleName=name, TagKeys=["level"])
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="public/doc")) == (403, "AccessDenied")


# --- permissions boundaries ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boundary_arn(root_iam: Any, bucket: str) -> str:
    """Reads of the public/ prefix only, and never a delete."""
    return str(root_iam.create_policy(PolicyName=_name("boundary"), PolicyDocument=_policy(
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "NotResource": f"arn:aws:s3:::{bucket}/public/*"},
    ))["Policy"]["Arn"])


def test_user_boundary_caps_identity_policies(server: Server, root_iam: Any, bucket: str,
                                              boundary_arn: str) -> None:
    name, key = _user_with_key(root_iam)
    root_iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    s3 = client(server, key["AccessKeyId"], key["SecretAccessKey"])
    s3.put_object(Bucket=bucket, Key="written", Body=b"1")
    root_iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary_arn)
    got = root_iam.get_user(UserName=name)["User"]["PermissionsBoundary"]
    assert got == {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": boundary_arn}
    assert s3.get_object(Bucket=bucket, Key="public/doc")["Body"].read() == b"x"  # both allow
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="team-a/doc")) == (403, "AccessDenied")  # its Deny
    assert _code(lambda: s3.put_object(Bucket=bucket, Key="w2", Body=b"1")) == (403, "AccessDenied")  # not in it
    # A boundary grants nothing by itself.
    bare, bare_key = _user_with_key(root_iam, PermissionsBoundary=boundary_arn)
    bare_s3 = client(server, bare_key["AccessKeyId"], bare_key["SecretAccessKey"])
    assert _code(lambda: bare_s3.get_object(Bucket=bucket, Key="public/doc")) == (403, "AccessDenied")
    assert root_iam.get_policy(PolicyArn=boundary_arn)["Policy"]["PermissionsBoundaryUsageCount"] >= 2
    # A policy in use as a boundary cannot be deleted.
    assert _code(lambda: root_iam.delete_policy(PolicyArn=boundary_arn)) == (409, "DeleteConflict")
    root_iam.delete_user_permissions_boundary(UserName=name)
    assert "PermissionsBoundary" not in root_iam.get_user(UserName=name)["User"]
    s3.put_object(Bucket=bucket, Key="w3", Body=b"1")
    root_iam.delete_user_permissions_boundary(UserName=bare)


def test_a_bucket_policy_naming_the_user_is_not_capped(server: Server, account: dict[str, str], root_iam: Any,
                                                       boundary_arn: str) -> None:
    """Same account: a resource-based Allow naming the user itself is not limited by its boundary (AWS)."""
    name, key = _user_with_key(root_iam, PermissionsBoundary=boundary_arn)
    owner = client(server, account["access_key"], account["secret_key"])
    bucket = _name("tbp-")
    owner.create_bucket(Bucket=bucket)
    owner.put_bucket_policy(Bucket=bucket, Policy=_policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account['account_id']}:user/{name}"},
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}))
    s3 = client(server, key["AccessKeyId"], key["SecretAccessKey"])
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")


def test_role_boundary(server: Server, account: dict[str, str], root_iam: Any, bucket: str,
                       boundary_arn: str) -> None:
    name = _name("r")
    trust = _policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account['account_id']}:root"},
                     "Action": "sts:AssumeRole"})
    arn = root_iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust,
                               PermissionsBoundary=boundary_arn)["Role"]["Arn"]
    assert root_iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary_arn
    root_iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    creds = sts_client(server, account["access_key"], account["secret_key"]).assume_role(
        RoleArn=arn, RoleSessionName="capped")["Credentials"]
    s3 = s3_with(server, creds)
    assert s3.get_object(Bucket=bucket, Key="public/doc")["Body"].read() == b"x"
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="team-a/doc")) == (403, "AccessDenied")
    root_iam.delete_role_permissions_boundary(RoleName=name)
    assert s3.get_object(Bucket=bucket, Key="team-a/doc")["Body"].read() == b"x"
    root_iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=boundary_arn)
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="team-a/doc")) == (403, "AccessDenied")


def test_boundary_errors(root_iam: Any, account: dict[str, str]) -> None:
    name = _name()
    root_iam.create_user(UserName=name)
    missing = f"arn:aws:iam::{account['account_id']}:policy/{_name('nope')}"
    assert _code(lambda: root_iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=missing)) == \
        (404, "NoSuchEntity")
    not_arn = "this-is-not-an-arn-at-all"
    assert _code(lambda: root_iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=not_arn)) == \
        (400, "InvalidInput")
    assert _code(lambda: root_iam.put_user_permissions_boundary(
        UserName=_name(), PermissionsBoundary="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")) == \
        (404, "NoSuchEntity")
    root_iam.put_user_permissions_boundary(UserName=name,
                                           PermissionsBoundary="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")


def test_iam_resource_tag(server: Server, root_iam: Any) -> None:
    """An IAM administrator of the users tagged team=a only."""
    admin, key = _user_with_key(root_iam)
    root_iam.put_user_policy(UserName=admin, PolicyName="team-a-admin", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": ["iam:GetUser", "iam:TagUser"], "Resource": "*",
         "Condition": {"StringEquals": {"iam:ResourceTag/team": "a"}}}))
    ours, theirs = _name(), _name()
    root_iam.create_user(UserName=ours, Tags=[{"Key": "team", "Value": "a"}])
    root_iam.create_user(UserName=theirs, Tags=[{"Key": "team", "Value": "b"}])
    iam = iam_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    assert iam.get_user(UserName=ours)["User"]["UserName"] == ours
    iam.tag_user(UserName=ours, Tags=[{"Key": "x", "Value": "y"}])
    assert _code(lambda: iam.get_user(UserName=theirs)) == (403, "AccessDenied")
    assert _code(lambda: iam.tag_user(UserName=theirs, Tags=[{"Key": "team", "Value": "a"}])) == \
        (403, "AccessDenied")


def test_assume_role_session_tags(server: Server, account: dict[str, str], root_iam: Any, bucket: str) -> None:
    name = _name("r")
    root = f"arn:aws:iam::{account['account_id']}:root"
    arn = root_iam.create_role(RoleName=name, AssumeRolePolicyDocument=_policy(
        {"Effect": "Allow", "Principal": {"AWS": root}, "Action": "sts:AssumeRole"}),
        Tags=[{"Key": "team", "Value": "team-a"}])["Role"]["Arn"]
    root_iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "team-b"}}}))
    sts = sts_client(server, account["access_key"], account["secret_key"])
    tags = [{"Key": "Team", "Value": "team-b"}]
    assert _code(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="s1", Tags=tags)) == (403, "AccessDenied")
    root_iam.update_assume_role_policy(RoleName=name, PolicyDocument=_policy(
        {"Effect": "Allow", "Principal": {"AWS": root}, "Action": ["sts:AssumeRole", "sts:TagSession"]}))
    tagged = sts.assume_role(RoleArn=arn, RoleSessionName="s1", Tags=tags)["Credentials"]
    assert s3_with(server, tagged).get_object(Bucket=bucket, Key="public/doc")["Body"].read() == b"x"
    untagged = sts.assume_role(RoleArn=arn, RoleSessionName="s2")["Credentials"]  # the role's team-a
    assert _code(lambda: s3_with(server, untagged).get_object(Bucket=bucket, Key="public/doc")) == \
        (403, "AccessDenied")
    assert _code(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="s3", Tags=tags,
                                         TransitiveTagKeys=["Team"]))[1] == "InvalidParameterValue"
