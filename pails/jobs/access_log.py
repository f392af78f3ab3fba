"""Server access log delivery, the periodic part (docs/access-logging.md).

In every process: close this process's spool file a fraction of a second
after it was started (so a flush in any worker finds it ready).  In the
process that holds the ``access-log`` lease: move ready spool files into
their batches and deliver the batches that are due (``pails.storage.log_spool``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from pails.storage.engine import Engine
from pails.storage.failures import log_failure
from pails.storage.log_spool import Delivery, Spool

log = logging.getLogger("pails")

LEASE = "access-log"
TICK = 0.05  # seconds between looks at this process's spool file
ROLL_EVERY = 0.5  # seconds between delivery passes


class AccessLogJob:
    """``spool``: this process's spool file; ``delivery``: the batches (the
    request-log sink of ``pails.s3.bucket_logging`` fills the spool)."""

    def __init__(self, engine: Engine, spool: Spool, delivery: Delivery) -> None:
        self.engine, self.spool, self.delivery = engine, spool, delivery

    async def run(self) -> None:
        last_roll = 0.0
        while True:
            try:
                self.spool.tick()
                now = time.time()
                if now - last_roll >= ROLL_EVERY:
                    last_roll = now
                    if await self.engine.meta.try_lease(LEASE):
                        delivery = self.delivery
                        async with delivery.locked():
                            await delivery.roll(time.time())
            except asyncio.CancelledError:
                self.spool.rotate()
                raise
            except Exception:  # noqa: BLE001 - the next pass tries again
                log_failure(log, "access log delivery pass failed")
            await asyncio.sleep(TICK)
