"""Readiness (``/health/ready`` on the admin port, ``/minio/health/ready`` on
the S3 port) follows what the server can really do: not ready while the data
directory is read-only (a read-only bind mount over it: root is refused too)
or the PostgreSQL server is down (a private one, stopped), ready again
without a restart once the cause is gone."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.pails_server import Server
from tests.reliability import private_pg


def ready(server: Server) -> tuple[int, int, str]:
    """(admin port status, S3 port status, the admin port's reason)."""
    def get(url: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    admin_status, body = get(server.admin_endpoint + "/health/ready")
    s3_status, _ = get(server.endpoint + "/minio/health/ready")
    return admin_status, s3_status, json.loads(body).get("reason", "")


def wait_ready(server: Server, status: int, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    seen = ready(server)
    while seen[:2] != (status, status):
        assert time.monotonic() < deadline, f"still {seen}, waiting for {status} on both ports"
        time.sleep(0.1)
        seen = ready(server)
    return seen[2]


def test_not_ready_while_the_data_directory_is_read_only(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    srv = Server(tmp_path / "data").start()
    data = str(srv.data_dir)
    try:
        wait_ready(srv, 200)
        subprocess.run(["mount", "--bind", data, data], check=True, capture_output=True)
        try:
            remount = subprocess.run(["mount", "-o", "remount,ro,bind", data], capture_output=True, text=True)
            if remount.returncode != 0:
                pytest.skip(f"cannot remount read-only: {remount.stderr}")
            reason = wait_ready(srv, 503)
            assert "data directory" in reason
        finally:
            # Lazily: a worker may hold a file it opened under the read-only mount (an access-log spool).
            subprocess.run(["umount", "--lazy", data], check=True, capture_output=True)
        wait_ready(srv, 200)
    finally:
        srv.stop()


def test_not_ready_while_the_database_is_down(tmp_path: Path) -> None:
    why = private_pg.unavailable()
    if why:
        pytest.skip(why)
    pg = private_pg.PrivatePostgres()
    try:
        srv = Server(tmp_path / "data", meta_url=pg.url).start()
        try:
            wait_ready(srv, 200)
            pg.stop()
            reason = wait_ready(srv, 503)
            assert "metadata store" in reason
            live = urllib.request.urlopen(srv.admin_endpoint + "/health/live", timeout=10)
            assert live.status == 200  # alive, only not ready
            pg.start()
            wait_ready(srv, 200)
        finally:
            srv.stop()
    finally:
        pg.close()
