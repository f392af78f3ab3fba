"""One ListObjects page in one PostgreSQL statement.

The counterpart of ``sqlite.listing``.  A flat page is one range scan.  A
delimiter page is a skip-scan inside PostgreSQL: a recursive CTE whose every
step is one primary-key index seek for the next listed key at or after a
bound, computing from that key the bound of the next step:

- the key has the delimiter after the prefix: it stands for its common prefix
  ``cp``, and the next bound is the successor of ``cp`` (its last character's
  code point + 1, as ``prefix_successor``), so the keys under ``cp`` are
  never read;
- else the key is a row of the page, and the next step wants the keys after
  it.  PostgreSQL text cannot hold NUL, so SQLite's ``key || char(0)`` is a
  boolean ``strict`` carried with the bound, meaning ``key > bound``.

A walk step costs ~7 µs, a scanned row ~1 µs, so the statement first scans
the page's range flat and starts the walk only at the first key that rolls up
(a directory of plain files, the usual delimiter listing, then costs a flat
scan: 1000 rows in ~2 ms instead of ~7.5; a page of prefixes pays ~5 %).

``key`` is ``text COLLATE "C"`` (byte order, i.e. code point order), and
``strpos``/``substr``/``left`` count characters, like Python ``str`` indices.
Each step returns the row it found, so a page needs no second statement; a
prefix's entry is told from a row's in Python, by the delimiter.

Every optional predicate has its own statement text: psycopg prepares a
statement after 5 executions and PostgreSQL then may use a generic plan, in
which ``(%s IS NULL OR key < %s)`` is no index condition (20x slower).
"""

from __future__ import annotations

import psycopg

from pails.protocol.keys import prefix_successor
from pails.storage.records import ContentsRow, ObjectPage


def _columns(owners: bool) -> str:
    # ``owner_id`` only when the response shows owners (a 64-character string
    # per row otherwise sent for nothing).
    return "key, size, etag, last_modified, storage_class, " + ("owner_id" if owners else "'' AS owner_id")


_OUT = "key, size, etag, last_modified, storage_class, owner_id"


def _start(prefix: str, delimiter: str, after: str) -> tuple[str, bool] | None:
    """The lower bound of the page and whether it is strict (``key > bound``);
    None: nothing is left.

    ``after`` is exclusive; if it lies inside a common prefix, that prefix has
    been listed already and the page starts past it."""
    if after < prefix:
        return prefix, False
    if delimiter and after.startswith(prefix):
        idx = after.find(delimiter, len(prefix))
        if idx >= 0:
            nxt = prefix_successor(after[:idx + len(delimiter)])
            return None if nxt is None else (nxt, False)
    return after, True


def _range(bounded: bool) -> str:
    # ``strict`` is a filter, so the index condition is ``key >= start``: a
    # strict start costs one more index entry, not a different plan.
    hi = " AND key < %(end)s::text" if bounded else ""
    return ("bucket_id = %(bucket)s::bigint AND key >= %(start)s::text"
            f" AND NOT (%(strict)s::boolean AND key = %(start)s::text){hi} AND delete_marker = 0")


def _flat_sql(bounded: bool, owners: bool) -> str:
    return f"SELECT {_columns(owners)} FROM objects WHERE {_range(bounded)} ORDER BY key LIMIT %(n)s::bigint"


def _walk_sql(bounded: bool, prefixed: bool, owners: bool) -> str:
    # Parameters: %(n)s entries wanted (max_keys + 1); %(plen)s the prefix's
    # length; %(cut)s = prefix length + delimiter length - 1, so that
    # ``left(key, cut + pos - 1)`` is the common prefix without its last
    # character (``pos``: where the delimiter starts in the text after the
    # prefix, 1-based; the substr is needed only with a prefix); %(succ)s the
    # successor of the delimiter's last character.
    def pos(key: str) -> str:
        text = f"substr({key}, %(plen)s::int + 1)" if prefixed else key
        return f"strpos({text}, %(delim)s::text)"

    hi = " AND key < %(end)s::text" if bounded else ""
    # One step: the bound is the index condition alone (``key >= w.b``),
    # ``strict`` a filter, so each step is one seek (EXPLAIN: Index Cond
    # ``(bucket_id = $n) AND (key >= w.b)``, loops = entries).
    step = (f"SELECT CASE WHEN p.pos > 0 THEN left(o.key, %(cut)s::int + p.pos - 1) || %(succ)s::text"
            f" ELSE o.key END, p.pos = 0, o.* FROM {{src}}, LATERAL (SELECT {_columns(owners)} FROM objects"
            f" WHERE bucket_id = %(bucket)s::bigint AND key >= w.b AND NOT (w.s AND key = w.b){hi}"
            f" AND delete_marker = 0 ORDER BY key LIMIT 1) o, LATERAL (SELECT {pos('o.key')} AS pos) p")
    # ``head``: the page's range, flat, read only as far as ``first`` (the
    # first key that rolls up) or the page's end: CTEs run as far as they are
    # read, and the head's LIMIT is known once ``first`` is.  The walk starts
    # at ``first`` (its first step finds that key again) and the outer
    # LIMITs stop it.  Append runs its branches in order (CTE scans rule out
    # a parallel append), so entries come out in key order.
    return (f"WITH RECURSIVE head AS (SELECT {_columns(owners)}, {pos('key')} AS pos,"
            f" row_number() OVER (ORDER BY key) AS rn FROM objects WHERE {_range(bounded)}"
            " ORDER BY key LIMIT %(n)s::bigint),"
            " first AS (SELECT key, rn FROM head WHERE pos > 0 LIMIT 1),"
            f" walk(b, s, {_OUT}) AS ({step.format(src='(SELECT key AS b, false AS s FROM first) w')}"
            f" UNION ALL {step.format(src='walk w')})"
            f" (SELECT {_OUT} FROM head LIMIT coalesce((SELECT rn - 1 FROM first), %(n)s::bigint))"
            f" UNION ALL (SELECT {_OUT} FROM walk LIMIT (SELECT %(n)s::bigint + 1 - rn FROM first))")


def _first(row: ContentsRow) -> str:
    return row[0]


_FLAT_SQL = {(bounded, owners): _flat_sql(bounded, owners) for bounded in (False, True) for owners in (False, True)}
# A bounded range has a prefix (an unbounded one may: a prefix of U+10FFFF only).
_WALK_SQL = {(bounded, prefixed, owners): _walk_sql(bounded, prefixed, owners)
             for bounded, prefixed in ((False, False), (False, True), (True, True)) for owners in (False, True)}


async def list_page(conn: psycopg.AsyncConnection, bucket_id: int, prefix: str, delimiter: str, after: str,
                    max_keys: int, owners: bool) -> ObjectPage | None:
    """The page, or None when the walk cannot express the request (the
    caller then takes the generic path)."""
    if max_keys <= 0:
        return ObjectPage([], [], False, None)
    if delimiter and ("\0" in delimiter or prefix_successor(delimiter[-1]) is None):
        return None  # no successor for the delimiter's last character (U+10FFFF), or NUL: rare, generic path
    if "\0" in prefix:
        return ObjectPage([], [], False, None)  # keys never hold NUL (and PostgreSQL text cannot take it)
    # For a key without NUL, key > after <=> key > (after cut at its first NUL),
    # and a common prefix lies in one iff it lies in the other.
    start = _start(prefix, delimiter, after.partition("\0")[0])
    if start is None:
        return ObjectPage([], [], False, None)
    end = prefix_successor(prefix) if prefix else None
    params: dict[str, object] = {"bucket": bucket_id, "start": start[0], "strict": start[1], "end": end,
                                 "n": max_keys + 1}
    if not delimiter:
        cur = await conn.execute(_FLAT_SQL[end is not None, owners], params)
        rows: list[ContentsRow] = await cur.fetchall()
        if len(rows) > max_keys:
            del rows[max_keys:]
            return ObjectPage(rows, [], True, rows[-1][0])
        return ObjectPage(rows, [], False, rows[-1][0] if rows else None)
    plen, dlen = len(prefix), len(delimiter)
    params.update(plen=plen, delim=delimiter, cut=plen + dlen - 1, succ=prefix_successor(delimiter[-1]))
    cur = await conn.execute(_WALK_SQL[end is not None, bool(prefix), owners], params)
    found: list[ContentsRow] = await cur.fetchall()
    found.sort(key=_first)  # already in order (see _walk_sql); SQL does not promise it, and this costs O(n)
    truncated = len(found) > max_keys
    if truncated:
        del found[max_keys:]
    rows = []
    prefixes: list[str] = []
    last: str | None = None
    for row in found:
        idx = row[0].find(delimiter, plen)
        if idx >= 0:  # a key that rolls up: it stands for its common prefix
            last = row[0][:idx + dlen]
            prefixes.append(last)
        else:
            last = row[0]
            rows.append(row)
    return ObjectPage(rows, prefixes, truncated, last)
