"""Start Granian on the ASGI application (uvicorn can serve the same app:
``PAILS_DATA_DIR=./data uvicorn pails.http.app:app``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from pails.http import lifetime
from pails.metrics import collect
from pails.storage.engine import Settings

# A worker that keeps dying within this long of being replaced (the third
# time in a row and on) is replaced half a second later, not at once: a worker that
# cannot start costs two processes a second instead of a busy loop.  (Granian's
# own rule would stop the whole server at the second death.)
_CRASH_LOOP_WINDOW = 5.0
_CRASH_LOOP_STREAK = 2
_CRASH_LOOP_DELAY = 0.5


@dataclass(frozen=True)
class Operations:
    """What ``pails server`` serves besides S3 (docs/operations.md)."""

    metrics: bool = True  # count in shared memory for /metrics on the admin port
    metrics_allow: str = ""  # CIDRs that may scrape /metrics without a token
    metrics_token: str = ""  # the bearer token that may scrape /metrics
    access_log: str = ""  # the JSON access log: a path, "-" (standard output), "" (off)
    tls_cert: str = ""  # with tls_key: HTTPS on the S3 and admin ports
    tls_key: str = ""


@dataclass(frozen=True)
class HttpLimits:
    """The HTTP edge's timeouts and limits (``pails server`` options)."""

    body_timeout: float = 20.0  # a request body that sends nothing this long: RequestTimeout
    send_timeout: float = 60.0  # a response the client reads nothing of this long: connection reset
    max_concurrency: int | None = None  # requests one worker serves at once (Granian's backpressure)
    verify_reads: str = "crc"  # whole GETs checked against: crc, all, off (docs/reliability.md, "Bit rot")


def serve(settings: Settings, host: str, port: int, workers: int, limits: HttpLimits = HttpLimits(),
          admin: tuple[str, int] | None = None, ops: Operations = Operations()) -> None:
    """Serve S3 on host:port with ``workers`` processes, and the admin API
    (pails.http.admin_app) on ``admin`` in a process of its own."""
    from granian import Granian

    from pails import metrics

    reloading = False
    spawned: dict[int, float] = {}  # worker index: when it was last replaced
    streak: dict[int, int] = {}  # worker index: deaths in a row, each soon after being replaced

    class Supervisor(Granian):  # type: ignore[misc,valid-type]
        """Granian, replacing a worker that dies (SIGKILL, out of memory, a
        crash) as soon as it is gone, however often that happens."""

        def _respawn_workers(self, workers: Any, spawn_target: Any, target_loader: Any, delay: float = 0) -> Any:
            now = time.monotonic()
            for idx in workers:
                streak[idx] = streak.get(idx, 0) + 1 if now - spawned.get(idx, -1e9) < _CRASH_LOOP_WINDOW else 0
            if any(streak[idx] >= _CRASH_LOOP_STREAK for idx in workers):
                time.sleep(_CRASH_LOOP_DELAY)
            result = super()._respawn_workers(workers, spawn_target, target_loader, delay)
            if not reloading:
                metrics.WORKER_RESTARTS.inc(amount=len(workers))
            for idx in workers:
                spawned[idx] = time.monotonic()
            # Granian stops the whole server when a worker it just replaced
            # dies within 5.5 s; the delay above is Pails' rule instead.
            self.respawned_wrks.clear()
            return result

        def _reload(self, spawn_target: Any, target_loader: Any) -> Any:
            # SIGHUP: every worker replaced (reading the TLS certificate again), not a restart.
            nonlocal reloading
            reloading = True
            if admin_process is not None:
                admin_process.reload()
            try:
                return super()._reload(spawn_target, target_loader)
            finally:
                reloading = False

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
    os.environ["PAILS_BODY_TIMEOUT"] = str(limits.body_timeout)
    os.environ["PAILS_SEND_TIMEOUT"] = str(limits.send_timeout)
    os.environ["PAILS_VERIFY_READS"] = limits.verify_reads
    os.environ["PAILS_ADDRESS"] = f"{host}:{port}"  # the admin process counts its open connections
    os.environ[lifetime.WORKER_OF] = str(os.getpid())  # the workers end with this process (pails.http.lifetime)
    for name, value in (("PAILS_METRICS_ALLOW", ops.metrics_allow), ("PAILS_METRICS_TOKEN", ops.metrics_token),
                        ("PAILS_ACCESS_LOG", ops.access_log), ("PAILS_TLS_CERT", ops.tls_cert),
                        ("PAILS_TLS_KEY", ops.tls_key)):
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    metrics_dir = collect.make_directory(os.getpid()) if ops.metrics else None
    if metrics_dir is not None:
        os.environ[metrics.DIR_ENV] = metrics_dir
        metrics.enable(metrics_dir)  # this process counts worker restarts; each worker, in files of its own
    else:
        os.environ.pop(metrics.DIR_ENV, None)
    # Imported once here: forked workers (and their replacements) start
    # without importing it again (the app reads its settings when it starts).
    import pails.http.app  # noqa: F401
    from pails.http.admin_server import AdminProcess

    admin_process = AdminProcess(*admin).start() if admin is not None else None
    try:
        _serve_s3(Supervisor, host, port, workers, limits)
    finally:
        if admin_process is not None:
            admin_process.stop()
        if metrics_dir is not None:
            collect.remove_directory(metrics_dir)


def tls_options() -> dict[str, Any]:
    """Granian's TLS arguments from PAILS_TLS_CERT and PAILS_TLS_KEY (none: plain HTTP).
    TLS 1.2 and up: older S3 clients (and many appliances) do not speak 1.3."""
    cert, key = os.environ.get("PAILS_TLS_CERT"), os.environ.get("PAILS_TLS_KEY")
    if not (cert and key):
        return {}
    from pathlib import Path

    from granian.constants import SSLProtocols

    return {"ssl_cert": Path(cert), "ssl_key": Path(key), "ssl_protocol_min": SSLProtocols.tls12}


def _serve_s3(supervisor: Any, host: str, port: int, workers: int, limits: HttpLimits) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops, TaskImpl
    from granian.http import HTTP1Settings

    supervisor(
        "pails.http.app:app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        http=HTTPModes.http1,
        loop=Loops.auto,
        # Real asyncio tasks: the body and send timeouts cancel the request's task.
        task_impl=TaskImpl.asyncio,
        http1_settings=HTTP1Settings(keep_alive=True),
        log_access=False,
        backlog=2048,
        backpressure=limits.max_concurrency,
        # A worker that dies is replaced at once (its in-flight requests fail;
        # every acknowledged write is durable, and the new worker finishes or
        # removes what the dead one left half-written).  The interval is how
        # long a reload (SIGHUP) keeps an old worker next to its replacement.
        respawn_failed_workers=True,
        respawn_interval=1.0,
        # A worker still busy 10 s after SIGTERM is killed (every acknowledged
        # write is already durable; recovery at the next start undoes the rest).
        # Without it, a worker that got SIGTERM while starting never stops.
        workers_kill_timeout=10,
        **tls_options(),
    ).serve()
