"""Accounts ("users" on the command line) and the operator's credentials.

Each account has a root principal (``arn:aws:iam::<account id>:root``) with
one key pair, a canonical id that owns its buckets, and the IAM users,
groups, roles and policies of docs/iam.md.  The operator is the account of
the server's root credentials: it administers every account and reaches
every bucket."""

from __future__ import annotations

import json
import os
import secrets
import string
import time

from pails.access.acl import Acl, Grant
from pails.storage.meta import AlreadyExists, MetaStore
from pails.storage.records import User, new_account_id

_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
ROOT_NAME = "root"
CREDENTIALS_FILE = "root-credentials.json"


def new_access_key() -> str:
    return "PA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))


def new_secret_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def make_user(name: str, email: str | None = None, access_key: str | None = None,
              secret_key: str | None = None, operator: bool = False) -> User:
    """A new account: its root's key pair, canonical id and account id."""
    return User(access_key=access_key or new_access_key(), secret_key=secret_key or new_secret_key(),
                canonical_id=secrets.token_hex(32), display_name=name, email=email, created=time.time(),
                account_id=new_account_id(), operator=operator)


def user_json(user: User) -> dict[str, str | None]:
    return {"access_key": user.access_key, "secret_key": user.secret_key, "canonical_id": user.canonical_id,
            "display_name": user.display_name, "email": user.email, "account_id": user.account_id,
            "arn": user.arn}


class AccountInUse(Exception):
    """An account that still owns buckets cannot be removed (they would be unreachable)."""


def _acl_for(acl_json: str, old: User, new: User) -> str:
    acl = Acl.from_json(acl_json)
    grants = tuple(Grant(g.grantee_type, new.canonical_id, g.permission, new.display_name)
                   if g.grantee_id == old.canonical_id else g for g in acl.grants)
    return Acl(new.canonical_id, new.display_name, grants).to_json()


async def find_account(meta: MetaStore, name_or_key: str) -> User | None:
    """The account named by its display name, root access key or account id."""
    return next((u for u in await meta.list_users()
                 if name_or_key in (u.display_name, u.access_key, u.account_id)), None)


async def rotate_root_key(meta: MetaStore, account: User) -> User:
    """Give the account's root a new key pair (the old one stops working);
    the account with its new keys.  Not the operator's: its keys come from
    the credentials file or the environment at every start."""
    if account.operator:
        raise AccountInUse(f"the operator's keys come from {CREDENTIALS_FILE} or PAILS_ROOT_ACCESS_KEY/"
                           "PAILS_ROOT_SECRET_KEY: change them there and restart the server")
    access_key, secret_key = new_access_key(), new_secret_key()
    await meta.replace_keys(account.account_id, access_key, secret_key)
    account.access_key, account.secret_key = access_key, secret_key
    return account


async def remove_account(meta: MetaStore, name_or_key: str, move_buckets_to: str | None = None) -> bool:
    """Remove an account, refusing while it owns buckets unless they move to
    another account first (named by display name, access key or account id)."""
    account = await find_account(meta, name_or_key)
    if account is None:
        return False
    if account.operator:
        raise AccountInUse("the operator's account cannot be removed")
    owned = await meta.list_buckets(account.canonical_id)
    if owned:
        if move_buckets_to is None:
            names = ", ".join(b.name for b in owned[:5]) + (", ..." if len(owned) > 5 else "")
            raise AccountInUse(f"account {account.display_name} owns {len(owned)} bucket(s) ({names}): delete "
                               "them first or give them to another account (pails user remove "
                               "--move-buckets-to ACCOUNT; admin API: ?move_buckets_to=ACCOUNT)")
        target = await find_account(meta, move_buckets_to)
        if target is None or target.account_id == account.account_id:
            raise AccountInUse(f"no other account {move_buckets_to} to move the buckets to")
        for bucket in owned:  # the new owner's ACL grants: its own, not the removed account's
            await meta.update_bucket(bucket.id, acl=_acl_for(bucket.acl, account, target))
        await meta.move_buckets(account.canonical_id, target.canonical_id)
    return await meta.remove_user(account.access_key)


async def ensure_root(meta: MetaStore, data_dir: str) -> tuple[User, bool]:
    """The root user, from PAILS_ROOT_ACCESS_KEY/PAILS_ROOT_SECRET_KEY or the
    credentials file; generated (and stored 0600) on first start.  Returns
    (user, freshly generated)."""
    path = os.path.join(data_dir, CREDENTIALS_FILE)
    env_key = os.environ.get("PAILS_ROOT_ACCESS_KEY")
    env_secret = os.environ.get("PAILS_ROOT_SECRET_KEY")
    generated = False
    if env_key and env_secret:
        access_key, secret_key = env_key, env_secret
    elif os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        access_key, secret_key = saved["access_key"], saved["secret_key"]
    else:
        access_key, secret_key = new_access_key(), new_secret_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"access_key": access_key, "secret_key": secret_key}, f)
            f.flush()
            os.fsync(f.fileno())
        generated = True
    root = next((u for u in await meta.list_users() if u.display_name == ROOT_NAME), None)
    if root is not None and (root.access_key != access_key or root.secret_key != secret_key):
        await meta.replace_keys(root.account_id, access_key, secret_key)
        root.access_key, root.secret_key = access_key, secret_key
    elif root is None:
        root = make_user(ROOT_NAME, None, access_key, secret_key, operator=True)
        try:
            await meta.add_user(root)
        except AlreadyExists:  # another gateway created it meanwhile
            root = next(u for u in await meta.list_users() if u.display_name == ROOT_NAME)
    return root, generated
