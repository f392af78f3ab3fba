"""The admin port's server: a process of its own (Granian, one worker) that
``pails server`` starts beside the S3 workers, replaces if it dies, and stops
with itself.  ``python -m pails.http.admin_server HOST PORT`` runs it (the
settings come in the environment, as the S3 workers get theirs)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading

from pails.http import lifetime

log = logging.getLogger("pails")

_RESPAWN_DELAY = 0.5  # seconds between a dead admin server and its replacement


class AdminProcess:
    """The admin server process, kept running until ``stop``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> AdminProcess:
        self._watcher = threading.Thread(target=self._watch, name="pails-admin-watch", daemon=True)
        self._watcher.start()
        return self

    def _spawn(self) -> subprocess.Popen[bytes]:
        # Spawned from the watcher thread, which lives as long as the server:
        # the death signal follows the thread that started the child.
        return subprocess.Popen([sys.executable, "-m", "pails.http.admin_server", self.host, str(self.port)],
                                preexec_fn=lifetime.die_with_parent)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._proc = proc = self._spawn()
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.error("the admin server (pid %d) exited with %s; starting another", proc.pid, code)
            print(f"pails: the admin server exited ({code}); starting another", file=sys.stderr, flush=True)
            self._stopping.wait(_RESPAWN_DELAY)

    def reload(self) -> None:
        """Pass the server's SIGHUP on (the admin server's worker is replaced,
        reading the TLS certificate again)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._watcher is not None:
            self._watcher.join(timeout)


def main(argv: list[str]) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops, TaskImpl

    from pails.http.server import tls_options

    host, port = argv[0], int(argv[1])
    Granian(
        "pails.http.admin_app:app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        http=HTTPModes.http1,
        loop=Loops.auto,
        task_impl=TaskImpl.asyncio,
        log_access=False,
        respawn_failed_workers=True,
        respawn_interval=1.0,
        workers_kill_timeout=10,
        **tls_options(),
    ).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
