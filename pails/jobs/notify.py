"""The delivery of bucket notifications (docs/notifications.md): the events
in the store's outbox go to their targets, oldest first, and are removed
once the target acknowledged them.

Only the holder of the store's ``notify`` lease delivers (one process per
deployment).  Every ``INTERVAL`` each target's oldest events are read and
sent in id order, in batches of ``BATCH``, one at a time: for one key,
the order of its commits (the key's row lock orders them).  A failed send stops that target's batch: what was sent is
removed, the failure counted, and the target rests (``backoff``, doubling up
to ``MAX_BACKOFF``) while the others go on.  A crash between a send and the
removal sends those events again: delivery is at least once.

The outbox is bounded per target (its ``max_queued`` option): past it, the
oldest events are dropped and counted (``OutboxDepth.dropped``), as a write
is never refused for its notifications (AWS's behaviour).  The bound is
applied here every ``BOUND_EVERY`` seconds, so the outbox can exceed it by
what arrives in that time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from pails.events.targets import Sender, message, sender_for
from pails.storage.event_rows import EventTarget
from pails.storage.failures import log_failure
from pails.storage.meta import MetaStore
from pails.storage.notify import with_sequencer

log = logging.getLogger("pails")

LEASE = "notify"
INTERVAL = 0.5
LEASE_RETRY = 5.0  # seconds between a non-holder's tries for the lease
BOUND_EVERY = 5.0  # seconds between two applications of the outbox bounds
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
        self._next_bound = 0.0

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
                    log_failure(log, "notification delivery pass failed")
        finally:
            for _target, sender in self._senders.values():
                await sender.close()

    async def run_pass(self, now: float) -> int:
        """Deliver what waits; how many events were delivered.  Each target
        costs one indexed read of its oldest events; the bounds are applied
        every ``BOUND_EVERY`` seconds (a count per target)."""
        targets = await self.meta.list_event_targets()
        if now >= self._next_bound:
            self._next_bound = now + BOUND_EVERY
            await self._apply_bounds(targets)
        work = []
        for target in targets:
            rest = self._resting.get(target.name)
            if rest is None or rest.until <= now:
                work.append(self._deliver(target, now))
        return sum(await asyncio.gather(*work))

    async def _apply_bounds(self, targets: list[EventTarget]) -> None:
        by_name = {t.name: t for t in targets}
        for depth in await self.meta.outbox_depth():
            target = by_name.get(depth.target)
            # A configuration that names a removed target: its events have nowhere to go.
            limit = int(json.loads(target.config).get("max_queued", 100000)) if target is not None else 0
            if depth.queued > limit:
                dropped = await self.meta.outbox_trim(depth.target, limit)
                log.warning("notification target %s: outbox full, %d oldest events dropped", depth.target, dropped)

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
