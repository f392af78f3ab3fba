"""One PostgreSQL connection in libpq's pipeline mode, for the point reads of
a worker (the object lookup of each GET and HEAD, bucket and user lookups).

Statements asked for in the same turn of the event loop go out in one write
with one Sync, and their results come back in one read: under load, many
GETs share the system calls, the wake-ups of the event loop and of the
PostgreSQL backend, which cost more than the statements themselves on
loopback TCP (a send per statement was a quarter of a worker's CPU).

Each statement waits on its own future; one that failed aborts the others of
its Sync, which are sent again.  A lost connection fails every statement in
flight with ``psycopg.OperationalError``.  A caller that gives up (its request
was cancelled) leaves the connection usable: its result is read and dropped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import pq

from pails.storage.postgres.fast import Rows, Statement, error_of, open_autocommit, rows_of, statement

_SYNC = object()  # marks the end of a batch among the entries in flight
_OK = pq.ExecStatus.COMMAND_OK
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_SYNCED = pq.ExecStatus.PIPELINE_SYNC
_FAILED = pq.ExecStatus.FATAL_ERROR


class _Entry:
    __slots__ = ("statement", "values", "future", "result")

    def __init__(self, st: Statement, values: list[bytes | None] | None, future: asyncio.Future[Rows] | None) -> None:
        self.statement = st
        self.values = values  # None: the statement's Prepare
        self.future = future
        self.result: pq.abc.PGresult | None = None


class PipelinedConnection:
    def __init__(self, owner: psycopg.AsyncConnection[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._owner = owner  # psycopg made the connection and closes it with libpq's
        self._pg = owner.pgconn
        self._pg.nonblocking = 1
        self._pg.enter_pipeline_mode()
        self._loop = loop
        self._fd = self._pg.socket
        self._prepared: set[bytes] = set()  # sent (a failed Prepare is taken out again)
        self._unsent: list[_Entry] = []
        self._in_flight: deque[Any] = deque()  # _Entry and _SYNC, in the order sent
        self._flush_scheduled = False
        self._writing = False
        self._lost: psycopg.OperationalError | None = None
        self.closed = False
        loop.add_reader(self._fd, self._on_readable)

    @classmethod
    async def connect(cls, url: str, setup: str, timeout: int) -> PipelinedConnection:
        return cls(await open_autocommit(url, setup, timeout), asyncio.get_running_loop())

    @property
    def load(self) -> int:
        """Statements waiting for their results."""
        return len(self._unsent) + len(self._in_flight)

    async def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Rows:
        if self.closed:
            raise psycopg.OperationalError("the connection is closed")
        st, values = statement(sql, params)
        future: asyncio.Future[Rows] = self._loop.create_future()
        self._queue(_Entry(st, values, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._send)
        return await future

    def _queue(self, entry: _Entry) -> None:
        st = entry.statement
        if st.name not in self._prepared:
            self._prepared.add(st.name)
            self._unsent.append(_Entry(st, None, None))
        self._unsent.append(entry)

    def _send(self) -> None:
        """Everything asked for in this turn of the loop, then one Sync."""
        self._flush_scheduled = False
        if self.closed or not self._unsent:
            return
        pg = self._pg
        batch, self._unsent = self._unsent, []
        try:
            for entry in batch:
                st = entry.statement
                if entry.values is None:
                    pg.send_prepare(st.name, st.sql)
                else:
                    pg.send_query_prepared(st.name, entry.values, result_format=pq.Format.BINARY)
                self._in_flight.append(entry)
            pg.pipeline_sync()
            self._in_flight.append(_SYNC)
            self._flush()
        except (psycopg.Error, OSError) as exc:
            for entry in batch:  # those not in flight yet
                if entry not in self._in_flight and entry.future is not None and not entry.future.done():
                    entry.future.set_exception(psycopg.OperationalError(str(exc)))
            self._fail(psycopg.OperationalError(str(exc)))

    def _flush(self) -> None:
        if self._pg.flush():  # the socket's buffer is full: finish when it can take more
            if not self._writing:
                self._writing = True
                self._loop.add_writer(self._fd, self._on_writable)
        elif self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)

    def _on_writable(self) -> None:
        try:
            self._flush()
        except (psycopg.Error, OSError) as exc:
            self._fail(psycopg.OperationalError(str(exc)))

    def _on_readable(self) -> None:
        pg = self._pg
        try:
            pg.consume_input()
            while self._in_flight and not pg.is_busy():
                head = self._in_flight[0]
                result = pg.get_result()
                if head is _SYNC:
                    if result is None:
                        break
                    if result.status == _SYNCED:
                        self._in_flight.popleft()
                    continue
                if result is not None:
                    head.result = result
                    continue
                self._in_flight.popleft()  # the end of head's results
                self._done(head)
        except (psycopg.Error, OSError) as exc:
            self._fail(psycopg.OperationalError(str(exc)))
            return
        if pg.status != pq.ConnStatus.OK or self._lost is not None:  # e.g. terminated by an administrator
            self._fail(self._lost or psycopg.OperationalError("the connection to the database was lost"))
            return
        if self._unsent and not self._flush_scheduled:  # statements aborted by a failed one
            self._flush_scheduled = True
            self._loop.call_soon(self._send)

    def _done(self, entry: _Entry) -> None:
        result = entry.result
        status = result.status if result is not None else None
        if entry.values is None:  # a Prepare
            if status != _OK:
                self._prepared.discard(entry.statement.name)
            return
        future = entry.future
        assert future is not None
        if future.done():  # the caller gave up
            return
        if status == _ABORTED:  # an earlier statement of its Sync failed: send it again
            entry.result = None
            self._queue(entry)
        elif result is None:
            future.set_exception(psycopg.OperationalError("the connection returned no result"))
        elif status == _FAILED:
            error = error_of(result, self._pg)
            if isinstance(error, psycopg.OperationalError) and _ends_session(error):
                self._lost = error
            future.set_exception(error)
        else:
            try:
                future.set_result(rows_of(result))
            except psycopg.Error as exc:
                future.set_exception(exc)

    def _fail(self, exc: BaseException) -> None:
        for entry in [*self._in_flight, *self._unsent]:
            if entry is not _SYNC and entry.future is not None and not entry.future.done():
                entry.future.set_exception(exc)
        self._in_flight.clear()
        self._unsent.clear()
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._loop.remove_reader(self._fd)
            if self._writing:
                self._loop.remove_writer(self._fd)
        except (ValueError, OSError, RuntimeError):  # the loop is closing
            pass
        self._pg.finish()


def _ends_session(error: psycopg.OperationalError) -> bool:
    """Whether the server ends the session after ``error``: a lost connection
    (no SQLSTATE, class 08) or an operator's shutdown (class 57P: admin,
    crash); not a statement's own failure (53100 disk full, 53200 out of memory)."""
    state = error.sqlstate
    return state is None or state.startswith(("08", "57P"))
