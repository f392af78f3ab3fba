"""One ListObjects page in one SQL statement.

A flat page is one range scan.  A delimiter page is a skip-scan done inside
SQLite: a recursive CTE whose every step is one index seek for the next key
that is listed (``delete_marker=0``) at or after a bound, and which computes
from that key the bound of the next step:

- the key has the delimiter after the prefix: it stands for its common prefix
  ``cp``, and the next bound is the successor of ``cp`` (its last character's
  code point + 1, as ``prefix_successor``), so the keys under ``cp`` are
  never read;
- else the key is a row of the page, and the next bound is ``key || char(0)``,
  the smallest string after it (keys never hold NUL; BINARY collation is
  memcmp, i.e. UTF-8 byte order).

``instr`` and ``substr`` count characters on TEXT, like Python ``str``
indices.  A step yields the bound, not the key: the statement returns that
one column (each returned column costs per entry), and a row's bound is told
from a prefix's by its trailing NUL.  The listing columns of the rows among a
delimiter page's entries (rare: usually all are prefixes) come from a second
statement, one primary-key lookup per row.
"""

from __future__ import annotations

import json
import sqlite3

from pails.protocol.keys import prefix_successor
from pails.storage.records import ContentsRow, ObjectPage

# Every listing picks the same columns; ``owner_id`` only when the response
# shows owners (a 64-character string per row otherwise built for nothing).
_COLUMNS = "key, size, etag, last_modified, storage_class, {owner}"


def _owner_column(owners: bool, table: str = "") -> str:
    return f"{table}owner_id" if owners else "''"


def _start(prefix: str, delimiter: str, after: str) -> str | None:
    """The smallest key the page may list; None: nothing is left.

    ``after`` is exclusive; if it lies inside a common prefix, that prefix has
    been listed already and the page starts past it."""
    if after < prefix:
        return prefix
    if delimiter and after.startswith(prefix):
        idx = after.find(delimiter, len(prefix))
        if idx >= 0:
            return prefix_successor(after[:idx + len(delimiter)])
    return after + "\0"


def list_page(conn: sqlite3.Connection, bucket_id: int, prefix: str, delimiter: str, after: str,
              max_keys: int, owners: bool) -> ObjectPage | None:
    """The page, or None when the walk cannot express the request (the
    caller then takes the generic path)."""
    if max_keys <= 0:
        return ObjectPage([], [], False, None)
    if delimiter and ("\0" in delimiter or prefix_successor(delimiter[-1]) is None):
        return None  # no successor for the delimiter's last character (U+10FFFF), or NUL: rare, generic path
    start = _start(prefix, delimiter, after)
    if start is None:
        return ObjectPage([], [], False, None)
    end = prefix_successor(prefix) if prefix else None
    if delimiter:
        return _walk(conn, bucket_id, prefix, delimiter, start, end, max_keys, owners)
    bound = "" if end is None else " AND key < ?3"
    rows: list[ContentsRow] = conn.execute(
        f"SELECT {_COLUMNS.format(owner=_owner_column(owners))} FROM objects "
        f"WHERE bucket_id=?1 AND key >= ?2{bound} AND delete_marker=0 ORDER BY key LIMIT ?4",
        (bucket_id, start, end, max_keys + 1)).fetchall()
    if len(rows) > max_keys:
        del rows[max_keys:]
        return ObjectPage(rows, [], True, rows[-1][0])
    return ObjectPage(rows, [], False, rows[-1][0] if rows else None)


def _walk_sql(bounded: bool, prefixed: bool) -> str:
    # ?1 bucket, ?2 start, ?3 end of the prefix range, ?4 the prefix's length
    # + 1, ?5 the delimiter, ?6 (prefix + delimiter length - 2), ?7 successor
    # of the delimiter's last character, ?8 entries wanted (max_keys + 1).
    # ``pos`` is where the delimiter starts after the prefix (1-based, in the
    # text after the prefix; the substr is needed only with a prefix), so
    # ``substr(key, 1, ?6 + pos)`` is the common prefix without its last
    # character.  ``key >= <bound>`` alone is the lower bound, so each step is
    # one seek (EXPLAIN QUERY PLAN: SEARCH objects USING PRIMARY KEY).  The
    # statement returns one column: every column returned costs per entry.
    pos = "instr(substr(key, ?4), ?5)" if prefixed else "instr(key, ?5)"
    hi = " AND key < ?3" if bounded else ""
    step = (f"SELECT CASE WHEN {pos} THEN substr(key, 1, ?6 + {pos}) || ?7 ELSE key || char(0) END "
            f"FROM objects WHERE bucket_id=?1 AND key >= {{}}{hi} AND delete_marker=0 ORDER BY key LIMIT 1")
    return (f"WITH RECURSIVE walk(b) AS (SELECT ({step.format('?2')}) "
            f"UNION ALL SELECT ({step.format('walk.b')}) FROM walk WHERE b IS NOT NULL LIMIT ?8) "
            "SELECT b FROM walk WHERE b IS NOT NULL")


_WALK_SQL = {(bounded, prefixed): _walk_sql(bounded, prefixed) for bounded in (False, True)
             for prefixed in (False, True)}
# The listing columns of the rows a walk found (rare in delimiter listings).
_ROWS_SQL = {owners: f"SELECT {_COLUMNS.format(owner=_owner_column(owners))} FROM objects WHERE bucket_id=?1 "
                     "AND key IN (SELECT value FROM json_each(?2)) AND delete_marker=0 ORDER BY key"
             for owners in (False, True)}


def _walk(conn: sqlite3.Connection, bucket_id: int, prefix: str, delimiter: str, start: str, end: str | None,
          max_keys: int, owners: bool) -> ObjectPage | None:
    last_char = delimiter[-1]
    args = (bucket_id, start, end, len(prefix) + 1, delimiter, len(prefix) + len(delimiter) - 2,
            prefix_successor(last_char), max_keys + 1)
    bounds = [b for (b,) in conn.execute(_WALK_SQL[end is not None, bool(prefix)], args)]
    truncated = len(bounds) > max_keys
    if truncated:
        del bounds[max_keys:]
    if not bounds:
        return ObjectPage([], [], False, None)
    # A row's bound is its key + NUL; a common prefix's is its successor.
    keys = [b[:-1] for b in bounds if b[-1] == "\0"]
    prefixes = [b[:-1] + last_char for b in bounds if b[-1] != "\0"]
    last = bounds[-1][:-1]
    if bounds[-1][-1] != "\0":
        last += last_char
    rows: list[ContentsRow] = []
    if keys:
        rows = conn.execute(_ROWS_SQL[owners], (bucket_id, json.dumps(keys))).fetchall()
        if len(rows) != len(keys):
            return None  # a row went away between the two statements: the generic path reads it afresh
    return ObjectPage(rows, prefixes, truncated, last)
