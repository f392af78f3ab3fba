"""Unit tests for identity and trust policies (pails.access.policy): parsing
as IAM validates them, evaluation across several policies (a Deny anywhere
wins), session policies narrowing, principals named by ARN or account."""

from __future__ import annotations

import json

import pytest

from pails.access.policy import (
    MalformedIdentityPolicy,
    Principal,
    combine,
    evaluate,
    identity_decision,
    parse_policy,
    parse_trust_policy,
)

ACCOUNT = "123456789012"
ALICE = Principal("c" * 64, "", f"arn:aws:iam::{ACCOUNT}:user/team/alice", ACCOUNT)
OTHER = Principal("d" * 64, "", "arn:aws:iam::210987654321:user/bob", "210987654321")


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: object = "s3:GetObject", resource: object = "*", **extra: object) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: object = "s3:GetObject", resource: object = "*", **extra: object) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(texts: list[str], action: str = "s3:GetObject", resource: str = "arn:aws:s3:::b/k",
           session: str | None = None, ctx: dict | None = None, who: Principal = ALICE) -> str | None:
    return identity_decision(texts, session, who, action, (resource,), ctx or {})


@pytest.mark.parametrize("text", [
    "{nope",
    json.dumps({"Version": "2012-10-17"}),
    json.dumps({"Version": "2010-10-17", "Statement": [allow()]}),
    doc({**allow(), "Principal": "*"}),
    doc({"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}),
    doc({"Effect": "Allow", "Resource": "*"}),
    doc({"Effect": "Allow", "Action": "GetObject", "Resource": "*"}),
    doc({"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"}),
    doc({**allow(), "Sid": "a"}, {**allow(), "Sid": "a"}),
    doc({**allow(), "Unknown": 1}),
])
def test_malformed_identity_policies(text: str) -> None:
    with pytest.raises(MalformedIdentityPolicy):
        parse_policy(text, None)


def test_any_service_and_resource_in_identity_policies() -> None:
    p = parse_policy(doc(allow(["iam:GetUser", "s3:List*"], ["arn:aws:iam::*:user/*", "arn:aws:s3:::b"])), None)
    assert evaluate(p, ALICE, "iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/x", {}) == "Allow"
    assert evaluate(p, ALICE, "s3:ListBucket", "arn:aws:s3:::b", {}) == "Allow"
    assert evaluate(p, ALICE, "s3:GetObject", "arn:aws:s3:::b/k", {}) is None


def test_a_deny_in_any_policy_wins() -> None:
    assert decide([doc(allow("s3:*")), doc(deny())]) == "Deny"
    assert decide([doc(allow("s3:*")), doc(deny("s3:PutObject"))]) == "Allow"
    assert decide([doc(allow("s3:PutObject"))]) is None
    assert combine([None, "Allow", None]) == "Allow" and combine([]) is None


def test_session_policy_narrows() -> None:
    role = [doc(allow("s3:*"))]
    only_get = doc(allow("s3:GetObject"))
    assert decide(role, session=only_get) == "Allow"
    assert decide(role, "s3:PutObject", session=only_get) is None
    assert decide(role, session=doc(deny())) == "Deny"
    assert decide([], session=only_get) is None  # a session policy grants nothing by itself


def test_condition_keys() -> None:
    p = [doc(allow(Condition={"StringEquals": {"aws:username": "alice"},
                              "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))]
    assert decide(p, ctx={"aws:username": ("alice",), "aws:sourceip": ("10.1.2.3",)}) == "Allow"
    assert decide(p, ctx={"aws:username": ("alice",), "aws:sourceip": ("192.168.0.1",)}) is None
    p = [doc(deny(Condition={"Bool": {"aws:SecureTransport": "false"}}))]
    assert decide(p, ctx={"aws:securetransport": ("false",)}) == "Deny"
    p = [doc(allow("s3:ListBucket", Condition={"StringLikeIfExists": {"s3:prefix": "home/alice/*"}}))]
    assert decide(p, "s3:ListBucket", ctx={"s3:prefix": ("home/alice/x",)}) == "Allow"
    assert decide(p, "s3:ListBucket", ctx={"s3:prefix": ("home/bob/",)}) is None
    assert decide(p, "s3:ListBucket") == "Allow"  # ...IfExists: absent passes
    p = [doc(allow(Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))]
    assert decide(p) is None  # absent in Pails
    p = [doc(allow(Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/team/*"}}))]
    assert decide(p, ctx={"aws:principalarn": (ALICE.arn,)}) == "Allow"
    p = [doc(allow(Condition={"DateLessThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}}))]
    assert decide(p, ctx={"aws:currenttime": ("2026-01-01T00:00:00Z",)}) is None


def test_bucket_policy_principals_by_arn_and_account() -> None:
    def ev(principal: object, who: Principal) -> str | None:
        text = json.dumps({"Statement": [{"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject",
                                          "Resource": "arn:aws:s3:::b/*"}]})
        return evaluate(parse_policy(text, "b"), who, "s3:GetObject", "arn:aws:s3:::b/k", {})
    assert ev({"AWS": ALICE.arn}, ALICE) == "Allow"
    assert ev({"AWS": ALICE.arn}, OTHER) is None
    assert ev({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, ALICE) == "Allow"
    assert ev({"AWS": ACCOUNT}, ALICE) == "Allow"
    assert ev({"AWS": ACCOUNT}, OTHER) is None


def test_trust_policies() -> None:
    trust = parse_trust_policy(json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ALICE.arn}, "Action": "sts:AssumeRole"}]}))
    assert evaluate(trust, ALICE, "sts:AssumeRole", "*", {}) == "Allow"
    assert evaluate(trust, OTHER, "sts:AssumeRole", "*", {}) is None
    assert evaluate(trust, ALICE, "sts:TagSession", "*", {}) is None
    with pytest.raises(MalformedIdentityPolicy):
        parse_trust_policy(json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}))
