"""Bucket notifications in the PostgreSQL store: targets, the outbox and its
counters (docs/notifications.md).  The events of a write are inserted by the
committer (``postgres.conn._record_events``) in the transaction that makes the
change durable."""

from __future__ import annotations

from typing import Any

from pails.storage.event_rows import EventTarget, OutboxDepth
from pails.storage.postgres.conn import Committer, Readers, Tx


class PgEvents:
    _readers: Readers
    _committer: Committer

    async def list_event_targets(self) -> list[EventTarget]:
        rows = await self._readers.all("SELECT name, kind, config, created FROM event_targets ORDER BY name")
        return [EventTarget(*r) for r in rows]

    async def put_event_target(self, target: EventTarget) -> None:
        async def tx(t: Tx) -> None:
            await t.write("INSERT INTO event_targets (name, kind, config, created) VALUES (%s, %s, %s, %s) "
                          "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, config = excluded.config",
                          (target.name, target.kind, target.config, target.created))
            await t.write("INSERT INTO event_counters (target) VALUES (%s) ON CONFLICT DO NOTHING", (target.name,))
        await self._committer.run(tx, ("e", target.name))

    async def remove_event_target(self, name: str) -> bool:
        async def tx(t: Tx) -> bool:
            await t.write("DELETE FROM event_outbox WHERE target = %s", (name,))
            await t.write("DELETE FROM event_counters WHERE target = %s", (name,))
            return await t.write("DELETE FROM event_targets WHERE name = %s", (name,)) > 0
        return bool(await self._committer.run(tx, ("e", name)))

    async def outbox_batch(self, target: str, limit: int) -> list[tuple[int, str]]:
        rows = await self._readers.all("SELECT id, record FROM event_outbox WHERE target = %s ORDER BY id LIMIT %s",
                                       (target, limit))
        return [(int(r[0]), r[1]) for r in rows]

    async def outbox_done(self, target: str, ids: list[int]) -> None:
        async def tx(t: Tx) -> None:
            await t.write("DELETE FROM event_outbox WHERE id = ANY(%s::bigint[])", (ids,))
            await _count(t, target, "delivered", len(ids))
        await self._committer.run(tx, ("e", target))

    async def outbox_failed(self, target: str, error: str) -> None:
        async def tx(t: Tx) -> None:
            await _count(t, target, "failures", 1)
            await t.write("UPDATE event_counters SET last_error = %s WHERE target = %s", (error[:500], target))
        await self._committer.run(tx, ("e", target))

    async def outbox_trim(self, target: str, keep: int) -> int:
        async def tx(t: Tx) -> int:
            r = await t.one("SELECT id FROM event_outbox WHERE target = %s ORDER BY id DESC LIMIT 1 OFFSET %s",
                            (target, keep))
            if r is None:
                return 0
            n = await t.write("DELETE FROM event_outbox WHERE target = %s AND id <= %s", (target, r[0]))
            await _count(t, target, "dropped", n)
            return n
        return int(await self._committer.run(tx, ("e", target)))

    async def outbox_depth(self) -> list[OutboxDepth]:
        rows = await self._readers.all(
            "SELECT t.target, (SELECT count(*) FROM event_outbox o WHERE o.target = t.target), "
            "COALESCE(c.delivered, 0), COALESCE(c.dropped, 0), COALESCE(c.failures, 0), c.last_error "
            "FROM (SELECT name AS target FROM event_targets UNION SELECT DISTINCT target FROM event_outbox) t "
            "LEFT JOIN event_counters c ON c.target = t.target ORDER BY t.target")
        return [OutboxDepth(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), r[5]) for r in rows]


async def _count(t: Tx, target: str, column: str, n: int) -> None:
    args: tuple[Any, ...] = (target, n)
    await t.write(f"INSERT INTO event_counters (target, {column}) VALUES (%s, %s) ON CONFLICT (target) "
                  f"DO UPDATE SET {column} = event_counters.{column} + excluded.{column}", args)
