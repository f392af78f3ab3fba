"""How versions of a key move inside a PostgreSQL transaction (the
counterpart of ``sqlite.versions``): install a new current version, demote
the old one, drop what a replaced or deleted version referenced.

Every write to a key first locks its ``objects`` row (``FOR UPDATE``), so
writers of one key take turns across gateways and noncurrent versions get
their ``seq`` under that lock.  A key without a row has no versions at all;
its first writer claims it by inserting the row (``ON CONFLICT DO NOTHING``):
one that loses the race waits for the winner's commit, then locks the row and
decides again.
"""

from __future__ import annotations

import json
from typing import Any

from pails.errors import S3Error
from pails.storage.meta import new_version_id
from pails.storage.postgres.conn import Tx
from pails.storage.records import ObjectVersion

OBJECT_FIELDS = ("bucket_id, key, version_id, size, etag, last_modified, owner_id, storage_class, "
                 "delete_marker, headers, acl, blob_id, manifest, checksums, inline")
# Moved as they are between objects and object_versions.
VERSION_COLUMNS = ("version_id, size, etag, last_modified, owner_id, storage_class, delete_marker, headers, acl, "
                   "blob_id, manifest, checksums, inline")
# What a write needs of the version it replaces (see pails.storage.conditions).
OLD_COLUMNS = "etag, delete_marker, blob_id, manifest, version_id, last_modified, size"

_INSERT = (f"INSERT INTO objects ({OBJECT_FIELDS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
           "ON CONFLICT (bucket_id, key) DO NOTHING RETURNING 1")
_UPDATE = ("UPDATE objects SET version_id=%s, size=%s, etag=%s, last_modified=%s, owner_id=%s, storage_class=%s, "
           "delete_marker=%s, headers=%s, acl=%s, blob_id=%s, manifest=%s, checksums=%s, inline=%s "
           "WHERE bucket_id=%s AND key=%s")
_GARBAGE = "INSERT INTO blob_garbage (blob_id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING"


def _values(v: ObjectVersion) -> tuple[Any, ...]:
    return (v.version_id, v.size, v.etag, v.last_modified, v.owner_id, v.storage_class, int(v.delete_marker),
            v.headers, v.acl, v.blob_id, v.manifest, v.checksums, v.inline)


async def versioning_state(tx: Tx, bucket_id: int) -> str | None:
    r = await tx.one("SELECT versioning FROM buckets WHERE id=%s", (bucket_id,))
    return r[0] if r else None


# The bucket's versioning state and the key's current version, its row locked,
# in one round trip.
_LOCK_CURRENT = (f"SELECT b.versioning, o.* FROM buckets b LEFT JOIN LATERAL (SELECT {OLD_COLUMNS} FROM objects "
                 "WHERE bucket_id = b.id AND key = %s FOR UPDATE) o ON true WHERE b.id = %s")


async def lock_current(tx: Tx, bucket_id: int, key: str) -> tuple[str | None, tuple[Any, ...] | None]:
    """(the bucket's versioning state, the current version's ``OLD_COLUMNS``
    with its row locked, or None: no row)."""
    r = await tx.one(_LOCK_CURRENT, (key, bucket_id))
    if r is None:  # the bucket is gone
        raise S3Error("NoSuchBucket")
    return r[0], (None if r[1] is None else r[1:])


async def garbage(tx: Tx, blob_ids: list[str]) -> None:
    if blob_ids:
        await tx.write(_GARBAGE, (blob_ids,))


def blob_ids(blob_id: str | None, manifest: str | None) -> list[str]:
    if blob_id:
        return [blob_id]
    if manifest:
        return [p[0] for p in json.loads(manifest)]
    return []


async def consume_intents(tx: Tx, new_ids: list[str]) -> None:
    """The commit that references new data files deletes their intents; an
    intent already reaped means the file is gone (its writer took longer than
    the intent timeout), so the commit must fail."""
    if not new_ids:
        return
    rows = await tx.write_returning("DELETE FROM blob_intents WHERE blob_id = ANY(%s) RETURNING blob_id",
                                    (new_ids,))
    if len(rows) != len(set(new_ids)):
        raise S3Error("RequestTimeout", "The upload took longer than the server's intent timeout and its data "
                                        "was removed; please send it again.")


async def demote(tx: Tx, bucket_id: int, key: str) -> None:
    """Copy the current version to object_versions, as the newest noncurrent one."""
    await tx.write(f"INSERT INTO object_versions (bucket_id, key, seq, {VERSION_COLUMNS}) "
                   f"SELECT bucket_id, key, (SELECT COALESCE(MAX(seq), 0) + 1 FROM object_versions "
                   f"WHERE bucket_id=%s AND key=%s), {VERSION_COLUMNS} FROM objects WHERE bucket_id=%s AND key=%s",
                   (bucket_id, key, bucket_id, key))


async def drop_noncurrent_null(tx: Tx, bucket_id: int, key: str) -> None:
    rows = await tx.write_returning("DELETE FROM object_versions WHERE bucket_id=%s AND key=%s "
                                    "AND version_id='null' RETURNING blob_id, manifest", (bucket_id, key))
    for blob_id, manifest in rows:
        await garbage(tx, blob_ids(blob_id, manifest))


async def put_current(tx: Tx, new: ObjectVersion, exists: bool) -> bool:
    """Write ``new`` as the row of its key: replace the row (locked by the
    caller) or claim the key with a new one; False: another writer created
    the key meanwhile (nothing changed)."""
    if exists:
        await tx.write(_UPDATE, (*_values(new), new.bucket_id, new.key))
        return True
    return bool(await tx.write_returning(_INSERT, (new.bucket_id, new.key, *_values(new))))


async def install(tx: Tx, new: ObjectVersion, old: tuple[Any, ...] | None, state: str | None) -> str | None:
    """Make ``new`` the current version of its key by the bucket's
    versioning ``state``; returns its version id, or None when ``old`` was
    None and another writer created the key meanwhile (nothing was changed:
    lock the row and decide again)."""
    new.version_id = new_version_id() if state == "Enabled" else "null"
    if old is None:
        if not await put_current(tx, new, False):
            return None
        if state == "Suspended":
            await drop_noncurrent_null(tx, new.bucket_id, new.key)
        return new.version_id
    if state == "Enabled":
        await demote(tx, new.bucket_id, new.key)
    elif state == "Suspended":
        if old[4] == "null":
            await garbage(tx, blob_ids(old[2], old[3]))
        else:
            await demote(tx, new.bucket_id, new.key)
        await drop_noncurrent_null(tx, new.bucket_id, new.key)
    else:
        await garbage(tx, blob_ids(old[2], old[3]))
    await put_current(tx, new, True)
    return new.version_id
