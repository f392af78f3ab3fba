"""Unit tests for what the stores' IAM rows mean (pails.storage.iam_rows) and
the sealing of secrets at rest (pails.storage.crypto)."""

from __future__ import annotations

import pytest

from pails.storage.crypto import UnwrapError, open_secret, seal_secret
from pails.storage.iam_rows import AWS_MANAGED, identity_policies, managed_document, principal_from_row
from pails.storage.records import IamEntity, IamState

ACCOUNT = "123456789012"


def entity(kind: str, name: str, **doc: object) -> IamEntity:
    return IamEntity(kind, name, "ID", "/", 0.0, dict(doc))


def state(*entities: IamEntity) -> IamState:
    return IamState(ACCOUNT, {(e.kind, e.name.lower()): e for e in entities}, {})


def test_a_users_policies_are_its_own_its_groups_and_attached_ones() -> None:
    s = state(
        entity("user", "Alice", inline={"a": "A"}, attached=[f"arn:aws:iam::{ACCOUNT}:policy/team/P"],
               groups=["devs", "gone"]),
        entity("group", "Devs", inline={"g": "G"}, attached=["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]),
        entity("policy", "P", default="v2", versions={"v1": {"document": "P1"}, "v2": {"document": "P2"}}),
    )
    assert identity_policies(s, "user", "alice") == ("A", "P2", "G", AWS_MANAGED["AmazonS3ReadOnlyAccess"])
    assert identity_policies(s, "user", "nobody") == ()
    assert managed_document(s, "arn:aws:iam::aws:policy/NoSuchPolicy") is None


def test_secrets_are_sealed_with_the_master_key() -> None:
    key, other = b"k" * 32, b"o" * 32
    sealed = seal_secret(key, "the-secret")
    assert "the-secret" not in sealed and sealed != seal_secret(key, "the-secret")  # a fresh nonce each time
    assert open_secret(key, sealed) == "the-secret"
    with pytest.raises(UnwrapError):
        open_secret(other, sealed)
    with pytest.raises(UnwrapError):
        open_secret(key, sealed[:-4] + "AAAA")


def test_principal_rows() -> None:
    root = ("AK", "secret", "c" * 64, "team", None, 1.0, ACCOUNT, 0, None, "", "/", None, None, "Active", None, 0)
    user = principal_from_row(root)
    assert user is not None and user.iam_user is None and user.arn == f"arn:aws:iam::{ACCOUNT}:root"
    key = ("AKIA1", "1:sealed", "c" * 64, "team", None, 2.0, ACCOUNT, 1, "Bob", "AIDA1", "/x/", 9.0, None,
           "Active", None, 1)
    bob = principal_from_row(key)
    assert bob is not None and bob.sealed and not bob.operator and bob.arn == f"arn:aws:iam::{ACCOUNT}:user/x/Bob"
    assert principal_from_row(key[:13] + ("Inactive",) + key[14:]) is None
