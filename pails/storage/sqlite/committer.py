"""The SQLite store's group committer.

Writes are queued to one committer thread per process, which runs every
queued write in one transaction (each in its own savepoint, so one failing
write does not undo its neighbours) and commits once: with
``synchronous=FULL`` that is one WAL fsync acknowledging the whole group.
No write is acknowledged before its commit returns.  A bucket's quota is
checked in the savepoint of the write that grew it; on a full disk the
writes that free space still commit.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pails import metrics
from pails.errors import S3Error
from pails.storage.notify import PENDING
from pails.storage.space import StorageFull
from pails.storage.sqlite.events import recording

T = TypeVar("T")

_STORE_LABEL = ("sqlite",)  # of the commit metrics
# Queued to the committer: empty its page cache (see SqliteMeta.release_memory).
SHRINK: Any = ("shrink", None, False)
# A queued write: (fn, (loop, future), whether it frees space).
Job = tuple[Callable[[sqlite3.Connection], Any], Any, bool]


class SqliteCommitter:
    """The committer thread and the writes it runs (a mixin of SqliteMeta,
    which makes the queue, the lock and the quota bases)."""

    path: str
    _conn: sqlite3.Connection
    _connect: Callable[[], sqlite3.Connection]
    _make_room: Callable[[], bool] | None
    _queue: queue.SimpleQueue[Job | None]
    _committer: threading.Thread | None
    _committer_lock: threading.Lock
    _quota_bases: dict[int, tuple[int, int]]

    def _ensure_committer(self) -> None:
        with self._committer_lock:
            if self._committer is None:
                self._committer = threading.Thread(target=self._commit_loop, name="pails-commit", daemon=True)
                self._committer.start()

    def _commit_loop(self) -> None:
        conn = self._connect()
        self._watch_quotas(conn)
        # Server workers are processes, each with a committer: they take
        # turns through this lock, which wakes the next one the moment it is
        # released (SQLite's busy handler would sleep and retry), and the
        # jobs that queue up meanwhile go into the next group.
        turn = os.open(self.path + "-committer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            self._commit_jobs(conn, turn)
        finally:
            os.close(turn)
            conn.close()

    def _commit_jobs(self, conn: sqlite3.Connection, turn: int) -> None:
        q = self._queue
        while True:
            job = q.get()
            if job is None:
                return
            if job is SHRINK:
                conn.execute("PRAGMA shrink_memory")
                continue
            fcntl.flock(turn, fcntl.LOCK_EX)
            try:
                outcomes = self._commit_group(conn, job)
            finally:
                fcntl.flock(turn, fcntl.LOCK_UN)
            _resolve_all(outcomes)

    def _commit_group(self, conn: sqlite3.Connection, job: Job) -> list[tuple[Any, Any, BaseException | None]]:
        q = self._queue
        batch = [job]  # and whatever else has queued up (one fsync for all)
        while len(batch) < 512:
            try:
                nxt = q.get_nowait()
            except queue.Empty:
                break
            if nxt is None or nxt is SHRINK:
                q.put(nxt)
                break
            batch.append(nxt)
        outcomes, error = self._run_group(conn, batch)
        if error is None:
            return outcomes
        if not database_full(error):
            return [(waiter, None, storage_error(error)) for _, waiter, _ in batch]
        # The disk is full.  Writes that add something fail; writes that free
        # space (deletes) must still commit: on their own, then, if the disk
        # is that full, once more after the ballast made room.
        outcomes = [(waiter, None, StorageFull()) for _, waiter, frees in batch if not frees]
        freeing = [j for j in batch if j[2]]
        if freeing:
            done, error = self._run_group(conn, freeing)
            if error is not None and database_full(error) and self._make_room is not None and self._make_room():
                done, error = self._run_group(conn, freeing)
            if error is not None:
                done = [(waiter, None, storage_error(error)) for _, waiter, _ in freeing]
            outcomes += done
        return outcomes

    def _run_group(self, conn: sqlite3.Connection, batch: list[Job]
                   ) -> tuple[list[tuple[Any, Any, BaseException | None]], sqlite3.Error | None]:
        """One transaction for ``batch``: the outcome of each job, or the
        error that rolled the whole transaction back."""
        outcomes: list[tuple[Any, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            grown = self._quota_bases
            for fn, waiter, _frees in batch:
                conn.execute("SAVEPOINT job")
                grown.clear()
                try:
                    result = fn(conn)
                    if grown:
                        _check_quotas(conn, grown)
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                    if isinstance(exc, sqlite3.Error) and database_full(exc):
                        raise  # the whole transaction cannot commit
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((waiter, None, exc))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((waiter, result, None))
            started = time.monotonic()
            conn.execute("COMMIT")
            metrics.COMMIT_SECONDS.observe(time.monotonic() - started, _STORE_LABEL)
            metrics.COMMIT_BATCH.observe(len(batch), _STORE_LABEL)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [], exc
        return outcomes, None

    def _watch_quotas(self, conn: sqlite3.Connection) -> None:
        """On the committer's connection: a write that changes the usage of a
        bucket with a quota records the usage it started from (a temporary
        trigger calls back here), and ``_check_quotas`` then refuses it if it
        grew past the quota.  Buckets without a quota cost nothing more."""
        bases = self._quota_bases

        def base(bucket_id: int, stored_bytes: int, stored_objects: int) -> None:
            bases.setdefault(bucket_id, (stored_bytes, stored_objects))
        conn.create_function("pails_quota_base", 3, base)
        conn.execute("CREATE TEMP TRIGGER IF NOT EXISTS quota_watch AFTER UPDATE ON main.bucket_usage "
                     "WHEN NEW.max_bytes IS NOT NULL OR NEW.max_objects IS NOT NULL BEGIN "
                     "SELECT pails_quota_base(OLD.bucket_id, OLD.bytes + OLD.noncurrent_bytes + OLD.part_bytes, "
                     "OLD.objects + OLD.noncurrent_objects); END")

    async def _write(self, fn: Callable[[sqlite3.Connection], T], frees: bool = False) -> T:
        """Run ``fn`` in the next group commit.  ``frees``: it frees space
        (a delete), so it must commit even on a full disk."""
        self._ensure_committer()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        pending = PENDING.get()
        if pending is not None:  # its events go into the outbox in the write's own savepoint
            fn = recording(fn, pending)
        self._queue.put((fn, (loop, fut), frees))
        return await fut

    def write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run one write transaction in the calling thread (CLI, start-up)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result


def _check_quotas(c: sqlite3.Connection, bases: dict[int, tuple[int, int]]) -> None:
    """QuotaExceeded if the write just run grew a bucket past its quota (its
    savepoint is then rolled back).  Exact: one committer at a time."""
    for bucket_id, (base_bytes, base_objects) in bases.items():
        r = c.execute("SELECT bytes + noncurrent_bytes + part_bytes, objects + noncurrent_objects, max_bytes, "
                      "max_objects FROM bucket_usage WHERE bucket_id=?", (bucket_id,)).fetchone()
        if r is None:
            continue
        if (r[2] is not None and r[0] > base_bytes and r[0] > r[2]) or (
                r[3] is not None and r[1] > base_objects and r[1] > r[3]):
            raise S3Error("QuotaExceeded")


def database_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return (code is not None and code & 0xFF == sqlite3.SQLITE_FULL) or "database or disk is full" in str(exc)


def storage_error(exc: sqlite3.Error) -> S3Error:
    if database_full(exc):
        return StorageFull("The disk holding the metadata database is full; delete objects or add space, then retry.")
    if "disk" in str(exc).lower():  # disk I/O error
        return S3Error("ServiceUnavailable", "The metadata database cannot be written; please try again.")
    return S3Error("InternalError")


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, result, exc in outcomes:
        if fut.done():
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)


def _resolve_all(outcomes: list[tuple[Any, Any, BaseException | None]]) -> None:
    """Wake the waiting requests: one thread-safe call per event loop and
    group (not one per request), since each costs a wake-up write."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
    for (loop, fut), result, exc in outcomes:
        by_loop.setdefault(loop, []).append((fut, result, exc))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # the loop is gone (shutdown): nobody is waiting
            pass
