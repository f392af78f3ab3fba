"""GET /admin/v1/info: what this server is."""

from __future__ import annotations

import os
import time

from pails import __version__
from pails.admin.api import AdminRequest, AdminResponse, require_root
from pails.storage.engine import Engine

STARTED = time.time()  # the admin server's start: the server's own, if it did not say (PAILS_SERVER_STARTED)


def _server_started() -> float:
    try:
        return float(os.environ.get("PAILS_SERVER_STARTED", ""))
    except ValueError:
        return STARTED


def _workers() -> int | None:
    value = os.environ.get("PAILS_WORKERS", "")
    return int(value) if value.isdigit() else None


async def server_info(engine: Engine, req: AdminRequest) -> AdminResponse:
    user = require_root(req)
    settings = engine.settings
    info = {
        "version": __version__,
        "uptime_seconds": round(time.time() - _server_started(), 3),
        "region": settings.region,
        "store": "postgresql" if settings.meta_url else "sqlite",
        "workers": _workers(),
        "caller": {"arn": user.arn, "account_id": user.account_id, "operator": user.operator},
    }
    if user.operator:  # the host's state is the operator's business
        space = engine.space
        st = os.statvfs(settings.data_dir)
        info["data_dir"] = {"path": settings.data_dir, "free_bytes": space.free(),
                            "total_bytes": st.f_blocks * st.f_frsize, "reserve_bytes": space.reserve,
                            "below_reserve": space.free() < space.reserve, "writable": space.ready()}
    return AdminResponse.json(info)


async def live(engine: Engine, req: AdminRequest) -> AdminResponse:
    return AdminResponse.json({"status": "live"})
