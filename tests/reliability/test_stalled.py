"""Stalled clients of every kind at once, against a server with its default
timeouts in full mode (docs/reliability.md, "Timeouts and limits"): uploads
whose body stops (with Content-Length and chunked), readers that stop reading
(a whole object checked as it streams, a whole object Granian sends itself, a
range) and, in full mode, connections that never finish their headers.  Each must be closed
by the server; the test records after how long, and normal requests go on
meanwhile.  Quick mode: one of each with 1.5 s timeouts; full mode: ten of
each, three rounds, default timeouts (20 s body, 60 s send, Granian's 30 s
for headers)."""

from __future__ import annotations

import os
import select
import socket
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import client
from tests.pails_server import Server
from tests.reliability import FULL
from tests.reliability.report import record

BIG = 48 * 2**20  # more than the socket buffers and Granian's queue hold
PER_KIND = 10 if FULL else 1
ROUNDS = 3 if FULL else 1
TIMEOUTS = [] if FULL else ["--body-timeout", "1.5", "--send-timeout", "1.5"]
GIVE_UP = 120.0  # seconds: a connection still open this long after it stalled fails the test


class Traffic(threading.Thread):
    """Normal requests while the stalled connections wait: all must succeed."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.s3 = client(server)
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                self.s3.put_object(Bucket="stalls", Key="normal", Body=b"n" * 100_000)
                assert self.s3.get_object(Bucket="stalls", Key="normal")["Body"].read() == b"n" * 100_000
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)
                return
            self.latencies.append(time.monotonic() - t0)
            time.sleep(0.05)


def _open_ports(server: Server) -> set[int]:
    """Client ports of the connections the server's workers hold."""
    import psutil

    ports = set()
    for pid in server.worker_pids():
        try:
            ports.update(c.raddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.raddr)
        except psutil.NoSuchProcess:
            pass
    return ports


def _closed_by_peer(sock: socket.socket) -> bool:
    """The server closed (or reset) a connection whose client sends nothing
    more; what it answered first (RequestTimeout) is read away."""
    while select.select([sock], [], [], 0)[0]:
        try:
            if sock.recv(65536) == b"":
                return True
        except ConnectionResetError:
            return True
    return False


_TCP_CLOSE, _TCP_CLOSE_WAIT = 7, 8  # include/net/tcp_states.h


def _tcp_state(sock: socket.socket) -> int:
    """The socket's TCP state (the first byte of TCP_INFO), without reading from it."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


class _Ports:
    held: set[int] = set()  # the server's connections, looked up once per pass over the stalled ones


_PORTS = _Ports()


def _stall(server: Server, s3, kind: str) -> tuple[socket.socket, Callable[[], bool]]:  # type: ignore[no-untyped-def]
    """Open one stalled connection of ``kind``; returns it and how to tell it was closed."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    if kind == "headers":
        sock.sendall(b"GET /stalls/normal HTTP/1.1\r\nHost: 127.0.0.1\r\nx-amz-")
        return sock, lambda: _closed_by_peer(sock)
    method, key, extra = {
        "upload": ("PUT", "stalled", f"Content-Length: {10 * 2**20}\r\n"),
        "upload chunked": ("PUT", "stalled-chunked", "Transfer-Encoding: chunked\r\n"),
        "download checked": ("GET", "big", ""),
        "download sendfile": ("GET", "big-plain", ""),
        "download ranged": ("GET", "big", f"Range: bytes=1-{BIG - 2}\r\n"),
    }[kind]
    op = "put_object" if method == "PUT" else "get_object"
    url = urlsplit(s3.generate_presigned_url(op, Params={"Bucket": "stalls", "Key": key}))
    head = f"{method} {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n{extra}\r\n".encode()
    if method == "PUT":
        body = b"10000\r\n" + b"c" * 0x10000 + b"\r\n" if "chunked" in kind else b"x" * 300_000
        sock.sendall(head + body)  # then nothing: the server answers RequestTimeout and closes
        return sock, lambda: _closed_by_peer(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.sendall(head)
    assert sock.recv(1024).startswith(b"HTTP/1.1 20"), kind
    # The reader reads nothing more: the server must let the connection go.  Either the client sees it reset
    # (or closed), or no worker holds it any more: closed by Granian with the unread data still queued, it is
    # the kernel's (an orphan, given up after its retries), no longer the server's.  The client's own state
    # is looked at first: once reset, its port is free for a new connection of the normal traffic, which a
    # worker then holds.
    port = sock.getsockname()[1]
    return sock, lambda: _tcp_state(sock) in (_TCP_CLOSE, _TCP_CLOSE_WAIT) or port not in _PORTS.held


def test_stalled_clients_are_closed(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", extra_args=["--workers", "2", *TIMEOUTS]).start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="stalls")
        big = os.urandom(BIG)
        s3.put_object(Bucket="stalls", Key="big", Body=big)  # with a CRC32 (botocore's default): checked
        plain = client(srv, request_checksum_calculation="when_required")  # no CRC: Granian sends the file
        plain.put_object(Bucket="stalls", Key="big-plain", Body=big)
        s3.put_object(Bucket="stalls", Key="normal", Body=b"n")
        kinds = ["upload", "upload chunked", "download checked", "download sendfile", "download ranged"]
        if FULL:
            kinds.append("headers")  # Granian's own 30 s, not configurable: too long for the quick mode
        closed: dict[str, list[float]] = {k: [] for k in kinds}
        traffic = Traffic(srv)
        traffic.start()
        started = time.monotonic()
        for _ in range(ROUNDS):
            open_: list[tuple[str, float, socket.socket, Callable[[], bool]]] = []
            for kind in kinds:
                for _ in range(PER_KIND):
                    sock, gone = _stall(srv, s3, kind)
                    open_.append((kind, time.monotonic(), sock, gone))
            while open_:
                _PORTS.held = _open_ports(srv)  # once per pass: psutil is slow, the times would stretch
                still = []
                for kind, since, sock, gone in open_:
                    if gone():
                        closed[kind].append(time.monotonic() - since)
                        sock.close()
                    else:
                        assert time.monotonic() - since < GIVE_UP, f"a stalled {kind} connection is still open"
                        still.append((kind, since, sock, gone))
                open_ = still
                time.sleep(0.1)
        faulted = time.monotonic() - started
        traffic.stop.set()
        traffic.join(30)
        assert not traffic.errors, traffic.errors
        lat = sorted(traffic.latencies)
        record("stalled clients", stalled=closed, fault_seconds=round(faulted, 1),
               normal_requests=len(lat), normal_median_s=round(statistics.median(lat), 3),
               normal_max_s=round(lat[-1], 3))
        assert all(len(v) == PER_KIND * ROUNDS for v in closed.values())
        assert s3.get_object(Bucket="stalls", Key="big")["Body"].read() == big
        for key in ("stalled", "stalled-chunked"):
            assert not s3.list_objects_v2(Bucket="stalls", Prefix=key).get("KeyCount")
        log = srv.log_path.read_text() if srv.log_path else ""
        assert "Traceback" not in log
    finally:
        srv.stop()
