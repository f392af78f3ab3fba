"""Start Granian on the ASGI application (uvicorn can serve the same app:
``PAILS_DATA_DIR=./data uvicorn pails.http.app:app``)."""

from __future__ import annotations

import os

from pails.storage.engine import Settings


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    # Workers are separate processes that import the app: settings travel in the environment.
    os.environ["PAILS_DATA_DIR"] = settings.data_dir
    os.environ["PAILS_FSYNC"] = "1" if settings.fsync else "0"
    os.environ["PAILS_REGION"] = settings.region
    if settings.domain:
        os.environ["PAILS_DOMAIN"] = settings.domain
    if settings.meta_url:
        os.environ["PAILS_META_URL"] = settings.meta_url
    os.environ["PAILS_INTENT_TIMEOUT"] = str(settings.intent_timeout)
    os.environ["PAILS_META_NOTIFY"] = "1" if settings.meta_notify else "0"
    os.environ["PAILS_DISK_RESERVE"] = settings.disk_reserve
    Granian(
        "pails.http.app:app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        http=HTTPModes.http1,
        loop=Loops.auto,
        http1_settings=HTTP1Settings(keep_alive=True),
        log_access=False,
        backlog=2048,
        # A worker still busy 10 s after SIGTERM is killed (every acknowledged
        # write is already durable; recovery at the next start undoes the rest).
        # Without it, a worker that got SIGTERM while starting never stops.
        workers_kill_timeout=10,
    ).serve()
