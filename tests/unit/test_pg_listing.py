"""ListObjects pages from PostgreSQL (``pails.storage.postgres.listing``: one
statement per page, a range scan or a flat head plus the skip-scan walk)
against a brute-force model, on a throw-away database of the local server."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

from pails.storage.postgres import listing as pg_listing
from pails.storage.postgres.schema import SCHEMA_V1
from pails.storage.records import ObjectPage
from tests.listing_model import listing_model
from tests.pg import ADMIN_URL, throwaway_database

Run = Callable[[Callable[[psycopg.AsyncConnection], Awaitable[None]]], None]
_POSITION: dict[int, dict[str, int]] = {}  # bucket id -> key -> its index in the bucket's key list


@contextmanager
def _schema_database() -> Iterator[str]:
    """A throw-away database with the Pails schema (the test skips without PostgreSQL)."""
    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {exc}")
    with throwaway_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in SCHEMA_V1:
                conn.execute(statement)
        yield url


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with _schema_database() as url:
        yield url


@pytest.fixture
def run(database: str) -> Run:
    """Runs ``body(conn)`` on a fresh autocommit connection, in its own loop."""
    def runner(body: Callable[[psycopg.AsyncConnection], Awaitable[None]]) -> None:
        async def main() -> None:
            async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
                await body(conn)
        asyncio.run(main())
    return runner


async def _bucket(conn: psycopg.AsyncConnection, keys: list[str], markers: tuple[str, ...] = ()) -> int:
    """A bucket holding ``keys`` (``markers`` as delete markers), between two
    neighbouring buckets holding the same keys and more, which must never show."""
    ids = []
    for _ in range(3):
        cur = await conn.execute("INSERT INTO buckets (name, owner_id, created, location, acl) "
                                 "VALUES ('b' || gen_random_uuid(), 'o', 0, '', '{}') RETURNING id")
        row = await cur.fetchone()
        assert row is not None
        ids.append(row[0])
    noise = keys + ["\x01", "0", "a/zz/q", "\U0010ffff\U0010ffff"]
    cur = conn.cursor()
    async with cur.copy("COPY objects (bucket_id, key, version_id, size, etag, last_modified, owner_id, "
                        "storage_class, delete_marker, headers, acl) FROM STDIN") as copy:
        for i, k in enumerate(keys):
            await copy.write_row((ids[1], k, "null", i, f'"{i:032x}"', 1700000000.25 + i * 0.001, f"owner{i % 3}",
                                  "STANDARD", int(k in markers), "{}", "{}"))
        for bucket in (ids[0], ids[2]):
            for k in dict.fromkeys(noise):
                await copy.write_row((bucket, k, "null", 0, '""', 1.0, "x", "STANDARD", 0, "{}", "{}"))
    _POSITION[ids[1]] = {k: i for i, k in enumerate(keys)}
    return ids[1]


async def _check(conn: psycopg.AsyncConnection, bucket: int, keys: list[str], markers: tuple[str, ...],
                 prefix: str, delimiter: str, after: str, max_keys: int) -> ObjectPage:
    page = await pg_listing.list_page(conn, bucket, prefix, delimiter, after, max_keys, False)
    args = (prefix, delimiter, after, max_keys)
    assert page is not None, args
    assert ([r[0] for r in page.rows], page.prefixes, page.truncated, page.last) == \
        listing_model(keys, markers, prefix, delimiter, after, max_keys), args
    for row in page.rows:
        i = _POSITION[bucket][row[0]]
        assert row == (row[0], i, f'"{i:032x}"', 1700000000.25 + i * 0.001, "STANDARD", ""), args
    return page


async def _pages(conn: psycopg.AsyncConnection, bucket: int, prefix: str, delimiter: str,
                 max_keys: int) -> tuple[list[str], list[str]]:
    rows: list[str] = []
    prefixes: list[str] = []
    after = ""
    while True:
        page = await pg_listing.list_page(conn, bucket, prefix, delimiter, after, max_keys, False)
        assert page is not None
        assert len(page.rows) + len(page.prefixes) <= max_keys
        rows += [r[0] for r in page.rows]
        prefixes += page.prefixes
        if not page.truncated:
            return rows, prefixes
        assert page.last is not None
        after = page.last


KEYS = ["a", "a/", "a/b", "a/b/c", "a//x", "a/é/1", "a/é/2", "a/😀/z", "ab", "ab/c", "b", "b/", "b/x", "b/y/z",
        "b::c", "b::c::d", "b:x", "c/d/e", "é/1", "é", "éa", "😀/", "😀/1", "\U0010ffff/", "\U0010ffff\U0010ffff/a",
        "\U0010ffff\U0010ffffb", "\ud7ff/1", "\ud7ff\ud7ff", "\ue000", "\x01/", "z"]
MARKERS = ("a/b/c", "b/y/z", "ab")


def test_pages_match_model_for_every_after_and_size(run: Run) -> None:
    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, KEYS, MARKERS)
        afters = ["", "a", "a/", "a/b", "a/é", "a/é/1", "a/é/9", "b::", "b::c", "b::c::", "é", "😀", "😀/0", "zzz",
                  "\x01", "a\0", "a/\0x", "\U0010ffff"]
        for prefix in ["", "a", "a/", "b", "b:", "é", "zz", "\U0010ffff", "\U0010ffff\U0010ffff", "\ud7ff"]:
            for delimiter in ["/", "::", "é", "😀", "/é", "", "q", "\ud7ff", "\x01"]:
                for after in afters + [prefix]:
                    for max_keys in (0, 1, 2, 1000):
                        await _check(conn, bucket, KEYS, MARKERS, prefix, delimiter, after, max_keys)
    run(body)


def test_pagination_returns_every_entry_once(run: Run) -> None:
    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, KEYS, MARKERS)
        for max_keys in (1, 2, 3, 1000):
            for delimiter in ("/", "::", "", "\ud7ff"):
                for prefix in ("", "a/", "b", "\U0010ffff"):
                    rows, prefixes, _, _ = listing_model(KEYS, MARKERS, prefix, delimiter, "", 10**6)
                    assert await _pages(conn, bucket, prefix, delimiter, max_keys) == (rows, prefixes)
    run(body)


@pytest.mark.parametrize("seed", range(4))
def test_random_keys_match_model(run: Run, seed: int) -> None:
    rnd = random.Random(seed)
    alphabet = ["a", "b", "/", "//", "é", "😀", "-", ":", "\U0010fffe", "\U0010ffff", "\ud7ff", "\ue000", "\x01"]
    keys = sorted({"".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 7))) for _ in range(500)})
    markers = tuple(rnd.sample(keys, 50))

    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, keys, markers)
        for _ in range(250):
            prefix = rnd.choice(["", "a", "a/", "é", "/", "\U0010ffff", rnd.choice(keys)[:2], rnd.choice(keys)[:3]])
            delimiter = rnd.choice(["/", "//", "é", "a/", "😀", "::", "/a/", "\ud7ff", "\U0010fffe", ""])
            after = rnd.choice(["", rnd.choice(keys), rnd.choice(keys)[:3], rnd.choice(keys) + "\0", prefix])
            await _check(conn, bucket, keys, markers, prefix, delimiter, after, rnd.choice([0, 1, 2, 5, 1000]))
        for _ in range(12):
            prefix = rnd.choice(["", "a", "/", "\U0010ffff", rnd.choice(keys)[:2]])
            delimiter = rnd.choice(["/", "//", "é", ""])
            rows, prefixes, _, _ = listing_model(keys, markers, prefix, delimiter, "", 10**6)
            assert await _pages(conn, bucket, prefix, delimiter, rnd.choice([1, 7, 50])) == (rows, prefixes)
    run(body)


def test_every_statement_shape_stays_right_once_prepared(run: Run) -> None:
    # psycopg prepares a statement on its 6th execution; PostgreSQL may then
    # switch to a generic plan.  Prefix "\U0010ffff" has no successor: a
    # prefixed walk without an upper bound.
    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, KEYS, MARKERS)
        for prefix in ("", "a/", "\U0010ffff"):
            for delimiter in ("", "/"):
                for owners in (False, True):
                    for i in range(8):
                        after = ["", "a", "a/b", "b"][i % 4]
                        page = await pg_listing.list_page(conn, bucket, prefix, delimiter, after, 1000, owners)
                        assert page is not None
                        want = listing_model(KEYS, MARKERS, prefix, delimiter, after, 1000)
                        assert ([r[0] for r in page.rows], page.prefixes, page.truncated, page.last) == want
        cur = await conn.execute("SELECT count(*) FROM pg_prepared_statements")
        assert (await cur.fetchone()) == (len(pg_listing._FLAT_SQL) + len(pg_listing._WALK_SQL),)
    run(body)


def test_delimiter_right_after_prefix_and_keys_equal_to_prefix(run: Run) -> None:
    keys = ["p", "p/", "p//", "p//x", "p/a", "p/a/", "pa/"]

    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, keys)
        page = await _check(conn, bucket, keys, (), "p/", "/", "", 1000)
        assert [r[0] for r in page.rows] == ["p/", "p/a"] and page.prefixes == ["p//", "p/a/"]
        page = await _check(conn, bucket, keys, (), "p", "/", "", 1000)
        assert [r[0] for r in page.rows] == ["p"] and page.prefixes == ["p/", "pa/"]
    run(body)


def test_after_inside_a_common_prefix_skips_it(run: Run) -> None:
    keys = [f"d{i}/k{j}" for i in range(3) for j in range(3)]

    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, keys)
        for after in ("d0/", "d0/k0", "d0/k1x", "d0/zzz", "d0/\0"):
            page = await _check(conn, bucket, keys, (), "", "/", after, 1000)
            assert page.prefixes == ["d1/", "d2/"]
        page = await _check(conn, bucket, keys, (), "", "/", "d0", 1)
        assert page.prefixes == ["d0/"] and page.truncated and page.last == "d0/"
    run(body)


def test_plain_rows_then_prefixes_then_rows(run: Run) -> None:
    # The flat head ends at the first key that rolls up; the walk goes on.
    keys = [f"f{i:02d}" for i in range(20)] + ["g/1", "g/2", "h", "i/1", "j"] + [f"k{i}" for i in range(5)]

    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, keys, ("f05", "g/1", "h"))
        for after in ("", "f03", "f19", "g", "g/1", "h"):
            for max_keys in (1, 3, 19, 20, 21, 22, 1000):
                await _check(conn, bucket, keys, ("f05", "g/1", "h"), "", "/", after, max_keys)
    run(body)


def test_delete_markers_are_skipped_inside_and_across_prefixes(run: Run) -> None:
    keys = ["x/1", "x/2", "y/1", "z"]

    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, keys, ("x/1", "x/2", "z"))
        page = await _check(conn, bucket, keys, ("x/1", "x/2", "z"), "", "/", "", 1000)
        assert page.prefixes == ["y/"] and page.rows == [] and not page.truncated
    run(body)


def test_delimiters_the_walk_cannot_express_take_the_generic_path(run: Run) -> None:
    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, KEYS)
        for delimiter in ("\U0010ffff", "a\U0010ffff", "\0", "/\0"):
            assert await pg_listing.list_page(conn, bucket, "", delimiter, "", 1000, False) is None
        assert await pg_listing.list_page(conn, bucket, "a\0", "/", "", 1000, False) == ([], [], False, None)
    run(body)


def test_owners_only_when_asked(run: Run) -> None:
    keys = ["a", "b/c", "d"]

    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, keys)

        async def owners(delimiter: str, flag: bool) -> list[str]:
            page = await pg_listing.list_page(conn, bucket, "", delimiter, "", 10, flag)
            assert page is not None
            return [r[5] for r in page.rows]
        assert await owners("/", True) == ["owner0", "owner2"]
        assert await owners("", True) == ["owner0", "owner1", "owner2"]
        assert await owners("", False) == ["", "", ""]
        assert await owners("/", False) == ["", ""]
    run(body)


def _positional(text: str) -> tuple[list[str], str]:
    """psycopg's ``%(name)s`` placeholders as ``$n`` (numbered by first use,
    as psycopg does), for a server-side PREPARE."""
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", text)))
    return names, re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m[1]) + 1}", text)


def test_every_step_is_one_primary_key_seek(run: Run) -> None:
    # The generic plan (what a prepared statement may get): the walk's step
    # seeks ``key >= w.b`` and the head and flat scans are bounded by the
    # index too; nothing is sorted, nothing scanned whole.
    keys = [f"d{i:03d}/{j}" for i in range(50) for j in range(20)]

    async def body(conn: psycopg.AsyncConnection) -> None:
        bucket = await _bucket(conn, keys)
        await conn.execute("ANALYZE objects")
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        params = {"bucket": bucket, "start": "d", "strict": False, "end": "e", "n": 31, "plen": 1, "delim": "/",
                  "cut": 1, "succ": "0"}
        shapes = [(text, True) for text in pg_listing._WALK_SQL.values()]
        shapes += [(text, False) for text in pg_listing._FLAT_SQL.values()]
        for n, (text, walk) in enumerate(shapes):
            names, positional = _positional(text)
            await conn.execute(f"PREPARE shape{n} AS {positional}")
            args = sql.SQL(", ").join(sql.Literal(params[name]) for name in names).as_string(conn)
            cur = await conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE shape{n}({args})")
            plan = "\n".join(r[0] for r in await cur.fetchall())
            assert "Seq Scan" not in plan and "Sort" not in plan and "Bitmap" not in plan, plan
            hi = r" AND \(key < \$\d+\)" if "%(end)s" in text else ""
            assert re.search(rf"Index Cond: \(\(bucket_id = \$\d+\) AND \(key >= \$\d+\){hi}\)\n", plan), plan
            if walk:
                assert re.search(rf"Index Cond: \(\(bucket_id = \$\d+\) AND \(key >= w\.b\){hi}\)\n", plan), plan
                # 31 entries (max_keys 30 + 1), all prefixes: the head stops at
                # its first row, the walk seeks once per entry.
                assert re.search(r"Index Scan using objects_pkey on objects \w+ \(actual rows=1 loops=30\)", plan), plan
                assert "WindowAgg (actual rows=1 loops=1)" in plan, plan
    run(body)


def test_plans_do_not_hinge_on_statistics() -> None:
    """A table never analyzed (a new bucket filling up before autovacuum's
    ANALYZE) looks tiny to the planner, which would scan and sort all of it
    per page (a delimiter page of 100k keys took 19 s): Pails' own sessions
    (``postgres.conn.connect``) still walk the index."""
    from pails.storage.postgres.conn import connect

    keys = [f"d{i:03d}/{j:02d}" for i in range(200) for j in range(100)]

    async def main(url: str) -> None:
        conn = await connect(url, True)
        try:
            bucket = await _bucket(conn, keys)
            cur = await conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'objects'")
            assert (await cur.fetchone()) == (-1.0,)  # never analyzed
            params = {"bucket": bucket, "start": "", "strict": False, "end": None, "n": 1001, "plen": 0,
                      "delim": "/", "cut": 0, "succ": "0"}
            for text in (pg_listing._WALK_SQL[False, False, False], pg_listing._FLAT_SQL[False, False]):
                cur = await conn.execute(f"EXPLAIN (COSTS OFF) {text}", params)
                plan = "\n".join(r[0] for r in await cur.fetchall())
                assert "Seq Scan" not in plan and "Sort" not in plan, plan
        finally:
            await conn.close()

    with _schema_database() as url:  # a database of its own: never analyzed
        asyncio.run(main(url))
