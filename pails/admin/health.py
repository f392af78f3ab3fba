"""GET /health/ready on the admin port (``/health/live`` is in pails.admin.info):
unauthenticated, for load balancers and Kubernetes probes."""

from __future__ import annotations

from pails.admin.api import AdminRequest, AdminResponse
from pails.storage.engine import Engine
from pails.storage.readiness import not_ready


async def ready(engine: Engine, req: AdminRequest) -> AdminResponse:
    reason = await not_ready(engine)
    if reason is not None:
        return AdminResponse.json({"status": "not ready", "reason": reason}, 503)
    return AdminResponse.json({"status": "ready"})
