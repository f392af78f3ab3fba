"""The outbox of bucket notifications in the store (both stores): an event
is recorded by the very commit of its change and not by a write that fails;
batches come in commit order; done, failed, trimmed and removed as the
delivery job and the operator ask (pails.storage.notify, docs/notifications.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pails.errors import S3Error
from pails.storage.event_rows import EventTarget
from pails.storage.meta import WriteCondition
from pails.storage.notify import Config, RequestInfo, emitting, pending_for
from pails.storage.records import Bucket, ObjectVersion
from tests.pg import run_on_test_store


def _version(bucket_id: int, key: str) -> ObjectVersion:
    return ObjectVersion(bucket_id, key, "null", 1, '"e"', time.time(), "{}", "{}", "owner", "STANDARD", b"x",
                         None, None, None)


def test_outbox_in_the_store(tmp_path: Path) -> None:
    from pails.storage.engine import Engine, Settings

    async def run(url: str | None) -> None:
        engine = Engine(Settings(str(tmp_path / "data"), fsync=False, meta_url=url))
        await engine.open()
        meta = engine.meta
        try:
            await meta.put_event_target(EventTarget("hook", "webhook", '{"max_queued": 3}', time.time()))
            props = json.dumps({"notification": {"configs": [
                Config("c", "Queue", "arn:pails:sqs::hook:webhook", "hook", ("s3:ObjectCreated:*",)).to_record()]}})
            _, b = await meta.create_bucket(Bucket(0, "events", "owner", time.time(), "us-east-1", "{}", None, props))

            async def put(key: str, condition: WriteCondition | None = None) -> str:
                pending = pending_for(b.props, "s3:ObjectCreated:Put", b.name, b.owner_id, key, RequestInfo())
                return await emitting(pending, engine.commit_object(_version(b.id, key), None, condition))

            for key in ("a", "b", "c", "d"):
                await put(key)
            with pytest.raises(S3Error):
                await put("a", WriteCondition(if_none_match_any=True))  # refused: no event
            await meta.put_object(_version(b.id, "quiet"))  # outside emitting: no event
            batch = await meta.outbox_batch("hook", 10)
            keys = [json.loads(r)["s3"]["object"]["key"] for _, r in batch]
            assert keys == ["a", "b", "c", "d"]
            assert [i for i, _ in batch] == sorted(i for i, _ in batch)
            await meta.outbox_done("hook", [batch[0][0]])
            await meta.outbox_failed("hook", "ConnectionRefusedError: nope")
            assert await meta.outbox_trim("hook", 2) == 1  # "b" dropped
            (depth,) = await meta.outbox_depth()
            assert (depth.target, depth.queued, depth.delivered, depth.dropped, depth.failures) == ("hook", 2, 1, 1, 1)
            assert depth.last_error == "ConnectionRefusedError: nope"
            assert [json.loads(r)["s3"]["object"]["key"] for _, r in await meta.outbox_batch("hook", 10)] == ["c", "d"]
            assert [t.name for t in await meta.list_event_targets()] == ["hook"]
            assert await meta.remove_event_target("hook")
            assert await meta.outbox_depth() == [] and await meta.outbox_batch("hook", 10) == []
            assert not await meta.remove_event_target("hook")
        finally:
            await engine.close()

    run_on_test_store(run)
