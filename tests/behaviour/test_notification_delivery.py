"""Delivery of bucket notifications that survives failures
(docs/notifications.md), on a server of its own whose lifecycle "day" is one
second: with the target down (a webhook receiver stopped; a broker target
pointed at a closed port), events wait in the outbox, the server is
SIGKILLed and started again, the target comes back, and every event arrives,
each key's in the order of its changes; a full outbox drops its oldest
events and counts them; lifecycle expirations are notified."""

from __future__ import annotations

import re
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests import notify_peers as peers
from tests.behaviour.test_notifications import add_target, pails, queue_config, target_state, wait_for
from tests.conftest import client
from tests.notify_peers import CONSUMERS, Webhook, records_of
from tests.pails_server import STORE, Server, free_port

EVENTS = 24


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("notify") / "data", env={"PAILS_LIFECYCLE_DAY_SECONDS": "1"}).start()
    yield srv
    srv.stop()


@pytest.fixture
def s3(server: Server):  # a new client after each restart of the server
    return client(server)


@pytest.fixture
def bucket(server: Server) -> Iterator[str]:
    name = f"notify-{uuid.uuid4().hex[:12]}"
    client(server).create_bucket(Bucket=name)
    yield name


def _write_events(s3: Any, bucket: str) -> list[tuple[str, str]]:
    """Puts and deletes over a few keys: (event, key) in commit order."""
    done = []
    for i in range(EVENTS):
        key = f"key {i % 4}"
        if i % 5 == 4:
            s3.delete_object(Bucket=bucket, Key=key)
            done.append(("ObjectRemoved:Delete", key))
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())
            done.append(("ObjectCreated:Put", key))
    return done


def _check_all_arrived(records: list[dict[str, Any]], bucket: str, expected: list[tuple[str, str]]) -> None:
    mine = [r for r in records if r["s3"]["bucket"]["name"] == bucket]
    # At least once: a crash between a send and its removal may send again (same sequencer).
    unique = {r["s3"]["object"]["sequencer"]: r for r in mine}
    got = [(r["eventName"], urllib.parse.unquote_plus(r["s3"]["object"]["key"]))
           for _, r in sorted(unique.items())]
    assert got == expected
    for key in {k for _, k in expected}:  # each key's events arrived in the order of its changes
        arrived = [r["s3"]["object"]["sequencer"] for r in mine
                   if urllib.parse.unquote_plus(r["s3"]["object"]["key"]) == key]
        first_seen = list(dict.fromkeys(arrived))
        assert first_seen == sorted(first_seen)


def _restart(server: Server) -> None:
    server.kill()
    server.start()


def test_webhook_down_and_server_killed_loses_nothing(server: Server, s3: Any, bucket: str) -> None:
    hook = Webhook(free_port()).start()
    try:
        arn = add_target(server, "crash" + uuid.uuid4().hex[:8], "webhook", endpoint=hook.url)
        name = arn.split(":")[4]
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            queue_config(arn, ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])]})
        hook.stop()
        expected = _write_events(s3, bucket)
        wait_for(lambda: target_state(server, name)["failures"] > 0, "a failed delivery")
        assert target_state(server, name)["queued"] == EVENTS
        _restart(server)
        hook.start()
        wait_for(lambda: target_state(server, name)["queued"] == 0, "the outbox to empty")
        _check_all_arrived(hook.records(), bucket, expected)
    finally:
        hook.stop()


def _closed(options: dict[str, Any]) -> dict[str, Any]:
    """The options with the service's address replaced by a closed port."""
    port = free_port()
    return {k: re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", v) if isinstance(v, str) else v
            for k, v in options.items()}


@pytest.mark.parametrize("kind", sorted(CONSUMERS))
def test_broker_down_and_server_killed_loses_nothing(server: Server, s3: Any, bucket: str, kind: str) -> None:
    consumer = peers.consumer(kind)
    try:
        arn = add_target(server, consumer.name, consumer.kind, **consumer.options())
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            queue_config(arn, ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])]})
        add_target(server, consumer.name, consumer.kind, **_closed(consumer.options()))  # the broker is "down"
        expected = _write_events(s3, bucket)
        wait_for(lambda: target_state(server, consumer.name)["failures"] > 0, "a failed delivery")
        _restart(server)
        add_target(server, consumer.name, consumer.kind, **consumer.options())  # and back
        wait_for(lambda: target_state(server, consumer.name)["queued"] == 0, "the outbox to empty")
        wait_for(lambda: len(records_of(consumer.messages())) >= EVENTS, f"every event on {kind}")
        _check_all_arrived(records_of(consumer.messages()), bucket, expected)
    finally:
        pails(server, "target", "remove", consumer.name)
        consumer.close()


def test_a_full_outbox_drops_the_oldest_events(server: Server, s3: Any, bucket: str) -> None:
    hook = Webhook().start()
    try:
        arn = add_target(server, "full" + uuid.uuid4().hex[:8], "webhook", endpoint=hook.url, max_queued=5)
        name = arn.split(":")[4]
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            queue_config(arn, ["s3:ObjectCreated:*"])]})
        add_target(server, name, "webhook", endpoint=f"http://127.0.0.1:{free_port()}/", max_queued=5)
        for i in range(20):
            s3.put_object(Bucket=bucket, Key=f"k{i:02d}", Body=b"x")  # never refused for its notifications
        state = wait_for(lambda: (s := target_state(server, name))["dropped"] == 15 and s, "the oldest dropped")
        assert state["queued"] == 5
        add_target(server, name, "webhook", endpoint=hook.url, max_queued=5)
        wait_for(lambda: len(hook.records()) >= 5, "the newest events")
        assert [r["s3"]["object"]["key"] for r in hook.records()] == [f"k{i}" for i in range(15, 20)]
    finally:
        hook.stop()


def test_lifecycle_expiration_is_notified(server: Server, s3: Any, bucket: str) -> None:
    hook = Webhook().start()
    try:
        arn = add_target(server, "lc" + uuid.uuid4().hex[:8], "webhook", endpoint=hook.url)
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            queue_config(arn, ["s3:LifecycleExpiration:*"])]})
        s3.put_object(Bucket=bucket, Key="old", Body=b"x")
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]})
        wait_for(lambda: hook.records(), "the expiration event", deadline=60)
        assert [(r["eventName"], r["s3"]["object"]["key"]) for r in hook.records()] == [
            ("LifecycleExpiration:Delete", "old")]
    finally:
        hook.stop()


@pytest.mark.skipif(STORE != "postgresql", reason="several gateways share a PostgreSQL store")
def test_several_gateways_deliver_each_event(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Three gateways on one database: writes through all of them at once, the
    gateway holding the delivery lease (or another) SIGKILLed half-way: every
    event arrives, each key's in order."""
    from tests.behaviour.test_gateways import Cluster

    cluster = Cluster(tmp_path_factory.mktemp("notify-gateways"))
    hook = Webhook().start()
    try:
        gateway = cluster.gateways[0]
        arn = add_target(gateway, "gw" + uuid.uuid4().hex[:8], "webhook", endpoint=hook.url)
        clients = cluster.clients()
        name = f"gw-{uuid.uuid4().hex[:12]}"
        clients[0].create_bucket(Bucket=name)
        clients[1].put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={
            "QueueConfigurations": [queue_config(arn, ["s3:ObjectCreated:*"])]})
        for s3 in clients:  # every gateway has seen the configuration (within PgMeta's BUCKET_TTL)
            wait_for(lambda s3=s3: s3.get_bucket_notification_configuration(Bucket=name).get("QueueConfigurations"),
                     "the configuration on each gateway")
        expected: dict[int, list[tuple[str, str]]] = {}

        def writer(n: int) -> None:
            s3 = clients[n]
            expected[n] = []
            for i in range(20):
                key = f"w{n} {i % 3}"
                s3.put_object(Bucket=name, Key=key, Body=b"x")
                expected[n].append(("ObjectCreated:Put", key))

        threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
        for t in threads:
            t.start()
        writer(0)
        cluster.gateways[0].kill()
        for t in threads:
            t.join()
        records = lambda: [r for r in hook.records() if r["s3"]["bucket"]["name"] == name]  # noqa: E731
        wait_for(lambda: len({r["s3"]["object"]["sequencer"] for r in records()}) >= 60, "every event", 60)
        for n in (0, 1, 2):
            mine = [r for r in records() if r["s3"]["object"]["key"].startswith(f"w{n}")]
            _check_all_arrived(mine, name, expected[n])
    finally:
        hook.stop()
        cluster.close()
