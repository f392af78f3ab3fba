"""How versions of a key move inside a metadata transaction: install a new
current version, demote the old one (versioning), drop what a replaced or
deleted version referenced.  Functions of an open SQLite connection, called
from the committer thread's transactions (pails.storage.sqlite.committer)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pails.errors import S3Error
from pails.storage.meta import new_version_id
from pails.storage.records import ObjectVersion

OBJECT_FIELDS = ("bucket_id, key, version_id, size, etag, last_modified, owner_id, storage_class, "
                 "delete_marker, headers, acl, blob_id, manifest, checksums")
# A version as read: its fields, then its small body (from inline_data).
OBJECT_COLUMNS = f"{OBJECT_FIELDS}, (SELECT data FROM inline_data WHERE id=inline_id)"
# An UPSERT, not INSERT OR REPLACE: the replaced row's usage must leave
# bucket_usage (the implicit delete of REPLACE fires no trigger).
_INSERT_OBJECT = (f"INSERT INTO objects ({OBJECT_FIELDS}, inline_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                  "ON CONFLICT (bucket_id, key) DO UPDATE SET "
                  + ", ".join(f"{c} = excluded.{c}" for c in (*OBJECT_FIELDS.split(", ")[2:], "inline_id")))
# Moved as they are between objects and object_versions.
VERSION_COLUMNS = ("version_id, size, etag, last_modified, owner_id, storage_class, delete_marker, headers, acl, "
                   "blob_id, manifest, checksums, inline_id")
# What a write needs of the version it replaces (2, 3 and 7 are what
# collect takes when that version goes).
OLD_COLUMNS = "etag, delete_marker, blob_id, manifest, version_id, last_modified, size, inline_id"


def insert_object(c: sqlite3.Connection, v: ObjectVersion) -> None:
    """Write ``v`` as the current version of its key (replacing the row there:
    the caller has dealt with what it referenced), its small body first."""
    inline_id = None
    if v.inline is not None:
        inline_id = c.execute("INSERT INTO inline_data (data) VALUES (?)", (v.inline,)).lastrowid
    c.execute(_INSERT_OBJECT, (v.bucket_id, v.key, v.version_id, v.size, v.etag, v.last_modified, v.owner_id,
                               v.storage_class, int(v.delete_marker), v.headers, v.acl, v.blob_id, v.manifest,
                               v.checksums, inline_id))


def versioning_state(c: sqlite3.Connection, bucket_id: int) -> str | None:
    r = c.execute("SELECT versioning FROM buckets WHERE id=?", (bucket_id,)).fetchone()
    return r[0] if r else None


def current_row(c: sqlite3.Connection, bucket_id: int, key: str) -> tuple[Any, ...] | None:
    """The current version's ``OLD_COLUMNS``, or None."""
    row: tuple[Any, ...] | None = c.execute(f"SELECT {OLD_COLUMNS} FROM objects WHERE bucket_id=? AND key=?",
                                            (bucket_id, key)).fetchone()
    return row


def demote(c: sqlite3.Connection, bucket_id: int, key: str) -> None:
    """Move the current version to object_versions, as the newest noncurrent one."""
    c.execute(f"INSERT INTO object_versions (bucket_id, key, seq, {VERSION_COLUMNS}) "
              f"SELECT bucket_id, key, (SELECT COALESCE(MAX(seq), 0) + 1 FROM object_versions "
              f"WHERE bucket_id=? AND key=?), {VERSION_COLUMNS} FROM objects WHERE bucket_id=? AND key=?",
              (bucket_id, key, bucket_id, key))


def drop_noncurrent_null(c: sqlite3.Connection, bucket_id: int, key: str) -> None:
    r = c.execute("SELECT seq, blob_id, manifest, inline_id FROM object_versions WHERE bucket_id=? AND key=? "
                  "AND version_id='null'", (bucket_id, key)).fetchone()
    if r is not None:
        collect(c, r[1], r[2], r[3])
        c.execute("DELETE FROM object_versions WHERE bucket_id=? AND key=? AND seq=?", (bucket_id, key, r[0]))


def install(c: sqlite3.Connection, new: ObjectVersion, old: tuple[Any, ...] | None) -> str:
    """Make ``new`` the current version of its key, by the bucket's
    versioning state (read in this commit); returns its version id."""
    state = versioning_state(c, new.bucket_id)
    if state == "Enabled":
        new.version_id = new_version_id()
        if old is not None:
            if old[4] == new.version_id:  # pragma: no cover - 72 random bits
                raise S3Error("InternalError")
            demote(c, new.bucket_id, new.key)
    elif state == "Suspended":
        new.version_id = "null"
        if old is not None:
            if old[4] == "null":
                collect(c, old[2], old[3], old[7])
            else:
                demote(c, new.bucket_id, new.key)
        drop_noncurrent_null(c, new.bucket_id, new.key)
    else:
        new.version_id = "null"
        if old is not None:
            collect(c, old[2], old[3], old[7])
    insert_object(c, new)
    return new.version_id


def collect(c: sqlite3.Connection, blob_id: str | None, manifest: str | None, inline_id: int | None) -> None:
    """A version is going: drop its small body and hand its data files to
    collection, in the same commit."""
    if inline_id is not None:
        c.execute("DELETE FROM inline_data WHERE id=?", (inline_id,))
    if blob_id:
        c.execute("INSERT OR IGNORE INTO blob_garbage VALUES (?)", (blob_id,))
    elif manifest:
        c.executemany("INSERT OR IGNORE INTO blob_garbage VALUES (?)", [(p[0],) for p in json.loads(manifest)])
