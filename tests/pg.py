"""Throw-away PostgreSQL databases for tests: created on the local server
(``PAILS_TEST_PG``, default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

ADMIN_URL = os.environ.get("PAILS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _url_for(database: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def create_database() -> str:
    """A new empty database; returns its URL."""
    import psycopg

    name = f"pails_test_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _url_for(name)


def drop_database(url: str) -> None:
    import psycopg

    name = url.rpartition("/")[2]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def throwaway_database() -> Iterator[str]:
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


def run_on_test_store(run: Callable[[str | None], Awaitable[None]]) -> None:
    """Run ``run(meta_url)`` on the store under test: SQLite (``None``), or a
    throw-away PostgreSQL database when PAILS_TEST_STORE is postgresql."""
    if os.environ.get("PAILS_TEST_STORE", "sqlite") == "postgresql":
        with throwaway_database() as url:
            asyncio.run(run(url))
    else:
        asyncio.run(run(None))
