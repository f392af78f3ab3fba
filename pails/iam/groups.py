"""IAM groups and their members (a user's doc lists its groups)."""

from __future__ import annotations

from pails.iam import render
from pails.iam.errors import IamError
from pails.iam.model import (
    Call,
    check_name,
    check_path,
    copy_doc,
    entities,
    entity,
    new_entity,
    paginate,
    under_path,
)
from pails.storage.records import IamEntity, IamState, IamWrite


def _members(state: IamState, group: IamEntity) -> list[IamEntity]:
    lname = group.name.lower()
    return [u for u in entities(state, "user") if lname in u.doc.get("groups", ())]


async def create_group(call: Call) -> str:
    name = check_name("group", call.get("GroupName"), "groupName")
    path = check_path(call.get("Path"))

    def change(state: IamState) -> tuple[IamEntity, IamWrite]:
        group = new_entity(state, "group", name, path, {})
        return group, IamWrite(put=[group])
    group = await call.change(change)
    return f"<Group>{render.group(group, call.arn(group))}</Group>"


async def get_group(call: Call) -> str:
    state = await call.state()
    group = entity(state, "group", call.need("GroupName"))
    page, truncated, marker = paginate(_members(state, group), call.params, lambda u: u.name.lower())
    return (f"<Group>{render.group(group, call.arn(group))}</Group>"
            + render.page([render.user(u, call.arn(u)) for u in page], "Users", truncated, marker))


async def update_group(call: Call) -> None:
    name = call.need("GroupName")
    new_name = call.get("NewGroupName")
    if new_name is not None:
        check_name("group", new_name, "newGroupName")
    new_path = check_path(call.get("NewPath"), "newPath") if call.get("NewPath") is not None else None

    def change(state: IamState) -> tuple[None, IamWrite]:
        group = entity(state, "group", name)
        write = IamWrite()
        if new_name is not None and new_name.lower() != group.name.lower():
            if ("group", new_name.lower()) in state.entities:
                raise IamError("EntityAlreadyExists", f"Group with name {new_name} already exists.")
            write.delete.append(("group", group.name.lower()))
            old = group.name.lower()
            for user in _members(state, group):
                write.put.append(copy_doc(user, groups=[new_name.lower() if g == old else g
                                                        for g in user.doc["groups"]]))
        write.put.append(IamEntity("group", new_name or group.name, group.id, new_path or group.path,
                                   group.created, group.doc))
        return None, write
    await call.change(change)


async def delete_group(call: Call) -> None:
    name = call.need("GroupName")

    def change(state: IamState) -> tuple[None, IamWrite]:
        group = entity(state, "group", name)
        if _members(state, group):
            raise IamError("DeleteConflict", "Cannot delete entity, must remove users from group first.")
        if group.doc.get("inline"):
            raise IamError("DeleteConflict", "Cannot delete entity, must delete policies first.")
        if group.doc.get("attached"):
            raise IamError("DeleteConflict", "Cannot delete entity, must detach all policies first.")
        return None, IamWrite(delete=[("group", group.name.lower())])
    await call.change(change)


async def list_groups(call: Call) -> str:
    state = await call.state()
    groups = [g for g in entities(state, "group") if under_path(g, call.params)]
    page, truncated, marker = paginate(groups, call.params, lambda g: g.name.lower())
    return render.page([render.group(g, call.arn(g)) for g in page], "Groups", truncated, marker)


async def add_user_to_group(call: Call) -> None:
    group_name, user_name = call.need("GroupName"), call.need("UserName")

    def change(state: IamState) -> tuple[None, IamWrite]:
        group = entity(state, "group", group_name)
        user = entity(state, "user", user_name)
        groups = list(user.doc.get("groups", []))
        if group.name.lower() in groups:
            return None, IamWrite()
        return None, IamWrite(put=[copy_doc(user, groups=[*groups, group.name.lower()])])
    await call.change(change)


async def remove_user_from_group(call: Call) -> None:
    group_name, user_name = call.need("GroupName"), call.need("UserName")

    def change(state: IamState) -> tuple[None, IamWrite]:
        group = entity(state, "group", group_name)
        user = entity(state, "user", user_name)
        groups = list(user.doc.get("groups", []))
        if group.name.lower() not in groups:
            raise IamError("NoSuchEntity", f"The user with name {user_name} is not in group {group_name}.")
        return None, IamWrite(put=[copy_doc(user, groups=[g for g in groups if g != group.name.lower()])])
    await call.change(change)


async def list_groups_for_user(call: Call) -> str:
    state = await call.state()
    user = entity(state, "user", call.need("UserName"))
    groups = [g for g in (state.entities.get(("group", n)) for n in user.doc.get("groups", ())) if g is not None]
    page, truncated, marker = paginate(groups, call.params, lambda g: g.name.lower())
    return render.page([render.group(g, call.arn(g)) for g in page], "Groups", truncated, marker)
