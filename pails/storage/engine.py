"""The commit protocol, tying the metadata store and the blob store together.

Handlers never touch files or transactions directly: they stream bytes into a
``BlobWriter`` (or keep a small body in memory) and call ``commit_object``.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import time
from dataclasses import dataclass
from typing import Any

from pails.storage.blobs import BlobStore, BlobWriter
from pails.storage.crypto import KeyRing
from pails.storage.meta import DeleteCondition, Deleted, MetaStore, WriteCondition
from pails.storage.records import ObjectVersion
from pails.storage.sqlite import SqliteMeta


@dataclass(slots=True)
class Settings:
    data_dir: str
    fsync: bool = True
    domain: str | None = None  # virtual-host style: <bucket>.<domain>
    region: str = "us-east-1"
    inline_max: int = 64 * 1024  # bodies up to this size live in the metadata row


_COLLECT_INTERVAL = 0.25


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        os.makedirs(settings.data_dir, exist_ok=True)
        self.meta: MetaStore = SqliteMeta(os.path.join(settings.data_dir, "meta.sqlite3"), fsync=settings.fsync)
        self.blobs = BlobStore(settings.data_dir, fsync=settings.fsync)
        self.keys = KeyRing(settings.data_dir)  # server-side encryption keys, created on first use
        self._collecting = False
        self._collect_checked = 0.0
        self._collect_deferred = False

    def recover(self) -> tuple[int, int, int]:
        """Run once before serving: finish or undo interrupted writes."""
        return self.blobs.recover(self.meta)

    async def commit_object(self, version: ObjectVersion, writer: BlobWriter | None,
                            condition: WriteCondition | None = None) -> str:
        """Make ``version`` (with the data ``writer`` holds, if any) durable and
        visible; return its version id.  On failure the data file is removed
        and nothing changes."""
        if writer is not None:
            try:
                if self.settings.fsync:
                    await asyncio.get_running_loop().run_in_executor(None, writer.seal)
                else:
                    writer.seal()
                version_id = await self.meta.put_object(version, condition)
            except BaseException:
                writer.abort()
                raise
            self.blobs.promote(writer.blob_id)
        else:
            version_id = await self.meta.put_object(version, condition)
        self.collect_soon()
        return version_id

    async def delete_object(self, bucket_id: int, key: str, owner_id: str = "",
                            condition: DeleteCondition | None = None) -> Deleted:
        result = await self.meta.delete_object(bucket_id, key, owner_id, condition)
        self.collect_soon(now=True)
        return result

    async def delete_version(self, bucket_id: int, key: str, version_id: str,
                             condition: DeleteCondition | None = None) -> Deleted:
        result = await self.meta.delete_version(bucket_id, key, version_id, condition)
        self.collect_soon(now=True)
        return result

    def collect_soon(self, now: bool = False) -> None:
        """Unlink data files that commits stopped referencing, in the background.
        Looks at most every ``_COLLECT_INTERVAL`` seconds (a query per write
        is measurable on small PUTs), or at once when ``now``."""
        if self._collecting:
            return
        t = time.monotonic()
        if not now and t - self._collect_checked < _COLLECT_INTERVAL:
            if not self._collect_deferred:  # look once more when the interval is over
                self._collect_deferred = True
                asyncio.get_running_loop().call_later(_COLLECT_INTERVAL, self._deferred_collect)
            return
        self._collect_checked = t
        if not self.meta.pending_garbage(1):
            return
        self._collecting = True
        asyncio.get_running_loop().create_task(self._collect())

    def _deferred_collect(self) -> None:
        self._collect_deferred = False
        self.collect_soon(now=True)

    async def _collect(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            while True:
                garbage = self.meta.pending_garbage(500)
                if not garbage:
                    return
                await loop.run_in_executor(None, self._unlink_all, garbage)
                await self.meta.forget_garbage(garbage)
        finally:
            self._collecting = False

    def _unlink_all(self, blob_ids: list[str]) -> None:
        for blob_id in blob_ids:
            self.blobs.delete(blob_id)

    def release_memory(self) -> None:
        """Give memory back to the OS while idle: metadata caches, then the
        free pages of the C heap (glibc keeps them otherwise; a big listing
        leaves tens of MB behind)."""
        self.meta.release_memory()
        gc.collect()
        if _malloc_trim is not None:
            _malloc_trim(0)

    def close(self) -> None:
        self.meta.close()


def _find_malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None


_malloc_trim = _find_malloc_trim()
