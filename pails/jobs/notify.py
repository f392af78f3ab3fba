"""The delivery of bucket notifications (docs/notifications.md): the events
in the store's outbox go to their targets, oldest first, and are removed
once the target acknowledged them.

Only the holder of the store's ``notify`` lease delivers (one process per
deployment).  Every ``INTERVAL`` it reads each target's depth; a target with
events gets them in id order, in batches of ``BATCH``, one at a time, so
events of one key (indeed of every key) arrive in the order of their
commits.  A failed send stops that target's batch: what was sent is
removed, the failure counted, and the target rests (``backoff``, doubling up
to ``MAX_BACKOFF``) while the others go on.  A crash between a send and the
removal sends those events again: delivery is at least once.

The outbox is bounded per target (its ``max_queued`` option): past it, the
oldest events are dropped and counted (``OutboxDepth.dropped``), as a write
is never refused for its notifications (AWS's behaviour).  The bound is
applied here, so between two passes the outbox can exceed it by what
arrives in one interval.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from pails.events.targets import Sender, message, sender_for
from pails.storage.event_rows import EventTarget
from pails.storage.meta import MetaStore
from pails.storage.notify import with_sequencer

log = logging.getLogger("pails")

LEASE = "notify"
INTERVAL = 0.5
LEASE_RETRY = 5.0  # seconds between a non-holder's tries for the lease
BATCH = 100
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0


@dataclass(slots=True)
class _Rest:
    until: float
    delay: float


class NotifyJob:
    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta
        self._senders: dict[str, tuple[EventTarget, Sender]] = {}
        self._resting: dict[str, _Rest] = {}

    async def run(self) -> None:
        delay = INTERVAL
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    # A process without the lease asks again now and then (a round trip on PostgreSQL).
                    delay = INTERVAL if await self.meta.try_lease(LEASE) else LEASE_RETRY
                    if delay == INTERVAL:
                        await self.run_pass(time.monotonic())
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the store may be away for a while: the next pass tries again
                    log.exception("notification delivery pass failed")
        finally:
            for _target, sender in self._senders.values():
                await sender.close()

    async def run_pass(self, now: float) -> int:
        """Deliver what waits; how many events were delivered."""
        depths = [d for d in await self.meta.outbox_depth() if d.queued]
        if not depths:
            return 0
        targets = {t.name: t for t in await self.meta.list_event_targets()}
        work = []
        for depth in depths:
            target = targets.get(depth.target)
            if target is None:  # a configuration names a removed target: its events have nowhere to go
                await self.meta.outbox_trim(depth.target, 0)
                continue
            limit = int(json.loads(target.config).get("max_queued", 100000))
            if depth.queued > limit:
                dropped = await self.meta.outbox_trim(target.name, limit)
                log.warning("notification target %s: outbox full, %d oldest events dropped", target.name, dropped)
            rest = self._resting.get(target.name)
            if rest is not None and rest.until > now:
                continue
            work.append(self._deliver(target, now))
        return sum(await asyncio.gather(*work))

    def _sender(self, target: EventTarget) -> Sender:
        known = self._senders.get(target.name)
        if known is not None and known[0] == target:
            return known[1]
        if known is not None:  # the operator changed it: the old connection goes
            asyncio.get_running_loop().create_task(known[1].close())
        sender = sender_for(target)
        self._senders[target.name] = (target, sender)
        return sender

    async def _deliver(self, target: EventTarget, now: float) -> int:
        sender = self._sender(target)
        delivered = 0
        while True:
            batch = await self.meta.outbox_batch(target.name, BATCH)
            done: list[int] = []
            try:
                for outbox_id, record_json in batch:
                    record = with_sequencer(record_json, outbox_id)
                    await sender.send(message(record), record.get("s3", {}).get("object", {}).get("key", ""))
                    done.append(outbox_id)
            except Exception as exc:  # noqa: BLE001 - the target is down or refused: rest, then again
                if done:
                    await self.meta.outbox_done(target.name, done)
                await self.meta.outbox_failed(target.name, f"{type(exc).__name__}: {exc}"[:500])
                previous = self._resting.get(target.name)
                delay = min(MAX_BACKOFF, previous.delay * 2) if previous else FIRST_BACKOFF
                self._resting[target.name] = _Rest(now + delay, delay)
                log.warning("notification target %s: delivery failed (%s: %s); next try in %.0f s",
                            target.name, type(exc).__name__, exc, delay)
                return delivered + len(done)
            if done:
                await self.meta.outbox_done(target.name, done)
            delivered += len(done)
            self._resting.pop(target.name, None)
            if len(batch) < BATCH:
                return delivered
