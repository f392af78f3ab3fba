"""Unit tests for permissions boundaries, principal tags, aws:TokenIssueTime
and Federated principals in pails.access.policy."""

from __future__ import annotations

import json
import time

import pytest

from pails.access.policy import Principal, evaluate, identity_decision, parse_trust_policy, session_keys

ACCOUNT = "123456789012"
ALICE = Principal("c" * 64, "", f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT)


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str = "s3:*", resource: str = "*", **extra: object) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str = "s3:*", resource: str = "*", **extra: object) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


READ_ONLY = doc(allow("s3:GetObject"))


@pytest.mark.parametrize("identity, boundary, session, expected", [
    ([doc(allow())], None, None, "Allow"),
    ([doc(allow())], READ_ONLY, None, "Allow"),          # GetObject: both allow
    ([doc(allow("s3:PutObject"))], READ_ONLY, None, None),  # the boundary does not allow it
    ([], READ_ONLY, None, None),                          # a boundary grants nothing by itself
    ([doc(allow())], doc(allow(), deny("s3:GetObject")), None, "Deny"),  # its Deny is an explicit Deny
    ([], doc(deny("s3:GetObject")), None, "Deny"),
    ([doc(deny("s3:GetObject"))], READ_ONLY, None, "Deny"),
    ([doc(allow())], READ_ONLY, doc(allow("s3:GetObject")), "Allow"),  # session policy and boundary: all allow
    ([doc(allow())], READ_ONLY, doc(allow("s3:PutObject")), None),
    ([doc(allow())], doc(allow("s3:Get*")), doc(allow()), "Allow"),
])
def test_boundary(identity: list[str], boundary: str | None, session: str | None, expected: str | None) -> None:
    assert identity_decision(identity, session, ALICE, "s3:GetObject", ("arn:aws:s3:::b/k",), {},
                             boundary) == expected


def test_principal_tags_and_token_issue_time() -> None:
    keys = session_keys({"Team": "blue"}, 0.0)
    assert keys["aws:principaltag/team"] == ("blue",)
    assert keys["aws:principaltagkeys"] == ("Team",)
    assert keys["aws:tokenissuetime"] == ("1970-01-01T00:00:00Z",)
    assert "aws:tokenissuetime" not in session_keys({}, None)
    revoke = doc(deny("*", Condition={"DateLessThan": {"aws:TokenIssueTime": "2026-06-01T00:00:00Z"}}))
    old = session_keys({}, time.mktime((2026, 5, 1, 0, 0, 0, 0, 0, 0)))
    new = session_keys({}, time.mktime((2026, 7, 1, 0, 0, 0, 0, 0, 0)))
    assert identity_decision([doc(allow()), revoke], None, ALICE, "s3:GetObject", ("*",), old) == "Deny"
    assert identity_decision([doc(allow()), revoke], None, ALICE, "s3:GetObject", ("*",), new) == "Allow"
    # A long-term key has no issue time: the Deny's condition does not hold.
    assert identity_decision([doc(allow()), revoke], None, ALICE, "s3:GetObject", ("*",), {}) == "Allow"


def test_federated_principal() -> None:
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/id.example.com"
    trust = parse_trust_policy(doc({"Effect": "Allow", "Principal": {"Federated": provider},
                                    "Action": "sts:AssumeRoleWithWebIdentity",
                                    "Condition": {"StringEquals": {"id.example.com:sub": "alice"}}}))
    web = Principal(None, federated=provider)
    ctx = {"id.example.com:sub": ("alice",)}
    assert evaluate(trust, web, "sts:AssumeRoleWithWebIdentity", "*", ctx) == "Allow"
    assert evaluate(trust, web, "sts:AssumeRoleWithWebIdentity", "*", {"id.example.com:sub": ("bob",)}) is None
    assert evaluate(trust, web, "sts:AssumeRole", "*", ctx) is None
    assert evaluate(trust, Principal(None, federated=provider + "x"), "sts:AssumeRoleWithWebIdentity", "*",
                    ctx) is None
    assert evaluate(trust, ALICE, "sts:AssumeRoleWithWebIdentity", "*", ctx) is None
