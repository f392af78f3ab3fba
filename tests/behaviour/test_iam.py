"""The IAM Query API (docs/iam.md) with boto3's ``iam`` client against a real
server, and what it changes for S3: an IAM user's key works only as its
policies allow, an explicit Deny wins, keys deactivated or deleted are
refused at once, across accounts both sides must allow."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.pails_server import Server


def _name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def iam_client(server: Server, access_key: str | None = None, secret_key: str | None = None,
               region: str = "us-east-1") -> Any:
    return boto3.client("iam", endpoint_url=server.endpoint, region_name=region,
                        aws_access_key_id=access_key or server.access_key,
                        aws_secret_access_key=secret_key or server.secret_key)


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _code(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def account(server: Server) -> dict[str, str]:
    """An account other than the operator's (made with ``pails user add``)."""
    return server.add_user(_name("acct"), f"{_name()}@example.com")


@pytest.fixture(scope="module")
def other_account(server: Server) -> dict[str, str]:
    return server.add_user(_name("other"), f"{_name()}@example.com")


@pytest.fixture(scope="module")
def root_iam(server: Server, account: dict[str, str]) -> Any:
    return iam_client(server, account["access_key"], account["secret_key"])


@pytest.fixture(scope="module")
def root_s3(server: Server, account: dict[str, str]) -> Any:
    return client(server, account["access_key"], account["secret_key"])


@pytest.fixture
def iam_user(server: Server, root_iam: Any) -> Iterator[tuple[str, Any]]:
    """A new IAM user of ``account`` with one access key: (its name, its S3 client)."""
    name = _name()
    root_iam.create_user(UserName=name)
    key = root_iam.create_access_key(UserName=name)["AccessKey"]
    yield name, client(server, key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture
def bucket_of(root_s3: Any) -> Iterator[Callable[[], str]]:
    made: list[tuple[Any, str]] = []

    def make(s3: Any = root_s3) -> str:
        name = _name("iam-")
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="doc.txt", Body=b"hello")
        made.append((s3, name))
        return name
    yield make
    for s3, name in made:
        for o in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=o["Key"])
        s3.delete_bucket(Bucket=name)


# --- the API --------------------------------------------------------------------------------------


def test_users_create_get_update_list_delete(root_iam: Any, account: dict[str, str]) -> None:
    name = _name("U")
    user = root_iam.create_user(UserName=name, Path="/team/")["User"]
    assert user["UserName"] == name and user["Path"] == "/team/" and user["UserId"].startswith("AIDA")
    assert user["Arn"] == f"arn:aws:iam::{account['account_id']}:user/team/{name}"
    assert root_iam.get_user(UserName=name.lower())["User"] == user  # names ignore case
    assert _code(lambda: root_iam.create_user(UserName=name.upper())) == (409, "EntityAlreadyExists")
    renamed = name + "x"
    root_iam.update_user(UserName=name, NewUserName=renamed, NewPath="/other/")
    got = root_iam.get_user(UserName=renamed)["User"]
    assert got["UserId"] == user["UserId"] and got["Arn"].endswith(f":user/other/{renamed}")
    assert _code(lambda: root_iam.get_user(UserName=name)) == (404, "NoSuchEntity")
    assert [u["UserName"] for u in root_iam.list_users(PathPrefix="/other/")["Users"]] == [renamed]
    root_iam.delete_user(UserName=renamed)
    assert _code(lambda: root_iam.delete_user(UserName=renamed)) == (404, "NoSuchEntity")
    me = root_iam.get_user()["User"]
    assert me["Arn"] == f"arn:aws:iam::{account['account_id']}:root"


def test_access_keys_rotate_and_limit(root_iam: Any) -> None:
    name = _name()
    root_iam.create_user(UserName=name)
    first = root_iam.create_access_key(UserName=name)["AccessKey"]
    assert first["Status"] == "Active" and len(first["SecretAccessKey"]) == 40
    second = root_iam.create_access_key(UserName=name)["AccessKey"]
    assert _code(lambda: root_iam.create_access_key(UserName=name)) == (409, "LimitExceeded")
    root_iam.update_access_key(UserName=name, AccessKeyId=first["AccessKeyId"], Status="Inactive")
    listed = {k["AccessKeyId"]: k["Status"] for k in root_iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}
    assert listed == {first["AccessKeyId"]: "Inactive", second["AccessKeyId"]: "Active"}
    assert "SecretAccessKey" not in str(root_iam.list_access_keys(UserName=name))
    assert _code(lambda: root_iam.delete_user(UserName=name)) == (409, "DeleteConflict")
    for key in (first, second):
        root_iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    assert _code(lambda: root_iam.delete_access_key(UserName=name, AccessKeyId=first["AccessKeyId"])) == \
        (404, "NoSuchEntity")
    root_iam.delete_user(UserName=name)


def test_inline_policies_round_trip_and_validation(root_iam: Any) -> None:
    name = _name()
    root_iam.create_user(UserName=name)
    document = _policy({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"})
    assert _code(lambda: root_iam.get_user_policy(UserName=name, PolicyName="p")) == (404, "NoSuchEntity")
    root_iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document)
    got = root_iam.get_user_policy(UserName=name, PolicyName="p")
    assert json.dumps(got["PolicyDocument"]) == document and got["UserName"] == name
    assert root_iam.list_user_policies(UserName=name)["PolicyNames"] == ["p"]
    for bad in ("{not json", _policy({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
                _policy({"Effect": "Maybe", "Action": "s3:*", "Resource": "*"})):
        assert _code(lambda bad=bad: root_iam.put_user_policy(UserName=name, PolicyName="q", PolicyDocument=bad)) \
            == (400, "MalformedPolicyDocument")
    assert _code(lambda: root_iam.put_user_policy(UserName="nobody" + name, PolicyName="p",
                                                  PolicyDocument=document)) == (404, "NoSuchEntity")
    assert _code(lambda: root_iam.delete_user(UserName=name)) == (409, "DeleteConflict")
    root_iam.delete_user_policy(UserName=name, PolicyName="p")
    assert root_iam.list_user_policies(UserName=name)["PolicyNames"] == []
    root_iam.delete_user(UserName=name)


def test_groups_roles_managed_policies(root_iam: Any, account: dict[str, str]) -> None:
    user, group, role, policy = _name(), _name("G"), _name("R"), _name("P")
    root_iam.create_user(UserName=user)
    root_iam.create_group(GroupName=group, Path="/g/")
    root_iam.add_user_to_group(GroupName=group, UserName=user)
    assert [u["UserName"] for u in root_iam.get_group(GroupName=group)["Users"]] == [user]
    assert [g["GroupName"] for g in root_iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    document = _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    created = root_iam.create_policy(PolicyName=policy, PolicyDocument=document)["Policy"]
    arn = created["Arn"]
    assert arn == f"arn:aws:iam::{account['account_id']}:policy/{policy}" and created["DefaultVersionId"] == "v1"
    version = root_iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert json.dumps(version["Document"]) == document and version["IsDefaultVersion"]
    root_iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    root_iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    assert [p["PolicyArn"] for p in root_iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]] \
        == [arn]
    assert root_iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    assert _code(lambda: root_iam.delete_policy(PolicyArn=arn)) == (409, "DeleteConflict")
    assert _code(lambda: root_iam.attach_user_policy(UserName=user, PolicyArn=arn + "nope")) == \
        (404, "NoSuchEntity")
    trust = _policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account['account_id']}:root"},
                     "Action": "sts:AssumeRole"})
    made = root_iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust, MaxSessionDuration=7200)["Role"]
    assert made["Arn"].endswith(f":role/{role}") and json.dumps(made["AssumeRolePolicyDocument"]) == trust
    root_iam.put_role_policy(RoleName=role, PolicyName="inline", PolicyDocument=document)
    assert root_iam.get_role(RoleName=role)["Role"]["MaxSessionDuration"] == 7200
    assert role in [r["RoleName"] for r in root_iam.list_roles()["Roles"]]
    summary = root_iam.get_account_summary()["SummaryMap"]
    assert summary["Groups"] >= 1 and summary["AccessKeysPerUserQuota"] == 2
    # tear down in the order IAM insists on
    root_iam.delete_role_policy(RoleName=role, PolicyName="inline")
    root_iam.delete_role(RoleName=role)
    root_iam.detach_group_policy(GroupName=group, PolicyArn=arn)
    root_iam.detach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    root_iam.delete_policy(PolicyArn=arn)
    assert _code(lambda: root_iam.delete_group(GroupName=group)) == (409, "DeleteConflict")
    root_iam.remove_user_from_group(GroupName=group, UserName=user)
    root_iam.delete_group(GroupName=group)
    root_iam.delete_user(UserName=user)


def test_errors_are_iam_xml(server: Server, root_iam: Any) -> None:
    with pytest.raises(ClientError) as e:
        root_iam.get_group(GroupName="no-such-group")
    body = e.value.response
    assert body["Error"]["Type"] == "Sender" and body["Error"]["Code"] == "NoSuchEntity"
    assert body["ResponseMetadata"]["RequestId"]


# --- what IAM users may do in S3 ------------------------------------------------------------------


def test_iam_user_needs_an_identity_policy(root_iam: Any, iam_user: tuple[str, Any],
                                           bucket_of: Callable[..., str]) -> None:
    name, s3 = iam_user
    bucket = bucket_of()
    assert _code(lambda: s3.list_buckets()) == (403, "AccessDenied")
    # the account's own ACL grant is not enough
    assert _code(lambda: s3.list_objects_v2(Bucket=bucket)) == (403, "AccessDenied")
    root_iam.put_user_policy(UserName=name, PolicyName="list", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}))
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["doc.txt"]
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="doc.txt")) == (403, "AccessDenied")
    group = _name("G")
    root_iam.create_group(GroupName=group)
    root_iam.put_group_policy(GroupName=group, PolicyName="read", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}))
    root_iam.add_user_to_group(GroupName=group, UserName=name)
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"
    assert _code(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"x")) == (403, "AccessDenied")
    root_iam.remove_user_from_group(GroupName=group, UserName=name)
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="doc.txt")) == (403, "AccessDenied")


def test_explicit_deny_wins(root_iam: Any, root_s3: Any, iam_user: tuple[str, Any],
                            bucket_of: Callable[..., str]) -> None:
    name, s3 = iam_user
    bucket = bucket_of()
    root_iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"
    root_iam.put_user_policy(UserName=name, PolicyName="no-get", PolicyDocument=_policy(
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"StringEquals": {"aws:username": name}}}))
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="doc.txt")) == (403, "AccessDenied")
    root_iam.delete_user_policy(UserName=name, PolicyName="no-get")
    user_arn = root_iam.get_user(UserName=name)["User"]["Arn"]
    root_s3.put_bucket_policy(Bucket=bucket, Policy=_policy(
        {"Effect": "Deny", "Principal": {"AWS": user_arn}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="doc.txt")) == (403, "AccessDenied")
    assert root_s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"
    root_s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"


def test_bucket_policy_alone_allows_within_the_account(root_s3: Any, iam_user: tuple[str, Any],
                                                       bucket_of: Callable[..., str], root_iam: Any) -> None:
    name, s3 = iam_user
    bucket = bucket_of()
    user_arn = root_iam.get_user(UserName=name)["User"]["Arn"]
    root_s3.put_bucket_policy(Bucket=bucket, Policy=_policy(
        {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"


def test_across_accounts_both_sides_must_allow(server: Server, other_account: dict[str, str], root_iam: Any,
                                               iam_user: tuple[str, Any], bucket_of: Callable[..., str]) -> None:
    name, s3 = iam_user
    other_s3 = client(server, other_account["access_key"], other_account["secret_key"])
    bucket = bucket_of(other_s3)
    root_iam.put_user_policy(UserName=name, PolicyName="get", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="doc.txt")) == (403, "AccessDenied")  # identity only
    user_arn = root_iam.get_user(UserName=name)["User"]["Arn"]
    other_s3.put_bucket_policy(Bucket=bucket, Policy=_policy(
        {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"  # both sides
    root_iam.delete_user_policy(UserName=name, PolicyName="get")
    assert _code(lambda: s3.get_object(Bucket=bucket, Key="doc.txt")) == (403, "AccessDenied")  # resource only
    other_s3.delete_bucket_policy(Bucket=bucket)


def test_deactivated_and_deleted_keys_are_refused_at_once(server: Server, root_iam: Any) -> None:
    name = _name()
    root_iam.create_user(UserName=name)
    root_iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    key = root_iam.create_access_key(UserName=name)["AccessKey"]
    # a connection is served by one worker: several, so that every worker has the key cached
    clients = [client(server, key["AccessKeyId"], key["SecretAccessKey"]) for _ in range(8)]
    for s3 in clients:
        s3.list_buckets()
    root_iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    for s3 in clients:
        assert _code(s3.list_buckets) == (403, "InvalidAccessKeyId")
    root_iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    s3.list_buckets()
    last = root_iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert last["UserName"] == name and "LastUsedDate" in last["AccessKeyLastUsed"]
    for s3 in clients:
        s3.list_buckets()
    root_iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    for s3 in clients:
        assert _code(s3.list_buckets) == (403, "InvalidAccessKeyId")


def test_a_key_past_its_expiration_is_refused(server: Server, root_iam: Any) -> None:
    """Pails' extension: CreateAccessKey takes an ``Expiration`` (ISO 8601)."""
    name = _name()
    root_iam.create_user(UserName=name)
    root_iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")

    def expired(request: Any, **_: Any) -> None:
        request.data["Expiration"] = "2001-01-01T00:00:00Z"  # the form's fields, before they are encoded
    root_iam.meta.events.register("before-sign.iam.CreateAccessKey", expired)
    try:
        key = root_iam.create_access_key(UserName=name)["AccessKey"]
    finally:
        root_iam.meta.events.unregister("before-sign.iam.CreateAccessKey", expired)
    s3 = client(server, key["AccessKeyId"], key["SecretAccessKey"])
    assert _code(lambda: s3.list_buckets()) == (403, "InvalidAccessKeyId")


def test_iam_user_calls_iam_as_its_policies_allow(server: Server, root_iam: Any) -> None:
    name = _name()
    root_iam.create_user(UserName=name)
    key = root_iam.create_access_key(UserName=name)["AccessKey"]
    own_iam = iam_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    assert _code(lambda: own_iam.list_users()) == (403, "AccessDenied")
    root_iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert name in [u["UserName"] for u in own_iam.list_users()["Users"]]
    assert _code(lambda: own_iam.create_user(UserName=_name())) == (403, "AccessDenied")


def test_operator_policies_on_an_account_root(server: Server, account: dict[str, str], root_s3: Any,
                                              bucket_of: Callable[..., str]) -> None:
    """As Ceph RGW's "user policies" on users outside accounts: the operator
    names an account by its canonical id; a Deny there binds its root."""
    operator = iam_client(server)
    bucket = bucket_of()
    operator.put_user_policy(UserName=account["canonical_id"], PolicyName="no-list", PolicyDocument=_policy(
        {"Effect": "Deny", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}))
    try:
        assert operator.list_user_policies(UserName=account["canonical_id"])["PolicyNames"] == ["no-list"]
        assert _code(lambda: root_s3.list_objects_v2(Bucket=bucket)) == (403, "AccessDenied")
        root_iam = iam_client(server, account["access_key"], account["secret_key"])
        assert _code(lambda: root_iam.delete_user_policy(UserName=account["canonical_id"],
                                                         PolicyName="no-list")) == (403, "AccessDenied")
    finally:
        operator.delete_user_policy(UserName=account["canonical_id"], PolicyName="no-list")
    assert root_s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_operator_reaches_every_bucket(s3: Any, bucket_of: Callable[..., str]) -> None:
    bucket = bucket_of()  # the account's, private
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["doc.txt"]


def test_operator_administers_an_account_named_in_a_header(server: Server, account: dict[str, str],
                                                           root_iam: Any) -> None:
    operator = iam_client(server)
    name = _name()

    def to_account(request: Any, **_: Any) -> None:
        request.headers["x-pails-account"] = account["account_id"]
    operator.meta.events.register("before-sign.iam.*", to_account)
    made = operator.create_user(UserName=name)["User"]
    assert made["Arn"] == f"arn:aws:iam::{account['account_id']}:user/{name}"
    assert root_iam.get_user(UserName=name)["User"]["UserId"] == made["UserId"]
    operator.delete_user(UserName=name)
    # only the operator may name an account
    root_iam.meta.events.register("before-sign.iam.*", to_account)
    try:
        assert _code(lambda: root_iam.list_users()) == (403, "AccessDenied")
    finally:
        root_iam.meta.events.unregister("before-sign.iam.*", to_account)
