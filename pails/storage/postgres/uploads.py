"""Multipart uploads and data-file bookkeeping (garbage, intents) of the
PostgreSQL store: the part of ``PgMeta`` that is about files rather than keys."""

from __future__ import annotations

import json
from typing import Any

from pails.errors import S3Error
from pails.protocol.keys import prefix_successor
from pails.storage.conditions import check_condition
from pails.storage.meta import MultipartUpload, UploadedPart, WriteCondition
from pails.storage.postgres.conn import Committer, Readers, Tx
from pails.storage.postgres.versions import consume_intents, garbage, install, lock_current
from pails.storage.records import ObjectVersion

_UPLOAD_COLUMNS = "upload_id, bucket_id, key, initiated, owner_id, storage_class, headers, acl, props"
_PART_COLUMNS = "upload_id, part_number, size, etag, last_modified, blob_id, checksums"


class PgUploads:
    _readers: Readers
    _committer: Committer

    # --- multipart uploads -----------------------------------------------
    async def create_upload(self, upload: MultipartUpload) -> None:
        async def tx(t: Tx) -> None:
            await t.write(f"INSERT INTO multipart_uploads ({_UPLOAD_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                          (upload.upload_id, upload.bucket_id, upload.key, upload.initiated, upload.owner_id,
                           upload.storage_class, upload.headers, upload.acl, upload.props))
        await self._committer.run(tx, ("u", upload.upload_id))

    async def get_upload(self, upload_id: str) -> MultipartUpload | None:
        r = await self._readers.one(f"SELECT {_UPLOAD_COLUMNS} FROM multipart_uploads WHERE upload_id=%s",
                                    (upload_id,))
        return MultipartUpload(*r) if r else None

    async def put_part(self, part: UploadedPart) -> None:
        async def tx(t: Tx) -> None:
            # A share lock on the upload: completing or aborting it waits for this commit.
            upload = await t.one("SELECT bucket_id FROM multipart_uploads WHERE upload_id=%s FOR KEY SHARE",
                                 (part.upload_id,))
            if upload is None:
                raise S3Error("NoSuchUpload", UploadId=part.upload_id)
            await consume_intents(t, [part.blob_id])
            values = (part.size, part.etag, part.last_modified, part.blob_id, part.checksums)
            while True:
                old = await t.one("SELECT blob_id FROM multipart_parts WHERE upload_id=%s AND part_number=%s "
                                  "FOR UPDATE", (part.upload_id, part.part_number))
                if old is not None:
                    await garbage(t, [old[0]])
                    await t.write("UPDATE multipart_parts SET size=%s, etag=%s, last_modified=%s, blob_id=%s, "
                                  "checksums=%s WHERE upload_id=%s AND part_number=%s",
                                  (*values, part.upload_id, part.part_number))
                    return
                if await t.write_returning(
                        f"INSERT INTO multipart_parts ({_PART_COLUMNS}, bucket_id) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) "
                        "ON CONFLICT DO NOTHING RETURNING 1", (part.upload_id, part.part_number, *values, upload[0])):
                    return
        await self._committer.run(tx, ("u", part.upload_id, f"{part.part_number:05d}"))

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[UploadedPart]:
        rows = await self._readers.all(f"SELECT {_PART_COLUMNS} FROM multipart_parts WHERE upload_id=%s AND "
                                       "part_number>%s ORDER BY part_number LIMIT %s", (upload_id, after, limit))
        return [UploadedPart(*r) for r in rows]

    async def complete_upload(self, upload_id: str, version: ObjectVersion,
                              condition: WriteCondition | None = None, if_none_match: str | None = None) -> str:
        used = [p[0] for p in json.loads(version.manifest or "[]")]

        async def tx(t: Tx) -> str:
            # The upload row first (waits for parts being committed), then the key.
            if await t.one("SELECT 1 FROM multipart_uploads WHERE upload_id=%s FOR UPDATE", (upload_id,)) is None:
                raise S3Error("NoSuchUpload", UploadId=upload_id)
            parts = {r[0] for r in await t.all("SELECT blob_id FROM multipart_parts WHERE upload_id=%s",
                                               (upload_id,))}
            if not parts.issuperset(used):  # a part was replaced since the caller read it
                raise S3Error("InvalidPart")
            while True:
                state, old = await lock_current(t, version.bucket_id, version.key)
                if condition is not None:
                    check_condition(condition, old)
                if if_none_match is not None and old is not None and not old[1]:
                    if old[0].strip('"') in {e.strip().strip('"') for e in if_none_match.split(",")}:
                        raise S3Error("PreconditionFailed", Condition="If-None-Match")
                if not t.wrote:
                    await garbage(t, sorted(parts.difference(used)))
                    await t.write("DELETE FROM multipart_uploads WHERE upload_id=%s", (upload_id,))  # and its parts
                version_id = await install(t, version, old, state)
                if version_id is not None:
                    return version_id
        return await self._committer.run(tx, solo=True)  # type: ignore[no-any-return]

    async def abort_upload(self, upload_id: str) -> bool:
        async def tx(t: Tx) -> bool:
            if await t.one("SELECT 1 FROM multipart_uploads WHERE upload_id=%s FOR UPDATE", (upload_id,)) is None:
                return False
            await t.write("INSERT INTO blob_garbage (blob_id) SELECT blob_id FROM multipart_parts "
                          "WHERE upload_id=%s ON CONFLICT DO NOTHING", (upload_id,))
            await t.write("DELETE FROM multipart_uploads WHERE upload_id=%s", (upload_id,))
            return True
        return bool(await self._committer.run(tx, ("u", upload_id)))

    async def list_uploads(self, bucket_id: int, prefix: str, after_key: str, after_upload_id: str | None,
                           limit: int) -> list[MultipartUpload]:
        where = ["bucket_id=%s"]
        args: list[Any] = [bucket_id]
        if after_upload_id is None:
            where.append("key>%s")
            args.append(after_key)
        else:
            where.append("(key, upload_id) > (%s, %s)")
            args += [after_key, after_upload_id]
        if prefix:
            where.append("key>=%s")
            args.append(prefix)
            end = prefix_successor(prefix)
            if end is not None:
                where.append("key<%s")
                args.append(end)
        args.append(limit)
        rows = await self._readers.all(f"SELECT {_UPLOAD_COLUMNS} FROM multipart_uploads "
                                       f"WHERE {' AND '.join(where)} ORDER BY key, upload_id LIMIT %s", args)
        return [MultipartUpload(*r) for r in rows]

    # --- data-file collection ---------------------------------------------
    async def pending_garbage(self, limit: int) -> list[str]:
        return [r[0] for r in await self._readers.all("SELECT blob_id FROM blob_garbage LIMIT %s", (limit,))]

    async def forget_garbage(self, blob_ids: list[str]) -> None:
        async def tx(t: Tx) -> None:
            await t.write("DELETE FROM blob_garbage WHERE blob_id = ANY(%s)", (blob_ids,))
        await self._committer.run(tx, ("g",))

    async def blob_is_referenced(self, blob_id: str) -> bool:
        r = await self._readers.one(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM objects WHERE blob_id=%s) "
            "OR EXISTS (SELECT 1 FROM object_versions WHERE blob_id=%s) "
            "OR EXISTS (SELECT 1 FROM multipart_parts WHERE blob_id=%s) "
            "OR EXISTS (SELECT 1 FROM objects WHERE manifest LIKE %s) "
            "OR EXISTS (SELECT 1 FROM object_versions WHERE manifest LIKE %s)",
            (blob_id, blob_id, blob_id, f'%"{blob_id}"%', f'%"{blob_id}"%'))
        return r is not None

    async def add_blob_intent(self, blob_id: str) -> None:
        async def tx(t: Tx) -> None:
            await t.write("INSERT INTO blob_intents (blob_id, created) "
                          "VALUES (%s, extract(epoch FROM clock_timestamp()))", (blob_id,))
        await self._committer.run(tx, ("i", blob_id))

    async def reap_intents(self, older_than: float, limit: int) -> list[str]:
        async def tx(t: Tx) -> list[str]:
            rows = await t.write_returning(
                "DELETE FROM blob_intents WHERE blob_id IN (SELECT blob_id FROM blob_intents WHERE created < "
                "extract(epoch FROM clock_timestamp()) - %s ORDER BY created LIMIT %s FOR UPDATE SKIP LOCKED) "
                "RETURNING blob_id", (older_than, limit))
            return [r[0] for r in rows]
        return await self._committer.run(tx, solo=True)  # type: ignore[no-any-return]
