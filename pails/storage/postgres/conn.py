"""Connections of one gateway process to PostgreSQL: a few readers, one
group committer, one listener.  psycopg 3 connects; readers and committer
then run their statements on the lean path of ``postgres.fast``.

- Readers are autocommit connections kept in a small pool: a read takes one,
  runs its statement and gives it back.
- The committer owns one connection.  Writes queue up while it commits; it
  then runs every queued write in one transaction, sorted by what each locks
  (so the batches of two gateways never wait on each other in a cycle), with
  no savepoints (more than 64 subtransactions push every snapshot in the
  cluster onto pg_subtrans).  A write raises its S3Error before it changes
  anything; one that fails later, or any SQL error, rolls the batch back and
  its writes are run again one transaction each.  No write is acknowledged
  before its COMMIT returned.
- The listener LISTENs on a channel and tells the store what changed; after
  a reconnection it tells it that anything may have.

A lost connection answers the requests that used it ``503 ServiceUnavailable``
and is replaced by the next request that needs one.  A full database disk
(SQLSTATE 53100) answers ``507 InsufficientStorage``; the connection stays.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from pails import metrics
from pails.errors import S3Error
from pails.storage.meta import CommitOutcomeUnknown
from pails.storage.notify import PENDING
from pails.storage.postgres.fast import FastConnection
from pails.storage.postgres.pipe import PipelinedConnection
from pails.storage.space import StorageFull

log = logging.getLogger("pails")
T = TypeVar("T")

CONNECT_TIMEOUT = 5  # seconds
_BATCH_MAX = 256
_STORE_LABEL = ("postgresql",)  # of the commit metrics
_RETRIES = 5  # deadlocks and serialization failures (40P01, 40001) are retried


def unavailable() -> S3Error:
    return S3Error("ServiceUnavailable", "The metadata database is unavailable; please try again.")


def statement_error(exc: psycopg.Error) -> S3Error | None:
    """The S3 error for a statement PostgreSQL refused on a working
    connection, where it is not Pails' fault; None for the others."""
    if isinstance(exc, pg_errors.DiskFull):  # 53100: the database's disk is full
        return StorageFull("The disk of the metadata database is full; delete objects or add space, then retry.")
    return None


# Every Pails statement is meant to walk an index (a listing page seeks the
# primary key once per entry).  Without statistics (a new or fast-growing
# table, before autovacuum's ANALYZE) the planner takes a table for tiny and
# scans and sorts all of it instead: a page of 1000 common prefixes out of
# 100k keys took 18.8 s instead of 12.5 ms.  So plans must not hinge on
# statistics: sequential scans and sorts are priced out (not forbidden).
_SESSION = "SET enable_seqscan = off; SET enable_sort = off; SET bytea_output = hex"


async def connect(url: str, autocommit: bool) -> psycopg.AsyncConnection[Any]:
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    try:
        await conn.execute(_SESSION)
        if not autocommit:
            await conn.set_autocommit(False)
    except BaseException:
        await conn.close()
        raise
    return conn


class Readers:
    """Connections for reads, autocommit and lean (``postgres.fast``): a read is a
    prepared statement and one round trip.  Single statements (``one``,
    ``all``: every GET's lookup) share one pipelined connection (``postgres.pipe``);
    reads of several statements (``run``: listings) take a connection of a
    pool of at most ``size`` each."""

    def __init__(self, url: str, size: int = 4) -> None:
        self._url = url
        self._size = size
        self._idle: list[FastConnection] = []
        self._open = 0
        self._waiting: deque[asyncio.Future[FastConnection]] = deque()
        self._pipe: PipelinedConnection | None = None
        self._pipe_opening: asyncio.Future[PipelinedConnection] | None = None

    async def _take(self) -> FastConnection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._open -= 1
        if self._open < self._size:
            self._open += 1
            try:
                return await FastConnection.connect(self._url, _SESSION, CONNECT_TIMEOUT)
            except BaseException:
                self._open -= 1
                raise
        fut: asyncio.Future[FastConnection] = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        return await fut

    def _give_back(self, conn: FastConnection) -> None:
        while self._waiting:
            fut = self._waiting.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        self._idle.append(conn)

    def _drop(self, conn: FastConnection) -> None:
        """A connection in an unknown state (lost, or a statement interrupted)."""
        self._open -= 1
        conn.close()
        while self._waiting:  # a waiter may now open a connection of its own
            fut = self._waiting.popleft()
            if not fut.done():
                fut.set_exception(_Retry())
                return

    async def _acquire(self) -> FastConnection:
        while True:
            try:
                conn = self._idle.pop() if self._idle else await self._take()
            except _Retry:
                continue
            except psycopg.OperationalError as exc:
                raise unavailable() from exc
            if not conn.closed:
                return conn
            self._open -= 1  # lost while idle

    def _after_failure(self, conn: FastConnection, exc: BaseException) -> BaseException | None:
        """Give ``conn`` back or drop it after ``exc``; the error to raise in its place, if any."""
        if isinstance(exc, psycopg.OperationalError) and conn.closed:
            self._drop(conn)
            return unavailable()
        if isinstance(exc, psycopg.Error):
            self._give_back(conn)  # autocommit: a failed statement leaves the connection usable
            return statement_error(exc)
        self._drop(conn)  # interrupted mid-statement: its state is unknown
        return None

    async def run(self, fn: Callable[[FastConnection], Awaitable[T]]) -> T:
        """``fn(connection)``; S3Error ServiceUnavailable if the database is unreachable."""
        conn = await self._acquire()
        try:
            result = await fn(conn)
        except BaseException as exc:
            if (replacement := self._after_failure(conn, exc)) is not None:
                raise replacement from exc
            raise
        self._give_back(conn)
        return result

    async def one(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> tuple[Any, ...] | None:
        rows = await self.all(sql, args)
        return rows[0] if rows else None

    async def all(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        pipe = self._pipe
        if pipe is None or pipe.closed:
            pipe = await self._open_pipe()
        try:
            return (await pipe.execute(sql, args)).rows
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError) and pipe.closed:
                raise unavailable() from exc
            if (replacement := statement_error(exc)) is not None:
                raise replacement from exc
            raise

    async def _open_pipe(self) -> PipelinedConnection:
        """The pipelined connection, opened once for all who ask meanwhile."""
        opening = self._pipe_opening
        if opening is not None:
            return await asyncio.shield(opening)
        opening = self._pipe_opening = asyncio.get_running_loop().create_future()
        try:
            pipe = await PipelinedConnection.connect(self._url, _SESSION, CONNECT_TIMEOUT)
        except BaseException as exc:
            opening.set_exception(unavailable())
            opening.exception()  # retrieved: only the waiters, if any, raise it
            if isinstance(exc, psycopg.OperationalError):
                raise unavailable() from exc
            raise
        finally:
            self._pipe_opening = None
        self._pipe = pipe
        opening.set_result(pipe)
        return pipe

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
        self._open = 0
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None


class _Retry(Exception):
    pass


async def _stop(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task and wait until it has ended."""
    if task is not None:
        task.cancel()
        try:
            await task
        except BaseException:  # noqa: BLE001 - cancelled
            pass


async def _close_quietly(conn: psycopg.AsyncConnection[Any]) -> None:
    try:
        await conn.close()
    except Exception:  # noqa: BLE001 - closing a broken connection
        pass


class Tx:
    """The transaction a write runs in: statements that change something go
    through ``write``, so the committer knows whether a write that raises
    has changed anything already."""

    __slots__ = ("conn", "wrote")

    def __init__(self, conn: FastConnection) -> None:
        self.conn = conn
        self.wrote = False

    async def one(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> tuple[Any, ...] | None:
        cur = await self.conn.execute(sql, args)
        return await cur.fetchone()

    async def all(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self.conn.execute(sql, args)
        return await cur.fetchall()

    async def write(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> int:
        """Run a statement that changes rows; returns how many."""
        self.wrote = True
        cur = await self.conn.execute(sql, args)
        return cur.rowcount

    async def write_returning(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        self.wrote = True
        cur = await self.conn.execute(sql, args)
        return await cur.fetchall()


Write = Callable[[Tx], Awaitable[Any]]


# Runs a batch's planned writes (``postgres.batch.apply``): their outcomes, and the
# writes that must run again statement by statement.
Outcome = tuple[Any, Any, BaseException | None]  # a write, its result, its error
Planner = Callable[[FastConnection, list[Any]], Awaitable[tuple[list[Outcome], list[Any]]]]


class _Job:
    __slots__ = ("fn", "order", "solo", "planned", "future", "pending")

    def __init__(self, fn: Write, order: tuple[str, ...], solo: bool, planned: Any,
                 future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.order = order
        self.solo = solo
        self.planned = planned  # the write as the planner takes it, or None
        self.future = future
        self.pending = PENDING.get()  # the events it records if it succeeds (pails.storage.notify)


_OUTBOX = ("INSERT INTO event_outbox (target, created, record) "
           "SELECT * FROM unnest(%s::text[], %s::float8[], %s::text[])")


async def _record_events(conn: FastConnection, outcomes: list[tuple[_Job, Any, BaseException | None]]) -> None:
    """The events of the batch's successful writes, into the outbox of the same transaction."""
    rows = [row for job, result, exc in outcomes if exc is None and job.pending is not None
            for row in job.pending.rows(result)]
    if rows:
        await conn.execute(_OUTBOX, ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]))


class Rerun(Exception):
    """A write failed after changing rows: the batch must not commit (each
    of its writes runs again in a transaction of its own)."""


class Committer:
    def __init__(self, url: str, planner: Planner | None = None) -> None:
        self._url = url
        self._planner = planner
        self._conn: FastConnection | None = None
        self._queue: deque[_Job] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed (for tests and metrics)
        self.retries = 0  # deadlocks and serialization failures retried

    async def run(self, fn: Write, order: tuple[str, ...] = (), solo: bool = False, planned: Any = None) -> Any:
        """Run ``fn`` in a transaction, with other queued writes unless
        ``solo`` (writes that lock several things of different kinds).
        ``order``: what ``fn`` locks, as the batch is sorted by it.
        ``planned``: the same write for the planner, which runs the planned
        writes of a batch together (``fn`` runs it alone, or after a lost race)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Job(fn, order, solo, planned, fut))
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._loop())
        assert self._wake is not None
        self._wake.set()
        return await fut

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch: list[_Job] = []
                while self._queue and len(batch) < _BATCH_MAX:
                    batch.append(self._queue.popleft())
                try:
                    await self._commit(batch)
                except BaseException as exc:  # noqa: BLE001 - never leave a request waiting
                    for job in batch:
                        if not job.future.done():
                            job.future.set_exception(exc if isinstance(exc, S3Error) else S3Error("InternalError"))
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    log.exception("metadata committer")

    async def _commit(self, batch: list[_Job]) -> None:
        group = sorted((j for j in batch if not j.solo), key=lambda j: j.order)
        if group:
            await self._transaction(group)
        for job in batch:
            if job.solo:
                await self._transaction([job])

    def _split(self, jobs: list[_Job]) -> tuple[list[_Job], list[_Job]]:
        """(the jobs the planner runs together: the first of each key, when
        there are several; the jobs that run one by one after them)."""
        if self._planner is None or len(jobs) < 2:
            return [], list(jobs)
        planned: list[_Job] = []
        rest: list[_Job] = []
        keys: set[tuple[str, ...]] = set()
        for job in jobs:
            if job.planned is not None and job.order not in keys:
                keys.add(job.order)
                planned.append(job)
            else:
                rest.append(job)
        if len(planned) < 2:
            return [], list(jobs)
        return planned, rest

    async def _connection(self) -> FastConnection:
        if self._conn is None or self._conn.closed:
            self._conn = None
            self._conn = await FastConnection.connect(self._url, _SESSION, CONNECT_TIMEOUT)
        return self._conn

    async def _transaction(self, jobs: list[_Job]) -> None:
        for _attempt in range(_RETRIES):
            try:
                conn = await self._connection()
            except psycopg.OperationalError:
                _fail(jobs, unavailable())
                return
            outcomes: list[tuple[_Job, Any, BaseException | None]] = []
            planned, one_by_one = self._split(jobs)
            written: set[int] = set()  # jobs whose planned part changed rows already
            try:
                await conn.command("BEGIN")
                try:
                    if planned:
                        assert self._planner is not None
                        job_of = {id(j.planned): j for j in planned}
                        results, again = await self._planner(conn, [j.planned for j in planned])
                        outcomes += [(job_of[id(w)], result, exc) for w, result, exc in results]
                        one_by_one[:0] = [job_of[id(w)] for w in again]
                        written.update(id(w) for w in again)
                    for job in one_by_one:
                        tx = Tx(conn)
                        tx.wrote = id(job.planned) in written
                        try:
                            outcomes.append((job, await job.fn(tx), None))
                        except psycopg.Error:
                            raise
                        except Exception as exc:  # noqa: BLE001 - the request's own error (S3Error, ...)
                            if tx.wrote:
                                raise Rerun from exc
                            outcomes.append((job, None, exc))
                    await _record_events(conn, outcomes)
                except BaseException:
                    if not conn.closed:
                        await conn.command("ROLLBACK")
                    raise
                started = time.monotonic()
                await conn.command("COMMIT")
                metrics.COMMIT_SECONDS.observe(time.monotonic() - started, _STORE_LABEL)
                metrics.COMMIT_BATCH.observe(len(jobs), _STORE_LABEL)
            except Rerun as rerun:
                if len(jobs) > 1:
                    break  # run each on its own below
                _fail(jobs, rerun.__cause__ or S3Error("InternalError"))  # rolled back
                return
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                self.retries += 1
                continue
            except pg_errors.CheckViolation as exc:
                if len(jobs) > 1:
                    break  # each on its own below: only those that grow the bucket past its quota fail
                quota = "pails_quota_exceeded" in str(exc)  # raised by the check at COMMIT (postgres.schema)
                _fail(jobs, S3Error("QuotaExceeded" if quota else "InternalError"))
                return
            except pg_errors.DiskFull as exc:
                if len(jobs) > 1:
                    break  # each on its own below: a delete needs no new room and still commits
                _fail(jobs, statement_error(exc) or S3Error("InternalError"))
                return
            except psycopg.OperationalError:
                # Lost (maybe during COMMIT: the outcome is unknown, so nothing is acknowledged).
                await self._reset()
                _fail(jobs, CommitOutcomeUnknown())
                return
            except psycopg.Error:
                if len(jobs) > 1:
                    break
                log.exception("metadata write failed")
                _fail(jobs, S3Error("InternalError"))
                return
            self.batches += 1
            for job, result, exc in outcomes:
                if job.future.done():
                    continue
                if exc is not None:
                    job.future.set_exception(exc)
                else:
                    job.future.set_result(result)
            return
        else:
            _fail(jobs, S3Error("ServiceUnavailable", "Too many conflicting writes; please try again."))
            return
        for job in jobs:  # the batch could not commit as one: each write on its own
            await self._transaction([job])

    async def _reset(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    async def close(self) -> None:
        await _stop(self._task)
        self._task = None
        await self._reset()


def _fail(jobs: list[_Job], exc: BaseException) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(exc)


class Listener:
    """LISTEN on ``channel``: ``on_notify(payload)`` for each notification,
    ``on_reset()`` whenever notifications may have been missed (before the
    first LISTEN, after a lost connection)."""

    def __init__(self, url: str, channel: str, on_notify: Callable[[str], None],
                 on_reset: Callable[[], None]) -> None:
        self._url = url
        self._channel = channel
        self._on_notify = on_notify
        self._on_reset = on_reset
        self._task: asyncio.Task[None] | None = None
        self.listening = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            conn = None
            try:
                conn = await connect(self._url, True)
                await conn.execute(f"LISTEN {self._channel}")
                self._on_reset()
                self.listening = True
                async for note in conn.notifies():
                    self._on_notify(note.payload)
            except psycopg.Error:
                pass
            finally:
                self.listening = False
                if conn is not None:
                    await _close_quietly(conn)
            self._on_reset()
            await asyncio.sleep(0.5)

    async def close(self) -> None:
        await _stop(self._task)
        self._task = None
