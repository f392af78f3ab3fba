"""Bucket notifications in the SQLite store: targets, the outbox and its
counters (docs/notifications.md).  ``recording`` wraps a queued write so
that its events are inserted in its own savepoint, in the group commit that
makes the change durable."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from pails.storage.event_rows import EventTarget, OutboxDepth
from pails.storage.notify import Pending

T = TypeVar("T")

_INSERT = "INSERT INTO event_outbox (target, created, record) VALUES (?, ?, ?)"


def recording(fn: Callable[[sqlite3.Connection], T], pending: Pending) -> Callable[[sqlite3.Connection], T]:
    def write(c: sqlite3.Connection) -> T:
        result = fn(c)
        rows = pending.rows(result)
        if rows:
            c.executemany(_INSERT, rows)
        return result
    return write


class SqliteEvents:
    _conn: sqlite3.Connection
    _write: Callable[..., Any]

    async def list_event_targets(self) -> list[EventTarget]:
        rows = self._conn.execute("SELECT name, kind, config, created FROM event_targets ORDER BY name")
        return [EventTarget(*r) for r in rows]

    async def put_event_target(self, target: EventTarget) -> None:
        def tx(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO event_targets (name, kind, config, created) VALUES (?,?,?,?) "
                      "ON CONFLICT (name) DO UPDATE SET kind=excluded.kind, config=excluded.config",
                      (target.name, target.kind, target.config, target.created))
            c.execute("INSERT OR IGNORE INTO event_counters (target) VALUES (?)", (target.name,))
        await self._write(tx)

    async def remove_event_target(self, name: str) -> bool:
        def tx(c: sqlite3.Connection) -> bool:
            c.execute("DELETE FROM event_outbox WHERE target=?", (name,))
            c.execute("DELETE FROM event_counters WHERE target=?", (name,))
            return bool(c.execute("DELETE FROM event_targets WHERE name=?", (name,)).rowcount)
        return bool(await self._write(tx, True))

    async def outbox_batch(self, target: str, limit: int) -> list[tuple[int, str]]:
        return [(int(r[0]), r[1]) for r in self._conn.execute(
            "SELECT id, record FROM event_outbox WHERE target=? ORDER BY id LIMIT ?", (target, limit))]

    async def outbox_done(self, target: str, ids: list[int]) -> None:
        def tx(c: sqlite3.Connection) -> None:
            c.executemany("DELETE FROM event_outbox WHERE id=?", [(i,) for i in ids])
            _count(c, target, "delivered", len(ids))
        await self._write(tx, True)

    async def outbox_failed(self, target: str, error: str) -> None:
        def tx(c: sqlite3.Connection) -> None:
            _count(c, target, "failures", 1)
            c.execute("UPDATE event_counters SET last_error=? WHERE target=?", (error[:500], target))
        await self._write(tx, True)

    async def outbox_trim(self, target: str, keep: int) -> int:
        def tx(c: sqlite3.Connection) -> int:
            r = c.execute("SELECT id FROM event_outbox WHERE target=? ORDER BY id DESC LIMIT 1 OFFSET ?",
                          (target, keep)).fetchone()
            if r is None:
                return 0
            n = c.execute("DELETE FROM event_outbox WHERE target=? AND id<=?", (target, r[0])).rowcount
            _count(c, target, "dropped", n)
            return int(n)
        return int(await self._write(tx, True))

    async def outbox_depth(self) -> list[OutboxDepth]:
        rows = self._conn.execute(
            "SELECT t.target, (SELECT count(*) FROM event_outbox o WHERE o.target=t.target), "
            "COALESCE(c.delivered, 0), COALESCE(c.dropped, 0), COALESCE(c.failures, 0), c.last_error "
            "FROM (SELECT name AS target FROM event_targets UNION SELECT DISTINCT target FROM event_outbox) t "
            "LEFT JOIN event_counters c ON c.target=t.target ORDER BY t.target")
        return [OutboxDepth(*r) for r in rows]


def _count(c: sqlite3.Connection, target: str, column: str, n: int) -> None:
    c.execute(f"INSERT INTO event_counters (target, {column}) VALUES (?, ?) "
              f"ON CONFLICT (target) DO UPDATE SET {column}={column}+excluded.{column}", (target, n))
