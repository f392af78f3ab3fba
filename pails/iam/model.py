"""The pure rules of IAM: names, paths, ids, ARNs, limits, policy checks,
and the call a handler serves (its parameters, its caller, its account)."""

from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pails.access.policy import MalformedIdentityPolicy, Principal, identity_decision, parse_policy
from pails.errors import S3Error
from pails.iam.errors import IamError, missing, no_such
from pails.storage.engine import Engine
from pails.storage.records import IamEntity, IamState, IamWrite, User

T = TypeVar("T")

_ID_ALPHABET = string.ascii_uppercase + string.digits
ID_PREFIX = {"user": "AIDA", "group": "AGPA", "role": "AROA", "policy": "ANPA"}
KIND_WORD = {"user": "user", "group": "group", "role": "role", "policy": "policy"}
_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)
NAME_MAX = {"user": 64, "group": 128, "role": 64, "policy": 128}
POLICY_NAME_MAX = 128
_PATH = re.compile(r"/(?:[\x21-\x7e]*/)?")
# Characters of inline policies per principal (AWS's quotas) and of a managed policy.
INLINE_POLICY_MAX = {"user": 2048, "group": 5120, "role": 10240, "root": 10240}
MANAGED_POLICY_MAX = 6144
KEYS_PER_USER = 2
POLICY_VERSIONS_MAX = 5
MAX_ITEMS = 1000


def new_id(kind: str) -> str:
    return ID_PREFIX[kind] + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def new_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def arn(account_id: str, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:{KIND_WORD[kind]}{path}{name}"


def check_name(kind: str, name: str | None, param: str) -> str:
    if name is None or name == "":
        raise missing(param)
    if len(name) > NAME_MAX[kind] or not _NAME.fullmatch(name):
        raise IamError("ValidationError", f"The specified value for {param[0].lower() + param[1:]} is invalid. "
                       f"It must contain only alphanumeric characters and/or the following: +=,.@_-")
    return name


def check_policy_name(name: str | None) -> str:
    if not name:
        raise missing("policyName")
    if len(name) > POLICY_NAME_MAX or not _NAME.fullmatch(name):
        raise IamError("ValidationError", "The specified value for policyName is invalid. It must contain only "
                       "alphanumeric characters and/or the following: +=,.@_-")
    return name


def check_path(path: str | None, param: str = "path") -> str:
    if path is None:
        return "/"
    if len(path) > 512 or not _PATH.fullmatch(path):
        raise IamError("ValidationError", f"The specified value for {param} is invalid. It must begin and end "
                       "with / and contain only alphanumeric characters and/or / characters.")
    return path


def check_policy(document: str | None, limit: int, param: str = "policyDocument") -> str:
    """An identity (or trust) policy document: MalformedPolicyDocument if it is not one."""
    if document is None:
        raise missing(param)
    if len(document) > limit:
        raise IamError("LimitExceeded", f"Cannot exceed quota for PolicySize: {limit}")
    try:
        parse_policy(document, None)
    except MalformedIdentityPolicy as exc:
        raise IamError("MalformedPolicyDocument", exc.message) from None
    except S3Error as exc:  # the shared parser's own MalformedPolicy (a Condition block's): IAM's answer too
        if exc.code != "MalformedPolicy":
            raise
        raise IamError("MalformedPolicyDocument", exc.message) from None
    return document


def check_trust_policy(document: str | None) -> str:
    """A role's trust policy names principals, so it is checked as JSON with statements only."""
    import json

    if document is None:
        raise missing("assumeRolePolicyDocument")
    if len(document) > 2048:
        raise IamError("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")
    try:
        doc = json.loads(document)
    except ValueError:
        raise IamError("MalformedPolicyDocument", "Syntax errors in policy.") from None
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements or \
            not all(isinstance(s, dict) and s.get("Effect") in ("Allow", "Deny") for s in statements):
        raise IamError("MalformedPolicyDocument", "Syntax errors in policy.")
    return document


def max_items(params: dict[str, str]) -> int:
    raw = params.get("MaxItems")
    if raw is None:
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ITEMS:
        raise IamError("ValidationError", "MaxItems must be between 1 and 1000")
    return int(raw)


def paginate(items: list[Any], params: dict[str, str], key: Callable[[Any], str]) -> tuple[list[Any], bool, str]:
    """A page after ``Marker`` (the last key of the previous page), sorted by ``key``."""
    items = sorted(items, key=key)
    marker = params.get("Marker")
    if marker:
        items = [i for i in items if key(i) > marker]
    limit = max_items(params)
    page = items[:limit]
    return page, len(items) > limit, key(page[-1]) if page else ""


def under_path(entity: IamEntity, params: dict[str, str]) -> bool:
    return entity.path.startswith(params.get("PathPrefix") or "/")


@dataclass(slots=True)
class Call:
    """One IAM request: its parameters, who sent it and the account it acts on."""

    action: str
    params: dict[str, str]
    caller: User
    account_id: str
    engine: Engine
    context: dict[str, tuple[str, ...]] = field(default_factory=dict)  # condition keys of the request

    def identity(self, resources: tuple[str, ...]) -> str | None:
        """What the caller's identity policies say of this action on any of ``resources``."""
        caller = self.caller
        if not caller.policies and caller.session_policy is None and caller.boundary is None:
            return None
        who = Principal(caller.canonical_id, "", caller.arn, caller.account_id)
        return identity_decision(caller.policies, caller.session_policy, who, "iam:" + self.action, resources,
                                 self.context, caller.boundary)

    def get(self, name: str) -> str | None:
        return self.params.get(name)

    def members(self, name: str) -> list[str]:
        """A list parameter as the Query protocol sends it: ``Name.member.1``, ``Name.member.2``, ..."""
        out = []
        while (value := self.params.get(f"{name}.member.{len(out) + 1}")) is not None:
            out.append(value)
        return out

    def need(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise missing(name[0].lower() + name[1:])
        return value

    async def state(self) -> IamState:
        return await self.engine.meta.iam_state(self.account_id)

    async def change(self, fn: Callable[[IamState], tuple[T, IamWrite]]) -> T:
        return await self.engine.meta.change_iam(self.account_id, fn)

    def arn(self, entity: IamEntity) -> str:
        return arn(self.account_id, entity.kind, entity.path, entity.name)


def entity(state: IamState, kind: str, name: str) -> IamEntity:
    found = state.entities.get((kind, name.lower()))
    if found is None:
        raise no_such(kind, name)
    return found


def entities(state: IamState, kind: str) -> list[IamEntity]:
    return [e for (k, _), e in state.entities.items() if k == kind]


def new_entity(state: IamState, kind: str, name: str, path: str, doc: dict[str, Any]) -> IamEntity:
    if (kind, name.lower()) in state.entities:
        raise IamError("EntityAlreadyExists", f"{kind.capitalize()} with name {name} already exists.")
    return IamEntity(kind, name, new_id(kind), path, time.time(), doc)


def copy_doc(entity: IamEntity, **changes: Any) -> IamEntity:
    """The entity with its doc changed (records read from the store are not shared, but stay unchanged)."""
    return IamEntity(entity.kind, entity.name, entity.id, entity.path, entity.created, {**entity.doc, **changes})
