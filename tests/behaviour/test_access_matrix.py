"""The evaluation matrix (docs/iam.md, "Evaluation"), with boto3 against a
real server: an IAM user's identity policy (none, Allow, Deny) x the
bucket policy (none, Allow, Deny naming the user) x the object's ACL
(private, or a READ grant to the user's account) x the bucket in the
user's account or another.  Expected, as AWS decides: an explicit Deny
anywhere wins; in its own account the identity policy or the bucket
policy allows (an ACL grant to its own account does not: the account must
grant its user); across accounts the identity policy must allow and the
bucket (its policy or an ACL grant to the user's account) too."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.behaviour.test_iam import iam_client
from tests.conftest import client
from tests.pails_server import Server

IDENTITY = ("none", "allow", "deny")
BUCKET_POLICY = ("none", "allow", "deny")
ACL = ("private", "grant")
OWNER = ("same", "cross")


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def expected(identity: str, bucket_policy: str, acl: str, owner: str) -> bool:
    if "deny" in (identity, bucket_policy):
        return False
    if owner == "same":
        return "allow" in (identity, bucket_policy)
    return identity == "allow" and (bucket_policy == "allow" or acl == "grant")


class World:
    """Two accounts; three IAM users in the first (one per identity policy);
    buckets made on demand, one per (owner, bucket policy, ACL)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.a = server.add_user(_name("mxa"), f"{_name('e')}@example.com")
        self.b = server.add_user(_name("mxb"), f"{_name('e')}@example.com")
        iam = iam_client(server, self.a["access_key"], self.a["secret_key"])
        self.users: dict[str, tuple[str, Any]] = {}
        for identity in IDENTITY:
            name = _name(f"mx-{identity}-")
            arn = iam.create_user(UserName=name)["User"]["Arn"]
            if identity != "none":
                iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({
                    "Version": "2012-10-17", "Statement": [{"Effect": identity.capitalize(), "Action": "s3:GetObject",
                                                            "Resource": "arn:aws:s3:::*/*"}]}))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            self.users[identity] = (arn, client(server, key["AccessKeyId"], key["SecretAccessKey"]))
        self.buckets: dict[tuple[str, str, str], str] = {}

    def bucket(self, owner: str, bucket_policy: str, acl: str) -> str:
        found = self.buckets.get((owner, bucket_policy, acl))
        if found is not None:
            return found
        account = self.a if owner == "same" else self.b
        s3 = client(self.server, account["access_key"], account["secret_key"])
        name = _name("mx-")
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="obj", Body=b"data")
        if acl == "grant":
            s3.put_object_acl(Bucket=name, Key="obj", GrantFullControl=f"id={account['canonical_id']}",
                              GrantRead=f"id={self.a['canonical_id']}")
        if bucket_policy != "none":
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": bucket_policy.capitalize(), "Principal": {"AWS": [arn for arn, _ in self.users.values()]},
                 "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}]}))
        self.buckets[(owner, bucket_policy, acl)] = name
        return name


@pytest.fixture(scope="module")
def world(server: Server) -> World:
    return World(server)


@pytest.mark.parametrize("identity, bucket_policy, acl, owner",
                         list(itertools.product(IDENTITY, BUCKET_POLICY, ACL, OWNER)))
def test_matrix(world: World, identity: str, bucket_policy: str, acl: str, owner: str) -> None:
    bucket = world.bucket(owner, bucket_policy, acl)
    _, s3 = world.users[identity]
    try:
        s3.get_object(Bucket=bucket, Key="obj")["Body"].read()
        allowed = True
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied"
        allowed = False
    assert allowed == expected(identity, bucket_policy, acl, owner)
