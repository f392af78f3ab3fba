"""Online backup of the metadata (docs/reliability.md, "Metadata backups"):
``pails backup-meta`` while writers run; a data directory built from the copy
and the data files serves every object acknowledged before the backup began."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import client
from tests.pails_server import STORE, Server
from tests.reliability import FULL

ROUNDS = 5 if FULL else 1


def _pails(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pails", *args], capture_output=True, text=True, timeout=120)


def _body(key: str) -> bytes:
    size = 200 if int(key[-1]) % 2 else 300_000  # inline bodies and data files
    return (key.encode() * (size // len(key) + 1))[:size]


@pytest.mark.skipif(STORE != "sqlite", reason="the SQLite store (PostgreSQL: see the next test)")
def test_backup_while_writers_run(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", extra_args=["--workers", "2"]).start()
    acked: list[tuple[float, str]] = []  # (when acknowledged, key)
    stop = threading.Event()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="live")

        def writer(n: int) -> None:
            c = client(srv)
            i = 0
            while not stop.is_set():
                key = f"w{n}/{i:06d}"
                c.put_object(Bucket="live", Key=key, Body=_body(key))
                acked.append((time.monotonic(), key))
                i += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        try:
            backups = []
            for r in range(ROUNDS):
                while len(acked) < 30 * (r + 1):  # writes on both sides of the backup
                    time.sleep(0.01)
                dest = tmp_path / f"meta-{r}.sqlite3"
                started = time.monotonic()
                out = _pails("backup-meta", str(dest), "--data", str(srv.data_dir))
                assert out.returncode == 0, out.stderr
                backups.append((dest, started))
            before = len(acked)
            while len(acked) < before + 20:  # and after it
                time.sleep(0.01)
        finally:
            stop.set()
            for t in threads:
                t.join()
        again = _pails("backup-meta", str(backups[0][0]), "--data", str(srv.data_dir))
        assert again.returncode != 0 and "exists already" in again.stderr
    finally:
        srv.stop()
    for dest, started in backups:
        assert not Path(f"{dest}-wal").exists() and not Path(f"{dest}.partial").exists()
        with sqlite3.connect(dest) as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        # A data directory from the copy and the data files (copied after it: nothing was deleted meanwhile).
        restored = tmp_path / f"restored-{dest.stem}"
        restored.mkdir()
        shutil.copy(dest, restored / "meta.sqlite3")
        shutil.copytree(tmp_path / "data" / "blobs", restored / "blobs")
        shutil.copytree(tmp_path / "data" / "tmp", restored / "tmp")  # committed files not yet renamed
        must = {key for when, key in acked if when < started}
        assert len(must) >= 30
        copy = Server(restored).start()
        try:
            c = client(copy)
            listed = {o["Key"] for page in c.get_paginator("list_objects_v2").paginate(Bucket="live")
                      for o in page.get("Contents", [])}
            assert must <= listed, f"{len(must - listed)} acknowledged before the backup are missing"
            for key in sorted(listed):
                assert c.get_object(Bucket="live", Key=key)["Body"].read() == _body(key)
            print(f"backup {dest.name}: {len(must)} acknowledged before it, {len(listed)} in the copy, "
                  f"{len(acked)} in all")
        finally:
            copy.stop()


@pytest.mark.skipif(STORE != "postgresql", reason="the PostgreSQL store")
def test_backup_meta_on_postgresql_points_to_its_tools(tmp_path: Path) -> None:
    from tests.pg import throwaway_database

    with throwaway_database() as url:
        out = _pails("backup-meta", str(tmp_path / "copy"), "--data", str(tmp_path), "--meta", url)
        assert out.returncode != 0 and "pg_dump" in out.stderr and "pg_basebackup" in out.stderr
        assert not (tmp_path / "copy").exists()
