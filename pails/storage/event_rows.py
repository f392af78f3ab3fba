"""Records of bucket notifications' store tables (docs/notifications.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EventTarget:
    """A destination the operator configured (``pails target add``): its
    ``name`` is what a configuration's ARN names; ``config`` is the JSON of its
    kind's options (pails.events.targets)."""

    name: str
    kind: str
    config: str
    created: float


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    """One target's outbox: events waiting, and counters since the target was added."""

    target: str
    queued: int
    delivered: int
    dropped: int  # the oldest events removed unsent because the outbox was full (see pails.jobs.notify)
    failures: int  # failed delivery attempts
    last_error: str | None
