"""Whether a server can take writes now: the one readiness check behind
MinIO's ``/minio/health/ready`` on the S3 port (pails.http.health) and
``/health/ready`` on the admin port (pails.admin.health)."""

from __future__ import annotations

import asyncio
import logging

from pails.storage.engine import Engine

log = logging.getLogger("pails")

PING_TIMEOUT = 2.0  # seconds: a load balancer's check usually times out soon after


async def not_ready(engine: Engine) -> str | None:
    """Why the server is not ready (None: it is): the metadata store must
    answer within PING_TIMEOUT, and the data directory be writable with free
    space at or above the reserve."""
    try:
        await asyncio.wait_for(engine.meta.ping(), PING_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        log.debug("not ready: the metadata store did not answer: %r", exc)
        return "the metadata store does not answer"
    if not engine.space.ready():
        return "the data directory is not writable or has no free space above the reserve"
    return None
