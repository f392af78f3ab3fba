"""MetaStore.rename_object on the store under test (SQLite, or PostgreSQL
with PAILS_TEST_STORE=postgresql): what the commit changes besides the key
(bucket usage, the replaced object's data files handed to collection), a
refusing check that changes nothing, and renames racing on one key."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pails.errors import S3Error
from pails.storage.engine import Engine, Settings
from pails.storage.records import Bucket, ObjectVersion
from tests.pg import run_on_test_store


def _run(tmp_path: Path, body: Callable[[Engine, Bucket], Awaitable[None]]) -> None:
    async def run(url: str | None) -> None:
        engine = Engine(Settings(str(tmp_path / "data"), fsync=False, meta_url=url))
        await engine.open()
        try:
            _, b = await engine.meta.create_bucket(Bucket(0, "renames", "owner", time.time(), "us-east-1", "{}",
                                                          None, "{}"))
            await body(engine, b)
        finally:
            await engine.close()

    run_on_test_store(run)


def _version(b: Bucket, key: str, size: int, inline: bytes | None = None, blob_id: str | None = None,
             at: float = 1000.0) -> ObjectVersion:
    return ObjectVersion(b.id, key, "null", size, f'"{key}-{size}"', at, json.dumps({"content-type": "t/x"}), "{}",
                         "owner", "STANDARD", inline, blob_id, None, None)


async def _intent(engine: Engine, blob_id: str) -> None:
    """A shared-filesystem store (PostgreSQL) takes a data file only once announced."""
    if engine.settings.meta_url:
        await engine.meta.add_blob_intent(blob_id)


def _allow(src: ObjectVersion, dst: ObjectVersion | None) -> None:
    pass


def test_rename_moves_the_row_and_its_accounting(tmp_path: Path) -> None:
    async def body(engine: Engine, b: Bucket) -> None:
        await engine.meta.put_object(_version(b, "a", 3, inline=b"abc", at=1234.5))
        await _intent(engine, "blob-of-b")
        await engine.meta.put_object(_version(b, "b", 100, blob_id="blob-of-b"))
        usage = await engine.meta.bucket_usage(b.id)
        assert (usage.objects, usage.bytes) == (2, 103)
        moved = await engine.meta.rename_object(b.id, "a", "b", _allow)
        assert moved.key == "b"
        assert await engine.meta.get_object(b.id, "a") is None
        got = await engine.meta.get_object(b.id, "b")
        assert got is not None
        assert (got.inline, got.etag, got.last_modified, got.size, got.headers) == (
            b"abc", '"a-3"', 1234.5, 3, json.dumps({"content-type": "t/x"}))
        usage = await engine.meta.bucket_usage(b.id)
        assert (usage.objects, usage.bytes) == (1, 3)
        assert "blob-of-b" in await engine.meta.pending_garbage(100)
        # to a key nobody has: the data file of the renamed object is not garbage
        await _intent(engine, "blob-of-c")
        await engine.meta.put_object(_version(b, "c", 50, blob_id="blob-of-c"))
        await engine.meta.rename_object(b.id, "c", "d", _allow)
        assert "blob-of-c" not in await engine.meta.pending_garbage(100)
        assert [r.key for r in await engine.meta.list_objects(b.id, "", "", 10)] == ["b", "d"]
        usage = await engine.meta.bucket_usage(b.id)
        assert (usage.objects, usage.bytes) == (2, 53)
    _run(tmp_path, body)


def test_refused_rename_changes_nothing(tmp_path: Path) -> None:
    async def body(engine: Engine, b: Bucket) -> None:
        await engine.meta.put_object(_version(b, "a", 1, inline=b"a"))
        seen: list[tuple[str, str | None]] = []

        def refuse(src: ObjectVersion, dst: ObjectVersion | None) -> None:
            seen.append((src.key, dst.key if dst is not None else None))
            raise S3Error("PreconditionFailed")

        with pytest.raises(S3Error) as exc:
            await engine.meta.rename_object(b.id, "a", "z", refuse)
        assert exc.value.code == "PreconditionFailed" and seen == [("a", None)]
        with pytest.raises(S3Error) as exc:
            await engine.meta.rename_object(b.id, "nope", "z", _allow)
        assert exc.value.code == "NoSuchKey"
        assert [r.key for r in await engine.meta.list_objects(b.id, "", "", 10)] == ["a"]
        await engine.meta.update_bucket(b.id, versioning="Enabled")
        with pytest.raises(S3Error) as exc:
            await engine.meta.rename_object(b.id, "a", "z", _allow)
        assert exc.value.code == "NotImplemented"
    _run(tmp_path, body)


def test_renames_of_one_source_at_once(tmp_path: Path) -> None:
    """Many renames of one source to different keys at once: one wins, the
    others find no source; the object exists once."""
    async def body(engine: Engine, b: Bucket) -> None:
        await engine.meta.put_object(_version(b, "src", 1, inline=b"s"))
        results = await asyncio.gather(*(engine.meta.rename_object(b.id, "src", f"dst-{i}", _allow)
                                         for i in range(16)), return_exceptions=True)
        won = [r for r in results if isinstance(r, ObjectVersion)]
        lost = [r for r in results if not isinstance(r, ObjectVersion)]
        assert len(won) == 1
        assert all(isinstance(r, S3Error) and r.code == "NoSuchKey" for r in lost)
        assert [r.key for r in await engine.meta.list_objects(b.id, "", "", 100)] == [won[0].key]
    _run(tmp_path, body)
