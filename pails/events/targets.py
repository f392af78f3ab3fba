"""The kinds of notification target, their options, and one client per kind
(docs/notifications.md).  A ``Sender.send`` returns only once the target
acknowledged the message (an HTTP 2xx, a broker's confirm or PUBACK, a
committed row); anything else raises, and the delivery job tries again
later.  Client libraries are the optional extra ``pails[events]``, imported
when a target of their kind is first used."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from pails.storage.event_rows import EventTarget

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
TIMEOUT = 10.0  # seconds for one delivery attempt, connection included


@dataclass(frozen=True, slots=True)
class Kind:
    required: tuple[str, ...]
    optional: dict[str, Any]  # option -> default


KINDS: dict[str, Kind] = {
    "webhook": Kind(("endpoint",), {"auth_token": "", "max_queued": 100000}),
    "redis": Kind(("key",), {"url": "redis://127.0.0.1:6379/0", "mode": "list", "max_queued": 100000}),
    "amqp": Kind(("routing_key",), {"url": "amqp://guest:guest@127.0.0.1:5672/", "exchange": "",
                                    "exchange_type": "direct", "max_queued": 100000}),
    "mqtt": Kind(("topic",), {"broker": "127.0.0.1:1883", "qos": 1, "username": "", "password": "",
                              "max_queued": 100000}),
    "nats": Kind(("subject",), {"url": "nats://127.0.0.1:4222", "jetstream": False, "max_queued": 100000}),
    "postgresql": Kind(("dsn", "table"), {"max_queued": 100000}),
    "mysql": Kind(("dsn", "table"), {"max_queued": 100000}),
}
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_options(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options of a target of ``kind`` with defaults filled in; ValueError
    says what is wrong."""
    spec = KINDS.get(kind)
    if spec is None:
        raise ValueError(f"unknown target kind {kind!r} (one of {', '.join(sorted(KINDS))})")
    unknown = set(options) - set(spec.required) - set(spec.optional)
    if unknown:
        raise ValueError(f"unknown option(s) for {kind}: {', '.join(sorted(unknown))}")
    missing = [o for o in spec.required if not options.get(o)]
    if missing:
        raise ValueError(f"{kind} needs: {', '.join(missing)}")
    out = {**spec.optional, **options}
    for name, default in spec.optional.items():
        if isinstance(default, bool):
            out[name] = out[name] if isinstance(out[name], bool) else str(out[name]).lower() in ("1", "true", "yes")
        elif isinstance(default, int):
            out[name] = int(out[name])
    if out["max_queued"] < 1:
        raise ValueError("max_queued must be at least 1")
    if kind == "redis" and out["mode"] not in ("list", "stream", "pubsub"):
        raise ValueError("redis mode is one of list, stream, pubsub")
    if kind == "mqtt" and out["qos"] not in (0, 1, 2):
        raise ValueError("mqtt qos is 0, 1 or 2")
    if kind in ("postgresql", "mysql") and not _TABLE.fullmatch(out["table"]):
        raise ValueError("table: letters, digits and _ only")
    if kind == "webhook" and urlsplit(out["endpoint"]).scheme not in ("http", "https"):
        raise ValueError("endpoint must be an http:// or https:// URL")
    return out


def arn_of(target: EventTarget, region: str = "") -> str:
    """The ARN a bucket configuration names ``target`` by (MinIO's form, under our name)."""
    return f"arn:pails:sqs:{region}:{target.name}:{target.kind}"


def target_of_arn(arn: str) -> tuple[str, str] | None:
    """(target name, kind) named by an ARN: ``arn:pails:sqs:REGION:NAME:KIND``,
    MinIO's ``arn:minio:sqs:REGION:NAME:KIND`` (sns and lambda also accepted,
    for Topic and CloudFunction configurations); None if it is not one."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[1] not in ("pails", "minio", "aws"):
        return None
    if parts[2] not in ("sqs", "sns", "lambda"):
        return None
    if not NAME.fullmatch(parts[4]) or parts[5] not in KINDS:
        return None
    return parts[4], parts[5]


class Sender:
    """One target's client: ``send`` delivers one message or raises."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self._client: Any = None

    async def send(self, body: bytes, key: str) -> None:
        try:
            await asyncio.wait_for(self._send(body, key), TIMEOUT)
        except BaseException:
            await self.close()  # a new connection next time
            raise

    async def _send(self, body: bytes, key: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(self._close(client), 5)
            except Exception:  # noqa: BLE001 - a broken connection may not close cleanly
                pass

    async def _close(self, client: Any) -> None:
        close = getattr(client, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


class WebhookSender(Sender):
    async def _send(self, body: bytes, key: str) -> None:
        import aiohttp

        if self._client is None:
            self._client = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"}
        if self.options["auth_token"]:
            headers["Authorization"] = self.options["auth_token"]
        async with self._client.post(self.options["endpoint"], data=body, headers=headers) as resp:
            if not 200 <= resp.status < 300:
                raise OSError(f"webhook answered {resp.status}")


class RedisSender(Sender):
    async def _send(self, body: bytes, key: str) -> None:
        import redis.asyncio as aioredis

        if self._client is None:
            self._client = aioredis.from_url(self.options["url"])
        target, mode = self.options["key"], self.options["mode"]
        if mode == "list":
            await self._client.rpush(target, body)
        elif mode == "stream":
            await self._client.xadd(target, {"event": body})
        else:
            await self._client.publish(target, body)

    async def _close(self, client: Any) -> None:
        await client.aclose()


class AmqpSender(Sender):
    async def _send(self, body: bytes, key: str) -> None:
        import aio_pika

        if self._client is None:
            conn = await aio_pika.connect(self.options["url"])
            channel = await conn.channel(publisher_confirms=True)
            exchange = channel.default_exchange
            if self.options["exchange"]:
                exchange = await channel.declare_exchange(self.options["exchange"], self.options["exchange_type"],
                                                          durable=True)
            self._client = (conn, exchange)
        _conn, exchange = self._client
        message = aio_pika.Message(body, content_type="application/json",
                                   delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await exchange.publish(message, routing_key=self.options["routing_key"], mandatory=False)

    async def _close(self, client: Any) -> None:
        await client[0].close()


class MqttSender(Sender):
    async def _send(self, body: bytes, key: str) -> None:
        import aiomqtt

        if self._client is None:
            host, _, port = self.options["broker"].rpartition(":")
            client = aiomqtt.Client(host or "127.0.0.1", int(port or 1883),
                                    username=self.options["username"] or None,
                                    password=self.options["password"] or None)
            await client.__aenter__()
            self._client = client
        await self._client.publish(self.options["topic"], body, qos=self.options["qos"])

    async def _close(self, client: Any) -> None:
        await client.__aexit__(None, None, None)


class NatsSender(Sender):
    async def _send(self, body: bytes, key: str) -> None:
        import nats

        if self._client is None:
            self._client = await nats.connect(self.options["url"], connect_timeout=5, max_reconnect_attempts=0,
                                              allow_reconnect=False)
        if self.options["jetstream"]:
            await self._client.jetstream().publish(self.options["subject"], body)
        else:
            await self._client.publish(self.options["subject"], body)
            await self._client.flush()


class PostgresSender(Sender):
    async def _send(self, body: bytes, key: str) -> None:
        import psycopg

        table = self.options["table"]
        if self._client is None:
            self._client = await psycopg.AsyncConnection.connect(self.options["dsn"], autocommit=True,
                                                                 connect_timeout=5)
            await self._client.execute(f"CREATE TABLE IF NOT EXISTS {table} (id bigserial PRIMARY KEY, "
                                       "event_time timestamptz NOT NULL DEFAULT now(), event_data jsonb NOT NULL)")
        await self._client.execute(f"INSERT INTO {table} (event_data) VALUES (%s::jsonb)", (body.decode(),))


class MysqlSender(Sender):
    async def _send(self, body: bytes, key: str) -> None:
        import aiomysql

        table = self.options["table"]
        if self._client is None:
            u = urlsplit(self.options["dsn"])
            self._client = await aiomysql.connect(
                host=u.hostname or "127.0.0.1", port=u.port or 3306, user=unquote(u.username or "root"),
                password=unquote(u.password or ""), db=u.path.lstrip("/") or "test", autocommit=True,
                connect_timeout=5)
            async with self._client.cursor() as cur:
                await cur.execute(f"CREATE TABLE IF NOT EXISTS {table} (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                                  "event_time DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), "
                                  "event_data JSON NOT NULL)")
        async with self._client.cursor() as cur:
            await cur.execute(f"INSERT INTO {table} (event_data) VALUES (%s)", (body.decode(),))

    async def _close(self, client: Any) -> None:
        client.close()


SENDERS: dict[str, Callable[[dict[str, Any]], Sender]] = {
    "webhook": WebhookSender, "redis": RedisSender, "amqp": AmqpSender, "mqtt": MqttSender,
    "nats": NatsSender, "postgresql": PostgresSender, "mysql": MysqlSender,
}


def sender_for(target: EventTarget) -> Sender:
    return SENDERS[target.kind](json.loads(target.config))


def message(record: dict[str, Any]) -> bytes:
    """The message of one event record: AWS's ``{"Records": [...]}``, with
    MinIO's ``EventName`` and ``Key`` (bucket/key) beside it for its clients."""
    s3 = record.get("s3", {})
    key = f"{s3.get('bucket', {}).get('name', '')}/{unquote_plus(s3.get('object', {}).get('key', ''))}"
    return json.dumps({"EventName": record.get("eventName", ""), "Key": key, "Records": [record]},
                      separators=(",", ":")).encode()
