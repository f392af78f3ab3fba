"""What background jobs (``pails.jobs``) need of the PostgreSQL store: every
bucket, a version's storage class, and a lease held by one process among all
gateways (a session advisory lock, ``pg_try_advisory_lock``, on a connection
of its own: the lease ends when that connection does, so a crashed or
partitioned gateway loses it and another takes over)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import psycopg

from pails.storage.postgres.conn import Readers, Tx, connect
from pails.storage.records import Bucket

_BUCKET_COLUMNS = "id, name, owner_id, created, location, acl, versioning, props, epoch"


def lease_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a lease name."""
    return int.from_bytes(hashlib.sha256(f"pails-lease:{name}".encode()).digest()[:8], "big", signed=True)


class PgJobs:
    url: str
    _readers: Readers
    _set_version_column: Callable[..., Any]
    _lease_conn: psycopg.AsyncConnection[Any] | None
    _leases: set[str]

    async def all_buckets(self, after: str, limit: int) -> list[Bucket]:
        rows = await self._readers.all(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name>%s ORDER BY name LIMIT %s",
                                       (after, limit))
        return [Bucket(*r) for r in rows]

    async def set_storage_class(self, bucket_id: int, key: str, version_id: str, storage_class: str) -> bool:
        async def change(t: Tx, table: str, where: str, args: tuple[Any, ...]) -> bool:
            return await t.write(f"UPDATE {table} SET storage_class=%s WHERE {where}", (storage_class, *args)) > 0
        result: bool = await self._set_version_column(bucket_id, key, version_id, change)
        return result

    async def try_lease(self, name: str) -> bool:
        conn = self._lease_conn
        try:
            if conn is None or conn.closed:
                self._leases.clear()
                conn = self._lease_conn = await connect(self.url, True)
            if name in self._leases:
                await conn.execute("SELECT 1")  # still connected: still held
                return True
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (lease_key(name),))
            row = await cur.fetchone()
        except psycopg.Error:
            await self.release_leases()
            return False
        if row is not None and row[0]:
            self._leases.add(name)
            return True
        return False

    async def release_leases(self) -> None:
        conn, self._lease_conn = self._lease_conn, None
        self._leases.clear()
        if conn is not None:
            try:
                # Released before the close returns: a backend drops its session locks only as it exits,
                # after the client has gone, so another gateway asking at once could still find them held.
                if not conn.closed:
                    await conn.execute("SELECT pg_advisory_unlock_all()")
                await conn.close()
            except psycopg.Error:
                pass
