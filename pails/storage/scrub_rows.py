"""Every stored object version, read page by page for ``pails verify``.

Read straight from the metadata tables of either store, in key order, a
short read per page (keyset paging), so a scrub of any size holds one page
in memory and never keeps a read transaction open for long (which would pin
SQLite's WAL or hold back PostgreSQL's vacuum) while the server writes on."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from typing import Any, NamedTuple

from pails.storage.meta import StoreUnavailable

PAGE = 64  # rows per read: inline bodies are up to 64 KiB each


class StoredVersion(NamedTuple):
    bucket: str
    bucket_id: int
    key: str
    version_id: str
    size: int
    etag: str
    delete_marker: bool
    headers: str
    blob_id: str | None
    manifest: str | None
    checksums: str | None
    inline: bytes | None


_COLUMNS = "key, version_id, size, etag, delete_marker, headers, blob_id, manifest, checksums"


class VersionSource:
    """Pages of version rows from one store; ``param`` is its placeholder."""

    param = "?"

    def query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _body(self, alias: str) -> tuple[str, str]:
        """(the column of the small body, the join that brings it)."""
        raise NotImplementedError

    def buckets(self, only: str | None) -> list[tuple[int, str]]:
        p = self.param
        if only is not None:
            return [(r[0], r[1]) for r in self.query(f"SELECT id, name FROM buckets WHERE name={p}", (only,))]
        return [(r[0], r[1]) for r in self.query("SELECT id, name FROM buckets ORDER BY name", ())]

    def versions(self, only: str | None = None) -> Iterator[StoredVersion]:
        p = self.param
        for bucket_id, name in self.buckets(only):
            for table, order in (("objects", ("key",)), ("object_versions", ("key", "seq"))):
                body, join = self._body("t")
                cols = ", ".join(f"t.{c.strip()}" for c in _COLUMNS.split(","))
                after: tuple[Any, ...] | None = None
                while True:
                    where = f"t.bucket_id={p}"
                    if after is not None:
                        where += f" AND ({', '.join('t.' + c for c in order)}) > ({', '.join([p] * len(order))})"
                    rows = self.query(
                        f"SELECT {cols}, {body}, {', '.join('t.' + c for c in order)} FROM {table} t {join} "
                        f"WHERE {where} ORDER BY {', '.join('t.' + c for c in order)} LIMIT {PAGE}",
                        (bucket_id, *(after or ())))
                    for r in rows:
                        yield StoredVersion(name, bucket_id, r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7],
                                            r[8], _bytes(r[9]))
                    if len(rows) < PAGE:
                        break
                    after = tuple(rows[-1][10:])

    def still_refers(self, v: StoredVersion) -> bool:
        """The version is still stored with the same data files (a data file
        found missing may have been collected after a delete meanwhile)."""
        p = self.param
        for table in ("objects", "object_versions"):
            rows = self.query(f"SELECT blob_id, manifest FROM {table} WHERE bucket_id={p} AND key={p} "
                              f"AND version_id={p}", (v.bucket_id, v.key, v.version_id))
            if any(r[0] == v.blob_id and r[1] == v.manifest for r in rows):
                return True
        return False


class SqliteSource(VersionSource):
    def __init__(self, data_dir: str) -> None:
        from pails.storage.sqlite.schema import migrate

        path = os.path.join(data_dir, "meta.sqlite3")
        if not os.path.isfile(path):
            raise StoreUnavailable(f"no metadata database {path}")
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self.conn.execute("PRAGMA busy_timeout=30000")
        migrate(self.conn, path)  # a newer schema is refused; an older one brought up to date first

    def _body(self, alias: str) -> tuple[str, str]:
        return "i.data", f"LEFT JOIN inline_data i ON i.id = {alias}.inline_id"

    def query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, args).fetchall()

    def close(self) -> None:
        self.conn.close()


class PgSource(VersionSource):
    param = "%s"

    def __init__(self, url: str) -> None:
        import psycopg

        from pails.storage.postgres.schema import SCHEMA_VERSION

        try:
            self.conn = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to the metadata database: {exc}") from None
        try:
            row = self.conn.execute("SELECT version FROM pails_schema").fetchone()
        except psycopg.Error:
            self.conn.close()
            raise StoreUnavailable("the metadata database has no Pails schema") from None
        if row is None or row[0] != SCHEMA_VERSION:
            self.conn.close()
            raise StoreUnavailable(f"the metadata database has schema version {row[0] if row else None}; this "
                                   f"Pails reads version {SCHEMA_VERSION}")

    def _body(self, alias: str) -> tuple[str, str]:
        return f"{alias}.inline", ""

    def query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, args).fetchall()  # type: ignore[arg-type]

    def close(self) -> None:
        self.conn.close()


def _bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):  # TEXT where a BLOB belongs (written by hand): compare its bytes
        return value.encode()
    return bytes(value)  # memoryview (psycopg)


def open_source(data_dir: str, meta_url: str | None) -> VersionSource:
    return PgSource(meta_url) if meta_url else SqliteSource(data_dir)
