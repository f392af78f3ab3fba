"""IAM access keys as the operator sees them: every key of an account (its
IAM users' and its root's extra ones), and the Pails extension of a key's
expiry (docs/iam.md) set or cleared on a key that already exists."""

from __future__ import annotations

import dataclasses
from typing import Any

from pails.admin import fields
from pails.admin.accounts import account_for
from pails.admin.api import AdminError, AdminRequest, AdminResponse, require_root
from pails.storage.engine import Engine
from pails.storage.records import IamKey, IamState, IamWrite, User


def key_json(account: User, state: IamState, key: IamKey) -> dict[str, Any]:
    user = state.entities.get(("user", key.user))
    return {"access_key_id": key.access_key, "account_id": account.account_id,
            "user": user.name if user is not None else None,  # None: one of the account root's own keys
            "status": key.status, "created": fields.iso(key.created), "expires": fields.iso(key.expires),
            "last_used": fields.iso(key.last_used)}


async def list_keys(engine: Engine, req: AdminRequest) -> AdminResponse:
    caller = require_root(req)
    ref = req.query.get("account")
    if ref:
        accounts = [await account_for(engine, req, ref)]
    elif caller.operator:
        accounts = await engine.meta.list_users()
    else:
        accounts = [a for a in await engine.meta.list_users() if a.account_id == caller.account_id]
    keys = []
    for account in accounts:
        state = await engine.meta.iam_state(account.account_id)
        keys += [key_json(account, state, k) for k in sorted(state.keys.values(), key=lambda k: k.access_key)]
    return AdminResponse.json({"access_keys": keys})


async def _key_account(engine: Engine, req: AdminRequest, key_id: str) -> User:
    """The account holding the IAM key (404 if none); the caller must be the operator or its root."""
    caller = require_root(req)
    for account in await engine.meta.list_users():
        if key_id in (await engine.meta.iam_state(account.account_id)).keys:
            if not caller.operator and account.account_id != caller.account_id:
                raise AdminError(403, "AccessDenied", "an account root may only manage its own account's keys")
            return account
    raise AdminError(404, "NoSuchAccessKey", f"no IAM access key {key_id} (an account root's key pair has no "
                     "expiry: give it a new one with POST .../root-key)")


async def get_key(engine: Engine, req: AdminRequest) -> AdminResponse:
    key_id = req.params["key"]
    account = await _key_account(engine, req, key_id)
    state = await engine.meta.iam_state(account.account_id)
    key = state.keys.get(key_id)
    if key is None:
        raise AdminError(404, "NoSuchAccessKey", f"no IAM access key {key_id}")
    return AdminResponse.json(key_json(account, state, key))


async def _set_expiry(engine: Engine, req: AdminRequest, expires: float | None) -> AdminResponse:
    key_id = req.params["key"]
    account = await _key_account(engine, req, key_id)

    def change(state: IamState) -> tuple[dict[str, Any], IamWrite]:
        key = state.keys.get(key_id)
        if key is None:  # deleted since it was found
            raise AdminError(404, "NoSuchAccessKey", f"no IAM access key {key_id}")
        key = dataclasses.replace(key, expires=expires)
        return key_json(account, state, key), IamWrite(put_keys=[key])
    return AdminResponse.json(await engine.meta.change_iam(account.account_id, change))


async def set_expiry(engine: Engine, req: AdminRequest) -> AdminResponse:
    body = req.json()
    fields.known_fields(body, {"expires"})
    if "expires" not in body:
        raise fields.invalid("expires is required (ISO 8601, e.g. 2027-01-31T00:00:00Z; DELETE clears it)")
    return await _set_expiry(engine, req, fields.timestamp(body["expires"], "expires"))


async def clear_expiry(engine: Engine, req: AdminRequest) -> AdminResponse:
    return await _set_expiry(engine, req, None)
