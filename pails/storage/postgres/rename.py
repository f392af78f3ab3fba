"""RenameObject in the PostgreSQL store: one transaction that locks both
keys' rows (in key order, as batched writes do), writes the source's
version as the destination's row (claiming the key when it has none, as
``postgres.versions.put_current`` does) and deletes the source's row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pails.errors import S3Error
from pails.storage.conditions import RENAME_VERSIONED
from pails.storage.postgres.conn import Committer, Tx
from pails.storage.postgres.versions import OBJECT_FIELDS, blob_ids, garbage, put_current
from pails.storage.records import ObjectVersion, object_from_row

_LOCK_BOTH = (f"SELECT {OBJECT_FIELDS} FROM objects WHERE bucket_id=%s AND key = ANY(%s) "
              'ORDER BY key COLLATE "C" FOR UPDATE')


class PgRename:
    _committer: Committer  # PgMeta's

    async def rename_object(self, bucket_id: int, source: str, dest: str,
                            check: Callable[[ObjectVersion, ObjectVersion | None], None]) -> ObjectVersion:
        async def tx(t: Tx) -> ObjectVersion:
            state = await t.one("SELECT versioning FROM buckets WHERE id=%s", (bucket_id,))
            if state is None:
                raise S3Error("NoSuchBucket")
            if state[0] is not None:
                raise S3Error("NotImplemented", RENAME_VERSIONED)
            while True:
                rows = {r[1]: object_from_row(r) for r in await t.all(_LOCK_BOTH, (bucket_id, [source, dest]))}
                src, dst = rows.get(source), rows.get(dest)
                if src is None or src.delete_marker:
                    raise S3Error("NoSuchKey", Key=source)
                check(src, dst)
                if source == dest:
                    return src
                src.key = dest
                if not await put_current(t, src, dst is not None):
                    src.key = source
                    continue  # the destination was created meanwhile: lock it and decide again
                if dst is not None:
                    await garbage(t, blob_ids(dst.blob_id, dst.manifest))
                await t.write("DELETE FROM objects WHERE bucket_id=%s AND key=%s", (bucket_id, source))
                return src
        result: Any = await self._committer.run(tx, ("o", str(bucket_id), min(source, dest)), solo=True)
        return result  # type: ignore[no-any-return]
