"""Background work that runs inside each worker process next to the
requests: it uses the storage interface (``pails.storage``), never the HTTP
layer, and where it must run once per deployment it takes a lease of the
metadata store (``MetaStore.try_lease``) first."""

from __future__ import annotations

import asyncio

from pails.jobs.access_log import AccessLogJob
from pails.jobs.lifecycle import LifecycleJob
from pails.storage.engine import Engine
from pails.storage.log_spool import Delivery, Spool


def start(engine: Engine, access_log: tuple[Spool, Delivery]) -> list[asyncio.Task[None]]:
    """Start every job of this process; cancel the tasks to stop them.
    ``access_log``: the spool and batches of server access logging."""
    loop = asyncio.get_running_loop()
    return [loop.create_task(LifecycleJob(engine).run(), name="pails-lifecycle"),
            loop.create_task(AccessLogJob(engine, *access_log).run(), name="pails-access-log")]
