"""Accounts (the ``users`` table) and IAM entities and keys of the SQLite
store (as ``postgres.iam`` is for PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from pails.storage.epoch import SharedCounter
from pails.storage.iam_rows import (
    ENTITY_COLUMNS,
    KEY_COLUMNS,
    PRINCIPAL_BY_KEY,
    USER_COLUMNS,
    entity_from_row,
    entity_values,
    key_from_row,
    key_values,
    principal_from_row,
    user_from_row,
)
from pails.storage.meta import AlreadyExists
from pails.storage.records import IamState, IamWrite, User

T = TypeVar("T")
_PRINCIPAL_BY_KEY = PRINCIPAL_BY_KEY.format(p="?")


def read_iam(c: sqlite3.Connection, account_id: str) -> IamState:
    entities = {(e.kind, e.name.lower()): e for e in map(entity_from_row, c.execute(
        f"SELECT {ENTITY_COLUMNS} FROM iam_entities WHERE account_id=?", (account_id,)))}
    keys = {k.access_key: k for k in map(key_from_row, c.execute(
        f"SELECT {KEY_COLUMNS} FROM iam_keys WHERE account_id=?", (account_id,)))}
    return IamState(account_id, entities, keys)


def apply_iam(c: sqlite3.Connection, account_id: str, write: IamWrite) -> None:
    for kind, lname in write.delete:
        c.execute("DELETE FROM iam_entities WHERE account_id=? AND kind=? AND lname=?", (account_id, kind, lname))
    for e in write.put:
        c.execute("INSERT OR REPLACE INTO iam_entities (account_id, kind, lname, name, id, path, created, doc) "
                  "VALUES (?,?,?,?,?,?,?,?)", entity_values(account_id, e))
    for access_key in write.delete_keys:
        c.execute("DELETE FROM iam_keys WHERE access_key=? AND account_id=?", (access_key, account_id))
    for k in write.put_keys:
        c.execute("INSERT OR REPLACE INTO iam_keys (access_key, account_id, user_name, secret, status, created, "
                  "expires, last_used) VALUES (?,?,?,?,?,?,?,?)", key_values(account_id, k))


class SqliteIam:
    _conn: sqlite3.Connection  # SqliteMeta's: this thread's connection
    _write: Callable[..., Any]  # SqliteMeta's: a write through the group committer
    _write_bucket: Callable[..., Any]
    _credentials_epoch: SharedCounter  # bumped after every change of keys or policies

    def credentials_epoch(self) -> int:
        return self._credentials_epoch.value()

    async def _write_credentials(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self._write(fn)  # type: ignore[no-any-return]
        finally:
            self._credentials_epoch.bump()

    async def get_user(self, access_key: str) -> User | None:
        r = self._conn.execute(_PRINCIPAL_BY_KEY, (access_key, access_key)).fetchone()
        return principal_from_row(r) if r else None

    async def get_user_by_id(self, canonical_id: str) -> User | None:
        r = self._conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE canonical_id=?", (canonical_id,)).fetchone()
        return user_from_row(r) if r else None

    async def get_user_by_email(self, email: str) -> User | None:
        r = self._conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE email=? COLLATE NOCASE",
                               (email,)).fetchone()
        return user_from_row(r) if r else None

    async def get_account(self, account_id: str) -> User | None:
        r = self._conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE account_id=?", (account_id,)).fetchone()
        return user_from_row(r) if r else None

    async def list_users(self) -> list[User]:
        return [user_from_row(r) for r in self._conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY created")]

    async def add_user(self, user: User) -> None:
        def tx(c: sqlite3.Connection) -> None:
            try:
                c.execute(f"INSERT INTO users ({USER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                          (user.access_key, user.secret_key, user.canonical_id, user.display_name, user.email,
                           user.created, user.account_id, int(user.operator)))
            except sqlite3.IntegrityError:
                raise AlreadyExists(user.display_name) from None
        await self._write(tx)

    async def remove_user(self, name_or_key: str) -> bool:
        def tx(c: sqlite3.Connection) -> bool:
            r = c.execute("SELECT account_id FROM users WHERE access_key=? OR display_name=?",
                          (name_or_key, name_or_key)).fetchone()
            if r is None:
                return False
            c.execute("DELETE FROM iam_entities WHERE account_id=?", (r[0],))
            c.execute("DELETE FROM iam_keys WHERE account_id=?", (r[0],))
            c.execute("DELETE FROM users WHERE account_id=?", (r[0],))
            return True
        return bool(await self._write_credentials(tx))

    async def replace_keys(self, account_id: str, access_key: str, secret_key: str) -> None:
        def tx(c: sqlite3.Connection) -> None:
            c.execute("UPDATE users SET access_key=?, secret_key=? WHERE account_id=?",
                      (access_key, secret_key, account_id))
        await self._write_credentials(tx)

    async def move_buckets(self, from_owner: str, to_owner: str) -> int:
        def tx(c: sqlite3.Connection) -> int:
            return c.execute("UPDATE buckets SET owner_id=? WHERE owner_id=?", (to_owner, from_owner)).rowcount
        return int(await self._write_bucket(tx))

    async def iam_state(self, account_id: str) -> IamState:
        return read_iam(self._conn, account_id)

    async def change_iam(self, account_id: str, change: Callable[[IamState], tuple[T, IamWrite]]) -> T:
        def tx(c: sqlite3.Connection) -> T:
            result, write = change(read_iam(c, account_id))
            apply_iam(c, account_id, write)
            return result
        return await self._write_credentials(tx)

    async def touch_key(self, access_key: str, when: float) -> None:
        def tx(c: sqlite3.Connection) -> None:
            c.execute("UPDATE iam_keys SET last_used=? WHERE access_key=?", (when, access_key))
        await self._write(tx)
