"""IAM users and their access keys."""

from __future__ import annotations

import time
from datetime import datetime

from pails.iam import render
from pails.iam.errors import IamError
from pails.iam.model import (
    KEYS_PER_USER,
    Call,
    check_name,
    check_path,
    entities,
    entity,
    new_access_key_id,
    new_entity,
    paginate,
    under_path,
)
from pails.iam.tags import boundary_arn, parse_tags, rendered
from pails.storage.crypto import seal_secret
from pails.storage.records import IamEntity, IamKey, IamState, IamWrite
from pails.users import new_secret_key


async def create_user(call: Call) -> str:
    name = check_name("user", call.get("UserName"), "userName")
    path = check_path(call.get("Path"))
    tags = parse_tags(call)
    boundary = call.get("PermissionsBoundary")

    def change(state: IamState) -> tuple[IamEntity, IamWrite]:
        doc: dict[str, object] = {"tags": tags} if tags else {}
        if boundary is not None:
            doc["boundary"] = boundary_arn(call, state, boundary)
        user = new_entity(state, "user", name, path, doc)
        return user, IamWrite(put=[user])
    user = await call.change(change)
    return f"<User>{render.user(user, call.arn(user))}{rendered(user.doc)}</User>"


async def get_user(call: Call) -> str:
    name = call.get("UserName")
    if name is None:
        caller = call.caller
        if caller.iam_user is None:  # the account root, as AWS describes it
            account = await call.engine.meta.get_account(call.account_id)
            created = account.created if account else caller.created
            return (f"<User>{render.e('UserId', call.account_id)}"
                    f"{render.e('Arn', f'arn:aws:iam::{call.account_id}:root')}"
                    f"{render.e('CreateDate', render.date(created))}</User>")
        name = caller.iam_user
    user = entity(await call.state(), "user", name)
    return f"<User>{render.user(user, call.arn(user))}{rendered(user.doc)}</User>"


async def update_user(call: Call) -> None:
    name = call.need("UserName")
    new_name = call.get("NewUserName")
    if new_name is not None:
        check_name("user", new_name, "newUserName")
    new_path = check_path(call.get("NewPath"), "newPath") if call.get("NewPath") is not None else None

    def change(state: IamState) -> tuple[None, IamWrite]:
        user = entity(state, "user", name)
        write = IamWrite()
        renamed = IamEntity("user", new_name or user.name, user.id, new_path or user.path, user.created, user.doc)
        if new_name is not None and new_name.lower() != user.name.lower():
            if ("user", new_name.lower()) in state.entities:
                raise IamError("EntityAlreadyExists", f"User with name {new_name} already exists.")
            write.delete.append(("user", user.name.lower()))
            for key in state.keys.values():
                if key.user == user.name.lower():
                    write.put_keys.append(IamKey(key.access_key, new_name.lower(), key.secret, key.status,
                                                 key.created, key.expires, key.last_used))
        write.put.append(renamed)
        return None, write
    await call.change(change)


async def delete_user(call: Call) -> None:
    name = call.need("UserName")

    def change(state: IamState) -> tuple[None, IamWrite]:
        user = entity(state, "user", name)
        if any(k.user == user.name.lower() for k in state.keys.values()):
            raise IamError("DeleteConflict", "Cannot delete entity, must delete access keys first.")
        if user.doc.get("inline"):
            raise IamError("DeleteConflict", "Cannot delete entity, must delete policies first.")
        if user.doc.get("attached"):
            raise IamError("DeleteConflict", "Cannot delete entity, must detach all policies first.")
        # Group memberships go with the user (as Ceph RGW has it; AWS asks to remove them first).
        return None, IamWrite(delete=[("user", user.name.lower())])
    await call.change(change)


async def list_users(call: Call) -> str:
    state = await call.state()
    users = [u for u in entities(state, "user") if under_path(u, call.params)]
    page, truncated, marker = paginate(users, call.params, lambda u: u.name.lower())
    return render.page([render.user(u, call.arn(u)) for u in page], "Users", truncated, marker)


# --- access keys ------------------------------------------------------------------------------------


def _key_owner(call: Call, state: IamState) -> tuple[str, str]:
    """(lower-cased user name, the name as shown) of the key's user: the
    named IAM user, else the caller ("" for an account root)."""
    name = call.get("UserName")
    if name is None:
        if call.caller.iam_user is None or call.caller.account_id != call.account_id:
            return "", call.caller.display_name
        name = call.caller.iam_user
    user = entity(state, "user", name)
    return user.name.lower(), user.name


def _expiry(call: Call) -> float | None:
    """Pails' extension: ``Expiration`` (ISO 8601) ends a new key's validity."""
    raw = call.get("Expiration")
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise IamError("ValidationError", "Expiration must be an ISO 8601 date and time") from None


async def create_access_key(call: Call) -> str:
    secret = new_secret_key()
    sealed = seal_secret(call.engine.keys.master(), secret)
    expires = _expiry(call)

    def change(state: IamState) -> tuple[tuple[IamKey, str], IamWrite]:
        owner, shown = _key_owner(call, state)
        if sum(1 for k in state.keys.values() if k.user == owner) >= KEYS_PER_USER:
            raise IamError("LimitExceeded", f"Cannot exceed quota for AccessKeysPerUser: {KEYS_PER_USER}")
        key = IamKey(new_access_key_id(), owner, sealed, "Active", time.time(), expires)
        return (key, shown), IamWrite(put_keys=[key])
    key, shown = await call.change(change)
    return (f"<AccessKey>{render.e('UserName', shown)}{render.e('AccessKeyId', key.access_key)}"
            f"{render.e('Status', key.status)}{render.e('SecretAccessKey', secret)}"
            f"{render.e('CreateDate', render.date(key.created))}</AccessKey>")


def _owned_key(call: Call, state: IamState) -> IamKey:
    owner, _ = _key_owner(call, state)
    key_id = call.need("AccessKeyId")
    key = state.keys.get(key_id)
    if key is None or key.user != owner:
        raise IamError("NoSuchEntity", f"The Access Key with id {key_id} cannot be found.")
    return key


async def update_access_key(call: Call) -> None:
    status = call.need("Status")
    if status not in ("Active", "Inactive"):
        raise IamError("ValidationError", "Status must be Active or Inactive")

    def change(state: IamState) -> tuple[None, IamWrite]:
        key = _owned_key(call, state)
        return None, IamWrite(put_keys=[IamKey(key.access_key, key.user, key.secret, status, key.created,
                                               key.expires, key.last_used)])
    await call.change(change)


async def delete_access_key(call: Call) -> None:
    def change(state: IamState) -> tuple[None, IamWrite]:
        return None, IamWrite(delete_keys=[_owned_key(call, state).access_key])
    await call.change(change)


async def list_access_keys(call: Call) -> str:
    state = await call.state()
    owner, shown = _key_owner(call, state)
    keys = [k for k in state.keys.values() if k.user == owner]
    page, truncated, marker = paginate(keys, call.params, lambda k: k.access_key)
    return render.page([render.key_metadata(k, shown) for k in page], "AccessKeyMetadata", truncated, marker)


async def get_access_key_last_used(call: Call) -> str:
    key_id = call.need("AccessKeyId")
    state = await call.state()
    key = state.keys.get(key_id)
    if key is None:
        raise IamError("NoSuchEntity", f"The Access Key with id {key_id} cannot be found.")
    user = state.entities.get(("user", key.user))
    name = user.name if user is not None else call.caller.display_name
    if key.last_used is None:
        used = "<ServiceName>N/A</ServiceName><Region>N/A</Region>"
    else:
        used = (f"{render.e('LastUsedDate', render.date(key.last_used))}<ServiceName>s3</ServiceName>"
                f"{render.e('Region', call.engine.settings.region)}")
    return f"{render.e('UserName', name)}<AccessKeyLastUsed>{used}</AccessKeyLastUsed>"
