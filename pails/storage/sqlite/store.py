"""SQLite (WAL) metadata store with group commit.

Reads run on a per-thread connection directly in the caller's thread.  Writes
are queued to one committer thread per process (``sqlite.committer``), which
runs every queued write in one transaction (each in its own savepoint, so one
failing write does not undo its neighbours) and commits once: with
``synchronous=FULL`` that is one WAL fsync acknowledging the whole group.  No
write is acknowledged before its commit returns.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, TypeVar

from pails.errors import S3Error
from pails.storage import object_lock
from pails.storage.conditions import check_condition, check_delete, check_unchanged
from pails.storage.epoch import SharedCounter
from pails.storage.meta import (
    BucketChange,
    DeleteCondition,
    Deleted,
    MetaStore,
    Unchanged,
    WriteCondition,
    key_range,
    merge_versions,
    quota_props,
)
from pails.storage.records import (
    Bucket,
    BucketQuota,
    BucketUsage,
    ListingRow,
    ObjectPage,
    ObjectVersion,
    object_from_row,
)
from pails.storage.sqlite import listing
from pails.storage.sqlite.committer import SHRINK, Job, SqliteCommitter, database_full
from pails.storage.sqlite.events import SqliteEvents
from pails.storage.sqlite.iam import SqliteIam
from pails.storage.sqlite.jobs import SqliteJobs
from pails.storage.sqlite.rename import SqliteRename
from pails.storage.sqlite.schema import migrate
from pails.storage.sqlite.uploads import SqliteUploads
from pails.storage.sqlite.versions import (
    OBJECT_COLUMNS,
    OLD_COLUMNS,
    VERSION_COLUMNS,
    collect,
    current_row,
    insert_object,
    install,
    versioning_state,
)

T = TypeVar("T")


# Listing rows are built straight from the SELECT (ListingRow._make): current
# versions add is_latest=1, seq=0; noncurrent ones is_latest=0 and their seq.
_LISTING_COLUMNS = "key, size, etag, last_modified, owner_id, storage_class, version_id, delete_marker, 1, 0"
_NONCURRENT_COLUMNS = "key, size, etag, last_modified, owner_id, storage_class, version_id, delete_marker, 0, seq"
_listing_row = ListingRow._make  # the SELECT yields the fields in order
_noncurrent_row = ListingRow._make


_BUCKET_COLUMNS = "id, name, owner_id, created, location, acl, versioning, props"
_USAGE_COLUMNS = ("objects, bytes, noncurrent_objects, noncurrent_bytes, delete_markers, uploads, parts, "
                  "part_bytes")


_BUCKET_CACHE_SIZE = 4096


class SqliteMeta(SqliteCommitter, SqliteIam, SqliteUploads, SqliteJobs, SqliteRename, SqliteEvents, MetaStore):
    commits_in_data_dir = True

    def __init__(self, path: str, *, fsync: bool = True, make_room: Callable[[], bool] | None = None) -> None:
        self.path = path
        self.fsync = fsync
        self._leases: dict[str, int] = {}  # lease name: the locked file's descriptor (sqlite.jobs)
        # Frees some disk space (the ballast, pails.storage.space) when a
        # commit that frees space finds the disk full.  True: try again.
        self._make_room = make_room
        self._local = threading.local()
        self._bucket_epoch = SharedCounter(path + "-buckets.epoch")
        self._credentials_epoch = SharedCounter(path + "-credentials.epoch")  # sqlite.iam
        self._buckets: dict[str, tuple[int, Bucket | None]] = {}  # name -> (epoch when read, record)
        self._page_size = 4096
        try:
            self._prepare()
        except sqlite3.Error as exc:
            # A full disk can keep SQLite from even opening its WAL: the room held for deletes serves here too.
            if not (database_full(exc) and make_room is not None and make_room()):
                raise
            self._prepare()
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._committer: threading.Thread | None = None
        self._committer_lock = threading.Lock()
        # bucket id -> (stored bytes, stored objects) before the running write (the committer's: _watch_quotas)
        self._quota_bases: dict[int, tuple[int, int]] = {}

    def _prepare(self) -> None:
        conn = self._connect()
        migrate(conn, self.path)
        self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])

    # --- connections -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'OFF'}")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA cache_size=-16384")  # 16 MiB per connection: the OS page cache holds the rest
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def release_memory(self) -> None:
        # Each connection keeps its own page cache (up to cache_size): empty
        # this thread's now and the committer's between two transactions.
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.execute("PRAGMA shrink_memory")
        if self._committer is not None:
            self._queue.put(SHRINK)

    async def open(self) -> None:
        pass  # the schema was created or migrated when the file was opened

    async def ping(self) -> None:
        self._conn.execute("SELECT 1 FROM buckets LIMIT 1").fetchone()

    def reusable_bytes(self) -> int:
        return int(self._conn.execute("PRAGMA freelist_count").fetchone()[0]) * self._page_size

    async def close(self) -> None:
        if self._committer is not None:
            self._queue.put(None)
            self._committer.join()
            self._committer = None
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        self._bucket_epoch.close()
        self._credentials_epoch.close()
        self.release_leases()

    # --- buckets -----------------------------------------------------------
    async def get_bucket(self, name: str) -> Bucket | None:
        epoch = self._bucket_epoch.value()
        hit = self._buckets.get(name)
        if hit is not None and hit[0] == epoch:
            return hit[1]
        r = self._conn.execute(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name=?", (name,)).fetchone()
        bucket = Bucket(*r) if r else None
        if len(self._buckets) >= _BUCKET_CACHE_SIZE:
            self._buckets.clear()
        self._buckets[name] = (epoch, bucket)
        return bucket

    async def _write_bucket(self, fn: Callable[[sqlite3.Connection], T], frees: bool = False) -> T:
        """A write that changes bucket records: cached copies in every worker
        are dropped once it has committed (see pails.storage.epoch)."""
        try:
            return await self._write(fn, frees)
        finally:
            self._bucket_epoch.bump()

    async def list_buckets(self, owner_id: str) -> list[Bucket]:
        rows = self._conn.execute(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE owner_id=? ORDER BY name",
                                  (owner_id,))
        return [Bucket(*r) for r in rows]

    async def create_bucket(self, bucket: Bucket) -> tuple[bool, Bucket]:
        def tx(c: sqlite3.Connection) -> tuple[bool, Bucket]:
            r = c.execute(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name=?", (bucket.name,)).fetchone()
            if r:
                return False, Bucket(*r)
            cur = c.execute("INSERT INTO buckets (name, owner_id, created, location, acl, versioning, props) "
                            "VALUES (?,?,?,?,?,?,?)",
                            (bucket.name, bucket.owner_id, bucket.created, bucket.location, bucket.acl,
                             bucket.versioning, bucket.props))
            return True, dataclasses.replace(bucket, id=int(cur.lastrowid or 0))
        return await self._write_bucket(tx)

    async def delete_bucket(self, bucket_id: int) -> None:
        def tx(c: sqlite3.Connection) -> None:
            if (c.execute("SELECT 1 FROM objects WHERE bucket_id=? LIMIT 1", (bucket_id,)).fetchone()
                    or c.execute("SELECT 1 FROM object_versions WHERE bucket_id=? LIMIT 1", (bucket_id,)).fetchone()):
                raise S3Error("BucketNotEmpty")
            for (upload_id,) in c.execute("SELECT upload_id FROM multipart_uploads WHERE bucket_id=?",
                                          (bucket_id,)).fetchall():
                c.execute("INSERT OR IGNORE INTO blob_garbage SELECT blob_id FROM multipart_parts WHERE upload_id=?",
                          (upload_id,))
                c.execute("DELETE FROM multipart_parts WHERE upload_id=?", (upload_id,))
            c.execute("DELETE FROM multipart_uploads WHERE bucket_id=?", (bucket_id,))
            c.execute("DELETE FROM buckets WHERE id=?", (bucket_id,))
        await self._write_bucket(tx, frees=True)

    async def update_bucket(self, bucket_id: int, *, acl: str | None = None, props: str | None = None,
                            versioning: str | None = None) -> None:
        def tx(c: sqlite3.Connection) -> None:
            if acl is not None:
                c.execute("UPDATE buckets SET acl=? WHERE id=?", (acl, bucket_id))
            if props is not None:
                c.execute("UPDATE buckets SET props=? WHERE id=?", (props, bucket_id))
            if versioning is not None:
                c.execute("UPDATE buckets SET versioning=? WHERE id=?", (versioning, bucket_id))
        await self._write_bucket(tx)

    async def change_bucket(self, bucket_id: int, change: BucketChange) -> None:
        def tx(c: sqlite3.Connection) -> None:
            r = c.execute("SELECT versioning, props FROM buckets WHERE id=?", (bucket_id,)).fetchone()
            if r is None:
                raise S3Error("NoSuchBucket")
            versioning, props = change(r[0], json.loads(r[1] or "{}"))
            if versioning is not None:
                c.execute("UPDATE buckets SET versioning=? WHERE id=?", (versioning, bucket_id))
            if props is not None:
                c.execute("UPDATE buckets SET props=? WHERE id=?",
                          (json.dumps(props, separators=(",", ":")), bucket_id))
        await self._write_bucket(tx)

    async def bucket_usage(self, bucket_id: int) -> BucketUsage:
        r = self._conn.execute(f"SELECT {_USAGE_COLUMNS} FROM bucket_usage WHERE bucket_id=?",
                               (bucket_id,)).fetchone()
        return BucketUsage(*r) if r else BucketUsage()

    async def set_bucket_quota(self, bucket_id: int, quota: BucketQuota | None) -> None:
        def tx(c: sqlite3.Connection) -> None:
            r = c.execute("SELECT props FROM buckets WHERE id=?", (bucket_id,)).fetchone()
            if r is None:
                raise S3Error("NoSuchBucket")
            c.execute("UPDATE buckets SET props=? WHERE id=?", (quota_props(r[0], quota), bucket_id))
            c.execute("UPDATE bucket_usage SET max_bytes=?, max_objects=? WHERE bucket_id=?",
                      (quota and quota.max_bytes, quota and quota.max_objects, bucket_id))
        await self._write_bucket(tx)

    async def bucket_is_empty(self, bucket_id: int) -> bool:
        return self._conn.execute("SELECT 1 FROM objects WHERE bucket_id=? LIMIT 1", (bucket_id,)).fetchone() is None

    # --- objects -----------------------------------------------------------
    async def get_object(self, bucket_id: int, key: str) -> ObjectVersion | None:
        r = self._conn.execute(f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket_id=? AND key=?",
                               (bucket_id, key)).fetchone()
        return object_from_row(r) if r else None

    async def put_object(self, version: ObjectVersion, condition: WriteCondition | None = None) -> str:
        def tx(c: sqlite3.Connection) -> str:
            old = current_row(c, version.bucket_id, version.key)
            if condition is not None:
                check_condition(condition, old)
            return install(c, version, old)
        return await self._write(tx)

    async def append_object(self, bucket_id: int, key: str, offset: int,
                            build: Callable[[ObjectVersion | None], ObjectVersion]) -> ObjectVersion:
        def tx(c: sqlite3.Connection) -> ObjectVersion:
            if versioning_state(c, bucket_id) is not None:
                raise S3Error("InvalidRequest", "Appends (x-amz-write-offset-bytes) are not supported in buckets "
                                                "with versioning enabled or suspended.")
            r = c.execute(f"SELECT {OBJECT_COLUMNS}, inline_id FROM objects WHERE bucket_id=? AND key=?",
                          (bucket_id, key)).fetchone()
            old = object_from_row(r) if r else None
            current = old if old is not None and not old.delete_marker else None
            size = current.size if current is not None else 0
            if offset != size:
                raise S3Error("InvalidWriteOffset", ActualObjectSize=str(size), WriteOffset=str(offset))
            new = build(current)
            if old is not None:
                keep = set(new.blob_ids())
                c.executemany("INSERT OR IGNORE INTO blob_garbage VALUES (?)",
                              [(b,) for b in old.blob_ids() if b not in keep])
                if r[15] is not None:
                    c.execute("DELETE FROM inline_data WHERE id=?", (r[15],))
            insert_object(c, new)
            return new
        return await self._write(tx)

    async def delete_object(self, bucket_id: int, key: str, owner_id: str = "",
                            condition: DeleteCondition | None = None) -> Deleted:
        def tx(c: sqlite3.Connection) -> Deleted:
            state = versioning_state(c, bucket_id)
            old = current_row(c, bucket_id, key)
            if condition is not None and not check_delete(condition, old):
                return Deleted(None, False, state is not None)
            if condition is not None and condition.unchanged is not None and condition.unchanged.tags is not None:
                check_unchanged(condition.unchanged, c.execute(
                    "SELECT headers FROM objects WHERE bucket_id=? AND key=?", (bucket_id, key)).fetchone()[0])
            if state is None:
                if old is None:
                    return Deleted(None, False, False)
                collect(c, old[2], old[3], old[7])
                c.execute("DELETE FROM objects WHERE bucket_id=? AND key=?", (bucket_id, key))
                return Deleted("null", bool(old[1]), False)
            marker = ObjectVersion(
                bucket_id=bucket_id, key=key, version_id="null", size=0, etag="", last_modified=time.time(),
                headers="{}", acl="{}", owner_id=owner_id, storage_class="STANDARD", inline=None, blob_id=None,
                manifest=None, checksums=None, delete_marker=True)
            return Deleted(install(c, marker, old), True, True)
        return await self._write(tx, frees=True)

    async def delete_version(self, bucket_id: int, key: str, version_id: str,
                             condition: DeleteCondition | None = None, bypass_governance: bool = False) -> Deleted:
        def tx(c: sqlite3.Connection) -> Deleted:
            versioned = versioning_state(c, bucket_id) is not None
            old = current_row(c, bucket_id, key)
            if old is not None and old[4] == version_id:
                if condition is not None:
                    check_delete(condition, old, by_version=True)
                headers = c.execute("SELECT headers FROM objects WHERE bucket_id=? AND key=?",
                                    (bucket_id, key)).fetchone()[0]
                if condition is not None and condition.unchanged is not None:
                    alone = c.execute("SELECT 1 FROM object_versions WHERE bucket_id=? AND key=? LIMIT 1",
                                      (bucket_id, key)).fetchone() is None
                    check_unchanged(condition.unchanged, headers, alone=alone)
                object_lock.check_delete(headers, time.time(), bypass_governance)
                collect(c, old[2], old[3], old[7])
                c.execute("DELETE FROM objects WHERE bucket_id=? AND key=?", (bucket_id, key))
                newest = c.execute("SELECT seq FROM object_versions WHERE bucket_id=? AND key=? "
                                   "ORDER BY seq DESC LIMIT 1", (bucket_id, key)).fetchone()
                if newest is not None:
                    c.execute(f"INSERT INTO objects (bucket_id, key, {VERSION_COLUMNS}) SELECT bucket_id, key, "
                              f"{VERSION_COLUMNS} FROM object_versions WHERE bucket_id=? AND key=? AND seq=?",
                              (bucket_id, key, newest[0]))
                    c.execute("DELETE FROM object_versions WHERE bucket_id=? AND key=? AND seq=?",
                              (bucket_id, key, newest[0]))
                return Deleted(version_id, bool(old[1]), versioned)
            r = c.execute(f"SELECT {OLD_COLUMNS}, seq, headers FROM object_versions WHERE bucket_id=? AND key=? "
                          "AND version_id=?", (bucket_id, key, version_id)).fetchone()
            if r is None:
                return Deleted(None, False, versioned)
            if condition is not None:
                check_delete(condition, r, by_version=True, current=False)
                if condition.unchanged is not None:
                    self._check_noncurrent(c, condition.unchanged, bucket_id, key, r[8], r[9], old)
            object_lock.check_delete(r[9], time.time(), bypass_governance)
            collect(c, r[2], r[3], r[7])
            c.execute("DELETE FROM object_versions WHERE bucket_id=? AND key=? AND seq=?", (bucket_id, key, r[8]))
            return Deleted(version_id, bool(r[1]), versioned)
        return await self._write(tx, frees=True)

    @staticmethod
    def _check_noncurrent(c: sqlite3.Connection, u: Unchanged, bucket_id: int, key: str, seq: int, headers: str,
                          current: tuple[Any, ...] | None) -> None:
        """A lifecycle decision on the noncurrent version ``seq``, checked in the commit."""
        above = c.execute("SELECT version_id FROM object_versions WHERE bucket_id=? AND key=? AND seq>? "
                          "ORDER BY seq LIMIT 1", (bucket_id, key, seq)).fetchone()
        newer = above[0] if above else (current[4] if current else None)
        count = 0
        if u.min_newer:
            count = c.execute("SELECT count(*) FROM object_versions WHERE bucket_id=? AND key=? AND seq>?",
                              (bucket_id, key, seq)).fetchone()[0]
        check_unchanged(u, headers, newer, count)

    async def get_object_version(self, bucket_id: int, key: str, version_id: str) -> ObjectVersion | None:
        c = self._conn
        r = c.execute(f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket_id=? AND key=? AND version_id=?",
                      (bucket_id, key, version_id)).fetchone()
        if r is None:
            r = c.execute(f"SELECT {OBJECT_COLUMNS} FROM object_versions WHERE bucket_id=? AND key=? "
                          "AND version_id=?", (bucket_id, key, version_id)).fetchone()
        return object_from_row(r) if r else None

    async def version_position(self, bucket_id: int, key: str, version_id: str) -> int | None:
        c = self._conn
        if c.execute("SELECT 1 FROM objects WHERE bucket_id=? AND key=? AND version_id=?",
                     (bucket_id, key, version_id)).fetchone():
            return 0
        r = c.execute("SELECT seq FROM object_versions WHERE bucket_id=? AND key=? AND version_id=?",
                      (bucket_id, key, version_id)).fetchone()
        return int(r[0]) if r else None

    async def list_versions(self, bucket_id: int, prefix: str, after: str, inclusive: bool, limit: int,
                      resume_key: str | None = None, resume_seq: int = 0) -> list[ListingRow]:
        c = self._conn
        out: list[ListingRow] = []
        if resume_key is not None:
            if resume_seq > 0:
                rows = c.execute(f"SELECT {_NONCURRENT_COLUMNS} FROM object_versions WHERE bucket_id=? AND key=? "
                                 "AND seq<? ORDER BY seq DESC LIMIT ?", (bucket_id, resume_key, resume_seq, limit))
            else:
                rows = c.execute(f"SELECT {_NONCURRENT_COLUMNS} FROM object_versions WHERE bucket_id=? AND key=? "
                                 "ORDER BY seq DESC LIMIT ?", (bucket_id, resume_key, limit))
            out.extend(_noncurrent_row(r) for r in rows)
            after, inclusive = resume_key, False
        n = limit - len(out)
        if n <= 0:
            return out
        op, after, end = key_range(prefix, after, inclusive)
        bound = "" if end is None else " AND key < ?"
        args: tuple[Any, ...] = (bucket_id, after, *(() if end is None else (end,)), n)
        current = [_listing_row(r) for r in c.execute(
            f"SELECT {_LISTING_COLUMNS} FROM objects WHERE bucket_id=? AND key {op} ?{bound} ORDER BY key LIMIT ?",
            args)]
        older = [_noncurrent_row(r) for r in c.execute(
            f"SELECT {_NONCURRENT_COLUMNS} FROM object_versions WHERE bucket_id=? AND key {op} ?{bound} "
            "ORDER BY key, seq DESC LIMIT ?", args)]
        return merge_versions(out, current, older, limit)

    async def set_object_acl(self, bucket_id: int, key: str, acl: str, version_id: str | None = None) -> bool:
        def tx(c: sqlite3.Connection) -> bool:
            if version_id is None:
                return c.execute("UPDATE objects SET acl=? WHERE bucket_id=? AND key=? AND delete_marker=0",
                                 (acl, bucket_id, key)).rowcount > 0
            for table in ("objects", "object_versions"):
                if c.execute(f"UPDATE {table} SET acl=? WHERE bucket_id=? AND key=? AND version_id=? "
                             "AND delete_marker=0", (acl, bucket_id, key, version_id)).rowcount > 0:
                    return True
            return False
        return await self._write(tx)

    async def update_headers(self, bucket_id: int, key: str, version_id: str | None,
                             update: Callable[[dict[str, str]], None]) -> bool:
        """Read-modify-write of one version's stored headers in one commit
        (``update`` changes them in place, or raises and nothing changes)."""
        def tx(c: sqlite3.Connection) -> bool:
            for table in ("objects", "object_versions"):
                if version_id is None:
                    if table != "objects":
                        return False
                    where, args = "bucket_id=? AND key=? AND delete_marker=0", (bucket_id, key)
                else:
                    where, args = ("bucket_id=? AND key=? AND version_id=? AND delete_marker=0",
                                   (bucket_id, key, version_id))
                r = c.execute(f"SELECT headers FROM {table} WHERE {where}", args).fetchone()
                if r is None:
                    continue
                headers = json.loads(r[0])
                update(headers)
                c.execute(f"UPDATE {table} SET headers=? WHERE {where}",
                          (json.dumps(headers, separators=(",", ":")), *args))
                return True
            return False
        return await self._write(tx)

    async def set_bucket_prop(self, bucket_id: int, name: str, value: object | None) -> None:
        def tx(c: sqlite3.Connection) -> None:
            r = c.execute("SELECT props FROM buckets WHERE id=?", (bucket_id,)).fetchone()
            if r is None:
                raise S3Error("NoSuchBucket")
            props = json.loads(r[0] or "{}")
            if value is None:
                props.pop(name, None)
            else:
                props[name] = value
            c.execute("UPDATE buckets SET props=? WHERE id=?", (json.dumps(props, separators=(",", ":")), bucket_id))
        await self._write_bucket(tx)

    async def list_objects(self, bucket_id: int, after: str, prefix: str, limit: int,
                           inclusive: bool = False) -> list[ListingRow]:
        return list(islice(self.scan_objects(bucket_id, after, prefix, inclusive), limit))

    def scan_objects(self, bucket_id: int, after: str, prefix: str, inclusive: bool = False) -> Iterator[ListingRow]:
        op, after, end = key_range(prefix, after, inclusive)
        if end is None:
            sql = (f"SELECT {_LISTING_COLUMNS} FROM objects WHERE bucket_id=? AND key {op} ? AND delete_marker=0 "
                   "ORDER BY key")
            args: tuple[Any, ...] = (bucket_id, after)
        else:
            sql = (f"SELECT {_LISTING_COLUMNS} FROM objects WHERE bucket_id=? AND key {op} ? AND key < ? "
                   "AND delete_marker=0 ORDER BY key")
            args = (bucket_id, after, end)
        # A cursor of its own: SQLite steps it only as far as it is read.
        return map(_listing_row, self._conn.cursor().execute(sql, args))

    async def list_page(self, bucket_id: int, prefix: str, delimiter: str, after: str, max_keys: int,
                  owners: bool = False) -> ObjectPage:
        # One statement per page (sqlite.listing); rare delimiters take the generic path.
        page = listing.list_page(self._conn, bucket_id, prefix, delimiter, after, max_keys, owners)
        if page is None:
            return await super().list_page(bucket_id, prefix, delimiter, after, max_keys, owners)
        return page
