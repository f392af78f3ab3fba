"""The receiving ends of bucket notifications for the tests: a webhook
receiver, and a consumer per broker kind, each against the real service on
127.0.0.1 (PostgreSQL 5432, MariaDB 3306, Redis 6379, RabbitMQ 5672,
Mosquitto 1883, NATS with JetStream 4222)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg


class Webhook:
    """An HTTP receiver on 127.0.0.1 that keeps every JSON body it is POSTed
    (with its Authorization header); ``stop``/``start`` take it down and
    bring it back on the same port."""

    def __init__(self, port: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.port = port
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> Webhook:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.bodies.append(json.loads(body))
                outer.auth.append(self.headers.get("Authorization"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def records(self) -> list[dict[str, Any]]:
        return [r for b in list(self.bodies) for r in b.get("Records", [])]


def records_of(messages: list[bytes | str]) -> list[dict[str, Any]]:
    """The event records in broker messages (test events have none)."""
    return [r for m in messages for r in json.loads(m).get("Records", [])]


class _LoopThread:
    """An asyncio loop in a thread, for subscribers that must listen before the events are sent."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop once every task left on it (a client's reader) is cancelled and done."""
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.run(cancel_all(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)


class Consumer:
    """One broker destination: ``options`` for ``pails target add``,
    ``messages()`` what it has received so far."""

    kind = ""

    def __init__(self) -> None:
        self.name = "t" + uuid.uuid4().hex[:12]

    def options(self) -> dict[str, Any]:
        raise NotImplementedError

    def messages(self) -> list[bytes | str]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class RedisConsumer(Consumer):
    kind = "redis"

    def __init__(self, mode: str) -> None:
        super().__init__()
        import redis

        self.mode = mode
        self.client = redis.Redis(host="127.0.0.1", port=6379)
        self._got: list[bytes] = []
        self._pubsub = None
        if mode == "pubsub":
            self._pubsub = self.client.pubsub()
            self._pubsub.subscribe(self.name)
            self._pubsub.get_message(timeout=5)  # the subscription's confirmation

    def options(self) -> dict[str, Any]:
        return {"url": "redis://127.0.0.1:6379/0", "key": self.name, "mode": self.mode}

    def messages(self) -> list[bytes | str]:
        if self.mode == "list":
            return list(self.client.lrange(self.name, 0, -1))
        if self.mode == "stream":
            return [fields[b"event"] for _id, fields in self.client.xrange(self.name)]
        assert self._pubsub is not None
        while (m := self._pubsub.get_message(timeout=0.2)) is not None:
            if m["type"] == "message":
                self._got.append(m["data"])
        return list(self._got)

    def close(self) -> None:
        if self._pubsub is not None:
            self._pubsub.close()
        self.client.delete(self.name)
        self.client.close()


class AmqpConsumer(Consumer):
    kind = "amqp"
    URL = "amqp://guest:guest@127.0.0.1:5672/"

    def __init__(self) -> None:
        super().__init__()
        self.loop = _LoopThread()
        self._got: list[bytes] = []
        self.loop.run(self._open())

    async def _open(self) -> None:
        import aio_pika

        self.conn = await aio_pika.connect(self.URL)
        self.channel = await self.conn.channel()
        self.queue = await self.channel.declare_queue(self.name, durable=False, auto_delete=False)

    def options(self) -> dict[str, Any]:
        return {"url": self.URL, "routing_key": self.name}

    async def _drain(self) -> None:
        while (m := await self.queue.get(no_ack=True, fail=False)) is not None:
            self._got.append(m.body)

    def messages(self) -> list[bytes | str]:
        self.loop.run(self._drain())
        return list(self._got)

    async def _close(self) -> None:
        await self.queue.delete(if_unused=False, if_empty=False)
        await self.conn.close()

    def close(self) -> None:
        self.loop.run(self._close())
        self.loop.close()


class MqttConsumer(Consumer):
    kind = "mqtt"

    def __init__(self) -> None:
        super().__init__()
        self.loop = _LoopThread()
        self._got: list[bytes] = []
        self._ready = threading.Event()
        self._task = asyncio.run_coroutine_threadsafe(self._listen(), self.loop.loop)
        assert self._ready.wait(10), "the MQTT subscriber did not start"

    async def _listen(self) -> None:
        import aiomqtt

        self.client = aiomqtt.Client("127.0.0.1", 1883)
        async with self.client:
            await self.client.subscribe(f"pails/{self.name}", qos=1)
            self._ready.set()
            async for m in self.client.messages:
                self._got.append(bytes(m.payload))  # type: ignore[arg-type]

    def options(self) -> dict[str, Any]:
        return {"broker": "127.0.0.1:1883", "topic": f"pails/{self.name}", "qos": 1}

    def messages(self) -> list[bytes | str]:
        return list(self._got)

    def close(self) -> None:
        self.loop.close()  # cancels the listener, which leaves the broker


class NatsConsumer(Consumer):
    kind = "nats"

    def __init__(self, jetstream: bool) -> None:
        super().__init__()
        self.jetstream = jetstream
        self.loop = _LoopThread()
        self._got: list[bytes] = []
        self.loop.run(self._open())

    async def _open(self) -> None:
        import nats

        self.nc = await nats.connect("nats://127.0.0.1:4222")
        self.subject = f"pails.{self.name}"
        if self.jetstream:
            self.js = self.nc.jetstream()
            await self.js.add_stream(name=self.name.upper(), subjects=[self.subject])
        else:
            async def on_message(m: Any) -> None:
                self._got.append(m.data)
            await self.nc.subscribe(self.subject, cb=on_message)
            await self.nc.flush()

    def options(self) -> dict[str, Any]:
        return {"url": "nats://127.0.0.1:4222", "subject": self.subject, "jetstream": self.jetstream}

    async def _fetch(self) -> list[bytes]:
        info = await self.js.stream_info(self.name.upper())
        out = []
        if info.state.messages:
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                out.append((await self.js.get_msg(self.name.upper(), seq)).data)
        return out

    def messages(self) -> list[bytes | str]:
        if self.jetstream:
            return list(self.loop.run(self._fetch()))
        return list(self._got)

    async def _close(self) -> None:
        if self.jetstream:
            await self.js.delete_stream(self.name.upper())
        await self.nc.close()

    def close(self) -> None:
        self.loop.run(self._close())
        self.loop.close()


class PostgresConsumer(Consumer):
    kind = "postgresql"
    DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

    def options(self) -> dict[str, Any]:
        return {"dsn": self.DSN, "table": self.name}

    def messages(self) -> list[bytes | str]:
        with psycopg.connect(self.DSN, autocommit=True) as c:
            exists = c.execute("SELECT to_regclass(%s)", (self.name,)).fetchone()
            if exists is None or exists[0] is None:
                return []
            return [json.dumps(r[0]) for r in c.execute(f"SELECT event_data FROM {self.name} ORDER BY id")]

    def close(self) -> None:
        with psycopg.connect(self.DSN, autocommit=True) as c:
            c.execute(f"DROP TABLE IF EXISTS {self.name}")


class MysqlConsumer(Consumer):
    kind = "mysql"
    DSN = "mysql://root@127.0.0.1:3306/test"

    def options(self) -> dict[str, Any]:
        return {"dsn": self.DSN, "table": self.name}

    def _connect(self) -> Any:
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                               autocommit=True)

    def messages(self) -> list[bytes | str]:
        c = self._connect()
        try:
            with c.cursor() as cur:
                cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema='test' "
                            "AND table_name=%s", (self.name,))
                if cur.fetchone()[0] == 0:
                    return []
                cur.execute(f"SELECT event_data FROM {self.name} ORDER BY id")
                return [r[0] for r in cur.fetchall()]
        finally:
            c.close()

    def close(self) -> None:
        c = self._connect()
        try:
            with c.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {self.name}")
        finally:
            c.close()


CONSUMERS = {
    "redis-list": lambda: RedisConsumer("list"),
    "redis-stream": lambda: RedisConsumer("stream"),
    "redis-pubsub": lambda: RedisConsumer("pubsub"),
    "amqp": AmqpConsumer,
    "mqtt": MqttConsumer,
    "nats": lambda: NatsConsumer(False),
    "nats-jetstream": lambda: NatsConsumer(True),
    "postgresql": PostgresConsumer,
    "mysql": MysqlConsumer,
}

PORTS = {"redis-list": 6379, "redis-stream": 6379, "redis-pubsub": 6379, "amqp": 5672, "mqtt": 1883, "nats": 4222,
         "nats-jetstream": 4222, "postgresql": 5432, "mysql": 3306}


def consumer(kind: str) -> Consumer:
    """A consumer of ``kind``; its test skips when the service is not there,
    except under CI, where .ci/run started it (scripts/ensure-brokers.sh)."""
    import pytest

    try:
        socket.create_connection(("127.0.0.1", PORTS[kind]), timeout=2).close()
    except OSError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no service on 127.0.0.1:{PORTS[kind]} for {kind} (scripts/ensure-brokers.sh starts it)")
    return CONSUMERS[kind]()
