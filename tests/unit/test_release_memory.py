"""Giving memory back while idle must never disturb the group committer:
shrink requests interleave with writes on its queue."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pails.storage.engine import Engine, Settings
from pails.storage.records import Bucket, ObjectVersion


def _version(bucket_id: int, key: str) -> ObjectVersion:
    return ObjectVersion(bucket_id=bucket_id, key=key, version_id="null", size=1, etag='"x"', last_modified=0.0,
                         headers="{}", acl="{}", owner_id="o", storage_class="STANDARD", inline=b"x", blob_id=None,
                         manifest=None, checksums=None)


def test_release_memory_between_and_during_writes(tmp_path: Path) -> None:
    engine = Engine(Settings(data_dir=str(tmp_path)))

    async def main() -> None:
        _, bucket = await engine.meta.create_bucket(Bucket(0, "bkt", "o", 0.0, "", "{}", None, "{}"))
        engine.release_memory()  # committer running, nothing queued
        for round_ in range(5):
            writes = [asyncio.ensure_future(engine.meta.put_object(_version(bucket.id, f"k{round_}-{i}")))
                      for i in range(200)]
            for _ in range(3):
                engine.release_memory()  # shrink requests land between queued writes
                await asyncio.sleep(0)
            assert await asyncio.gather(*writes) == ["null"] * 200
        engine.release_memory()

    asyncio.run(main())
    keys = [row.key for row in engine.meta.scan_objects(1, "", "")]
    asyncio.run(engine.close())
    assert len(keys) == 1000
    assert keys == sorted(keys)
