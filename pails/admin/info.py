"""GET /admin/v1/info: what this server is."""

from __future__ import annotations

import time

from pails import __version__
from pails.admin.api import AdminRequest, AdminResponse, require_root
from pails.storage.engine import Engine

STARTED = time.time()


async def server_info(engine: Engine, req: AdminRequest) -> AdminResponse:
    user = require_root(req)
    settings = engine.settings
    return AdminResponse.json({
        "version": __version__,
        "uptime_seconds": round(time.time() - STARTED, 3),
        "region": settings.region,
        "store": "postgresql" if settings.meta_url else "sqlite",
        "caller": {"arn": user.arn, "account_id": user.account_id, "operator": user.operator},
    })


async def live(engine: Engine, req: AdminRequest) -> AdminResponse:
    return AdminResponse.json({"status": "live"})
