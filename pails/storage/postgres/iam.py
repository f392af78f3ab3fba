"""Accounts (the ``users`` table) and IAM entities and keys of the
PostgreSQL store (as ``sqlite.iam`` is for SQLite).  An IAM change locks its
account's row first, so the changes of one account are serialized across
gateways and each decides on the state it read."""

from __future__ import annotations

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
from pails.storage.postgres.conn import Committer, Listener, Readers, Tx
from pails.storage.records import IamState, IamWrite, User

T = TypeVar("T")
_PRINCIPAL_BY_KEY = PRINCIPAL_BY_KEY.format(p="%s").replace("NULL, '', '/', NULL, NULL,",
                                                             "NULL::text, '', '/', NULL::float8, NULL::float8,"
                                                             ).replace("r.doc, 0 FROM", "r.doc, 0::int FROM"
                                                             ).replace("r.doc, 1 FROM", "r.doc, 1::int FROM")
_NOTIFY = "SELECT pg_notify('pails_buckets', %s)"
CREDENTIALS_CHANGED = "/credentials"  # a notice on the buckets' channel that no bucket name can be


class PgIam:
    _readers: Readers
    _committer: Committer
    _notify: bool
    _bucket_write: Callable[..., Any]
    # Bumped after every change of keys or policies: this gateway's workers see
    # it at once; other gateways when the notice reaches them (or within their
    # cache's lifetime, 1 s, if it does not).
    _credentials_epoch: SharedCounter

    _listener: Listener

    def credentials_epoch(self) -> int:
        if self._notify:
            self._listener.start()  # other gateways' changes bump the counter as they are told of them
        return self._credentials_epoch.value()

    async def _write_credentials(self, tx: Callable[[Tx], Any]) -> Any:
        async def told(t: Tx) -> Any:
            result = await tx(t)
            if self._notify:  # every gateway drops its cached principals at once (PgMeta._bucket_changed)
                await t.write(_NOTIFY, (CREDENTIALS_CHANGED,))
            return result
        try:
            return await self._committer.run(told, solo=True)
        finally:
            self._credentials_epoch.bump()

    async def get_user(self, access_key: str) -> User | None:
        r = await self._readers.one(_PRINCIPAL_BY_KEY, (access_key, access_key))
        return principal_from_row(r) if r else None

    async def get_user_by_id(self, canonical_id: str) -> User | None:
        r = await self._readers.one(f"SELECT {USER_COLUMNS} FROM users WHERE canonical_id=%s", (canonical_id,))
        return user_from_row(r) if r else None

    async def get_user_by_email(self, email: str) -> User | None:
        r = await self._readers.one(f"SELECT {USER_COLUMNS} FROM users WHERE lower(email)=lower(%s)", (email,))
        return user_from_row(r) if r else None

    async def get_account(self, account_id: str) -> User | None:
        r = await self._readers.one(f"SELECT {USER_COLUMNS} FROM users WHERE account_id=%s", (account_id,))
        return user_from_row(r) if r else None

    async def list_users(self) -> list[User]:
        rows = await self._readers.all(f"SELECT {USER_COLUMNS} FROM users ORDER BY created")
        return [user_from_row(r) for r in rows]

    async def add_user(self, user: User) -> None:
        async def tx(t: Tx) -> None:
            added = await t.write_returning(
                f"INSERT INTO users ({USER_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING "
                "RETURNING 1",
                (user.access_key, user.secret_key, user.canonical_id, user.display_name, user.email, user.created,
                 user.account_id, user.operator))
            if not added:
                raise AlreadyExists(user.display_name)  # nothing was written: the transaction is intact
        await self._committer.run(tx, solo=True)

    async def remove_user(self, name_or_key: str) -> bool:
        async def tx(t: Tx) -> bool:
            r = await t.one("SELECT account_id FROM users WHERE access_key=%s OR display_name=%s FOR UPDATE",
                            (name_or_key, name_or_key))
            if r is None:
                return False
            await t.write("DELETE FROM iam_entities WHERE account_id=%s", (r[0],))
            await t.write("DELETE FROM iam_keys WHERE account_id=%s", (r[0],))
            await t.write("DELETE FROM users WHERE account_id=%s", (r[0],))
            return True
        return bool(await self._write_credentials(tx))

    async def replace_keys(self, account_id: str, access_key: str, secret_key: str) -> None:
        async def tx(t: Tx) -> None:
            await t.write("UPDATE users SET access_key=%s, secret_key=%s WHERE account_id=%s",
                          (access_key, secret_key, account_id))
        await self._write_credentials(tx)

    async def move_buckets(self, from_owner: str, to_owner: str) -> int:
        async def fn(t: Tx) -> int:
            names = await t.write_returning(
                "UPDATE buckets SET owner_id=%s, epoch=epoch+1 WHERE owner_id=%s RETURNING name",
                (to_owner, from_owner))
            if self._notify:
                for (name,) in names:
                    await t.write(_NOTIFY, (name,))
            return len(names)

        async def no_name(t: Tx) -> None:
            return None
        return int(await self._bucket_write(fn, no_name))

    async def iam_state(self, account_id: str) -> IamState:
        entities = await self._readers.all(f"SELECT {ENTITY_COLUMNS} FROM iam_entities WHERE account_id=%s",
                                           (account_id,))
        keys = await self._readers.all(f"SELECT {KEY_COLUMNS} FROM iam_keys WHERE account_id=%s", (account_id,))
        return _state(account_id, entities, keys)

    async def change_iam(self, account_id: str, change: Callable[[IamState], tuple[T, IamWrite]]) -> T:
        async def tx(t: Tx) -> T:
            await t.one("SELECT 1 FROM users WHERE account_id=%s FOR UPDATE", (account_id,))
            entities = await t.all(f"SELECT {ENTITY_COLUMNS} FROM iam_entities WHERE account_id=%s", (account_id,))
            keys = await t.all(f"SELECT {KEY_COLUMNS} FROM iam_keys WHERE account_id=%s", (account_id,))
            result, write = change(_state(account_id, entities, keys))
            for kind, lname in write.delete:
                await t.write("DELETE FROM iam_entities WHERE account_id=%s AND kind=%s AND lname=%s",
                              (account_id, kind, lname))
            for e in write.put:
                await t.write(
                    "INSERT INTO iam_entities (account_id, kind, lname, name, id, path, created, doc) "
                    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (account_id, kind, lname) DO UPDATE SET "
                    "name=excluded.name, id=excluded.id, path=excluded.path, created=excluded.created, "
                    "doc=excluded.doc", entity_values(account_id, e))
            for access_key in write.delete_keys:
                await t.write("DELETE FROM iam_keys WHERE access_key=%s AND account_id=%s", (access_key, account_id))
            for k in write.put_keys:
                await t.write(
                    "INSERT INTO iam_keys (access_key, account_id, user_name, secret, status, created, expires, "
                    "last_used) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (access_key) DO UPDATE SET "
                    "user_name=excluded.user_name, secret=excluded.secret, status=excluded.status, "
                    "expires=excluded.expires, last_used=excluded.last_used", key_values(account_id, k))
            return result
        return await self._write_credentials(tx)  # type: ignore[no-any-return]

    async def touch_key(self, access_key: str, when: float) -> None:
        async def tx(t: Tx) -> None:
            await t.write("UPDATE iam_keys SET last_used=%s WHERE access_key=%s", (when, access_key))
        await self._committer.run(tx, ("k", access_key))


def _state(account_id: str, entities: list[tuple[Any, ...]], keys: list[tuple[Any, ...]]) -> IamState:
    return IamState(account_id, {(e.kind, e.name.lower()): e for e in map(entity_from_row, entities)},
                    {k.access_key: k for k in map(key_from_row, keys)})
