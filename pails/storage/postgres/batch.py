"""Set-based group commit of the PostgreSQL store: the writes of one batch
that each change only their own key (PutObject, DeleteObject) run as a few
statements for the whole batch instead of a few per write.

1. One statement locks every key's current row (``FOR UPDATE``, in key
   order: the batch is sorted) and reads its bucket's versioning state.
2. Each write decides in Python, from that state and its old row, what it
   does (a ``Plan``), or raises its S3Error having changed nothing.
3. One statement per kind of change applies every plan at once: intents
   consumed, current rows demoted to noncurrent versions, noncurrent ``null``
   versions dropped, data files queued as garbage, rows updated, deleted and
   inserted (arrays of values, ``unnest``).

A write whose key had no row claims it with ``INSERT ... ON CONFLICT DO
NOTHING``; one that lost that race to another gateway runs again statement
by statement in the same transaction (its ``fallback``), after the winner's
commit.  Only the first write to a key in a batch is planned here; later
ones run statement by statement after it, seeing its change.
"""

from __future__ import annotations

import time
from typing import Any

from pails.errors import S3Error
from pails.storage.conditions import check_condition, check_delete
from pails.storage.meta import DeleteCondition, Deleted, WriteCondition, new_version_id
from pails.storage.postgres.conn import Rerun
from pails.storage.postgres.fast import FastConnection
from pails.storage.postgres.versions import OLD_COLUMNS, VERSION_COLUMNS, blob_ids
from pails.storage.records import ObjectVersion

_OLD = ", ".join(f"o.{c.strip()}" for c in OLD_COLUMNS.split(","))
_LOCK = ("SELECT k.i, b.id IS NOT NULL, b.versioning, " + _OLD + " "
         "FROM unnest(%s::bigint[], %s::text[]) WITH ORDINALITY AS k(bucket_id, key, i) "
         "LEFT JOIN buckets b ON b.id = k.bucket_id "
         "LEFT JOIN LATERAL (SELECT " + OLD_COLUMNS + " FROM objects WHERE bucket_id = k.bucket_id "
         "AND key = k.key COLLATE \"C\" FOR UPDATE) o ON true")
_CONSUME = "DELETE FROM blob_intents WHERE blob_id = ANY(%s::text[]) RETURNING blob_id"
_KEYS = "unnest(%s::bigint[], %s::text[]) AS k(bucket_id, key)"
_DEMOTE = (f"INSERT INTO object_versions (bucket_id, key, seq, {VERSION_COLUMNS}) "
           "SELECT o.bucket_id, o.key, (SELECT COALESCE(MAX(v.seq), 0) + 1 FROM object_versions v "
           "WHERE v.bucket_id = o.bucket_id AND v.key = o.key), "
           + ", ".join(f"o.{c.strip()}" for c in VERSION_COLUMNS.split(",")) +
           f" FROM {_KEYS} JOIN objects o ON o.bucket_id = k.bucket_id AND o.key = k.key COLLATE \"C\"")
_DROP_NULL = (f"DELETE FROM object_versions v USING {_KEYS} WHERE v.bucket_id = k.bucket_id "
              "AND v.key = k.key COLLATE \"C\" AND v.version_id = 'null' RETURNING v.blob_id, v.manifest")
_GARBAGE = "INSERT INTO blob_garbage (blob_id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING"
_DELETE = (f"DELETE FROM objects o USING {_KEYS} WHERE o.bucket_id = k.bucket_id "
           "AND o.key = k.key COLLATE \"C\"")
_ROWS = ("unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::text[], %s::float8[], %s::text[], "
         "%s::text[], %s::smallint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bytea[]) "
         "AS r(bucket_id, key, version_id, size, etag, last_modified, owner_id, storage_class, delete_marker, "
         "headers, acl, blob_id, manifest, checksums, inline)")
_ROW_FIELDS = ("version_id", "size", "etag", "last_modified", "owner_id", "storage_class", "delete_marker",
               "headers", "acl", "blob_id", "manifest", "checksums", "inline")
_UPDATE = ("UPDATE objects o SET " + ", ".join(f"{c} = r.{c}" for c in _ROW_FIELDS) +
           f" FROM {_ROWS} WHERE o.bucket_id = r.bucket_id AND o.key = r.key COLLATE \"C\"")
_INSERT = (f"INSERT INTO objects (bucket_id, key, {', '.join(_ROW_FIELDS)}) SELECT * FROM {_ROWS} "
           "ON CONFLICT (bucket_id, key) DO NOTHING RETURNING bucket_id, key")


class Plan:
    """What one write does to its key, decided under the key's lock."""

    __slots__ = ("intents", "garbage", "demote", "drop_null", "row", "insert", "delete", "result")

    def __init__(self, result: Any) -> None:
        self.intents: list[str] = []
        self.garbage: list[str] = []
        self.demote = False  # copy the current row to object_versions first
        self.drop_null = False  # drop the key's noncurrent "null" version
        self.row: ObjectVersion | None = None  # the key's new current row
        self.insert = False  # ``row`` claims a key that had none
        self.delete = False  # the key's row goes
        self.result = result


class KeyWrite:
    """A write to one key that the batch can plan (see the module's docstring)."""

    __slots__ = ("bucket_id", "key")

    def __init__(self, bucket_id: int, key: str) -> None:
        self.bucket_id = bucket_id
        self.key = key

    def decide(self, state: str | None, old: tuple[Any, ...] | None) -> Plan:
        raise NotImplementedError


def _install(plan: Plan, new: ObjectVersion, old: tuple[Any, ...] | None, state: str | None) -> None:
    """``new`` becomes the key's current version by the versioning ``state``
    (as ``postgres.versions.install`` does statement by statement)."""
    new.version_id = new_version_id() if state == "Enabled" else "null"
    plan.row = new
    if old is None:
        plan.insert = True
        plan.drop_null = state == "Suspended"
    elif state == "Enabled":
        plan.demote = True
    elif state == "Suspended":
        if old[4] == "null":
            plan.garbage = blob_ids(old[2], old[3])
        else:
            plan.demote = True
        plan.drop_null = True
    else:
        plan.garbage = blob_ids(old[2], old[3])


class PutWrite(KeyWrite):
    __slots__ = ("version", "condition")

    def __init__(self, version: ObjectVersion, condition: WriteCondition | None) -> None:
        super().__init__(version.bucket_id, version.key)
        self.version = version
        self.condition = condition

    def decide(self, state: str | None, old: tuple[Any, ...] | None) -> Plan:
        if self.condition is not None:
            check_condition(self.condition, old)
        plan = Plan(None)
        plan.intents = self.version.blob_ids()
        _install(plan, self.version, old, state)
        plan.result = self.version.version_id
        return plan


class DeleteWrite(KeyWrite):
    __slots__ = ("owner_id", "condition")

    def __init__(self, bucket_id: int, key: str, owner_id: str, condition: DeleteCondition | None) -> None:
        super().__init__(bucket_id, key)
        self.owner_id = owner_id
        self.condition = condition

    def decide(self, state: str | None, old: tuple[Any, ...] | None) -> Plan:
        if self.condition is not None and not check_delete(self.condition, old):
            return Plan(Deleted(None, False, state is not None))
        if state is None:
            if old is None:
                return Plan(Deleted(None, False, False))
            plan = Plan(Deleted("null", bool(old[1]), False))
            plan.garbage = blob_ids(old[2], old[3])
            plan.delete = True
            return plan
        marker = ObjectVersion(
            bucket_id=self.bucket_id, key=self.key, version_id="null", size=0, etag="", last_modified=time.time(),
            headers="{}", acl="{}", owner_id=self.owner_id, storage_class="STANDARD", inline=None, blob_id=None,
            manifest=None, checksums=None, delete_marker=True)
        plan = Plan(None)
        _install(plan, marker, old, state)
        plan.result = Deleted(marker.version_id, True, True)
        return plan


def _keys(plans: list[tuple[KeyWrite, Plan]]) -> tuple[list[int], list[str]]:
    return [w.bucket_id for w, _ in plans], [w.key for w, _ in plans]


def _rows(plans: list[tuple[KeyWrite, Plan]]) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in range(15)]
    for write, plan in plans:
        v = plan.row
        assert v is not None
        values = (write.bucket_id, write.key, v.version_id, v.size, v.etag, v.last_modified, v.owner_id,
                  v.storage_class, int(v.delete_marker), v.headers, v.acl, v.blob_id, v.manifest, v.checksums,
                  v.inline)
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns


async def apply(conn: FastConnection, writes: list[KeyWrite]
                ) -> tuple[list[tuple[KeyWrite, Any, BaseException | None]], list[KeyWrite]]:
    """Run ``writes`` (distinct keys, sorted) in the open transaction:
    (each write with its result or its error, the writes that lost the race
    to claim their key and must run again)."""
    locked = await conn.execute(_LOCK, ([w.bucket_id for w in writes], [w.key for w in writes]))
    found: dict[int, tuple[Any, ...]] = {r[0]: r for r in locked.rows}
    outcomes: list[tuple[KeyWrite, Any, BaseException | None]] = []
    plans: list[tuple[KeyWrite, Plan]] = []
    for i, write in enumerate(writes, 1):
        r = found[i]
        try:
            if not r[1]:
                raise S3Error("NoSuchBucket")
            plan = write.decide(r[2], None if r[3] is None else r[3:])
        except Exception as exc:  # noqa: BLE001 - the request's own error: nothing changed
            outcomes.append((write, None, exc))
            continue
        plans.append((write, plan))

    intents = [b for _, p in plans for b in p.intents]
    if intents and len((await conn.execute(_CONSUME, (intents,))).rows) != len(set(intents)):
        raise Rerun  # an intent was reaped: each write alone finds out which
    if demote := [wp for wp in plans if wp[1].demote]:
        await conn.execute(_DEMOTE, _keys(demote))
    garbage = [b for _, p in plans for b in p.garbage]
    if drop := [wp for wp in plans if wp[1].drop_null]:
        for blob_id, manifest in (await conn.execute(_DROP_NULL, _keys(drop))).rows:
            garbage += blob_ids(blob_id, manifest)
    if garbage:
        await conn.execute(_GARBAGE, (garbage,))
    if delete := [wp for wp in plans if wp[1].delete]:
        await conn.execute(_DELETE, _keys(delete))
    if update := [wp for wp in plans if wp[1].row is not None and not wp[1].insert]:
        await conn.execute(_UPDATE, _rows(update))
    lost: list[KeyWrite] = []
    if insert := [wp for wp in plans if wp[1].insert]:
        claimed = {(r[0], r[1]) for r in (await conn.execute(_INSERT, _rows(insert))).rows}
        lost = [w for w, _ in insert if (w.bucket_id, w.key) not in claimed]
        if lost:
            plans = [wp for wp in plans if wp[0] not in lost]
    outcomes += [(w, p.result, None) for w, p in plans]
    return outcomes, lost
