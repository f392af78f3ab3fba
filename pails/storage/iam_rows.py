"""Rows of the accounts and IAM tables as both stores read and write them
(the SQL differs only in its placeholders: ``?`` for SQLite, ``%s`` for
PostgreSQL, filled in by each store)."""

from __future__ import annotations

import json
from typing import Any

from pails.storage.records import IamEntity, IamKey, IamState, User

USER_COLUMNS = "access_key, secret_key, canonical_id, display_name, email, created, account_id, operator"

# The principal behind an access key, in one statement (primary-key reads):
# an account root's key (of ``users``, or one more of ``iam_keys`` with an
# empty user name), or an IAM user's key with its user.  A root's row carries
# the policies the operator set on the account (or NULL).
PRINCIPAL_BY_KEY = (
    "SELECT u.access_key, u.secret_key, u.canonical_id, u.display_name, u.email, u.created, u.account_id, "
    "u.operator, NULL, '', '/', NULL, NULL, 'Active', r.doc, 0 FROM users u "
    "LEFT JOIN iam_entities r ON r.account_id = u.account_id AND r.kind = 'root' AND r.lname = '' "
    "WHERE u.access_key = {p} "
    "UNION ALL "
    "SELECT k.access_key, k.secret, u.canonical_id, u.display_name, u.email, k.created, u.account_id, "
    "u.operator, e.name, e.id, e.path, k.expires, k.last_used, k.status, r.doc, 1 FROM iam_keys k "
    "JOIN users u ON u.account_id = k.account_id "
    "LEFT JOIN iam_entities e ON e.account_id = k.account_id AND e.kind = 'user' AND e.lname = k.user_name "
    "LEFT JOIN iam_entities r ON k.user_name = '' AND r.account_id = k.account_id AND r.kind = 'root' "
    "AND r.lname = '' "
    "WHERE k.access_key = {p} AND (k.user_name = '' OR e.name IS NOT NULL)"
)
ENTITY_COLUMNS = "kind, name, id, path, created, doc"
KEY_COLUMNS = "access_key, user_name, secret, status, created, expires, last_used"


def user_from_row(r: tuple[Any, ...]) -> User:
    return User(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or "", bool(r[7]))


def principal_from_row(r: tuple[Any, ...]) -> User | None:
    """The principal of PRINCIPAL_BY_KEY's row; None for an inactive key.
    An IAM user's secret is still sealed; a root's ``policies`` holds the raw
    document of its account entity, resolved by the engine."""
    if r[13] != "Active":
        return None
    iam_user = r[8]
    return User(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or "", bool(r[7]) and iam_user is None,
                iam_user, r[9] or "", r[10] or "/", r[11], r[12], bool(r[15]), (r[14],) if r[14] else ())


def entity_from_row(r: tuple[Any, ...]) -> IamEntity:
    return IamEntity(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]))


def entity_values(account_id: str, e: IamEntity) -> tuple[Any, ...]:
    """(account_id, kind, lname, name, id, path, created, doc) for an upsert."""
    return (account_id, e.kind, e.name.lower(), e.name, e.id, e.path, e.created,
            json.dumps(e.doc, separators=(",", ":")))


def key_from_row(r: tuple[Any, ...]) -> IamKey:
    return IamKey(*r)


def key_values(account_id: str, k: IamKey) -> tuple[Any, ...]:
    """(access_key, account_id, user_name, secret, status, created, expires, last_used)."""
    return (k.access_key, account_id, k.user, k.secret, k.status, k.created, k.expires, k.last_used)


# Managed policies AWS provides (``arn:aws:iam::aws:policy/<name>``) that Pails knows.
AWS_MANAGED: dict[str, str] = {
    "AdministratorAccess": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
    "AmazonS3FullAccess": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*",'
                          '"s3-object-lambda:*"],"Resource":"*"}]}',
    "AmazonS3ReadOnlyAccess": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*",'
                              '"s3:List*","s3:Describe*","s3-object-lambda:Get*","s3-object-lambda:List*"],'
                              '"Resource":"*"}]}',
    "IAMFullAccess": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}',
    "IAMReadOnlyAccess": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:Get*",'
                         '"iam:List*"],"Resource":"*"}]}',
}
AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"


def managed_document(state: IamState, arn: str) -> str | None:
    """The default version's document of the managed policy ``arn``, if it exists."""
    if arn.startswith(AWS_MANAGED_PREFIX):
        return AWS_MANAGED.get(arn[len(AWS_MANAGED_PREFIX):])
    name = arn.rsplit("/", 1)[-1]
    policy = state.entities.get(("policy", name.lower()))
    if policy is None:
        return None
    version = policy.doc.get("versions", {}).get(policy.doc.get("default", ""))
    return version["document"] if version else None


def _documents(state: IamState, doc: dict[str, Any]) -> list[str]:
    out = list(doc.get("inline", {}).values())
    for arn in doc.get("attached", ()):
        text = managed_document(state, arn)
        if text is not None:
            out.append(text)
    return out


def identity_policies(state: IamState, kind: str, name: str) -> tuple[str, ...]:
    """Every identity policy document of a user (with its groups'), a role or
    ("root", "") an account root."""
    entity = state.entities.get((kind, name.lower()))
    if entity is None:
        return ()
    out = _documents(state, entity.doc)
    for group in entity.doc.get("groups", ()):
        g = state.entities.get(("group", group))
        if g is not None:
            out.extend(_documents(state, g.doc))
    return tuple(out)


def boundary_and_tags(state: IamState, kind: str, name: str) -> tuple[str | None, dict[str, str]]:
    """The permissions boundary's document (None: none, or its policy is
    gone, which AWS does not allow while it is in use) and the tags of a
    user or role."""
    entity = state.entities.get((kind, name.lower()))
    if entity is None:
        return None, {}
    arn = entity.doc.get("boundary")
    boundary = managed_document(state, arn) if arn else None
    if arn and boundary is None:
        boundary = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'
    return boundary, dict(entity.doc.get("tags", {}))
