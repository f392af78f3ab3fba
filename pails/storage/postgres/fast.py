"""A lean asyncio connection for the PostgreSQL store's reads, straight on
libpq (psycopg's ``pq`` wrapper).

A GET costs one metadata read, and psycopg's general-purpose async path
costs ~150 µs of CPU per query here (cursor, adaptation, a generator and a
reader registration per wait); this one costs ~20-60 µs: statements are
prepared once per connection, parameters go as text and results in binary,
the socket stays registered with the event loop, and values are converted by
their column type (``struct``; ``bytea`` as it comes).

Only what Pails' reads use: parameters that are ``str``, ``int``, ``float``,
``bool`` or ``None``, written ``%s`` or ``%(name)s`` as with psycopg; results
of the types in ``_CONVERTERS`` (others raise NotSupportedError).  One statement at a
time per connection.  ``execute`` mirrors the part of psycopg's API that
``postgres.listing`` uses, so a listing runs on either.
"""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import pq

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s")


def _text(value: bytes) -> str:
    return value.decode()


def _bool(value: bytes) -> bool:
    return value == b"\x01"


def _unpacker(fmt: str) -> Callable[[bytes], Any]:
    unpack = struct.Struct(fmt).unpack

    def convert(value: bytes) -> Any:
        return unpack(value)[0]
    return convert


def _bytes(value: bytes) -> bytes:
    return value


# Column type OID -> converter of the binary value (results come in binary:
# no number parsing, and a small body comes as it is, not hex-encoded twice over).
_CONVERTERS: dict[int, Callable[[bytes], Any]] = {
    16: _bool, 17: _bytes, 20: _unpacker(">q"), 21: _unpacker(">h"), 23: _unpacker(">i"), 26: _unpacker(">I"),
    700: _unpacker(">f"), 701: _unpacker(">d"), 25: _text, 1043: _text, 19: _text, 1042: _text, 2278: _bytes,
}


def _array_item(value: object) -> str:
    """One element of an array parameter in PostgreSQL's text form (the
    statement casts the array to its type: ``%s::bigint[]``)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):  # bytea: \x and hex digits, nothing to escape but the backslash
        return '"\\\\x' + value.hex() + '"'
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _param(value: object) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return b"\\x" + value.hex().encode()  # bytea, text format
    if isinstance(value, list):  # an array (blob ids; a batch's columns)
        return ("{" + ",".join(_array_item(v) for v in value) + "}").encode()
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    raise TypeError(f"unsupported parameter type {type(value).__name__}")


class Statement:
    __slots__ = ("name", "sql", "names")

    def __init__(self, name: bytes, sql: bytes, names: list[str] | None) -> None:
        self.name = name
        self.sql = sql
        self.names = names  # parameter names in $n order, for %(name)s statements


def _compile(sql: str, number: int) -> Statement:
    names: list[str] = []
    positional = 0

    def replace(m: re.Match[str]) -> str:
        nonlocal positional
        if m[1] is None:
            positional += 1
            return f"${positional}"
        if m[1] not in names:
            names.append(m[1])
        return f"${names.index(m[1]) + 1}"

    text = _PLACEHOLDER.sub(replace, sql)
    if names and positional:
        raise ValueError("mixed placeholders")
    return Statement(f"pails_{number}".encode(), text.encode(), names or None)


_STATEMENTS: dict[str, Statement] = {}  # the same name on every connection of the process


def _statement(sql: str) -> Statement:
    st = _STATEMENTS.get(sql)
    if st is None:
        st = _STATEMENTS[sql] = _compile(sql, len(_STATEMENTS))
    return st


class Rows:
    """What ``execute`` returns: the rows, read as psycopg's cursor would,
    and how many rows the statement affected."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int | None = None) -> None:
        self.rows = rows
        self.rowcount = len(rows) if rowcount is None else rowcount

    async def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    async def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


def error_of(result: pq.abc.PGresult, pg: pq.abc.PGconn) -> psycopg.Error:
    """The psycopg error for a failed statement: OperationalError when the
    connection is gone, else psycopg's class for the SQLSTATE
    (DeadlockDetected, UniqueViolation, ...)."""
    message = (result.error_message or b"").decode(errors="replace")
    if pg.status != pq.ConnStatus.OK:
        return psycopg.OperationalError(message)
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    try:
        error = psycopg.errors.lookup(sqlstate.decode()) if sqlstate else psycopg.DatabaseError
    except KeyError:
        error = psycopg.DatabaseError
    return error(message)


def rows_of(result: pq.abc.PGresult) -> Rows:
    """A statement's rows, each value converted by its column's type."""
    ntuples, nfields = result.ntuples, result.nfields
    if not ntuples:
        return Rows([], result.command_tuples or 0)
    convert = [_CONVERTERS.get(result.ftype(c)) for c in range(nfields)]
    if None in convert:
        names = [result.fname(c) for c in range(nfields) if convert[c] is None]
        raise psycopg.NotSupportedError(f"no binary conversion for columns {names}")
    get = result.get_value
    rows = []
    for r in range(ntuples):
        row = []
        for c in range(nfields):
            value = get(r, c)
            row.append(None if value is None else convert[c](value))
        rows.append(tuple(row))
    return Rows(rows, result.command_tuples if result.command_tuples is not None else None)


def statement(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[Statement, list[bytes | None]]:
    """The prepared statement for ``sql`` and its parameters, encoded."""
    st = _statement(sql)
    values = [params[n] for n in st.names] if st.names is not None else params  # type: ignore[index,call-overload]
    return st, [_param(v) for v in values]


async def open_autocommit(url: str, setup: str, timeout: int) -> psycopg.AsyncConnection[Any]:
    """A psycopg connection in autocommit mode that has run ``setup``; psycopg
    makes it (hosts, timeouts, TLS, target_session_attrs), the lean classes drive it."""
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=timeout)
    try:
        await conn.execute(setup)
    except BaseException:
        await conn.close()
        raise
    return conn


class FastConnection:
    """One autocommit connection, one statement at a time.  Errors are
    psycopg's: ``psycopg.OperationalError`` when the connection is lost."""

    def __init__(self, owner: psycopg.AsyncConnection[Any], loop: asyncio.AbstractEventLoop) -> None:
        # psycopg made the connection (hosts, timeouts, TLS, target_session_attrs) and keeps owning
        # it (closed once libpq's connection is finished); this class only drives its libpq connection.
        self._owner = owner
        self._pg = owner.pgconn
        self._pg.nonblocking = 1
        self._loop = loop
        self._fd = self._pg.socket
        self._prepared: set[bytes] = set()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        loop.add_reader(self._fd, self._on_readable)

    @classmethod
    async def connect(cls, url: str, setup: str, timeout: int) -> FastConnection:
        return cls(await open_autocommit(url, setup, timeout), asyncio.get_running_loop())

    def _on_readable(self) -> None:
        waiter = self._waiter
        try:
            self._pg.consume_input()
        except psycopg.OperationalError as exc:
            self._fail(exc)
            return
        if waiter is not None and not waiter.done() and not self._pg.is_busy():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    async def _result(self) -> pq.abc.PGresult:
        """The result of the statement sent (and what libpq says after it)."""
        pg = self._pg
        while pg.flush():  # rarely: the statement did not fit the socket buffer at once
            await asyncio.sleep(0)
        last = None
        while True:
            if pg.is_busy():
                self._waiter = self._loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            result = pg.get_result()
            if result is None:
                break
            last = result
        if last is None:
            raise psycopg.OperationalError("the connection returned no result")
        if last.status == pq.ExecStatus.FATAL_ERROR:
            if pg.status != pq.ConnStatus.OK:
                self.close()
            raise error_of(last, pg)
        return last

    async def command(self, sql: str) -> None:
        """A statement without parameters or rows (BEGIN, COMMIT, ROLLBACK, SET)."""
        if self.closed:
            raise psycopg.OperationalError("the connection is closed")
        try:
            self._pg.send_query(sql.encode())
            await self._result()
        except psycopg.OperationalError as exc:
            self._close_if_lost(exc)
            raise
        except OSError as exc:
            self.close()
            raise psycopg.OperationalError(str(exc)) from exc

    async def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Rows:
        if self.closed:
            raise psycopg.OperationalError("the connection is closed")
        st, values = statement(sql, params)
        pg = self._pg
        try:
            if st.name not in self._prepared:
                pg.send_prepare(st.name, st.sql)
                await self._result()
                self._prepared.add(st.name)
            pg.send_query_prepared(st.name, values, result_format=pq.Format.BINARY)
            result = await self._result()
        except psycopg.OperationalError as exc:
            self._close_if_lost(exc)
            raise
        except OSError as exc:  # libpq refused to send: the connection is gone
            self.close()
            raise psycopg.OperationalError(str(exc)) from exc
        return rows_of(result)

    def _close_if_lost(self, exc: psycopg.OperationalError) -> None:
        """An OperationalError with a SQLSTATE on a healthy connection is the
        statement's failure (53100 disk_full, 53200 out of memory, ...): the
        connection stays usable.  Any other means it is lost."""
        if exc.sqlstate is None or self._pg.status != pq.ConnStatus.OK:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._loop.remove_reader(self._fd)
        except (ValueError, OSError, RuntimeError):  # the loop is closing
            pass
        self._pg.finish()
