"""How ``pails`` commands find the admin API of the server running on a data
directory: the server announces it in ``DATA_DIR/run/admin.json`` (address,
pid, host, region; mode 0600) when it starts and withdraws it when it stops.
An announcement left by a server that died (its pid gone on this host) is
stale and ignored; the commands then work on the data directory directly."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass

RUN_DIR = "run"
FILE_NAME = "admin.json"


@dataclass(frozen=True, slots=True)
class Announcement:
    host: str  # where to connect (a wildcard address becomes loopback)
    port: int
    pid: int
    hostname: str
    region: str

    @property
    def endpoint(self) -> str:
        return f"http://[{self.host}]:{self.port}" if ":" in self.host else f"http://{self.host}:{self.port}"


def path_of(data_dir: str) -> str:
    return os.path.join(data_dir, RUN_DIR, FILE_NAME)


def announce(data_dir: str, host: str, port: int, region: str) -> None:
    """Write this process's announcement (atomically: a reader sees the old one or the new one)."""
    run_dir = os.path.join(data_dir, RUN_DIR)
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    final = path_of(data_dir)
    tmp = f"{final}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"address": f"{host}:{port}", "pid": os.getpid(), "hostname": socket.gethostname(),
                   "region": region, "started": time.time()}, f)
    os.replace(tmp, final)


def withdraw(data_dir: str) -> None:
    """Remove the announcement if it is still this process's (another gateway's stays)."""
    found = _read(path_of(data_dir))
    if found is not None and found.pid == os.getpid() and found.hostname == socket.gethostname():
        try:
            os.unlink(path_of(data_dir))
        except FileNotFoundError:
            pass


def find(data_dir: str) -> Announcement | None:
    """The live announcement of the server on ``data_dir``; None if there is
    none, it cannot be read, or its server is gone from this host."""
    found = _read(path_of(data_dir))
    if found is None:
        return None
    if found.hostname == socket.gethostname() and not _alive(found.pid):
        return None
    return found


def _read(path: str) -> Announcement | None:
    try:
        with open(path) as f:
            raw = json.load(f)
        host, _, port = str(raw["address"]).rpartition(":")
        host = host.strip("[]")
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return Announcement(host, int(port), int(raw["pid"]), str(raw["hostname"]), str(raw.get("region") or
                                                                                        "us-east-1"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
