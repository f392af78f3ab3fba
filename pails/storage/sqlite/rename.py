"""RenameObject in the SQLite store: one transaction of the group committer
(which runs every write of the store in turn, so both keys are locked)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from pails.errors import S3Error
from pails.storage.conditions import RENAME_VERSIONED
from pails.storage.records import ObjectVersion, object_from_row
from pails.storage.sqlite.versions import OBJECT_COLUMNS, collect, versioning_state


def _current(c: sqlite3.Connection, bucket_id: int, key: str) -> tuple[ObjectVersion, Any] | None:
    """The key's current version and its inline_id, or None (a delete marker counts as none)."""
    r = c.execute(f"SELECT {OBJECT_COLUMNS}, inline_id FROM objects WHERE bucket_id=? AND key=?",
                  (bucket_id, key)).fetchone()
    if r is None:
        return None
    return object_from_row(r), r[15]


class SqliteRename:
    _write: Callable[..., Any]  # SqliteMeta's: a write through the group committer

    async def rename_object(self, bucket_id: int, source: str, dest: str,
                            check: Callable[[ObjectVersion, ObjectVersion | None], None]) -> ObjectVersion:
        def tx(c: sqlite3.Connection) -> ObjectVersion:
            if versioning_state(c, bucket_id) is not None:
                raise S3Error("NotImplemented", RENAME_VERSIONED)
            src = _current(c, bucket_id, source)
            if src is None or src[0].delete_marker:
                raise S3Error("NoSuchKey", Key=source)
            dst = _current(c, bucket_id, dest)
            check(src[0], dst[0] if dst is not None else None)
            if source == dest:
                return src[0]
            if dst is not None:
                old = dst[0]
                collect(c, old.blob_id, old.manifest, dst[1])
                c.execute("DELETE FROM objects WHERE bucket_id=? AND key=?", (bucket_id, dest))
            c.execute("UPDATE objects SET key=? WHERE bucket_id=? AND key=?", (dest, bucket_id, source))
            src[0].key = dest
            return src[0]
        return await self._write(tx, frees=True)
