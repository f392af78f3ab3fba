"""What background jobs (``pails.jobs``) need of the SQLite store: every
bucket, a version's storage class, and a lease that one process of the
machine holds (a non-blocking ``flock`` on a file next to the database,
released by the kernel when the process exits)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from pails.storage.records import Bucket

T = TypeVar("T")

_BUCKET_COLUMNS = "id, name, owner_id, created, location, acl, versioning, props"


class SqliteJobs:
    path: str
    _conn: sqlite3.Connection
    _write: Callable[..., Any]
    _leases: dict[str, int]

    async def all_buckets(self, after: str, limit: int) -> list[Bucket]:
        rows = self._conn.execute(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name>? ORDER BY name LIMIT ?",
                                  (after, limit))
        return [Bucket(*r) for r in rows]

    async def set_storage_class(self, bucket_id: int, key: str, version_id: str, storage_class: str) -> bool:
        def tx(c: sqlite3.Connection) -> bool:
            for table in ("objects", "object_versions"):
                cur = c.execute(f"UPDATE {table} SET storage_class=? WHERE bucket_id=? AND key=? AND version_id=? "
                                "AND delete_marker=0", (storage_class, bucket_id, key, version_id))
                if cur.rowcount:
                    return True
            return False
        result: bool = await self._write(tx)
        return result

    async def try_lease(self, name: str) -> bool:
        leases = self._leases
        if name in leases:
            return True
        fd = os.open(f"{self.path}-{name}.lease", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another process holds it
            os.close(fd)
            return False
        leases[name] = fd
        return True

    def release_leases(self) -> None:
        for fd in self._leases.values():
            os.close(fd)
        self._leases.clear()
