"""A PostgreSQL server of the test's own, to restart under load without
disturbing the shared one other tests use (tests/pg.py).  Made with the
installed server binaries (initdb, pg_ctl) in a temporary directory; as root,
they run as the ``postgres`` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile


def _bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    ctl = shutil.which("pg_ctl")
    return os.path.dirname(ctl) if ctl else None


def unavailable() -> str | None:
    """Why a private server cannot be made here (None: it can)."""
    if _bindir() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root without runuser"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    def __init__(self) -> None:
        bindir = _bindir()
        assert bindir is not None
        self._bin = bindir
        self.root = tempfile.mkdtemp(prefix="pails-private-pg-")  # not under pytest's 0700 directories
        self.datadir = os.path.join(self.root, "data")
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            os.chown(self.root, pwd.getpwnam("postgres").pw_uid, -1)
        self._run("initdb", "-D", self.datadir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                    "max_connections = 200\nshared_buffers = 32MB\n")
        self.start()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, os.path.join(self._bin, tool), *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def start(self) -> None:
        self._run("pg_ctl", "-D", self.datadir, "-l", os.path.join(self.root, "server.log"), "-w", "-t", "60",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        """``immediate``: the postmaster and its backends quit at once, as in
        a crash; the next start replays the WAL."""
        self._run("pg_ctl", "-D", self.datadir, "-m", mode, "-w", "-t", "60", "stop")

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
