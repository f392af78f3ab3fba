"""Clients that stall: an upload whose body stops coming gets RequestTimeout
(400) after ``--body-timeout`` and nothing of it is kept; a body cut short
gets IncompleteBody; a download whose reader stops reading has its connection
reset after ``--send-timeout``.  Other requests are served meanwhile."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import client
from tests.pails_server import STORE, Server

BIG = 48 * 2**20  # more than the socket buffers and Granian's queue hold


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("stalls") / "data",
                 extra_args=["--body-timeout", "1.5", "--send-timeout", "1.5"]).start()
    s3 = client(srv)
    s3.create_bucket(Bucket="stalls")
    big = os.urandom(BIG)
    s3.put_object(Bucket="stalls", Key="big", Body=big)  # with botocore's default CRC32: checked as it streams
    # Without a CRC: a whole GET is sent by Granian itself (pathsend).
    client(srv, request_checksum_calculation="when_required").put_object(Bucket="stalls", Key="big-plain", Body=big)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def s3(server: Server):  # type: ignore[no-untyped-def]
    return client(server)


class Traffic(threading.Thread):
    """Normal requests on the same server while a client stalls: all must succeed."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.s3 = client(server)
        self.stop = threading.Event()
        self.done = 0
        self.errors: list[BaseException] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.s3.put_object(Bucket="stalls", Key="normal", Body=b"n" * 100_000)
                assert self.s3.get_object(Bucket="stalls", Key="normal")["Body"].read() == b"n" * 100_000
                self.done += 1
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)
                return

    def __enter__(self) -> Traffic:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(30)
        assert not self.errors, self.errors
        assert self.done > 0


def raw_request(s3, server: Server, method: str, key: str,  # type: ignore[no-untyped-def]
                headers: str = "") -> tuple[socket.socket, bytes]:
    op = {"PUT": "put_object", "GET": "get_object"}[method]
    url = urlsplit(s3.generate_presigned_url(op, Params={"Bucket": "stalls", "Key": key}))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = f"{method} {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n{headers}\r\n".encode()
    return sock, head


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def leftovers(server: Server) -> list[str]:
    """Data files nothing references (a local data directory: tmp; shared: files of uncommitted intents)."""
    if STORE == "postgresql":
        return []  # intents expire after --intent-timeout (a day here); test_worker_respawn covers that path
    return os.listdir(Path(server.data_dir) / "tmp")


def test_stalled_upload_gets_request_timeout(server: Server, s3) -> None:  # type: ignore[no-untyped-def]
    with Traffic(server):
        sock, head = raw_request(s3, server, "PUT", "stalled", f"Content-Length: {10 * 2**20}\r\n")
        with sock:
            sock.sendall(head + b"x" * 300_000)  # then nothing
            answer = read_until_closed(sock)  # the server answers and closes
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"<Code>RequestTimeout</Code>" in answer
    assert (b"<Message>Your socket connection to the server was not read from or written to within the "
            b"timeout period.</Message>") in answer
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="stalls", Key="stalled")
    assert leftovers(server) == []


def test_stalled_aws_chunked_upload_gets_request_timeout(server: Server, s3) -> None:  # type: ignore[no-untyped-def]
    """No Content-Length (chunked transfer): the body timeout still applies."""
    sock, head = raw_request(s3, server, "PUT", "chunked", "Transfer-Encoding: chunked\r\n")
    with sock:
        sock.sendall(head + b"10000\r\n" + b"c" * 0x10000 + b"\r\n")
        answer = read_until_closed(sock)
    assert b"<Code>RequestTimeout</Code>" in answer
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="stalls", Key="chunked")


@pytest.mark.parametrize("size", [1000, 3 * 2**20])  # kept inline, and a data file
def test_body_cut_short_gets_incomplete_body(server: Server, s3, size: int) -> None:  # type: ignore[no-untyped-def]
    sock, head = raw_request(s3, server, "PUT", f"short{size}", f"Content-Length: {size + 1000}\r\n")
    with sock:
        sock.sendall(head + b"s" * size)
        sock.shutdown(socket.SHUT_WR)  # the client is done sending, and still reads
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"<Code>IncompleteBody</Code>" in answer
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="stalls", Key=f"short{size}")
    assert leftovers(server) == []


# Sent by Granian from the file; streamed from Python (checked against its CRC32; a range).
@pytest.mark.parametrize("key, ranged", [("big-plain", False), ("big", False), ("big", True)])
def test_stalled_reader_is_disconnected(server: Server, s3, key: str, ranged: bool) -> None:  # type: ignore[no-untyped-def]
    with Traffic(server):
        sock, head = raw_request(s3, server, "GET", key, f"Range: bytes=1-{BIG - 2}\r\n" if ranged else "")
        with sock:
            sock.sendall(head)
            first = sock.recv(1024)
            assert first.startswith(b"HTTP/1.1 206 " if ranged else b"HTTP/1.1 200 "), first[:100]
            # Read nothing more until the server gives up: the socket buffers
            # fill, the server's writes stall, and its connection is reset.
            server_side = _server_socket_open(server, sock)
            deadline = time.monotonic() + 60
            while server_side() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not server_side(), "the stalled connection is still open"
            received = len(first)
            try:
                while chunk := sock.recv(2**20):
                    received += len(chunk)
            except ConnectionResetError:
                pass
    assert received < BIG  # the response was cut off, not completed
    # Nor is the object's file left open (a normal GET's may be closing).
    deadline = time.monotonic() + 30
    while _open_data_files(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_data_files(server) == []
    log = server.log_path.read_text() if server.log_path else ""
    assert "Traceback" not in log


def test_a_workers_first_connection_is_reset_too(tmp_path: Path) -> None:
    """The first connection a fresh worker accepts (before its listening
    socket had the send timeout) is let go when its reader stalls."""
    srv = Server(tmp_path / "data", extra_args=["--workers", "1", "--send-timeout", "1.5"]).start()
    try:
        s3 = client(srv, request_checksum_calculation="when_required")
        s3.create_bucket(Bucket="stalls")
        s3.put_object(Bucket="stalls", Key="big-plain", Body=os.urandom(BIG))
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "stalls", "Key": "big-plain"})
    finally:
        srv.stop()
    srv.start()  # a new worker: the stalled download is its first connection
    try:
        parts = urlsplit(url)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
            sock.sendall(f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
            assert sock.recv(1024).startswith(b"HTTP/1.1 200 ")
            server_side = _server_socket_open(srv, sock)
            deadline = time.monotonic() + 60
            while server_side() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not server_side(), "the stalled connection is still open"
    finally:
        srv.stop()


def _open_data_files(server: Server) -> list[str]:
    import psutil

    blobs = str(Path(server.data_dir) / "blobs")
    return [f.path for pid in server.worker_pids() for f in psutil.Process(pid).open_files()
            if f.path.startswith(blobs)]


def _server_socket_open(server: Server, sock: socket.socket):  # type: ignore[no-untyped-def]
    import psutil

    port = sock.getsockname()[1]

    def is_open() -> bool:
        for pid in server.worker_pids():
            try:
                if any(c.raddr and c.raddr.port == port for c in psutil.Process(pid).net_connections(kind="tcp")):
                    return True
            except psutil.NoSuchProcess:
                pass
        return False

    return is_open


def test_no_internal_errors_logged(server: Server) -> None:
    log = server.log_path.read_text() if server.log_path else ""
    assert "Traceback" not in log and "internal error" not in log
