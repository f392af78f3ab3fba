"""Background work that runs inside each worker process next to the
requests: it uses the storage interface (``pails.storage``), never the HTTP
layer, and where it must run once per deployment it takes a lease of the
metadata store (``MetaStore.try_lease``) first."""

from __future__ import annotations

import asyncio

from pails.http import request_log
from pails.jobs.access_log import AccessLogJob
from pails.jobs.lifecycle import LifecycleJob
from pails.s3 import bucket_logging
from pails.storage.engine import Engine


def start(engine: Engine) -> list[asyncio.Task[None]]:
    """Start every job of this process; cancel the tasks to stop them."""
    loop = asyncio.get_running_loop()
    # Bucket access logging: every request's record passes its guard and sink.
    access_logger = bucket_logging.logger_for(engine)
    request_log.add_guard(access_logger.guard)
    request_log.add_sink(access_logger.sink)
    return [loop.create_task(LifecycleJob(engine).run(), name="pails-lifecycle"),
            loop.create_task(AccessLogJob(access_logger).run(), name="pails-access-log")]
