"""Start and stop real Pails servers for the behaviour tests (over TCP)."""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

# Which metadata store the test servers use: "sqlite" (the default), or
# "postgresql" (a throw-away database per server on the local PostgreSQL,
# dropped when the test process ends).  `make test` runs the behaviour suite with each.
T = TypeVar("T")

STORE = os.environ.get("PAILS_TEST_STORE", "sqlite")
_DATABASES: list[str] = []


def _drop_databases() -> None:
    from tests.pg import drop_database

    for url in _DATABASES:
        try:
            drop_database(url)
        except Exception:  # noqa: BLE001 - the server may be gone already; nothing to keep
            pass


ROOT_ACCESS_KEY = "PAILSROOTTESTKEY0001"
ROOT_SECRET_KEY = "pails-root-test-secret-key-0000000000000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """``condition()``'s first true result, looked at every 20 ms; the test fails after ``timeout`` seconds."""
    import pytest

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def wait_for_port(port: int, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until something listens on ``port``; RuntimeError after ``timeout``, or as soon as ``proc`` exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}) before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"Pails did not start listening on {port}")


def _listens(root_pid: int, port: int) -> bool:
    """Whether the process ``root_pid`` or one of its children listens on ``port``."""
    import psutil

    try:
        root = psutil.Process(root_pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    for proc in procs:
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in proc.net_connections("tcp")):
                return True
        except psutil.Error:
            continue
    return False


@dataclass
class Server:
    data_dir: Path
    port: int = 0  # 0: a free port, chosen now (another one if a server of another test takes it first)
    admin_port: int = 0
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    meta_url: str | None = None  # PostgreSQL metadata (STORE "postgresql": a database of its own)
    log_name: str | None = None  # several gateways on one data directory log apart
    env: dict[str, str] = field(default_factory=dict)  # more environment (TMPDIR: a host of its own)

    def __post_init__(self) -> None:
        self._choose_ports = (self.port == 0, self.admin_port == 0)
        self.port = self.port or free_port()
        self.admin_port = self.admin_port or free_port()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    access_key = ROOT_ACCESS_KEY
    secret_key = ROOT_SECRET_KEY

    @property
    def meta_args(self) -> list[str]:
        return ["--meta", self.meta_url] if self.meta_url else []

    def start(self) -> Server:
        if STORE == "postgresql" and self.meta_url is None:
            from tests.pg import create_database

            if not _DATABASES:
                atexit.register(_drop_databases)
            self.meta_url = create_database()
            _DATABASES.append(self.meta_url)
        env = dict(os.environ, PAILS_ROOT_ACCESS_KEY=ROOT_ACCESS_KEY, PAILS_ROOT_SECRET_KEY=ROOT_SECRET_KEY, **self.env)
        if self.meta_url and "TMPDIR" not in self.env:
            env["TMPDIR"] = str(self.data_dir.parent)  # the gateway's bucket counter file goes with the test's files
        self.log_path = self.data_dir.parent / f"{self.log_name or self.data_dir.name}-server.log"
        restart = self.proc is not None
        deadline = time.monotonic() + 15
        while True:
            log = open(self.log_path, "ab")
            start = log.tell()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pails", "server", str(self.data_dir), "--address", f"127.0.0.1:{self.port}",
                 "--admin-address", f"127.0.0.1:{self.admin_port}", *self.meta_args, *self.extra_args],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()
            try:
                self._wait_listening()
                return self
            except RuntimeError as exc:
                with open(self.log_path, "rb") as f:
                    f.seek(start)
                    said = f.read().decode("utf-8", "replace")
                # A port another process took between free_port() and the server's bind (the server
                # refuses a port in use): choose again, or, restarting, wait for the old server to go.
                taken = " is in use (" in said and time.monotonic() < deadline
                chosen = ("cannot serve S3" in said and self._choose_ports[0]
                          or "cannot serve the admin API" in said and self._choose_ports[1])
                if taken and chosen and not restart:
                    self.port = free_port() if self._choose_ports[0] else self.port
                    self.admin_port = free_port() if self._choose_ports[1] else self.admin_port
                    continue
                if taken and restart:
                    time.sleep(0.2)
                    continue
                raise RuntimeError(f"{exc}; server log:\n{self.log_path.read_text()[-3000:]}") from None

    def _wait_listening(self) -> None:
        """Until this server (not another process) listens on its ports."""
        assert self.proc is not None
        ports = [self.port] if "--no-admin" in self.extra_args else [self.port, self.admin_port]
        for port in ports:
            wait_for_port(port, proc=self.proc)
        deadline = time.monotonic() + 60
        while not all(_listens(self.proc.pid, port) for port in ports):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}) before listening on {ports}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"another process listens on {ports}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # Workers are separate processes: wait until none of the group is left
        # holding the port or the data directory.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL every process of the server at once (a crash)."""
        self.stop(signal.SIGKILL)

    def worker_pids(self) -> list[int]:
        """The S3 worker processes."""
        return [pid for pid, admin in self._children() if not admin]

    def admin_pids(self) -> list[int]:
        """The admin server's processes (its main process and its worker)."""
        return [pid for pid, admin in self._children() if admin]

    def _children(self) -> list[tuple[int, bool]]:
        """(pid, whether it is the admin server's) of each live process of the server."""
        assert self.proc is not None
        import psutil

        found = []
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                found.append((child.pid, "pails.http.admin_server" in child.cmdline()))
            except (psutil.NoSuchProcess, psutil.ZombieProcess):  # gone meanwhile
                continue
        return found

    def add_user(self, name: str, email: str | None = None) -> dict[str, str]:
        cmd = [sys.executable, "-m", "pails", "user", "add", name, "--data", str(self.data_dir), *self.meta_args,
               "--json"]
        if email:
            cmd += ["--email", email]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out)
