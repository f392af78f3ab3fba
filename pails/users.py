"""Users and the root credentials."""

from __future__ import annotations

import json
import os
import secrets
import string
import time

from pails.storage.meta import AlreadyExists, MetaStore
from pails.storage.records import User

_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
ROOT_NAME = "root"
CREDENTIALS_FILE = "root-credentials.json"


def new_access_key() -> str:
    return "PA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))


def new_secret_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def make_user(name: str, email: str | None = None, access_key: str | None = None,
              secret_key: str | None = None) -> User:
    return User(access_key=access_key or new_access_key(), secret_key=secret_key or new_secret_key(),
                canonical_id=secrets.token_hex(32), display_name=name, email=email, created=time.time())


def user_json(user: User) -> dict[str, str | None]:
    return {"access_key": user.access_key, "secret_key": user.secret_key, "canonical_id": user.canonical_id,
            "display_name": user.display_name, "email": user.email}


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
        await meta.remove_user(root.access_key)
        root = User(access_key, secret_key, root.canonical_id, ROOT_NAME, root.email, root.created)
        await meta.add_user(root)
    elif root is None:
        root = make_user(ROOT_NAME, None, access_key, secret_key)
        try:
            await meta.add_user(root)
        except AlreadyExists:  # another gateway created it meanwhile
            root = next(u for u in await meta.list_users() if u.display_name == ROOT_NAME)
    return root, generated
