"""IAM roles: a trust policy (who may assume the role, through STS) and
the role's own inline and attached policies."""

from __future__ import annotations

from pails.iam import render
from pails.iam.errors import IamError
from pails.iam.model import (
    Call,
    check_name,
    check_path,
    check_trust_policy,
    copy_doc,
    entities,
    entity,
    new_entity,
    paginate,
    under_path,
)
from pails.iam.tags import boundary_arn, parse_tags, rendered
from pails.storage.records import IamEntity, IamState, IamWrite

MAX_SESSION_RANGE = (3600, 43200)


def _max_session(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or not MAX_SESSION_RANGE[0] <= int(raw) <= MAX_SESSION_RANGE[1]:
        raise IamError("ValidationError", "MaxSessionDuration must be between 3600 and 43200 seconds")
    return int(raw)


def _description(raw: str | None) -> str | None:
    if raw is not None and len(raw) > 1000:
        raise IamError("ValidationError", "Description must be at most 1000 characters")
    return raw


async def create_role(call: Call) -> str:
    name = check_name("role", call.get("RoleName"), "roleName")
    path = check_path(call.get("Path"))
    trust = check_trust_policy(call.get("AssumeRolePolicyDocument"))
    doc: dict[str, object] = {"trust": trust, "max_session": _max_session(call.get("MaxSessionDuration")) or 3600,
                              "description": _description(call.get("Description")) or ""}
    if tags := parse_tags(call):
        doc["tags"] = tags
    boundary = call.get("PermissionsBoundary")

    def change(state: IamState) -> tuple[IamEntity, IamWrite]:
        if boundary is not None:
            doc["boundary"] = boundary_arn(call, state, boundary)
        role = new_entity(state, "role", name, path, doc)
        return role, IamWrite(put=[role])
    role = await call.change(change)
    return f"<Role>{render.role(role, call.arn(role))}{rendered(role.doc)}</Role>"


async def get_role(call: Call) -> str:
    role = entity(await call.state(), "role", call.need("RoleName"))
    return f"<Role>{render.role(role, call.arn(role))}{rendered(role.doc)}</Role>"


async def update_role(call: Call) -> str:
    name = call.need("RoleName")
    changes: dict[str, object] = {}
    if (duration := _max_session(call.get("MaxSessionDuration"))) is not None:
        changes["max_session"] = duration
    if (description := _description(call.get("Description"))) is not None:
        changes["description"] = description

    def change(state: IamState) -> tuple[None, IamWrite]:
        return None, IamWrite(put=[copy_doc(entity(state, "role", name), **changes)])
    await call.change(change)
    return ""  # an empty UpdateRoleResult, as AWS sends


async def update_assume_role_policy(call: Call) -> None:
    name = call.need("RoleName")
    trust = check_trust_policy(call.get("PolicyDocument"))

    def change(state: IamState) -> tuple[None, IamWrite]:
        return None, IamWrite(put=[copy_doc(entity(state, "role", name), trust=trust)])
    await call.change(change)


async def delete_role(call: Call) -> None:
    name = call.need("RoleName")

    def change(state: IamState) -> tuple[None, IamWrite]:
        role = entity(state, "role", name)
        if role.doc.get("inline"):
            raise IamError("DeleteConflict", "Cannot delete entity, must delete policies first.")
        if role.doc.get("attached"):
            raise IamError("DeleteConflict", "Cannot delete entity, must detach all policies first.")
        return None, IamWrite(delete=[("role", role.name.lower())])
    await call.change(change)


async def list_roles(call: Call) -> str:
    state = await call.state()
    roles = [r for r in entities(state, "role") if under_path(r, call.params)]
    page, truncated, marker = paginate(roles, call.params, lambda r: r.name.lower())
    return render.page([render.role(r, call.arn(r)) for r in page], "Roles", truncated, marker)
