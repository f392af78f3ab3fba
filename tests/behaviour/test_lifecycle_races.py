"""The lifecycle worker against requests that change a key between its
decision and its delete: each case decides (``LifecycleJob.decide``),
changes the key through the store as a request would, then applies
(``LifecycleJob.apply``), on the store the suite runs with.  The delete is
conditional in its commit on what the decision rested on, so the worker
never deletes what the rules no longer say to delete."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pails.jobs.lifecycle import LifecycleJob, Stats
from pails.storage import lifecycle_rules as lr
from pails.storage.engine import Engine, Settings
from pails.storage.records import Bucket, ObjectVersion
from tests.pg import run_on_test_store

T0 = time.time() - 1000  # versions written long ago: a one-second "day" has them due


def _later() -> float:
    """When the worker decides: well past every write of the test (a one-second day)."""
    return time.time() + 100


def _run(tmp_path: Path, body: Callable[[Engine, Bucket], Awaitable[None]], versioned: bool = True) -> None:
    async def run(url: str | None) -> None:
        engine = Engine(Settings(str(tmp_path / "data"), fsync=False, meta_url=url))
        await engine.open()
        try:
            _, b = await engine.meta.create_bucket(Bucket(0, "races", "owner", time.time(), "us-east-1", "{}",
                                                          None, "{}"))
            if versioned:
                await engine.meta.update_bucket(b.id, versioning="Enabled")
            await body(engine, b)
        finally:
            await engine.close()

    run_on_test_store(run)


async def _put(engine: Engine, b: Bucket, key: str, at: float, headers: dict[str, str] | None = None) -> str:
    return await engine.commit_object(ObjectVersion(
        b.id, key, "null", 1, '"e"', at, json.dumps(headers or {}), "{}", "owner", "STANDARD", b"x", None, None,
        None), None)


async def _rules(engine: Engine, b: Bucket, *rules: dict) -> Bucket:
    await engine.meta.set_bucket_prop(b.id, lr.BUCKET_PROP, {"rules": list(rules)})
    bucket = await engine.meta.get_bucket(b.name)
    assert bucket is not None
    return bucket


async def _history(engine: Engine, b: Bucket, key: str) -> list[tuple[str, int, int]]:
    """(version id, is latest, delete marker), newest first."""
    rows = await engine.meta.list_versions(b.id, "", "", True, 100)
    return [(r.version_id, r.is_latest, r.delete_marker) for r in rows if r.key == key]


async def _decide_change_apply(engine: Engine, b: Bucket, key: str,
                               change: Callable[[], Awaitable[object]]) -> Stats:
    job = LifecycleJob(engine, lr.Clock(1.0))
    rows = await engine.meta.list_versions(b.id, "", "", True, 100)
    actions = await job.decide(b, lr.rules_of(b.props), key, [r for r in rows if r.key == key], _later())
    assert actions is not None
    await change()
    stats = Stats()
    await job.apply(b, actions, stats)
    return stats


def test_a_version_made_current_meanwhile_is_not_removed(tmp_path: Path) -> None:
    """A noncurrent version due for removal becomes current again (the
    delete marker above it is deleted) before the worker acts."""
    async def body(engine: Engine, b: Bucket) -> None:
        v1 = await _put(engine, b, "k", T0)
        marker = (await engine.delete_object(b.id, "k", "owner")).version_id
        assert marker is not None
        b = await _rules(engine, b, {"id": "nc", "status": "Enabled", "prefix": "", "ncexp": {"days": 1}})
        stats = await _decide_change_apply(engine, b, "k", lambda: engine.delete_version(b.id, "k", marker))
        assert await _history(engine, b, "k") == [(v1, 1, 0)]
        assert (stats.removed, stats.skipped) == (0, 1)

    _run(tmp_path, body)


def test_newer_noncurrent_versions_counted_in_the_commit(tmp_path: Path) -> None:
    """NewerNoncurrentVersions=1: the oldest of two noncurrent versions is
    due, but the one above it is deleted before the worker acts, so it is
    now the one to keep."""
    async def body(engine: Engine, b: Bucket) -> None:
        v1 = await _put(engine, b, "k", T0)
        v2 = await _put(engine, b, "k", T0 + 1)
        v3 = await _put(engine, b, "k", T0 + 2)
        b = await _rules(engine, b, {"id": "nc", "status": "Enabled", "prefix": "",
                                     "ncexp": {"days": 1, "newer": 1}})
        stats = await _decide_change_apply(engine, b, "k", lambda: engine.delete_version(b.id, "k", v2))
        assert await _history(engine, b, "k") == [(v3, 1, 0), (v1, 0, 0)]
        assert (stats.removed, stats.skipped) == (0, 1)

    _run(tmp_path, body)


def test_a_noncurrent_version_whose_successor_changed_is_decided_again(tmp_path: Path) -> None:
    """A version's noncurrent days count from its successor's
    Last-Modified: the successor (written long ago) is deleted and the
    version is now noncurrent since a recent write: not due any more."""
    async def body(engine: Engine, b: Bucket) -> None:
        v1 = await _put(engine, b, "k", T0)
        v2 = await _put(engine, b, "k", T0 + 1)
        b = await _rules(engine, b, {"id": "nc", "status": "Enabled", "prefix": "", "ncexp": {"days": 1}})
        job = LifecycleJob(engine, lr.Clock(1.0))
        rows = await engine.meta.list_versions(b.id, "", "", True, 100)
        actions = await job.decide(b, lr.rules_of(b.props), "k", rows, _later())
        assert actions is not None and [u.version_id for u in actions.remove] == [v1]
        # v2 goes and a fresh version comes: v1 is noncurrent only since now.
        await engine.delete_version(b.id, "k", v2)
        v3 = await _put(engine, b, "k", time.time())
        stats = Stats()
        await job.apply(b, actions, stats)
        assert await _history(engine, b, "k") == [(v3, 1, 0), (v1, 0, 0)]
        assert stats.skipped == 1

    _run(tmp_path, body)


def test_a_current_version_overwritten_meanwhile_is_not_expired(tmp_path: Path) -> None:
    """Unversioned: the expired object is overwritten before the worker acts."""
    async def body(engine: Engine, b: Bucket) -> None:
        await _put(engine, b, "k", T0)
        b = await _rules(engine, b, {"id": "e", "status": "Enabled", "prefix": "", "exp": {"days": 1}})
        fresh = time.time()
        stats = await _decide_change_apply(engine, b, "k", lambda: _put(engine, b, "k", fresh))
        current = await engine.meta.get_object(b.id, "k")
        assert current is not None and current.last_modified == fresh
        assert (stats.expired, stats.skipped) == (0, 1)

    _run(tmp_path, body, versioned=False)


def test_a_current_version_retagged_out_of_the_rule_is_not_expired(tmp_path: Path) -> None:
    """Versioned: the rule expires objects tagged expire=yes; the tag is
    changed before the worker acts, so no delete marker goes on it."""
    async def body(engine: Engine, b: Bucket) -> None:
        v1 = await _put(engine, b, "k", T0, {"x-amz-tagging": "expire=yes"})
        b = await _rules(engine, b, {"id": "e", "status": "Enabled", "filter": {"tag": ["expire", "yes"]},
                                     "exp": {"days": 1}})
        stats = await _decide_change_apply(
            engine, b, "k", lambda: engine.meta.set_object_header(b.id, "k", "x-amz-tagging", "expire=no"))
        assert await _history(engine, b, "k") == [(v1, 1, 0)]
        assert (stats.expired, stats.skipped) == (0, 1)

    _run(tmp_path, body)


def test_without_changes_the_same_decisions_apply(tmp_path: Path) -> None:
    """The control: nothing changes between decision and delete, and
    everything decided happens (noncurrent versions oldest first, then the
    current one under a delete marker)."""
    async def body(engine: Engine, b: Bucket) -> None:
        for i in range(4):
            await _put(engine, b, "k", T0 + i)
        b = await _rules(engine, b, {"id": "all", "status": "Enabled", "prefix": "", "exp": {"days": 1},
                                     "ncexp": {"days": 1, "newer": 1}})

        async def nothing() -> None:
            return None

        stats = await _decide_change_apply(engine, b, "k", nothing)
        assert (stats.removed, stats.expired, stats.skipped) == (2, 1, 0)
        history = await _history(engine, b, "k")
        assert [(latest, marker) for _, latest, marker in history] == [(1, 1), (0, 0), (0, 0)]

    _run(tmp_path, body)
