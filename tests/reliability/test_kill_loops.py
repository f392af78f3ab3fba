"""SIGKILL loops (docs/reliability.md, "Worker and server kills"): single
workers and the whole server are killed again and again while writers of
every kind run; on the PostgreSQL store, the database server is restarted
(crashed, or stopped fast) again and again under the same load.  Afterwards
every acknowledged write is checked.

Each writer owns its keys and works on them one operation at a time, so for
every key the expected state is exact: what its last acknowledged operation
left, or what one of the operations sent after it (whose outcome the writer
never learnt) left.  Quick mode: a few kills; full mode: each loop goes on
until it has made ``KILLS`` kills and run for ``LOOP_MINUTES``."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.pails_server import STORE, Server
from tests.reliability import FULL
from tests.reliability.report import record

# Full mode: each loop makes at least this many kills and runs at least this long (the
# 30 minutes of faults the full mode promises are mostly these loops: docs/reliability.md).
KILLS = {"worker": 200, "server": 200, "postgresql": 40} if FULL else {"worker": 4, "server": 4, "postgresql": 2}
LOOP_MINUTES = {"worker": 12.0, "server": 12.0, "postgresql": 5.0} if FULL else {"worker": 0.0, "server": 0.0,
                                                                                  "postgresql": 0.0}
MISSING = None  # the expected state of a deleted key


def _body(tag: str, size: int) -> bytes:
    seed = hashlib.sha256(tag.encode()).digest()
    return (seed * (size // 32 + 1))[:size]


@dataclass
class Key:
    """One key's history as its writer saw it."""

    name: str
    acked: bytes | None = MISSING  # what the last acknowledged operation left
    unsure: list[bytes | None] = field(default_factory=list)  # sent later, outcome unknown
    versions: dict[str, bytes] = field(default_factory=dict)  # acknowledged version ids (versioned bucket)


@dataclass
class Counts:
    acked: int = 0
    failed: int = 0


class Writer(threading.Thread):
    def __init__(self, server: Server, kind: str, index: int, stop: threading.Event, counts: Counts) -> None:
        super().__init__(daemon=True)
        self.server, self.kind, self.stop, self.counts = server, kind, stop, counts
        self.bucket = "versioned" if kind == "versioned" else "plain"
        self.keys = [Key(f"{kind}/{index}/{k}") for k in range(4)]
        self.rng = random.Random(f"{kind}{index}")
        self.n = 0

    def _op(self, s3, key: Key) -> tuple[Callable[[], object], bytes | None]:  # type: ignore[no-untyped-def]
        self.n += 1
        tag = f"{key.name}:{self.n}"
        if self.kind == "delete" and key.acked is not MISSING and self.rng.random() < 0.5:
            return lambda: s3.delete_object(Bucket=self.bucket, Key=key.name), MISSING
        if self.kind == "multipart":
            parts = [_body(f"{tag}:{p}", 5 * 2**20 if p == 0 else 100_000) for p in range(2)]

            def multipart() -> object:
                up = s3.create_multipart_upload(Bucket=self.bucket, Key=key.name)["UploadId"]
                etags = [s3.upload_part(Bucket=self.bucket, Key=key.name, UploadId=up, PartNumber=i + 1,
                                        Body=p)["ETag"] for i, p in enumerate(parts)]
                return s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=key.name, UploadId=up,
                    MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})

            return multipart, b"".join(parts)
        body = _body(tag, self.rng.choice([1000, 50_000, 300_000]))  # inline and data-file bodies
        return lambda: s3.put_object(Bucket=self.bucket, Key=key.name, Body=body), body

    def run(self) -> None:
        s3 = client(self.server, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=20)
        while not self.stop.is_set():
            key = self.rng.choice(self.keys)
            call, result = self._op(s3, key)
            key.unsure.append(result)
            try:
                answer = call()
            except Exception:  # noqa: BLE001 - a killed worker or server: outcome unknown
                self.counts.failed += 1
                time.sleep(0.05)  # the server may be down: do not spin
                continue
            key.acked, key.unsure = result, []
            if self.kind == "versioned" and result is not None:
                key.versions[answer["VersionId"]] = result  # type: ignore[index]
            self.counts.acked += 1


def _check(server: Server, writers: list[Writer]) -> dict[str, int]:
    s3 = client(server)
    checked = lost = torn = 0
    listed = {b: {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b)
                  for o in page.get("Contents", [])} for b in ("plain", "versioned")}
    for w in writers:
        for key in w.keys:
            allowed = [key.acked, *key.unsure]
            try:
                got = s3.get_object(Bucket=w.bucket, Key=key.name)
                body: bytes | None = got["Body"].read()
                if "-" not in got["ETag"] and got["ETag"] != f'"{hashlib.md5(body).hexdigest()}"':
                    torn += 1
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "NoSuchKey"
                body = MISSING
            checked += 1
            if body not in allowed:
                if body is MISSING or any(body == a for a in allowed if a is not None):
                    lost += 1
                else:
                    torn += 1  # content that was never written whole
            if (key.name in listed[w.bucket]) != (body is not MISSING):
                lost += 1
            for version_id, expected in key.versions.items():
                checked += 1
                if s3.get_object(Bucket=w.bucket, Key=key.name, VersionId=version_id)["Body"].read() != expected:
                    lost += 1
    return {"checked": checked, "lost": lost, "torn": torn}


def _serving(server: Server) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/1.1 ")
    except OSError:
        return False


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.mark.parametrize("target", ["worker", "server", "postgresql"])
def test_kill_loop(tmp_path: Path, target: str) -> None:
    private = None
    if target == "postgresql":
        from tests.reliability.private_pg import PrivatePostgres, unavailable

        if STORE != "postgresql":
            pytest.skip("PostgreSQL restarts: the PostgreSQL store's pass")
        if unavailable():
            pytest.skip(f"cannot run a private PostgreSQL server: {unavailable()}")
        private = PrivatePostgres()
    srv = Server(tmp_path / "data", meta_url=private.url if private else None,
                 extra_args=["--workers", "2", "--intent-timeout", "5"]).start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="plain")
        s3.create_bucket(Bucket="versioned")
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        stop = threading.Event()
        counts = Counts()
        writers = [Writer(srv, kind, i, stop, counts)
                   for kind in ("overwrite", "multipart", "versioned", "delete") for i in range(2)]
        for w in writers:
            w.start()
        rng = random.Random(target)
        replaced: list[float] = []
        kills = 0
        started = time.monotonic()
        while kills < KILLS[target] or time.monotonic() - started < 60 * LOOP_MINUTES[target]:
            before = counts.acked
            _wait(lambda: counts.acked > before + 3, "writes between kills")  # noqa: B023
            if target == "worker":
                pids = srv.worker_pids()
                os.kill(rng.choice(pids), signal.SIGKILL)
                t0 = time.monotonic()
                _wait(lambda: len(set(srv.worker_pids()) - set(pids)) == 1 and _serving(srv),  # noqa: B023
                      "a replacement worker")
                replaced.append(time.monotonic() - t0)
                assert srv.proc is not None and srv.proc.poll() is None, "the server exited"
            elif target == "server":
                srv.kill()
                srv.start()
            else:
                assert private is not None
                # A crash (backends killed, the WAL replayed at start) or a fast shutdown, in turn.
                private.stop("immediate" if kills % 2 == 0 else "fast")
                private.start()
            kills += 1
        faulted = time.monotonic() - started
        stop.set()
        for w in writers:
            w.join(60)
        result = _check(srv, writers)
        log = srv.log_path.read_text() if srv.log_path else ""
        summary = (f"{target} kills survived: {kills} in {faulted / 60:.1f} min; acknowledged writes: "
                   f"{counts.acked} (failed attempts {counts.failed}); states checked: {result['checked']}, "
                   f"lost: {result['lost']}, torn: {result['torn']}")
        if replaced:
            summary += f"; replacement serving after median {sorted(replaced)[len(replaced) // 2]:.2f} s, " \
                       f"max {max(replaced):.2f} s"
        print(summary)
        record(f"kill loop: {target}", kills={target: kills}, acknowledged=counts.acked, failed=counts.failed,
               checked=result["checked"], lost=result["lost"], torn=result["torn"], fault_seconds=round(faulted, 1),
               replaced_median_s=round(sorted(replaced)[len(replaced) // 2], 2) if replaced else None,
               replaced_max_s=round(max(replaced), 2) if replaced else None)
        assert result["lost"] == 0 and result["torn"] == 0, summary
        assert "Traceback" not in log
        if target == "worker":
            assert os.listdir(srv.data_dir / "tmp") == [] or srv.meta_url
    finally:
        srv.stop()
        if private is not None:
            private.close()
