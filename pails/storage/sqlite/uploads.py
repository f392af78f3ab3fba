"""Multipart uploads and data-file bookkeeping (garbage) of the SQLite store:
the part of ``SqliteMeta`` that is about files rather than keys (as
``postgres.uploads`` is for the PostgreSQL store)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from pails.errors import S3Error
from pails.protocol.keys import prefix_successor
from pails.storage.conditions import check_condition
from pails.storage.meta import MultipartUpload, UploadedPart, WriteCondition
from pails.storage.records import ObjectVersion
from pails.storage.sqlite.versions import current_row, install

_UPLOAD_COLUMNS = "upload_id, bucket_id, key, initiated, owner_id, storage_class, headers, acl, props"
_PART_COLUMNS = "upload_id, part_number, size, etag, last_modified, blob_id, checksums"
# An UPSERT (a part number sent again replaces the part): bucket_usage's triggers see the change.
_PUT_PART = (f"INSERT INTO multipart_parts ({_PART_COLUMNS}, bucket_id) VALUES (?,?,?,?,?,?,?,?) "
             "ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, etag = excluded.etag, "
             "last_modified = excluded.last_modified, blob_id = excluded.blob_id, checksums = excluded.checksums")


class SqliteUploads:
    _conn: sqlite3.Connection  # SqliteMeta's: this thread's connection
    _write: Callable[..., Any]  # SqliteMeta's: a write through the group committer

    # --- multipart uploads -----------------------------------------------
    async def create_upload(self, upload: MultipartUpload) -> None:
        def tx(c: sqlite3.Connection) -> None:
            c.execute(f"INSERT INTO multipart_uploads ({_UPLOAD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                      (upload.upload_id, upload.bucket_id, upload.key, upload.initiated, upload.owner_id,
                       upload.storage_class, upload.headers, upload.acl, upload.props))
        await self._write(tx)

    async def get_upload(self, upload_id: str) -> MultipartUpload | None:
        r = self._conn.execute(f"SELECT {_UPLOAD_COLUMNS} FROM multipart_uploads WHERE upload_id=?",
                               (upload_id,)).fetchone()
        return MultipartUpload(*r) if r else None

    async def put_part(self, part: UploadedPart) -> None:
        def tx(c: sqlite3.Connection) -> None:
            upload = c.execute("SELECT bucket_id FROM multipart_uploads WHERE upload_id=?",
                               (part.upload_id,)).fetchone()
            if upload is None:
                raise S3Error("NoSuchUpload", UploadId=part.upload_id)
            old = c.execute("SELECT blob_id FROM multipart_parts WHERE upload_id=? AND part_number=?",
                            (part.upload_id, part.part_number)).fetchone()
            if old is not None:
                c.execute("INSERT OR IGNORE INTO blob_garbage VALUES (?)", (old[0],))
            c.execute(_PUT_PART, (part.upload_id, part.part_number, part.size, part.etag, part.last_modified,
                                  part.blob_id, part.checksums, upload[0]))
        await self._write(tx)

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[UploadedPart]:
        rows = self._conn.execute(f"SELECT {_PART_COLUMNS} FROM multipart_parts WHERE upload_id=? AND "
                                  "part_number>? ORDER BY part_number LIMIT ?", (upload_id, after, limit))
        return [UploadedPart(*r) for r in rows]

    async def complete_upload(self, upload_id: str, version: ObjectVersion,
                              condition: WriteCondition | None = None, if_none_match: str | None = None) -> str:
        used = [p[0] for p in json.loads(version.manifest or "[]")]

        def tx(c: sqlite3.Connection) -> str:
            if c.execute("SELECT 1 FROM multipart_uploads WHERE upload_id=?", (upload_id,)).fetchone() is None:
                raise S3Error("NoSuchUpload", UploadId=upload_id)
            parts = {r[0] for r in c.execute("SELECT blob_id FROM multipart_parts WHERE upload_id=?",
                                             (upload_id,))}
            if not parts.issuperset(used):  # a part was replaced since the caller read it
                raise S3Error("InvalidPart")
            old = current_row(c, version.bucket_id, version.key)
            if condition is not None:
                check_condition(condition, old)
            if if_none_match is not None and old is not None and not old[1]:
                if old[0].strip('"') in {e.strip().strip('"') for e in if_none_match.split(",")}:
                    raise S3Error("PreconditionFailed", Condition="If-None-Match")
            c.executemany("INSERT OR IGNORE INTO blob_garbage VALUES (?)", [(b,) for b in parts.difference(used)])
            c.execute("DELETE FROM multipart_parts WHERE upload_id=?", (upload_id,))
            c.execute("DELETE FROM multipart_uploads WHERE upload_id=?", (upload_id,))
            return install(c, version, old)
        return await self._write(tx)

    async def abort_upload(self, upload_id: str) -> bool:
        def tx(c: sqlite3.Connection) -> bool:
            if c.execute("DELETE FROM multipart_uploads WHERE upload_id=?", (upload_id,)).rowcount == 0:
                return False
            c.execute("INSERT OR IGNORE INTO blob_garbage SELECT blob_id FROM multipart_parts WHERE upload_id=?",
                      (upload_id,))
            c.execute("DELETE FROM multipart_parts WHERE upload_id=?", (upload_id,))
            return True
        return await self._write(tx, frees=True)

    async def list_uploads(self, bucket_id: int, prefix: str, after_key: str, after_upload_id: str | None,
                     limit: int) -> list[MultipartUpload]:
        where = ["bucket_id=?"]
        args: list[Any] = [bucket_id]
        if after_upload_id is None:
            where.append("key>?")
            args.append(after_key)
        else:
            where.append("(key>? OR (key=? AND upload_id>?))")
            args += [after_key, after_key, after_upload_id]
        if prefix:
            where.append("key>=?")
            args.append(prefix)
            end = prefix_successor(prefix)
            if end is not None:
                where.append("key<?")
                args.append(end)
        args.append(limit)
        rows = self._conn.execute(f"SELECT {_UPLOAD_COLUMNS} FROM multipart_uploads WHERE {' AND '.join(where)} "
                                  "ORDER BY key, upload_id LIMIT ?", args)
        return [MultipartUpload(*r) for r in rows]

    # --- data-file collection ---------------------------------------------
    async def pending_garbage(self, limit: int) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT blob_id FROM blob_garbage LIMIT ?", (limit,))]

    async def forget_garbage(self, blob_ids: list[str]) -> None:
        def tx(c: sqlite3.Connection) -> None:
            c.executemany("DELETE FROM blob_garbage WHERE blob_id=?", [(b,) for b in blob_ids])
        await self._write(tx, frees=True)

    async def blob_is_referenced(self, blob_id: str) -> bool:
        c = self._conn
        if c.execute("SELECT 1 FROM objects WHERE blob_id=? LIMIT 1", (blob_id,)).fetchone():
            return True
        if c.execute("SELECT 1 FROM multipart_parts WHERE blob_id=? LIMIT 1", (blob_id,)).fetchone():
            return True
        if c.execute("SELECT 1 FROM object_versions WHERE blob_id=? LIMIT 1", (blob_id,)).fetchone():
            return True
        # Stitched multipart objects reference their parts from a JSON manifest.
        pattern = f'%"{blob_id}"%'
        if c.execute("SELECT 1 FROM objects WHERE manifest LIKE ? LIMIT 1", (pattern,)).fetchone():
            return True
        return c.execute("SELECT 1 FROM object_versions WHERE manifest LIKE ? LIMIT 1",
                         (pattern,)).fetchone() is not None
