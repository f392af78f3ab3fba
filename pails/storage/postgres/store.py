"""PostgreSQL metadata store: many stateless gateways share one database and
one data directory on a shared filesystem.

Reads use a small pool of autocommit connections; writes go through one
group committer per process (``postgres.conn``); conditional writes are decided
under row locks inside the committing transaction, so they are atomic across
gateways.  Bucket records are cached per process: every bucket change bumps
``buckets.epoch`` and sends ``NOTIFY pails_buckets`` with the bucket's name in
the same transaction, which drops the cached copy in every gateway within
milliseconds; a cached record is trusted for at most ``BUCKET_TTL`` seconds
and only while the notification connection is up, so a change is seen
everywhere within that bound even if a notification is lost.  The worker
processes of one gateway also share a change counter in memory (as with
SQLite, ``pails.storage.epoch``), bumped before a bucket change is
acknowledged: a client that changed a bucket through one gateway sees the
change in its next request there, whichever worker serves it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import psycopg

from pails.errors import S3Error
from pails.storage import object_lock
from pails.storage.conditions import check_condition, check_delete, check_unchanged
from pails.storage.epoch import SharedCounter
from pails.storage.meta import (
    BucketChange,
    BucketChanged,
    DeleteCondition,
    Deleted,
    MetaStore,
    StoreUnavailable,
    Unchanged,
    WriteCondition,
    key_range,
    merge_versions,
    quota_props,
)
from pails.storage.postgres import batch, listing
from pails.storage.postgres.batch import DeleteWrite, PutWrite
from pails.storage.postgres.conn import Committer, Listener, Readers, Tx, connect
from pails.storage.postgres.events import PgEvents
from pails.storage.postgres.fast import FastConnection
from pails.storage.postgres.iam import CREDENTIALS_CHANGED, PgIam
from pails.storage.postgres.jobs import PgJobs
from pails.storage.postgres.rename import PgRename
from pails.storage.postgres.schema import prepare_schema
from pails.storage.postgres.uploads import PgUploads
from pails.storage.postgres.versions import (
    OBJECT_FIELDS,
    OLD_COLUMNS,
    VERSION_COLUMNS,
    blob_ids,
    consume_intents,
    garbage,
    install,
    lock_current,
    put_current,
    versioning_state,
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

BUCKET_TTL = 1.0  # seconds: the longest a bucket change takes to reach every gateway
_CHANNEL = "pails_buckets"
_BUCKET_CACHE_SIZE = 4096

_BUCKET_COLUMNS = "id, name, owner_id, created, location, acl, versioning, props, epoch"
_LISTING_COLUMNS = "key, size, etag, last_modified, owner_id, storage_class, version_id, delete_marker, 1, 0"
_NONCURRENT_COLUMNS = "key, size, etag, last_modified, owner_id, storage_class, version_id, delete_marker, 0, seq"
_listing_row = ListingRow._make
_GET_OBJECT = (f"SELECT b.epoch, {', '.join('o.' + c.strip() for c in OBJECT_FIELDS.split(','))} FROM buckets b "
               "LEFT JOIN objects o ON o.bucket_id = b.id AND o.key = %s WHERE b.id = %s")
_GET_VERSION = (f"SELECT b.epoch, v.* FROM buckets b LEFT JOIN LATERAL ("
                f"SELECT {OBJECT_FIELDS} FROM objects WHERE bucket_id=%s AND key=%s AND version_id=%s UNION ALL "
                f"SELECT {OBJECT_FIELDS} FROM object_versions WHERE bucket_id=%s AND key=%s AND version_id=%s "
                "LIMIT 1) v ON true WHERE b.id = %s")
_BUCKET_USAGE = ("SELECT " + ", ".join(f"sum({c})::bigint" for c in ("objects", "bytes", "noncurrent_objects",
                  "noncurrent_bytes", "delete_markers", "uploads", "parts", "part_bytes"))
                 + " FROM bucket_usage WHERE bucket_id=%s")
_NOTIFY = "SELECT pg_notify('" + _CHANNEL + "', %s)"


async def _check_noncurrent(t: Tx, u: Unchanged, bucket_id: int, key: str, seq: int, headers: str,
                            current: tuple[Any, ...] | None) -> None:
    """A lifecycle decision on the noncurrent version ``seq``, checked under the key's row lock."""
    above = await t.one("SELECT version_id FROM object_versions WHERE bucket_id=%s AND key=%s AND seq>%s "
                        "ORDER BY seq LIMIT 1", (bucket_id, key, seq))
    newer = above[0] if above else (current[4] if current else None)
    count = 0
    if u.min_newer:
        row = await t.one("SELECT count(*) FROM object_versions WHERE bucket_id=%s AND key=%s AND seq>%s",
                          (bucket_id, key, seq))
        count = int(row[0]) if row else 0
    check_unchanged(u, headers, newer, count)


class PgMeta(PgIam, PgUploads, PgJobs, PgRename, PgEvents, MetaStore):
    shared_blobs = True

    def __init__(self, url: str, epoch_path: str, readers: int = 4, notify: bool = True) -> None:
        self.url = url
        self._lease_conn: psycopg.AsyncConnection[Any] | None = None  # holds the advisory locks (postgres.jobs)
        self._leases: set[str] = set()  # lease names held on it
        self._notify = notify  # False: a database without LISTEN/NOTIFY (bucket changes then wait out the TTL)
        self._readers = Readers(url, readers)
        self._committer = Committer(url, planner=batch.apply)
        # name -> (trusted until, this gateway's bucket epoch when read, record)
        self._buckets: dict[str, tuple[float, int, Bucket | None]] = {}
        self._cached_epochs: dict[int, tuple[str, int]] = {}  # bucket id -> (name, epoch of the cached record)
        self._epoch = SharedCounter(epoch_path)
        self._credentials_epoch = SharedCounter(epoch_path.replace("-buckets.epoch", "") + "-credentials.epoch")
        self._listener = Listener(url, _CHANNEL, self._bucket_changed, self._notices_missed)

    # --- set-up ------------------------------------------------------------
    async def open(self) -> None:
        """Create or migrate the schema (one transaction: a crash leaves the
        old or the new one); refuse a database this version cannot serve."""
        try:
            conn = await connect(self.url, False)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to the metadata database: {exc}") from None
        try:
            async with conn.transaction():
                await prepare_schema(conn)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot set up the metadata database: {exc}") from None
        finally:
            await conn.close()

    async def close(self) -> None:
        await self.release_leases()
        await self._committer.close()
        await self._listener.close()
        await self._readers.close()
        self._epoch.close()
        self._credentials_epoch.close()

    def release_memory(self) -> None:
        self._buckets.clear()

    async def ping(self) -> None:
        await self._readers.one("SELECT 1")

    # --- buckets -----------------------------------------------------------
    def _bucket_changed(self, name: str) -> None:
        if name == CREDENTIALS_CHANGED:  # keys or policies changed on some gateway (postgres.iam)
            self._credentials_epoch.bump()
            return
        self._buckets.pop(name, None)

    def _notices_missed(self) -> None:
        self._buckets.clear()
        self._credentials_epoch.bump()

    def _check_epoch(self, bucket_id: int, epoch: int | None) -> None:
        """A read of the database saw the bucket at ``epoch`` (None: gone):
        if the cached record the request was decided on is older, drop it
        and have the request run again on the new one."""
        cached = self._cached_epochs.get(bucket_id)
        if cached is not None and cached[1] != epoch:
            self._buckets.pop(cached[0], None)
            del self._cached_epochs[bucket_id]
            raise BucketChanged(cached[0])

    async def get_bucket(self, name: str) -> Bucket | None:
        now = time.monotonic()
        epoch = self._epoch.value()
        hit = self._buckets.get(name)
        if hit is not None and hit[0] > now and hit[1] == epoch and (self._listener.listening or not self._notify):
            return hit[2]
        if self._notify:
            self._listener.start()
        r = await self._readers.one(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name=%s", (name,))
        bucket = Bucket(*r) if r else None
        if len(self._buckets) >= _BUCKET_CACHE_SIZE:
            self._buckets.clear()
            self._cached_epochs.clear()
        self._buckets[name] = (now + BUCKET_TTL, epoch, bucket)
        if bucket is not None:
            self._cached_epochs[bucket.id] = (name, bucket.epoch)
        return bucket

    async def list_buckets(self, owner_id: str) -> list[Bucket]:
        rows = await self._readers.all(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE owner_id=%s ORDER BY name",
                                       (owner_id,))
        return [Bucket(*r) for r in rows]

    async def _bucket_write(self, fn: Callable[[Tx], Any], name_of: Callable[[Tx], Any]) -> Any:
        """A bucket change: the record's epoch is bumped and every gateway
        told, in the same transaction."""
        async def tx(t: Tx) -> Any:
            result = await fn(t)
            name = await name_of(t)
            if name is not None and self._notify:
                await t.write(_NOTIFY, (name,))
            return result
        try:
            return await self._committer.run(tx, solo=True)
        finally:
            self._epoch.bump()

    async def create_bucket(self, bucket: Bucket) -> tuple[bool, Bucket]:
        async def tx(t: Tx) -> tuple[bool, Bucket]:
            rows = await t.write_returning(
                "INSERT INTO buckets (name, owner_id, created, location, acl, versioning, props) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (name) DO NOTHING RETURNING id",
                (bucket.name, bucket.owner_id, bucket.created, bucket.location, bucket.acl, bucket.versioning,
                 bucket.props))
            if rows:
                return True, Bucket(rows[0][0], bucket.name, bucket.owner_id, bucket.created, bucket.location,
                                    bucket.acl, bucket.versioning, bucket.props, 0)
            r = await t.one(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name=%s", (bucket.name,))
            if r is None:  # deleted again meanwhile
                raise S3Error("OperationAborted")
            return False, Bucket(*r)

        async def name(_t: Tx) -> str:
            return bucket.name
        return await self._bucket_write(tx, name)  # type: ignore[no-any-return]

    async def _bucket_name(self, t: Tx, bucket_id: int) -> str | None:
        r = await t.one("SELECT name FROM buckets WHERE id=%s", (bucket_id,))
        return r[0] if r else None

    async def delete_bucket(self, bucket_id: int) -> None:
        name: list[str | None] = [None]

        async def tx(t: Tx) -> None:
            r = await t.one("SELECT name FROM buckets WHERE id=%s FOR UPDATE", (bucket_id,))
            if r is None:
                return
            name[0] = r[0]
            if (await t.one("SELECT 1 FROM objects WHERE bucket_id=%s LIMIT 1", (bucket_id,))
                    or await t.one("SELECT 1 FROM object_versions WHERE bucket_id=%s LIMIT 1", (bucket_id,))):
                raise S3Error("BucketNotEmpty")
            await t.write("INSERT INTO blob_garbage (blob_id) SELECT p.blob_id FROM multipart_parts p "
                          "JOIN multipart_uploads u USING (upload_id) WHERE u.bucket_id=%s ON CONFLICT DO NOTHING",
                          (bucket_id,))
            await t.write("DELETE FROM multipart_uploads WHERE bucket_id=%s", (bucket_id,))
            await t.write("DELETE FROM buckets WHERE id=%s", (bucket_id,))
            await t.write("DELETE FROM bucket_usage WHERE bucket_id=%s", (bucket_id,))
            await t.write("DELETE FROM bucket_quota WHERE bucket_id=%s", (bucket_id,))

        async def name_of(_t: Tx) -> str | None:
            return name[0]
        await self._bucket_write(tx, name_of)

    async def update_bucket(self, bucket_id: int, *, acl: str | None = None, props: str | None = None,
                            versioning: str | None = None) -> None:
        async def tx(t: Tx) -> None:
            await t.write("UPDATE buckets SET acl=COALESCE(%s, acl), props=COALESCE(%s, props), "
                          "versioning=COALESCE(%s, versioning), epoch=epoch+1 WHERE id=%s",
                          (acl, props, versioning, bucket_id))
        await self._bucket_write(tx, lambda t: self._bucket_name(t, bucket_id))

    async def set_bucket_prop(self, bucket_id: int, name: str, value: object | None) -> None:
        async def tx(t: Tx) -> None:
            r = await t.one("SELECT props FROM buckets WHERE id=%s FOR UPDATE", (bucket_id,))
            if r is None:
                raise S3Error("NoSuchBucket")
            props = json.loads(r[0] or "{}")
            if value is None:
                props.pop(name, None)
            else:
                props[name] = value
            await t.write("UPDATE buckets SET props=%s, epoch=epoch+1 WHERE id=%s",
                          (json.dumps(props, separators=(",", ":")), bucket_id))
        await self._bucket_write(tx, lambda t: self._bucket_name(t, bucket_id))

    async def change_bucket(self, bucket_id: int, change: BucketChange) -> None:
        async def tx(t: Tx) -> None:
            r = await t.one("SELECT versioning, props FROM buckets WHERE id=%s FOR UPDATE", (bucket_id,))
            if r is None:
                raise S3Error("NoSuchBucket")
            versioning, props = change(r[0], json.loads(r[1] or "{}"))
            await t.write("UPDATE buckets SET versioning=COALESCE(%s, versioning), props=COALESCE(%s, props), "
                          "epoch=epoch+1 WHERE id=%s",
                          (versioning, None if props is None else json.dumps(props, separators=(",", ":")),
                           bucket_id))
        await self._bucket_write(tx, lambda t: self._bucket_name(t, bucket_id))

    async def bucket_usage(self, bucket_id: int) -> BucketUsage:
        r = await self._readers.one(_BUCKET_USAGE, (bucket_id,))
        return BucketUsage(*(int(v) for v in r)) if r and r[0] is not None else BucketUsage()

    async def set_bucket_quota(self, bucket_id: int, quota: BucketQuota | None) -> None:
        async def tx(t: Tx) -> None:
            r = await t.one("SELECT props FROM buckets WHERE id=%s FOR UPDATE", (bucket_id,))
            if r is None:
                raise S3Error("NoSuchBucket")
            await t.write("UPDATE buckets SET props=%s, epoch=epoch+1 WHERE id=%s",
                          (quota_props(r[0], quota), bucket_id))
            if quota is None:
                await t.write("DELETE FROM bucket_quota WHERE bucket_id=%s", (bucket_id,))
            else:
                await t.write("INSERT INTO bucket_quota (bucket_id, max_bytes, max_objects) VALUES (%s, %s, %s) "
                              "ON CONFLICT (bucket_id) DO UPDATE SET max_bytes = excluded.max_bytes, "
                              "max_objects = excluded.max_objects", (bucket_id, quota.max_bytes, quota.max_objects))
        await self._bucket_write(tx, lambda t: self._bucket_name(t, bucket_id))

    async def bucket_is_empty(self, bucket_id: int) -> bool:
        return await self._readers.one("SELECT 1 FROM objects WHERE bucket_id=%s LIMIT 1", (bucket_id,)) is None

    # --- objects -----------------------------------------------------------
    async def get_object(self, bucket_id: int, key: str) -> ObjectVersion | None:
        # With the bucket's epoch, at no extra round trip: a request decided on
        # a bucket record that another gateway changed meanwhile runs again.
        r = await self._readers.one(_GET_OBJECT, (key, bucket_id))
        self._check_epoch(bucket_id, r[0] if r else None)
        return object_from_row(r[1:]) if r and r[1] is not None else None

    async def put_object(self, version: ObjectVersion, condition: WriteCondition | None = None) -> str:
        async def tx(t: Tx) -> str:
            while True:
                state, old = await lock_current(t, version.bucket_id, version.key)
                if condition is not None:
                    check_condition(condition, old)
                if not t.wrote:
                    await consume_intents(t, version.blob_ids())
                version_id = await install(t, version, old, state)
                if version_id is not None:
                    return version_id
        return await self._committer.run(  # type: ignore[no-any-return]
            tx, ("o", str(version.bucket_id), version.key), planned=PutWrite(version, condition))

    async def append_object(self, bucket_id: int, key: str, offset: int,
                            build: Callable[[ObjectVersion | None], ObjectVersion]) -> ObjectVersion:
        async def tx(t: Tx) -> ObjectVersion:
            if await versioning_state(t, bucket_id) is not None:
                raise S3Error("InvalidRequest", "Appends (x-amz-write-offset-bytes) are not supported in buckets "
                                                "with versioning enabled or suspended.")
            while True:
                r = await t.one(f"SELECT {OBJECT_FIELDS} FROM objects WHERE bucket_id=%s AND key=%s FOR UPDATE",
                                (bucket_id, key))
                old = object_from_row(r) if r else None
                current = old if old is not None and not old.delete_marker else None
                size = current.size if current is not None else 0
                if offset != size:
                    raise S3Error("InvalidWriteOffset", ActualObjectSize=str(size), WriteOffset=str(offset))
                new = build(current)
                kept = set(old.blob_ids()) if old is not None else set()
                if not t.wrote:
                    await consume_intents(t, [b for b in new.blob_ids() if b not in kept])
                if old is None:
                    if await put_current(t, new, False):
                        return new
                    continue  # created meanwhile: lock it and decide again
                keep = set(new.blob_ids())
                await garbage(t, [b for b in old.blob_ids() if b not in keep])
                await put_current(t, new, True)
                return new
        return await self._committer.run(tx, ("o", str(bucket_id), key))  # type: ignore[no-any-return]

    async def delete_object(self, bucket_id: int, key: str, owner_id: str = "",
                            condition: DeleteCondition | None = None) -> Deleted:
        async def tx(t: Tx) -> Deleted:
            while True:
                state, old = await lock_current(t, bucket_id, key)
                if condition is not None and not check_delete(condition, old):
                    return Deleted(None, False, state is not None)
                if condition is not None and condition.unchanged is not None and condition.unchanged.tags is not None:
                    headers = await t.one("SELECT headers FROM objects WHERE bucket_id=%s AND key=%s",
                                          (bucket_id, key))
                    assert headers is not None  # the row is locked
                    check_unchanged(condition.unchanged, headers[0])
                if state is None:
                    if old is None:
                        return Deleted(None, False, False)
                    await garbage(t, blob_ids(old[2], old[3]))
                    await t.write("DELETE FROM objects WHERE bucket_id=%s AND key=%s", (bucket_id, key))
                    return Deleted("null", bool(old[1]), False)
                marker = ObjectVersion(
                    bucket_id=bucket_id, key=key, version_id="null", size=0, etag="", last_modified=time.time(),
                    headers="{}", acl="{}", owner_id=owner_id, storage_class="STANDARD", inline=None, blob_id=None,
                    manifest=None, checksums=None, delete_marker=True)
                version_id = await install(t, marker, old, state)
                if version_id is not None:
                    return Deleted(version_id, True, True)
        return await self._committer.run(  # type: ignore[no-any-return]
            tx, ("o", str(bucket_id), key),
            # A lifecycle delete that rests on tags reads the version's headers: statement by statement.
            planned=None if condition is not None and condition.unchanged is not None
            and condition.unchanged.tags is not None else DeleteWrite(bucket_id, key, owner_id, condition))

    async def delete_version(self, bucket_id: int, key: str, version_id: str,
                             condition: DeleteCondition | None = None, bypass_governance: bool = False) -> Deleted:
        async def tx(t: Tx) -> Deleted:
            state, old = await lock_current(t, bucket_id, key)
            versioned = state is not None
            if old is not None and old[4] == version_id:
                if condition is not None:
                    check_delete(condition, old, by_version=True)
                headers = await t.one("SELECT headers FROM objects WHERE bucket_id=%s AND key=%s", (bucket_id, key))
                assert headers is not None  # the row is locked
                if condition is not None and condition.unchanged is not None:
                    alone = await t.one("SELECT 1 FROM object_versions WHERE bucket_id=%s AND key=%s LIMIT 1",
                                        (bucket_id, key)) is None
                    check_unchanged(condition.unchanged, headers[0], alone=alone)
                object_lock.check_delete(headers[0], time.time(), bypass_governance)
                await garbage(t, blob_ids(old[2], old[3]))
                newest = await t.write_returning(
                    "DELETE FROM object_versions WHERE bucket_id=%s AND key=%s AND seq = (SELECT max(seq) FROM "
                    f"object_versions WHERE bucket_id=%s AND key=%s) RETURNING {VERSION_COLUMNS}",
                    (bucket_id, key, bucket_id, key))
                if newest:
                    # The newest noncurrent version becomes current in the same row (an update, not a
                    # delete and insert: writers waiting on the row's lock then see it, not nothing).
                    await t.write(f"UPDATE objects SET ({VERSION_COLUMNS}) = ROW({', '.join(['%s'] * 13)}) "
                                  "WHERE bucket_id=%s AND key=%s", (*newest[0], bucket_id, key))
                else:
                    await t.write("DELETE FROM objects WHERE bucket_id=%s AND key=%s", (bucket_id, key))
                return Deleted(version_id, bool(old[1]), versioned)
            if old is None:  # no current row: the key has no versions
                return Deleted(None, False, versioned)
            r = await t.one(f"SELECT {OLD_COLUMNS}, seq, headers FROM object_versions WHERE bucket_id=%s "
                            "AND key=%s AND version_id=%s", (bucket_id, key, version_id))
            if r is None:
                return Deleted(None, False, versioned)
            if condition is not None:
                check_delete(condition, r, by_version=True, current=False)
                if condition.unchanged is not None:
                    await _check_noncurrent(t, condition.unchanged, bucket_id, key, r[7], r[8], old)
            object_lock.check_delete(r[8], time.time(), bypass_governance)
            await garbage(t, blob_ids(r[2], r[3]))
            await t.write("DELETE FROM object_versions WHERE bucket_id=%s AND key=%s AND seq=%s",
                          (bucket_id, key, r[7]))
            return Deleted(version_id, bool(r[1]), versioned)
        return await self._committer.run(tx, ("o", str(bucket_id), key))  # type: ignore[no-any-return]

    async def get_object_version(self, bucket_id: int, key: str, version_id: str) -> ObjectVersion | None:
        r = await self._readers.one(_GET_VERSION, (bucket_id, key, version_id, bucket_id, key, version_id, bucket_id))
        self._check_epoch(bucket_id, r[0] if r else None)
        return object_from_row(r[1:]) if r and r[1] is not None else None

    async def version_position(self, bucket_id: int, key: str, version_id: str) -> int | None:
        r = await self._readers.one(
            "SELECT 0 FROM objects WHERE bucket_id=%s AND key=%s AND version_id=%s UNION ALL "
            "SELECT seq FROM object_versions WHERE bucket_id=%s AND key=%s AND version_id=%s LIMIT 1",
            (bucket_id, key, version_id, bucket_id, key, version_id))
        return int(r[0]) if r else None

    async def list_versions(self, bucket_id: int, prefix: str, after: str, inclusive: bool, limit: int,
                            resume_key: str | None = None, resume_seq: int = 0) -> list[ListingRow]:
        out: list[ListingRow] = []
        if resume_key is not None:
            if resume_seq > 0:
                rows = await self._readers.all(
                    f"SELECT {_NONCURRENT_COLUMNS} FROM object_versions WHERE bucket_id=%s AND key=%s AND seq<%s "
                    "ORDER BY seq DESC LIMIT %s", (bucket_id, resume_key, resume_seq, limit))
            else:
                rows = await self._readers.all(
                    f"SELECT {_NONCURRENT_COLUMNS} FROM object_versions WHERE bucket_id=%s AND key=%s "
                    "ORDER BY seq DESC LIMIT %s", (bucket_id, resume_key, limit))
            out.extend(_listing_row(r) for r in rows)
            after, inclusive = resume_key, False
        n = limit - len(out)
        if n <= 0:
            return out
        op, after, end = key_range(prefix, after, inclusive)
        bound = "" if end is None else " AND key < %s"
        args: tuple[Any, ...] = (bucket_id, after, *(() if end is None else (end,)), n)
        current = [_listing_row(r) for r in await self._readers.all(
            f"SELECT {_LISTING_COLUMNS} FROM objects WHERE bucket_id=%s AND key {op} %s{bound} ORDER BY key LIMIT %s",
            args)]
        older = [_listing_row(r) for r in await self._readers.all(
            f"SELECT {_NONCURRENT_COLUMNS} FROM object_versions WHERE bucket_id=%s AND key {op} %s{bound} "
            "ORDER BY key, seq DESC LIMIT %s", args)]
        return merge_versions(out, current, older, limit)

    async def _set_version_column(self, bucket_id: int, key: str, version_id: str | None,
                                  change: Callable[[Tx, str, str, tuple[Any, ...]], Any]) -> bool:
        """Lock the key, find the version (current, or ``version_id``; not a
        delete marker) and let ``change(tx, table, where, args)`` update it."""
        async def tx(t: Tx) -> bool:
            if (await lock_current(t, bucket_id, key))[1] is None:
                return False
            tables = ("objects",) if version_id is None else ("objects", "object_versions")
            for table in tables:
                if version_id is None:
                    where, args = "bucket_id=%s AND key=%s AND delete_marker=0", (bucket_id, key)
                else:
                    where, args = ("bucket_id=%s AND key=%s AND version_id=%s AND delete_marker=0",
                                   (bucket_id, key, version_id))
                if await change(t, table, where, args):
                    return True
            return False
        return bool(await self._committer.run(tx, ("o", str(bucket_id), key)))

    async def set_object_acl(self, bucket_id: int, key: str, acl: str, version_id: str | None = None) -> bool:
        async def change(t: Tx, table: str, where: str, args: tuple[Any, ...]) -> bool:
            return await t.write(f"UPDATE {table} SET acl=%s WHERE {where}", (acl, *args)) > 0
        return await self._set_version_column(bucket_id, key, version_id, change)

    async def update_headers(self, bucket_id: int, key: str, version_id: str | None,
                             update: Callable[[dict[str, str]], None]) -> bool:
        """Read-modify-write of one version's stored headers under the key's
        row lock (``update`` changes them in place, or raises and nothing changes)."""
        async def change(t: Tx, table: str, where: str, args: tuple[Any, ...]) -> bool:
            r = await t.one(f"SELECT headers FROM {table} WHERE {where}", args)
            if r is None:
                return False
            headers = json.loads(r[0])
            update(headers)
            await t.write(f"UPDATE {table} SET headers=%s WHERE {where}",
                          (json.dumps(headers, separators=(",", ":")), *args))
            return True
        return await self._set_version_column(bucket_id, key, version_id, change)

    async def list_objects(self, bucket_id: int, after: str, prefix: str, limit: int,
                           inclusive: bool = False) -> list[ListingRow]:
        op, after, end = key_range(prefix, after, inclusive)
        bound = "" if end is None else " AND key < %s"
        args: tuple[Any, ...] = (bucket_id, after, *(() if end is None else (end,)), limit)
        rows = await self._readers.all(
            f"SELECT {_LISTING_COLUMNS} FROM objects WHERE bucket_id=%s AND key {op} %s{bound} AND delete_marker=0 "
            "ORDER BY key LIMIT %s", args)
        return [_listing_row(r) for r in rows]

    async def list_page(self, bucket_id: int, prefix: str, delimiter: str, after: str, max_keys: int,
                        owners: bool = False) -> ObjectPage:
        async def page(conn: FastConnection) -> ObjectPage | None:
            return await listing.list_page(conn, bucket_id, prefix, delimiter, after, max_keys, owners)
        result = await self._readers.run(page)
        if result is None:  # rare delimiters: the generic path
            return await super().list_page(bucket_id, prefix, delimiter, after, max_keys, owners)
        return result
