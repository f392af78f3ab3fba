"""Tags and permissions boundaries of IAM users and roles.

Tags are key/value pairs kept in the entity's document (``doc["tags"]``,
keys unique regardless of case, as IAM has them); a request sees them as
``aws:PrincipalTag/<key>``.  A permissions boundary is the ARN of a managed
policy (``doc["boundary"]``): an identity-based Allow holds only where the
boundary allows too (pails.access.policy.identity_decision)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from pails.iam import render
from pails.iam.errors import IamError
from pails.iam.model import Call, copy_doc, entity, paginate
from pails.storage.iam_rows import AWS_MANAGED, AWS_MANAGED_PREFIX
from pails.storage.records import IamState, IamWrite

TAGS_MAX = 50
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
_TAG_TEXT = re.compile(r"[\w\s.:/=+\-@]*")
Handler = Callable[[Call], Awaitable[Any]]
_POLICY_ARN = re.compile(r"arn:aws:iam::(\d{12}):policy(/(?:.*/)?)([\w+=,.@-]+)")


def parse_tags(call: Call | dict[str, str], param: str = "Tags") -> dict[str, str]:
    """``Tags.member.N.Key`` / ``.Value`` as AWS validates them (of an IAM call, or an STS call's parameters)."""
    get = call.get
    out: dict[str, str] = {}
    lowered: set[str] = set()
    n = 1
    while (key := get(f"{param}.member.{n}.Key")) is not None:
        value = get(f"{param}.member.{n}.Value")
        if value is None:
            raise IamError("ValidationError", f"1 validation error detected: Value null at 'tags.{n}.member.value' "
                           "failed to satisfy constraint: Member must not be null")
        check_key(key, f"tags.{n}.member.key")
        if len(value) > TAG_VALUE_MAX or not _TAG_TEXT.fullmatch(value):
            raise IamError("ValidationError", f"1 validation error detected: Value at 'tags.{n}.member.value' "
                           f"failed to satisfy constraint: Member must have length less than or equal to "
                           f"{TAG_VALUE_MAX} and match [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*")
        if key.lower() in lowered:
            raise IamError("InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case "
                           "insensitive.")
        lowered.add(key.lower())
        out[key] = value
        n += 1
    if len(out) > TAGS_MAX:
        raise IamError("LimitExceeded", f"The number of tags has reached the maximum limit of {TAGS_MAX}.")
    return out


def check_key(key: str, where: str) -> None:
    if not 1 <= len(key) <= TAG_KEY_MAX or not _TAG_TEXT.fullmatch(key):
        raise IamError("ValidationError", f"1 validation error detected: Value at '{where}' failed to satisfy "
                       f"constraint: Member must have length between 1 and {TAG_KEY_MAX} and match "
                       "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+")
    if key.lower().startswith("aws:"):
        raise IamError("InvalidInput", "User-defined tag keys can't start with 'aws:'. This prefix is reserved "
                       "for AWS tags.")


def merged(current: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    """``current`` with ``new`` added: a key already there (in any case) takes the new value and case."""
    out = {k: v for k, v in current.items() if k.lower() not in {n.lower() for n in new}}
    out.update(new)
    if len(out) > TAGS_MAX:
        raise IamError("LimitExceeded", f"The number of tags has reached the maximum limit of {TAGS_MAX}.")
    return out


def boundary_arn(call: Call, state: IamState, arn: str) -> str:
    """A managed policy of the caller's account, or one of AWS's, that may be a boundary."""
    if arn.startswith(AWS_MANAGED_PREFIX) and arn[len(AWS_MANAGED_PREFIX):] in AWS_MANAGED:
        return arn
    m = _POLICY_ARN.fullmatch(arn)
    if m is None:
        raise IamError("InvalidInput", f"ARN {arn} is not valid.")
    if m.group(1) != call.account_id or ("policy", m.group(3).lower()) not in state.entities:
        raise IamError("NoSuchEntity", f"Scope ARN: {arn} does not exist or is not attachable.")
    return arn


def rendered(doc: dict[str, Any]) -> str:
    """The PermissionsBoundary and Tags elements of GetUser / GetRole."""
    out = ""
    if doc.get("boundary"):
        out += (f"<PermissionsBoundary>{render.e('PermissionsBoundaryType', 'PermissionsBoundaryPolicy')}"
                f"{render.e('PermissionsBoundaryArn', doc['boundary'])}</PermissionsBoundary>")
    if doc.get("tags"):
        out += tag_list(doc["tags"])
    return out


def tag_list(tags: dict[str, str]) -> str:
    return render.members("Tags", [render.e("Key", k) + render.e("Value", v) for k, v in tags.items()])


def boundary_uses(state: IamState, arn: str) -> int:
    return sum(1 for e in state.entities.values() if e.kind in ("user", "role") and e.doc.get("boundary") == arn)


# --- the actions -----------------------------------------------------------------------------------


def _name_param(kind: str) -> str:
    return "UserName" if kind == "user" else "RoleName"


def tag(kind: str) -> Handler:
    async def handler(call: Call) -> None:
        name = call.need(_name_param(kind))
        new = parse_tags(call)
        if not new:
            raise IamError("ValidationError", "1 validation error detected: Value null at 'tags' failed to "
                           "satisfy constraint: Member must not be null")

        def change(state: IamState) -> tuple[None, IamWrite]:
            found = entity(state, kind, name)
            return None, IamWrite(put=[copy_doc(found, tags=merged(found.doc.get("tags", {}), new))])
        await call.change(change)
    return handler


def untag(kind: str) -> Handler:
    async def handler(call: Call) -> None:
        name = call.need(_name_param(kind))
        keys = call.members("TagKeys")
        if not keys:
            raise IamError("ValidationError", "1 validation error detected: Value null at 'tagKeys' failed to "
                           "satisfy constraint: Member must not be null")
        if len(keys) > TAGS_MAX:
            raise IamError("ValidationError", f"1 validation error detected: Value at 'tagKeys' failed to "
                           f"satisfy constraint: Member must have length less than or equal to {TAGS_MAX}")
        for i, key in enumerate(keys, 1):
            if not 1 <= len(key) <= TAG_KEY_MAX:
                check_key(key, f"tagKeys.{i}.member")
        gone = {k.lower() for k in keys}

        def change(state: IamState) -> tuple[None, IamWrite]:
            found = entity(state, kind, name)
            tags = {k: v for k, v in found.doc.get("tags", {}).items() if k.lower() not in gone}
            return None, IamWrite(put=[copy_doc(found, tags=tags)])
        await call.change(change)
    return handler


def list_tags(kind: str) -> Handler:
    async def handler(call: Call) -> str:
        found = entity(await call.state(), kind, call.need(_name_param(kind)))
        items = list(found.doc.get("tags", {}).items())
        page, truncated, marker = paginate(items, call.params, lambda kv: kv[0].lower())
        out = tag_list(dict(page)) if page else "<Tags/>"
        out += render.e("IsTruncated", "true" if truncated else "false")
        return out + (render.e("Marker", marker) if truncated else "")
    return handler


def put_boundary(kind: str) -> Handler:
    async def handler(call: Call) -> None:
        name = call.need(_name_param(kind))
        arn = call.need("PermissionsBoundary")

        def change(state: IamState) -> tuple[None, IamWrite]:
            found = entity(state, kind, name)
            return None, IamWrite(put=[copy_doc(found, boundary=boundary_arn(call, state, arn))])
        await call.change(change)
    return handler


def delete_boundary(kind: str) -> Handler:
    async def handler(call: Call) -> None:
        name = call.need(_name_param(kind))

        def change(state: IamState) -> tuple[None, IamWrite]:
            found = entity(state, kind, name)
            doc = {k: v for k, v in found.doc.items() if k != "boundary"}
            return None, IamWrite(put=[type(found)(found.kind, found.name, found.id, found.path, found.created,
                                                   doc)])
        await call.change(change)
    return handler
