"""The pipelined read connection (pails.storage.postgres.pipe) against a real
PostgreSQL database: statements of one turn share a Sync, one that fails
leaves the others their results, a caller that gives up leaves the
connection usable, and a lost connection fails what was in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest

from pails.storage.postgres.pipe import PipelinedConnection
from tests.pg import ADMIN_URL, throwaway_database


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {exc}")
    with throwaway_database() as database:
        yield database


def _run(coro):  # noqa: ANN001, ANN202
    return asyncio.run(coro)


def test_many_statements_of_one_turn_each_get_their_rows(url: str) -> None:
    async def main() -> list[int]:
        conn = await PipelinedConnection.connect(url, "SET application_name = 'pails-test'", 5)
        try:
            rows = await asyncio.gather(*(conn.execute("SELECT %s::int * 2, %s::text", (i, f"k{i}"))
                                          for i in range(200)))
            return [r.rows[0][0] for r in rows]
        finally:
            conn.close()
    assert _run(main()) == [i * 2 for i in range(200)]


def test_a_failing_statement_leaves_the_others_of_its_sync_their_results(url: str) -> None:
    async def main() -> tuple[list[object], list[object]]:
        conn = await PipelinedConnection.connect(url, "SET application_name = 'pails-test'", 5)
        try:
            args: list[object] = [str(i) for i in range(20)]
            args[7] = "not a number"
            first = await asyncio.gather(*(conn.execute("SELECT %s::int", (a,)) for a in args),
                                         return_exceptions=True)
            again = await asyncio.gather(*(conn.execute("SELECT %s::int + 1", (str(i),)) for i in range(5)))
            return [r if isinstance(r, BaseException) else r.rows[0][0] for r in first], \
                [r.rows[0][0] for r in again]
        finally:
            conn.close()
    first, again = _run(main())
    assert isinstance(first[7], psycopg.errors.InvalidTextRepresentation)
    assert [v for i, v in enumerate(first) if i != 7] == [i for i in range(20) if i != 7]
    assert again == [1, 2, 3, 4, 5]


def test_a_caller_that_gives_up_leaves_the_connection_usable(url: str) -> None:
    async def main() -> int:
        conn = await PipelinedConnection.connect(url, "SET application_name = 'pails-test'", 5)
        try:
            slow = asyncio.ensure_future(conn.execute("SELECT 1 FROM pg_sleep(0.2)"))
            await asyncio.sleep(0.05)
            slow.cancel()
            return (await conn.execute("SELECT 41 + 1")).rows[0][0]
        finally:
            conn.close()
    assert _run(main()) == 42


def test_a_lost_connection_fails_what_was_in_flight(url: str) -> None:
    async def main() -> tuple[BaseException | None, bool]:
        conn = await PipelinedConnection.connect(url, "SET application_name = 'pails-victim'", 5)
        slow = asyncio.ensure_future(conn.execute("SELECT 1 FROM pg_sleep(5)"))
        await asyncio.sleep(0.1)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'pails-victim'")
        try:
            await asyncio.wait_for(slow, 3)
            error = None
        except psycopg.OperationalError as exc:
            error = exc
        return error, conn.closed
    error, closed = _run(main())
    assert isinstance(error, psycopg.OperationalError) and closed
