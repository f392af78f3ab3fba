"""MinIO's health checks on the S3 port, so load balancers configured for
MinIO work unchanged: unauthenticated, no body.

- ``/minio/health/live``: 200 while the process answers.
- ``/minio/health/ready``: 200 when the metadata store answers and the data
  directory is writable with free space above the reserve (new writes would
  be accepted); 503 otherwise.
"""

from __future__ import annotations

import asyncio
import logging

from pails.s3.request import Response
from pails.storage.engine import Engine

log = logging.getLogger("pails")

_PING_TIMEOUT = 2.0  # seconds: a load balancer's check usually times out soon after


async def live(engine: Engine) -> Response:
    return Response(200)


async def ready(engine: Engine) -> Response:
    try:
        await asyncio.wait_for(engine.meta.ping(), _PING_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        log.debug("not ready: the metadata store did not answer: %r", exc)
        return Response(503)
    return Response(200 if engine.space.ready() else 503)
