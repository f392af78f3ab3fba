"""Accounts: list, create (the root's key pair shown once), get, delete
(refused while the account owns buckets, unless they move to another
account), and a new root key pair.  The work is pails.users', as
``pails user`` does it without a server."""

from __future__ import annotations

from typing import Any

from pails.admin import fields
from pails.admin.api import AdminError, AdminRequest, AdminResponse, require_operator, require_root
from pails.storage.engine import Engine
from pails.storage.meta import AlreadyExists
from pails.storage.records import User
from pails.users import AccountInUse, find_account, make_user, remove_account, rotate_root_key, user_json


def account_json(account: User) -> dict[str, Any]:
    """An account as listed: never its secret key."""
    return {**{k: v for k, v in user_json(account).items() if k != "secret_key"},
            "operator": account.operator, "created": fields.iso(account.created)}


async def account_for(engine: Engine, req: AdminRequest, ref: str) -> User:
    """The account ``ref`` names (404 if none), which the caller must be
    the operator or the root of (403 otherwise)."""
    caller = require_root(req)
    account = await find_account(engine.meta, ref)
    if account is None:
        raise AdminError(404, "NoSuchAccount", f"no account {ref} (a display name, root access key or account id)")
    if not caller.operator and account.account_id != caller.account_id:
        raise AdminError(403, "AccessDenied", "an account root may only manage its own account")
    return account


async def list_accounts(engine: Engine, req: AdminRequest) -> AdminResponse:
    caller = require_root(req)
    accounts = await engine.meta.list_users()
    if not caller.operator:
        accounts = [a for a in accounts if a.account_id == caller.account_id]
    return AdminResponse.json({"accounts": [account_json(a) for a in accounts]})


async def create_account(engine: Engine, req: AdminRequest) -> AdminResponse:
    require_operator(req)
    body = req.json()
    fields.known_fields(body, {"name", "email", "access_key", "secret_key"})
    name = fields.text(body, "name", required=True, max_length=128)
    email = fields.text(body, "email")
    access_key = fields.text(body, "access_key", max_length=128)
    secret_key = fields.text(body, "secret_key", max_length=128)
    if (access_key is None) != (secret_key is None):
        raise fields.invalid("access_key and secret_key go together")
    if access_key is not None and (not access_key.isascii() or " " in access_key):
        raise fields.invalid("access_key must be ASCII without spaces")
    assert name is not None
    account = make_user(name, email, access_key, secret_key)
    try:
        await engine.meta.add_user(account)
    except AlreadyExists:
        raise AdminError(409, "AccountExists",
                         f"an account with that name, e-mail or access key already exists ({name})") from None
    return AdminResponse.json(user_json(account), 201)


async def get_account(engine: Engine, req: AdminRequest) -> AdminResponse:
    account = await account_for(engine, req, req.params["account"])
    buckets = await engine.meta.list_buckets(account.canonical_id)
    return AdminResponse.json({**account_json(account), "buckets": sorted(b.name for b in buckets)})


async def delete_account(engine: Engine, req: AdminRequest) -> AdminResponse:
    require_operator(req)
    ref = req.params["account"]
    move_to = req.query.get("move_buckets_to") or None
    account = await account_for(engine, req, ref)
    if move_to is not None:
        target = await find_account(engine.meta, move_to)
        if target is None:
            raise AdminError(404, "NoSuchAccount", f"no account {move_to} to move the buckets to")
        if target.account_id == account.account_id:
            raise fields.invalid("move_buckets_to names the account being deleted")
    moved = len(await engine.meta.list_buckets(account.canonical_id)) if move_to is not None else 0
    try:
        removed = await remove_account(engine.meta, account.account_id, move_to)
    except AccountInUse as exc:
        raise AdminError(409, "AccountInUse", str(exc)) from None
    if not removed:  # deleted meanwhile by another call
        raise AdminError(404, "NoSuchAccount", f"no account {ref}")
    return AdminResponse.json({"deleted": account.display_name, "account_id": account.account_id,
                               "moved_buckets": moved})


async def new_root_key(engine: Engine, req: AdminRequest) -> AdminResponse:
    account = await account_for(engine, req, req.params["account"])
    try:
        account = await rotate_root_key(engine.meta, account)
    except AccountInUse as exc:
        raise AdminError(409, "OperatorKeys", str(exc)) from None
    return AdminResponse.json(user_json(account))
