"""Bucket notifications at the storage level (docs/notifications.md): what a
bucket's configuration means, and the events a write records in its own
commit (the outbox).

A handler that changes an object in a bucket with a notification
configuration (``MARK`` in its props: a test that spares the JSON parse)
builds a ``Pending`` for the matching configurations and runs the store call
inside ``emitting(pending, ...)``.  The store's commit path (the SQLite
committer's ``_write``, the PostgreSQL ``Committer``) reads ``PENDING`` when
the write is queued and, once the write succeeded inside the transaction,
inserts ``pending.rows(result)`` into ``event_outbox`` before the commit: the
event exists exactly when the change does.  ``pails.jobs.notify`` delivers
and removes the rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote_plus

from pails.storage.meta import Deleted
from pails.storage.records import ObjectVersion

T = TypeVar("T")

PROP = "notification"
MARK = '"notification":'  # in a bucket's props exactly when it has a configuration

# The event types AWS defines; a configuration may name a whole family with "*".
EVENT_TYPES = frozenset({
    "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed", "s3:ObjectRestore:Delete",
    "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
    "s3:LifecycleExpiration:Delete", "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition", "s3:IntelligentTiering",
    "s3:ReducedRedundancyLostObject", "s3:Replication:*",
    "s3:Replication:OperationFailedReplication", "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold", "s3:Replication:OperationNotTracked",
})
FAMILIES = frozenset({"s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectRestore:*", "s3:ObjectTagging:*",
                      "s3:ObjectAcl:*", "s3:LifecycleExpiration:*"})


def valid_event(name: str) -> bool:
    return name in EVENT_TYPES or name in FAMILIES


def event_matches(pattern: str, event: str) -> bool:
    """Whether a configuration's event ``pattern`` ("s3:ObjectCreated:*" or an exact name) covers ``event``."""
    if pattern.endswith(":*"):
        return event.startswith(pattern[:-1])
    return pattern == event


@dataclass(frozen=True, slots=True)
class Config:
    """One Queue/Topic/CloudFunction configuration of a bucket."""

    id: str
    kind: str  # "Queue", "Topic" or "CloudFunction"
    arn: str  # as the client gave it
    target: str  # the operator's target it names (pails.events.arn)
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def covers(self, event: str, key: str) -> bool:
        return (key.startswith(self.prefix) and key.endswith(self.suffix)
                and any(event_matches(p, event) for p in self.events))

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "arn": self.arn, "target": self.target,
                "events": list(self.events), "prefix": self.prefix, "suffix": self.suffix}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Config:
        return cls(r["id"], r["kind"], r["arn"], r["target"], tuple(r["events"]), r.get("prefix", ""),
                   r.get("suffix", ""))


def configs_of(props: str) -> list[Config]:
    """The bucket's configurations (none without ``MARK``: no parse)."""
    if MARK not in props:
        return []
    return [Config.from_record(r) for r in json.loads(props).get(PROP, {}).get("configs", [])]


def overlap(a: Config, b: Config) -> bool:
    """AWS refuses two configurations that could both fire for one event:
    a common event type, and prefixes and suffixes that a key can satisfy at once."""
    if not any(event_matches(p, q) or event_matches(q, p) or p == q for p in a.events for q in b.events):
        return False
    prefixes = a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)
    suffixes = a.suffix.endswith(b.suffix) or b.suffix.endswith(a.suffix)
    return prefixes and suffixes


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """Who caused an event, for its record."""

    principal_id: str = ""
    source_ip: str = ""
    request_id: str = ""
    host_id: str = ""
    region: str = "us-east-1"


@dataclass(slots=True)
class Pending:
    """The events one store write records if it succeeds: built by the
    handler before the call (it knows the key, size and ETag), completed
    with the write's result inside the commit (``rows``)."""

    event: str  # e.g. "s3:ObjectCreated:Put"; a removal becomes DeleteMarkerCreated from its result
    bucket: str
    owner_id: str
    key: str
    configs: list[Config]
    info: RequestInfo
    size: int | None = None
    etag: str = ""
    version_id: str | None = None  # the version acted on, when the request named it
    extra: dict[str, Any] = field(default_factory=dict)

    def rows(self, result: Any) -> list[tuple[str, float, str]]:
        """(target, created, record JSON) for each configuration, given the
        store call's result; none when the call changed nothing."""
        event = self.event
        version_id = self.version_id
        size = self.size
        etag = self.etag
        if isinstance(result, Deleted):
            if result.version_id is None:
                return []
            if result.delete_marker and self.version_id is None:
                event = event.rsplit(":", 1)[0] + ":DeleteMarkerCreated"
            version_id = result.version_id
        elif isinstance(result, ObjectVersion):
            version_id, size, etag = result.version_id, result.size, result.etag
        elif isinstance(result, str):
            version_id = result
        elif result is not True:
            return []
        now = time.time()
        out = []
        for config in self.configs:
            if config.covers(event, self.key):
                record = event_record(self, event, config.id, now, version_id, size, etag)
                out.append((config.target, now, json.dumps(record, separators=(",", ":"))))
        return out


def event_record(p: Pending, event: str, config_id: str, when: float, version_id: str | None,
                 size: int | None, etag: str) -> dict[str, Any]:
    """AWS's event record (eventVersion 2.1), but for ``s3.object.sequencer``,
    which the outbox row's id gives at delivery (``with_sequencer``)."""
    obj: dict[str, Any] = {"key": quote_plus(p.key, safe="/")}
    if size is not None and not event.startswith("s3:ObjectRemoved") and "Expiration" not in event:
        obj["size"] = size
    if etag:
        obj["eTag"] = etag.strip('"')
    if version_id and version_id != "null":
        obj["versionId"] = version_id
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when * 1000) % 1000:03d}Z"
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": p.info.region,
        "eventTime": stamp,
        "eventName": event.removeprefix("s3:"),
        "userIdentity": {"principalId": p.info.principal_id},
        "requestParameters": {"sourceIPAddress": p.info.source_ip},
        "responseElements": {"x-amz-request-id": p.info.request_id, "x-amz-id-2": p.info.host_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": config_id,
            "bucket": {"name": p.bucket, "ownerIdentity": {"principalId": p.owner_id},
                       "arn": f"arn:aws:s3:::{p.bucket}"},
            "object": obj,
        },
        **p.extra,
    }


def with_sequencer(record_json: str, outbox_id: int) -> dict[str, Any]:
    """The record as delivered: its sequencer is the outbox row's id (hex,
    fixed width: string order is the order of the changes to one key)."""
    record = json.loads(record_json)
    if "s3" in record and "object" in record["s3"]:
        record["s3"]["object"]["sequencer"] = f"{outbox_id:016X}"
    return record


def test_event(bucket: str, request_id: str, host_id: str) -> dict[str, Any]:
    """What PutBucketNotificationConfiguration sends each destination (AWS's s3:TestEvent)."""
    return {"Service": "Amazon S3", "Event": "s3:TestEvent",
            "Time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "Bucket": bucket,
            "RequestId": request_id, "HostId": host_id}


PENDING: ContextVar[Pending | None] = ContextVar("pails_pending_events", default=None)


async def emitting(pending: Pending | None, call: Awaitable[T]) -> T:
    """Await the store ``call`` with ``pending`` recorded by its commit."""
    if pending is None:
        return await call
    token = PENDING.set(pending)
    try:
        return await call
    finally:
        PENDING.reset(token)


def pending_for(props: str, event: str, bucket: str, owner_id: str, key: str, info: RequestInfo,
                **fields: Any) -> Pending | None:
    """The Pending of an ``event`` on ``key``, or None when no configuration
    of the bucket covers it (the common case costs a substring test).  A
    removal also matches configurations for DeleteMarkerCreated, decided by
    the result."""
    if MARK not in props:
        return None
    family = event.rsplit(":", 1)[0]
    marker = family + ":DeleteMarkerCreated"
    configs = [c for c in configs_of(props)
               if c.covers(event, key) or (family in ("s3:ObjectRemoved", "s3:LifecycleExpiration")
                                           and c.covers(marker, key))]
    if not configs:
        return None
    return Pending(event, bucket, owner_id, key, configs, info, **fields)
