"""Small bodies live in their own table (``inline_data``), one row per
version: every way a version goes away must drop its row, and every way a
version moves (versioning) must keep it.  Also: data directories from before
that table are migrated on open."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from pails.storage.engine import Engine, Settings
from pails.storage.records import Bucket, ObjectVersion
from pails.storage.sqlite import SqliteMeta


def _version(bucket_id: int, key: str, body: bytes | None) -> ObjectVersion:
    return ObjectVersion(bucket_id=bucket_id, key=key, version_id="null", size=len(body or b""), etag='"e"',
                         last_modified=1.0, headers="{}", acl="{}", owner_id="o", storage_class="STANDARD",
                         inline=body, blob_id=None, manifest=None, checksums=None)


def _consistent(meta: SqliteMeta) -> int:
    """Rows in inline_data, after checking each is referenced exactly once."""
    c = meta._conn
    refs = [r[0] for r in c.execute("SELECT inline_id FROM objects WHERE inline_id IS NOT NULL "
                                     "UNION ALL SELECT inline_id FROM object_versions WHERE inline_id IS NOT NULL")]
    ids = [r[0] for r in c.execute("SELECT id FROM inline_data")]
    assert sorted(refs) == sorted(ids)
    return len(ids)


def test_every_version_change_keeps_inline_rows_exact(tmp_path: Path) -> None:
    engine = Engine(Settings(data_dir=str(tmp_path)))
    meta = engine.meta
    assert isinstance(meta, SqliteMeta)

    async def main() -> None:
        _, plain = await meta.create_bucket(Bucket(0, "plain", "o", 0.0, "", "{}", None, "{}"))
        await meta.put_object(_version(plain.id, "a", b"one"))
        await meta.put_object(_version(plain.id, "a", b"two"))  # overwrite: the first body goes
        assert _consistent(meta) == 1
        got = await meta.get_object(plain.id, "a")
        assert got is not None and got.inline == b"two"
        await meta.put_object(_version(plain.id, "b", b""))  # an empty body is a body
        assert _consistent(meta) == 2

        def grow(current: ObjectVersion | None) -> ObjectVersion:
            assert current is not None
            return _version(plain.id, "a", (current.inline or b"") + b"+more")

        await meta.append_object(plain.id, "a", 3, grow)
        got = await meta.get_object(plain.id, "a")
        assert got is not None and got.inline == b"two+more"
        assert _consistent(meta) == 2
        await meta.delete_object(plain.id, "a")
        await meta.delete_object(plain.id, "b")
        assert _consistent(meta) == 0

        _, vb = await meta.create_bucket(Bucket(0, "versioned", "o", 0.0, "", "{}", None, "{}"))
        await meta.update_bucket(vb.id, versioning="Enabled")
        ids = [await meta.put_object(_version(vb.id, "k", f"v{i}".encode())) for i in range(3)]
        assert _consistent(meta) == 3  # two noncurrent versions keep theirs
        for i, vid in enumerate(ids):
            got = await meta.get_object_version(vb.id, "k", vid)
            assert got is not None and got.inline == f"v{i}".encode()
        marker = await meta.delete_object(vb.id, "k")  # a delete marker has no body
        assert _consistent(meta) == 3
        assert marker.version_id is not None
        await meta.delete_version(vb.id, "k", marker.version_id)  # v2 becomes current again
        got = await meta.get_object(vb.id, "k")
        assert got is not None and got.inline == b"v2"
        await meta.delete_version(vb.id, "k", ids[2])  # the current one: v1 comes back
        got = await meta.get_object(vb.id, "k")
        assert got is not None and got.inline == b"v1"
        await meta.delete_version(vb.id, "k", ids[0])  # a noncurrent one
        assert _consistent(meta) == 1

        await meta.update_bucket(vb.id, versioning="Suspended")
        await meta.put_object(_version(vb.id, "k", b"null-1"))  # v1 stays as a noncurrent version
        await meta.put_object(_version(vb.id, "k", b"null-2"))  # replaces the null version
        assert _consistent(meta) == 2
        await meta.update_bucket(vb.id, versioning="Enabled")
        await meta.put_object(_version(vb.id, "k", b"v3"))  # null-2 becomes noncurrent
        await meta.update_bucket(vb.id, versioning="Suspended")
        await meta.put_object(_version(vb.id, "k", b"null-3"))  # the noncurrent null version goes
        assert _consistent(meta) == 3
        got = await meta.get_object(vb.id, "k")
        assert got is not None and got.inline == b"null-3"

    asyncio.run(main())
    asyncio.run(engine.close())


_OLD_OBJECTS = """
CREATE TABLE objects (bucket_id INTEGER NOT NULL, key TEXT NOT NULL, version_id TEXT NOT NULL,
    size INTEGER NOT NULL, etag TEXT NOT NULL, last_modified REAL NOT NULL, owner_id TEXT NOT NULL,
    storage_class TEXT NOT NULL, delete_marker INTEGER NOT NULL DEFAULT 0, headers TEXT NOT NULL,
    acl TEXT NOT NULL, blob_id TEXT, manifest TEXT, checksums TEXT, inline BLOB,
    PRIMARY KEY (bucket_id, key)) WITHOUT ROWID;
CREATE TABLE object_versions (bucket_id INTEGER NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL,
    version_id TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, last_modified REAL NOT NULL,
    owner_id TEXT NOT NULL, storage_class TEXT NOT NULL, delete_marker INTEGER NOT NULL DEFAULT 0,
    headers TEXT NOT NULL, acl TEXT NOT NULL, blob_id TEXT, manifest TEXT, checksums TEXT, inline BLOB,
    PRIMARY KEY (bucket_id, key, seq)) WITHOUT ROWID;
"""


def test_rows_with_bodies_inside_are_migrated(tmp_path: Path) -> None:
    path = str(tmp_path / "meta.sqlite3")
    old = sqlite3.connect(path)
    old.executescript(_OLD_OBJECTS)
    for i in range(1200):  # more than one batch
        old.execute("INSERT INTO objects VALUES (1, ?, 'null', 3, '\"e\"', 1.0, 'o', 'STANDARD', 0, '{}', '{}', "
                    "NULL, NULL, NULL, ?)", (f"k{i:04d}", f"b{i}".encode()))
    old.execute("INSERT INTO objects VALUES (1, 'file', 'null', 3, '\"e\"', 1.0, 'o', 'STANDARD', 0, '{}', '{}', "
                "'blob', NULL, NULL, NULL)")
    old.execute("INSERT INTO object_versions VALUES (1, 'k0000', 1, 'v1', 3, '\"e\"', 1.0, 'o', 'STANDARD', 0, "
                "'{}', '{}', NULL, NULL, NULL, X'6f6c64')")
    old.commit()
    old.close()

    async def main() -> None:
        meta = SqliteMeta(path)
        try:
            assert _consistent(meta) == 1201
            got = await meta.get_object(1, "k0007")
            assert got is not None and got.inline == b"b7"
            got = await meta.get_object(1, "file")
            assert got is not None and got.inline is None and got.blob_id == "blob"
            got = await meta.get_object_version(1, "k0000", "v1")
            assert got is not None and got.inline == b"old"
            for table in ("objects", "object_versions"):
                assert "inline" not in {r[1] for r in meta._conn.execute(f"PRAGMA table_info({table})")}
        finally:
            await meta.close()
        await SqliteMeta(path).close()  # opening again finds nothing to migrate

    asyncio.run(main())
