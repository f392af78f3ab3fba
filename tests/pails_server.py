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


@dataclass
class Server:
    data_dir: Path
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    meta_url: str | None = None  # PostgreSQL metadata (STORE "postgresql": a database of its own)
    log_name: str | None = None  # several gateways on one data directory log apart
    env: dict[str, str] = field(default_factory=dict)  # more environment (TMPDIR: a host of its own)

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
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pails", "server", str(self.data_dir), "--address", f"127.0.0.1:{self.port}",
             "--admin-address", f"127.0.0.1:{self.admin_port}", *self.meta_args, *self.extra_args],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(self.port, proc=self.proc)
            if "--no-admin" not in self.extra_args:
                wait_for_port(self.admin_port, proc=self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; server log:\n{self.log_path.read_text()[-3000:]}") from None
        return self

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
