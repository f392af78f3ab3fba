"""Unit tests for bucket-policy parsing and evaluation."""

from __future__ import annotations

import json

import pytest

from pails.access.policy import Principal, evaluate, parse_policy
from pails.errors import S3Error

ALICE = Principal("a" * 64, "alice")
BOB = Principal("b" * 64, "bob")
ANON = Principal(None)


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def stmt(effect="Allow", principal=None, action="s3:GetObject", resource="arn:aws:s3:::bkt/*", **extra) -> dict:
    s = {"Effect": effect, "Principal": principal if principal is not None else {"AWS": "*"}, "Action": action,
         "Resource": resource}
    s.update(extra)
    return s


def ev(text: str, who=ALICE, action="s3:GetObject", resource="arn:aws:s3:::bkt/key", ctx=None):
    return evaluate(parse_policy(text, "bkt"), who, action, resource, ctx or {})


def test_allow_public_read():
    p = doc(stmt())
    assert ev(p) == "Allow"
    assert ev(p, ANON) == "Allow"
    assert ev(p, action="s3:PutObject") is None
    assert ev(p, resource="arn:aws:s3:::bkt") is None


def test_deny_wins_over_allow():
    p = doc(stmt(), stmt("Deny", {"AWS": "*"}, "s3:*", "arn:aws:s3:::bkt/secret/*"))
    assert ev(p, resource="arn:aws:s3:::bkt/public/x") == "Allow"
    assert ev(p, resource="arn:aws:s3:::bkt/secret/x") == "Deny"


def test_principal_forms():
    for principal in ({"CanonicalUser": "a" * 64}, {"AWS": "a" * 64}, {"AWS": f"arn:aws:iam::{'a' * 64}:root"},
                      {"AWS": ["arn:aws:iam::whatever:user/alice"]}):
        p = doc(stmt(principal=principal))
        assert ev(p, ALICE) == "Allow"
        assert ev(p, BOB) is None
        assert ev(p, ANON) is None
    assert ev(doc(stmt(principal="*")), ANON) == "Allow"


def test_not_principal_and_not_action():
    p = doc({"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::x:user/alice"}, "NotAction": "s3:GetObject",
             "Resource": "arn:aws:s3:::bkt/*"})
    assert ev(p, BOB, "s3:PutObject") == "Deny"
    assert ev(p, BOB, "s3:GetObject") is None
    assert ev(p, ALICE, "s3:PutObject") is None


def test_action_wildcards_are_case_insensitive():
    p = doc(stmt(action=["s3:Get*", "s3:list*"], resource=["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"]))
    assert ev(p, action="s3:GetObjectAcl") == "Allow"
    assert ev(p, action="s3:ListBucket", resource="arn:aws:s3:::bkt") == "Allow"
    assert ev(p, action="s3:PutObject") is None


@pytest.mark.parametrize("cond,ctx,expected", [
    ({"StringEquals": {"s3:x-amz-acl": "public-read"}}, {"s3:x-amz-acl": ("public-read",)}, "Allow"),
    ({"StringEquals": {"s3:x-amz-acl": "public-read"}}, {"s3:x-amz-acl": ("private",)}, None),
    ({"StringEquals": {"s3:x-amz-acl": "public-read"}}, {}, None),
    ({"StringNotEquals": {"s3:x-amz-acl": "public-read"}}, {}, "Allow"),
    ({"StringLike": {"s3:prefix": ["home/*", "pub"]}}, {"s3:prefix": ("home/alice",)}, "Allow"),
    ({"StringLike": {"s3:prefix": ["home/*"]}}, {"s3:prefix": ("etc",)}, None),
    ({"StringLikeIfExists": {"s3:prefix": "home/*"}}, {}, "Allow"),
    ({"Null": {"s3:x-amz-server-side-encryption": "true"}}, {}, "Allow"),
    ({"Null": {"s3:x-amz-server-side-encryption": "true"}}, {"s3:x-amz-server-side-encryption": ("AES256",)}, None),
    ({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, {"aws:sourceip": ("127.0.0.1",)}, "Allow"),
    ({"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, {"aws:sourceip": ("127.0.0.1",)}, None),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ("5",)}, "Allow"),
    ({"Bool": {"aws:SecureTransport": False}}, {"aws:securetransport": ("false",)}, "Allow"),
    ({"StringEquals": {"s3:ExistingObjectTag/security": "public"}},
     {"s3:existingobjecttag/security": ("public",)}, "Allow"),
])
def test_conditions(cond, ctx, expected):
    assert ev(doc(stmt(Condition=cond)), ctx=ctx) == expected


@pytest.mark.parametrize("bad", [
    "not json", "[]", json.dumps({"Statement": []}), json.dumps({"Version": "2099-01-01", "Statement": [stmt()]}),
    doc(stmt(effect="Maybe")), doc(stmt(resource="arn:aws:s3:::other-bucket/*")), doc(stmt(action="ec2:Run")),
    doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt/*"}),
    doc(stmt(Condition={"NoSuchOperator": {"a": "b"}})),
])
def test_malformed_policies(bad):
    with pytest.raises(S3Error) as info:
        parse_policy(bad, "bkt")
    assert info.value.code == "MalformedPolicy" and info.value.status == 400


def test_resource_wildcard_in_bucket_name_is_accepted():
    parse_policy(doc(stmt(resource="arn:aws:s3:::bk*/*")), "bkt")
