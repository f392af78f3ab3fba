"""A worker process that dies (SIGKILL) is replaced at once: the server keeps
serving, requests on the other workers are not disturbed, every acknowledged
write stays, and the new worker cleans up what the dead one left half-written."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from tests.conftest import client
from tests.pails_server import STORE, Server, wait_for


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", extra_args=["--workers", "2", "--intent-timeout", "2"]).start()
    yield srv
    srv.stop()


def serving_pid(server: Server, local_port: int) -> int | None:
    """The worker process holding the server side of our connection from ``local_port``."""
    for pid in server.worker_pids():
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.raddr and c.raddr.port == local_port for c in conns):
            return pid
    return None


def body_for(name: str, n: int) -> bytes:
    size = 2000 if n % 2 else 200_000  # inline and data-file objects
    seed = hashlib.sha256(f"{name}:{n}".encode()).digest()
    return (seed * (size // 32 + 1))[:size]


class Writer(threading.Thread):
    """Overwrites its own key over one keep-alive connection (presigned URLs),
    noting which worker served each attempt and what was acknowledged."""

    def __init__(self, server: Server, s3, bucket: str, name: str, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.server, self.bucket, self.name, self.stop = server, bucket, name, stop
        self.url = urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": name},
                                                      ExpiresIn=3600))
        self.acked: bytes | None = None
        self.pending: list[bytes] = []  # sent after the last acknowledged one, outcome unknown
        self.failures: list[int | None] = []  # the worker each failed attempt was on
        self.successes = 0

    def run(self) -> None:
        n = 0
        conn: http.client.HTTPConnection | None = None
        pid: int | None = None
        while not self.stop.is_set():
            n += 1
            body = body_for(self.name, n)
            if conn is None:
                conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
                conn.connect()
                pid = serving_pid(self.server, conn.sock.getsockname()[1])
            self.pending.append(body)
            try:
                conn.request("PUT", f"{self.url.path}?{self.url.query}", body=body)
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200, resp.status
            except (OSError, http.client.HTTPException):
                self.failures.append(pid)
                conn.close()
                conn = None
                continue
            self.acked, self.pending = body, []
            self.successes += 1


def test_killed_worker_is_replaced_and_others_carry_on(two_workers: Server) -> None:
    srv = two_workers
    s3 = client(srv)
    s3.create_bucket(Bucket="respawn")
    stop = threading.Event()
    writers = [Writer(srv, s3, "respawn", f"w{i}", stop) for i in range(6)]
    for w in writers:
        w.start()
    wait_for(lambda: all(w.successes >= 3 for w in writers), what="writers under way")
    before = srv.worker_pids()
    assert len(before) == 2
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()

    def new_worker_serves() -> int | None:
        pids = set(srv.worker_pids()) - set(before)
        if not pids:
            return None
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answered = sock.recv(64).startswith(b"HTTP/1.1 ")
            server_pid = serving_pid(srv, sock.getsockname()[1])
        return server_pid if answered and server_pid in pids else None

    new_pid = wait_for(new_worker_serves, timeout=10, what="a new worker answering")
    replaced_in = time.monotonic() - killed_at
    wait_for(lambda: all(w.successes >= 3 for w in writers), what="writers carrying on")
    progress = [w.successes for w in writers]
    wait_for(lambda: all(w.successes > p for w, p in zip(writers, progress, strict=True)), what="more writes")
    stop.set()
    for w in writers:
        w.join(30)
    print(f"worker {victim} killed; {new_pid} answering after {replaced_in:.2f} s")
    assert srv.proc is not None and srv.proc.poll() is None, "the server exited"
    # Only connections to the dead worker failed (an attempt made before the
    # connection's worker was known counts as the dead one's: None).
    assert all(pid in (victim, None) for w in writers for pid in w.failures), [w.failures for w in writers]
    # Every acknowledged write is there, whole.
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="respawn").get("Contents", [])}
    assert listed == {w.name for w in writers}
    for w in writers:
        got = s3.get_object(Bucket="respawn", Key=w.name)
        body = got["Body"].read()
        assert body == w.acked or body in w.pending
        assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    log = srv.log_path.read_text() if srv.log_path else ""
    assert "Unexpected exit from worker" in log and "Respawning worker" in log
    assert "Traceback" not in log


def test_new_worker_cleans_up_after_the_dead_one(two_workers: Server) -> None:
    """A worker killed in the middle of an upload leaves its partial data file;
    the worker that replaces it removes the file, without a restart."""
    srv = two_workers
    s3 = client(srv)
    s3.create_bucket(Bucket="halfdone")
    url = urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": "halfdone", "Key": "big"}))
    data_files = Path(srv.data_dir) / ("blobs" if STORE == "postgresql" else "tmp")

    def staged() -> set[str]:
        return {f for _, _, files in os.walk(data_files) for f in files}

    before = staged()
    sock = socket.create_connection(("127.0.0.1", srv.port))
    try:
        sock.sendall(f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                     f"Content-Length: {10 * 2**20}\r\n\r\n".encode() + b"x" * 2**20)
        partial = wait_for(lambda: staged() - before, what="the upload's data file")
        victim = serving_pid(srv, sock.getsockname()[1])
        assert victim is not None
        workers = srv.worker_pids()
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(set(srv.worker_pids()) - set(workers)) == 1, what="a replacement worker")
    finally:
        sock.close()
    if STORE == "postgresql":  # a shared data directory: the dead writer's intent expires (2 s here)
        wait_for(lambda: s3.put_object(Bucket="halfdone", Key="nudge", Body=b"x") and not (staged() & partial),
                 what="the expired intent's file removed")
    else:
        wait_for(lambda: not (staged() & partial), what="the dead worker's file removed")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="halfdone", Key="big")
    s3.put_object(Bucket="halfdone", Key="after", Body=b"y" * 100_000)
    assert s3.get_object(Bucket="halfdone", Key="after")["Body"].read() == b"y" * 100_000


def test_a_port_in_use_is_refused_and_a_killed_server_takes_its_workers_along(tmp_path: Path) -> None:
    # Granian's workers listen with SO_REUSEPORT, which the kernel lets a second server share: a second
    # server on the port must be refused, not take part of the first one's connections.
    first = Server(tmp_path / "first", extra_args=["--no-admin"]).start()
    second = Server(tmp_path / "second", port=first.port, extra_args=["--no-admin"])
    try:
        with pytest.raises(RuntimeError, match=f"cannot serve S3: 127.0.0.1:{first.port} is in use"):
            second.start()
        s3 = client(first)
        s3.create_bucket(Bucket="first-only")
        for _ in range(20):  # every connection reaches the first server
            assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["first-only"]
        # SIGKILL of the main process only: its workers end with it (they would go on serving the port).
        workers = [psutil.Process(pid) for pid in first.worker_pids()]
        assert workers and first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive
        second.start()  # the port is free again
        assert client(second).list_buckets()["Buckets"] == []
    finally:
        second.stop()
        first.stop()
