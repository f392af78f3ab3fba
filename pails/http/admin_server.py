"""The admin port's server: a process of its own (Granian, one worker) that
``pails server`` starts beside the S3 workers, replaces if it dies, and stops
with itself.  ``python -m pails.http.admin_server HOST PORT`` runs it (the
settings come in the environment, as the S3 workers get theirs)."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading

log = logging.getLogger("pails")

_PR_SET_PDEATHSIG = 1
_RESPAWN_DELAY = 0.5  # seconds between a dead admin server and its replacement


def check_address(host: str, port: int) -> str | None:
    """Why the admin port cannot be served at host:port (None: it can)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is in use (choose another with --admin-address, or --no-admin)"
            return f"{host}:{port}: {exc.strerror}"
    return None


def die_with_parent() -> None:
    """SIGTERM when the process that started this one dies: a SIGKILLed
    ``pails server`` leaves no admin server behind, and an admin server's
    worker does not outlive its admin server (it would go on answering on
    the port beside the replacement).  Called in the child."""
    parent = os.getppid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the server's stop still ends it
        return
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


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
                                preexec_fn=die_with_parent)

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
