"""ListObjects pages from the SQLite store (one statement per page: a range
scan, or the skip-scan walk for delimiters) against a brute-force model and
against the generic ``MetaStore.list_page`` over ``scan_objects``."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from pails.storage.meta import MetaStore
from pails.storage.records import ObjectPage
from pails.storage.sqlite import SqliteMeta
from tests.listing_model import listing_model

BUCKET = 7


def _meta(tmp_path: Path, keys: list[str], markers: tuple[str, ...] = ()) -> SqliteMeta:
    meta = SqliteMeta(str(tmp_path / "meta.sqlite3"), fsync=False)
    rows = [(BUCKET, k, "null", i, f'"{i:032x}"', 1700000000.25 + i * 0.001, f"owner{i % 3}", "STANDARD",
             int(k in markers), "{}", "{}") for i, k in enumerate(keys)]
    # A neighbouring bucket whose keys must never show.
    rows += [(BUCKET + 1, k, "null", 0, '""', 1.0, "x", "STANDARD", 0, "{}", "{}") for k in keys[:5]]
    meta._conn.executemany("INSERT INTO objects (bucket_id, key, version_id, size, etag, last_modified, owner_id, "
                           "storage_class, delete_marker, headers, acl) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    return meta


def _check(meta: SqliteMeta, keys: list[str], markers: tuple[str, ...], prefix: str, delimiter: str, after: str,
           max_keys: int) -> ObjectPage:
    page = asyncio.run(meta.list_page(BUCKET, prefix, delimiter, after, max_keys))
    generic = asyncio.run(MetaStore.list_page(meta, BUCKET, prefix, delimiter, after, max_keys))
    want = listing_model(keys, markers, prefix, delimiter, after, max_keys)
    args = (prefix, delimiter, after, max_keys)
    assert ([r[0] for r in page.rows], page.prefixes, page.truncated, page.last) == want, args
    assert page.rows == [r[:5] + ("",) for r in generic.rows], args
    assert (page.prefixes, page.truncated, page.last) == (generic.prefixes, generic.truncated, generic.last), args
    return page


def _pages(meta: SqliteMeta, prefix: str, delimiter: str, max_keys: int) -> tuple[list[str], list[str]]:
    rows: list[str] = []
    prefixes: list[str] = []
    after = ""
    while True:
        page = asyncio.run(meta.list_page(BUCKET, prefix, delimiter, after, max_keys))
        assert len(page.rows) + len(page.prefixes) <= max_keys
        rows += [r[0] for r in page.rows]
        prefixes += page.prefixes
        if not page.truncated:
            return rows, prefixes
        assert page.last is not None
        after = page.last


KEYS = ["a", "a/", "a/b", "a/b/c", "a//x", "a/é/1", "a/é/2", "a/😀/z", "ab", "ab/c", "b", "b/", "b/x", "b/y/z",
        "b::c", "b::c::d", "b:x", "c/d/e", "é/1", "é", "éa", "😀/", "😀/1", "\U0010ffff/", "z"]
MARKERS = ("a/b/c", "b/y/z", "ab")


@pytest.mark.parametrize("delimiter", ["/", "::", "é", "😀", "/é", "", "q"])
@pytest.mark.parametrize("prefix", ["", "a", "a/", "b", "b:", "é", "zz"])
def test_pages_match_model_for_every_after_and_size(tmp_path: Path, prefix: str, delimiter: str) -> None:
    meta = _meta(tmp_path, KEYS, MARKERS)
    afters = ["", "a", "a/", "a/b", "a/é", "a/é/1", "a/é/9", "b::", "b::c", "b::c::", "é", "😀", "😀/0", "zzz", prefix]
    for after in afters:
        for max_keys in (0, 1, 2, 3, 1000):
            _check(meta, KEYS, MARKERS, prefix, delimiter, after, max_keys)


@pytest.mark.parametrize("max_keys", [1, 2, 3, 1000])
@pytest.mark.parametrize("delimiter", ["/", "::", ""])
def test_pagination_returns_every_entry_once(tmp_path: Path, delimiter: str, max_keys: int) -> None:
    meta = _meta(tmp_path, KEYS, MARKERS)
    for prefix in ("", "a/", "b"):
        rows, prefixes, _, _ = listing_model(KEYS, MARKERS, prefix, delimiter, "", 10**6)
        assert _pages(meta, prefix, delimiter, max_keys) == (rows, prefixes)


def test_random_keys_match_model(tmp_path: Path) -> None:
    rnd = random.Random(4)
    alphabet = ["a", "b", "/", "//", "é", "😀", "-", "\U0010fffe"]
    keys = sorted({"".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 6))) for _ in range(400)})
    markers = tuple(rnd.sample(keys, 40))
    meta = _meta(tmp_path, keys, markers)
    for _ in range(300):
        prefix = rnd.choice(["", "a", "a/", "é", "/", rnd.choice(keys)[:2]])
        delimiter = rnd.choice(["/", "//", "é", "a/", "😀", ""])
        after = rnd.choice(["", rnd.choice(keys), rnd.choice(keys)[:3], prefix])
        _check(meta, keys, markers, prefix, delimiter, after, rnd.choice([1, 2, 5, 1000]))


def test_delimiter_right_after_prefix_and_keys_equal_to_prefix(tmp_path: Path) -> None:
    keys = ["p", "p/", "p//", "p//x", "p/a", "p/a/", "pa/"]
    meta = _meta(tmp_path, keys)
    page = _check(meta, keys, (), "p/", "/", "", 1000)
    assert [r[0] for r in page.rows] == ["p/", "p/a"] and page.prefixes == ["p//", "p/a/"]
    page = _check(meta, keys, (), "p", "/", "", 1000)
    assert [r[0] for r in page.rows] == ["p"] and page.prefixes == ["p/", "pa/"]


def test_after_inside_a_common_prefix_skips_it(tmp_path: Path) -> None:
    keys = [f"d{i}/k{j}" for i in range(3) for j in range(3)]
    meta = _meta(tmp_path, keys)
    for after in ("d0/", "d0/k0", "d0/k1x", "d0/zzz"):
        page = _check(meta, keys, (), "", "/", after, 1000)
        assert page.prefixes == ["d1/", "d2/"]
    page = _check(meta, keys, (), "", "/", "d0", 1)
    assert page.prefixes == ["d0/"] and page.truncated and page.last == "d0/"


def test_delete_markers_are_skipped_inside_and_across_prefixes(tmp_path: Path) -> None:
    keys = ["x/1", "x/2", "y/1", "z"]
    meta = _meta(tmp_path, keys, ("x/1", "x/2", "z"))
    page = _check(meta, keys, ("x/1", "x/2", "z"), "", "/", "", 1000)
    assert page.prefixes == ["y/"] and page.rows == [] and not page.truncated


def test_last_character_without_successor_takes_the_generic_path(tmp_path: Path) -> None:
    keys = ["a\U0010ffffb", "a\U0010ffff", "b\U0010ffffc\U0010ffff"]
    meta = _meta(tmp_path, keys)
    for after in ("", "a\U0010ffff", "a\U0010ffffz"):
        _check(meta, keys, (), "", "\U0010ffff", after, 1000)
        _check(meta, keys, (), "", "\U0010ffff", after, 1)


def test_owners_only_when_asked(tmp_path: Path) -> None:
    keys = ["a", "b/c", "d"]
    meta = _meta(tmp_path, keys)
    def owners(delimiter: str, owners: bool) -> list[str]:
        return [r[5] for r in asyncio.run(meta.list_page(BUCKET, "", delimiter, "", 10, owners=owners)).rows]

    assert owners("/", True) == ["owner0", "owner2"]
    assert owners("", True) == ["owner0", "owner1", "owner2"]
    assert owners("", False) == ["", "", ""]


def test_walk_seeks_the_primary_key(tmp_path: Path) -> None:
    from pails.storage.sqlite import listing as sqlite_listing

    meta = _meta(tmp_path, KEYS)
    for sql in sqlite_listing._WALK_SQL.values():
        plan = " ".join(r[3] for r in meta._conn.execute(
            "EXPLAIN QUERY PLAN " + sql, (BUCKET, "", "z", 1, "/", -1, "0", 5)))
        assert plan.count("SEARCH objects USING PRIMARY KEY (bucket_id=? AND key>?") == 2, plan
        assert "SCAN objects" not in plan, plan
