"""The lifecycle worker: applies every bucket's lifecycle rules
(``pails.storage.lifecycle_rules`` decides; this module only walks and acts).

One pass walks the buckets that have a configuration: incomplete multipart
uploads past their AbortIncompleteMultipartUpload day are aborted; each key's
versions are read (pages of ``PAGE`` listing rows; after each page the
worker rests as long as the page took, ``PACE``, so requests are not
starved) and planned by ``plan_key`` (``KEYS_AT_ONCE`` keys at a time, whose
deletes then share group commits):
the current version expires (deleted, or a delete marker put on it in a
versioned bucket), noncurrent versions expire (keeping
NewerNoncurrentVersions), an expired delete marker is removed, storage
classes change.

Every action goes through the same store paths as a client's request, so
what they enforce holds: a version under Object Lock is refused by the
store and simply skipped.  Each delete carries what its decision rested on
(``meta.Unchanged``: the very version, current or not, the version above
it, how many are above it, its tags), checked again in the commit that
deletes: a request that changed any of it between the listing and the
delete (a PUT, a delete of the version above, a retag) turns the delete
into a no-op, and the next pass decides again.  Each delete is its own
commit and a pass only does what is due, so running it again, or after a
crash half-way, is harmless.

Each worker process runs the loop, but only the holder of the store's
``lifecycle`` lease works: one process per deployment, whatever the number
of workers and gateways.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from pails import metrics
from pails.errors import S3Error
from pails.storage import lifecycle_rules as lr
from pails.storage.engine import Engine
from pails.storage.failures import log_failure
from pails.storage.meta import DeleteCondition, Unchanged
from pails.storage.notify import Pending, RequestInfo, emitting, pending_for
from pails.storage.records import Bucket, ListingRow

log = logging.getLogger("pails")

LEASE = "lifecycle"
PAGE = 1000
KEYS_AT_ONCE = 8
PACE = 1.0
DAY_ENV = "PAILS_LIFECYCLE_DAY_SECONDS"
FIRST_PASS = 60.0  # seconds after start-up


def clock_from_env() -> lr.Clock:
    """The worker's day: ``PAILS_LIFECYCLE_DAY_SECONDS`` (tests) or 86400 s."""
    value = os.environ.get(DAY_ENV)
    if not value:
        return lr.Clock()
    day = float(value)
    if day <= 0:
        raise ValueError(f"{DAY_ENV} must be positive")
    return lr.Clock(day)


def pass_interval(clock: lr.Clock) -> float:
    """How often a pass runs: hourly with real days (actions fall due at
    midnight), four times a "day" with a shortened one, at most every second."""
    return 3600.0 if clock.rounds else max(1.0, clock.day / 4)


@dataclass(slots=True)
class Stats:
    expired: int = 0  # current versions deleted or hidden under a delete marker
    removed: int = 0  # noncurrent versions and delete markers removed
    transitioned: int = 0
    aborted: int = 0
    skipped: int = 0  # refused by the store (Object Lock) or changed meanwhile


@dataclass(slots=True)
class KeyActions:
    """What a pass does to one key: noncurrent versions to remove (oldest
    first), the current version to expire, the expired delete marker to
    remove, storage classes to change."""

    key: str
    remove: list[Unchanged] = field(default_factory=list)
    expire: Unchanged | None = None
    marker: Unchanged | None = None
    storage_class: dict[str, str] = field(default_factory=dict)


class LifecycleJob:
    def __init__(self, engine: Engine, clock: lr.Clock | None = None) -> None:
        self.engine = engine
        self.meta = engine.meta
        self.clock = clock or clock_from_env()
        self.interval = pass_interval(self.clock)
        self._page_started = 0.0

    async def run(self) -> None:
        """Forever: take (or keep) the lease, run a pass, sleep.  The first
        pass comes soon after start-up (a restart does not delay due work by
        a whole interval)."""
        delay = min(self.interval, FIRST_PASS)
        while True:
            await asyncio.sleep(delay)
            delay = self.interval
            try:
                if await self.meta.try_lease(LEASE):
                    await self.run_pass(time.time())
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the store may be away for a while: the next pass tries again
                log_failure(log, "lifecycle pass failed")

    async def run_pass(self, now: float) -> Stats:
        stats = Stats()
        after = ""
        while buckets := await self.meta.all_buckets(after, 100):
            for bucket in buckets:
                rules = lr.rules_of(bucket.props)
                if any(r.enabled for r in rules):
                    before = dataclasses.astuple(stats)
                    await self._bucket(bucket, rules, now, stats)
                    _count(before, stats)
            after = buckets[-1].name
        metrics.LIFECYCLE_PASSES.inc()
        metrics.LIFECYCLE_LAST_PASS.set(time.time())
        return stats

    async def _bucket(self, bucket: Bucket, rules: tuple[lr.Rule, ...], now: float, stats: Stats) -> None:
        try:
            if any(r.enabled and r.abort_days is not None for r in rules):
                await self._uploads(bucket, rules, now, stats)
            if any(r.enabled and (r.exp_days is not None or r.exp_date is not None or r.exp_delete_marker
                                  or r.nc_days is not None or r.transitions or r.nc_transitions) for r in rules):
                await self._versions(bucket, rules, now, stats)
        except S3Error as exc:  # the bucket went away meanwhile, or the store is unavailable
            log.debug("lifecycle: bucket %s: %s", bucket.name, exc.code)

    async def _uploads(self, bucket: Bucket, rules: tuple[lr.Rule, ...], now: float, stats: Stats) -> None:
        after_key, after_id = "", None
        while True:
            batch = await self.meta.list_uploads(bucket.id, "", after_key, after_id, PAGE)
            for u in batch:
                due = lr.abort_date(rules, u.key, u.initiated, self.clock)
                if due is not None and due[0] <= now:
                    if await self.meta.abort_upload(u.upload_id):
                        stats.aborted += 1
                        self.engine.collect_soon(now=True)
            if len(batch) < PAGE:
                return
            after_key, after_id = batch[-1].key, batch[-1].upload_id
            await asyncio.sleep(0)

    async def _versions(self, bucket: Bucket, rules: tuple[lr.Rule, ...], now: float, stats: Stats) -> None:
        """Every key's versions, newest first (a key's versions may span
        pages: it is decided once all are read); up to ``KEYS_AT_ONCE`` keys
        are worked on at once, so their deletes share group commits."""
        window = _Window(KEYS_AT_ONCE)
        self._page_started = time.monotonic()
        key: str | None = None
        rows: list[ListingRow] = []
        resume: ListingRow | None = None
        try:
            while True:
                if resume is None:
                    page = await self.meta.list_versions(bucket.id, "", "", True, PAGE)
                else:
                    page = await self.meta.list_versions(bucket.id, "", "", False, PAGE, resume_key=resume.key,
                                                         resume_seq=resume.seq)
                for row in page:
                    if row.key != key:
                        if key is not None:
                            await window.add(self._key(bucket, rules, key, rows, now, stats))
                        key, rows = row.key, []
                    rows.append(row)
                if len(page) < PAGE:
                    break
                resume = page[-1]
                await self._pace()
            if key is not None:
                await window.add(self._key(bucket, rules, key, rows, now, stats))
            await window.drain()
        finally:
            window.cancel()

    async def _pace(self) -> None:
        """Between pages: rest ``PACE`` times as long as the last page took
        (its listing and its keys' deletes, slower when the store is busy),
        so a long run takes at most 1 / (1 + PACE) of the time and requests
        keep their latency (bench/lifecycle_load.py measures it)."""
        now = time.monotonic()
        busy = now - self._page_started
        await asyncio.sleep(busy * PACE if PACE else 0)
        self._page_started = time.monotonic()

    async def _version(self, bucket: Bucket, key: str, row: ListingRow, with_tags: bool) -> lr.Version:
        tags: lr.Tags | None = None
        if with_tags and not row.delete_marker:
            obj = await self.meta.get_object_version(bucket.id, key, row.version_id)
            tags = lr.stored_tags(obj.headers) if obj is not None else []
        return lr.Version(row.version_id, row.size, row.last_modified, row.storage_class, bool(row.delete_marker),
                          tags)

    async def _key(self, bucket: Bucket, rules: tuple[lr.Rule, ...], key: str, rows: list[ListingRow], now: float,
                   stats: Stats) -> None:
        actions = await self.decide(bucket, rules, key, rows, now)
        if actions is not None:
            await self.apply(bucket, actions, stats)

    async def decide(self, bucket: Bucket, rules: tuple[lr.Rule, ...], key: str, rows: list[ListingRow],
                     now: float) -> KeyActions | None:
        """What to do to one key, given its versions as listed (newest first),
        each delete with what it rests on."""
        if not any(r.enabled and r.match.key_matches(key) for r in rules):
            return None
        with_tags = lr.needs_tags(rules)
        current_row = rows[0] if rows[0].is_latest else None
        older = rows[1:] if current_row is not None else rows
        current = await self._version(bucket, key, current_row, with_tags) if current_row is not None else None
        noncurrent = [await self._version(bucket, key, r, with_tags) for r in older]
        plan = lr.plan_key(rules, key, current, noncurrent, now, self.clock)
        assert plan.delete is not None and plan.storage_class is not None
        actions = KeyActions(key, storage_class={v: sc for v, sc in plan.storage_class.items()
                                                 if v not in plan.delete})
        doomed = set(plan.delete)
        # Oldest first: removing a version changes nothing that the decisions
        # on the newer ones rest on (their neighbour above, their count).
        for index in range(len(noncurrent) - 1, -1, -1):
            v = noncurrent[index]
            if v.version_id in doomed:
                newer = noncurrent[index - 1].version_id if index else (current.version_id if current else None)
                actions.remove.append(Unchanged(v.version_id, v.last_modified, False, newer, index,
                                                tags=_tags(v, with_tags)))
        if plan.expire_current and current is not None:
            # Only the very version planned on, as it was: not a newer PUT, nor one retagged out of the rule.
            actions.expire = Unchanged(current.version_id, current.last_modified, True, tags=_tags(current, with_tags))
        if plan.remove_marker and current is not None:
            actions.marker = Unchanged(current.version_id, current.last_modified, True, alone=True)
        return actions

    async def apply(self, bucket: Bucket, actions: KeyActions, stats: Stats) -> None:
        """Carry ``decide``'s actions out, each only if what it rests on still holds in its commit."""
        key = actions.key
        removed = 0
        for unchanged in actions.remove:
            if await self._remove(bucket, key, unchanged, stats):
                removed += 1
        if actions.expire is not None:
            try:
                deleted = await emitting(_expiration(bucket, key, None), self.engine.delete_object(
                    bucket.id, key, bucket.owner_id, DeleteCondition(unchanged=actions.expire)))
                if deleted.version_id is not None:
                    stats.expired += 1
            except S3Error:
                stats.skipped += 1
        if actions.marker is not None and removed == len(actions.remove):
            await self._remove(bucket, key, actions.marker, stats)
        for version_id, sc in actions.storage_class.items():
            if await self.meta.set_storage_class(bucket.id, key, version_id, sc):
                stats.transitioned += 1

    async def _remove(self, bucket: Bucket, key: str, unchanged: Unchanged, stats: Stats) -> bool:
        """Remove one version for good through the store's delete path, only
        if what the plan rests on still holds in the commit (else skipped:
        the next pass decides again); a locked one is refused (skipped: it
        stays until its lock ends)."""
        try:
            deleted = await emitting(_expiration(bucket, key, unchanged.version_id), self.engine.delete_version(
                bucket.id, key, unchanged.version_id, DeleteCondition(unchanged=unchanged)))
        except S3Error:
            stats.skipped += 1
            return False
        if deleted.version_id is None:  # gone meanwhile
            stats.skipped += 1
            return False
        stats.removed += 1
        return True


def _expiration(bucket: Bucket, key: str, version_id: str | None) -> Pending | None:
    """The s3:LifecycleExpiration events of a delete by the worker (pails.storage.notify)."""
    info = RequestInfo(principal_id="s3.amazonaws.com", region=bucket.location or "us-east-1")
    return pending_for(bucket.props, "s3:LifecycleExpiration:Delete", bucket.name, bucket.owner_id, key, info,
                       version_id=version_id)

def _count(before: tuple[int, ...], stats: Stats) -> None:
    """The metrics of one bucket's part of a pass (progress shows during a long pass)."""
    metrics.LIFECYCLE_BUCKETS.inc()
    for field_, was in zip(dataclasses.fields(Stats), before, strict=True):
        done = getattr(stats, field_.name) - was
        if done:
            metrics.LIFECYCLE_ACTIONS.inc((field_.name,), done)


def _tags(v: lr.Version, with_tags: bool) -> tuple[tuple[str, str], ...] | None:
    return tuple(v.tags) if with_tags and v.tags is not None else None


class _Window:
    """At most ``size`` tasks at once; the first failure is raised."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tasks: set[asyncio.Task[None]] = set()

    async def add(self, work: Coroutine[Any, Any, None]) -> None:
        while len(self.tasks) >= self.size:
            await self._wait(asyncio.FIRST_COMPLETED)
        self.tasks.add(asyncio.ensure_future(work))

    async def drain(self) -> None:
        while self.tasks:
            await self._wait(asyncio.ALL_COMPLETED)

    async def _wait(self, when: str) -> None:
        done, pending = await asyncio.wait(self.tasks, return_when=when)
        self.tasks = set(pending)
        for task in done:
            task.result()

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
