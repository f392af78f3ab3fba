"""MinIO's health checks on the S3 port, so load balancers configured for
MinIO work unchanged: unauthenticated, no body.

- ``/minio/health/live``: 200 while the process answers.
- ``/minio/health/ready``: 200 when the metadata store answers and the data
  directory is writable with free space above the reserve (new writes would
  be accepted; pails.storage.readiness); 503 otherwise.
"""

from __future__ import annotations

from pails.s3.request import Response
from pails.storage.engine import Engine
from pails.storage.readiness import not_ready


async def live(engine: Engine) -> Response:
    return Response(200)


async def ready(engine: Engine) -> Response:
    return Response(503 if await not_ready(engine) else 200)
