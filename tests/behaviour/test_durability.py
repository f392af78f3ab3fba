"""Crash consistency and constant-memory streaming, against real servers."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from tests.conftest import client
from tests.pails_server import Server

KEYS = 24


def _payload(key_index: int, generation: int) -> bytes:
    # Alternate small (inline in the metadata row) and large (own data file) values.
    size = 1000 + key_index * 7 if key_index % 2 == 0 else 300_000 + key_index * 1013
    seed = hashlib.sha256(f"{key_index}:{generation}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def test_sigkill_during_overwrites_leaves_every_key_whole(tmp_path):
    # On a shared data directory (PostgreSQL store) the files of interrupted
    # writes go when their intents expire: 2 s here (these bodies take ms).
    srv = Server(tmp_path / "data", extra_args=["--intent-timeout", "2"]).start()
    s3 = client(srv, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10)
    s3.create_bucket(Bucket="crash")
    written: dict[int, list[bytes]] = {i: [_payload(i, 0)] for i in range(KEYS)}
    for i in range(KEYS):
        s3.put_object(Bucket="crash", Key=f"k/{i}", Body=written[i][0])
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        rng = random.Random(worker)
        c = client(srv, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10)
        generation = worker * 100_000
        while not stop.is_set():
            i = rng.randrange(KEYS)
            generation += 1
            body = _payload(i, generation)
            with lock:
                written[i].append(body)  # recorded before sending: it may or may not land
            try:
                c.put_object(Bucket="crash", Key=f"k/{i}", Body=body)
            except Exception:
                return

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(writer, w) for w in range(8)]
        time.sleep(1.5)
        srv.kill()
        stop.set()
        for f in futures:
            f.result()

    srv.start()
    try:
        s3 = client(srv)
        for i in range(KEYS):
            obj = s3.get_object(Bucket="crash", Key=f"k/{i}")
            body = obj["Body"].read()
            assert body in written[i], f"key k/{i} holds a value that was never written"
            assert obj["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        # Recovery left no interrupted write behind, and every data file is referenced.
        assert os.listdir(srv.data_dir / "tmp") == []
        data_files = sum(len(files) for _, _, files in os.walk(srv.data_dir / "blobs"))
        large_keys = sum(1 for i in range(KEYS) if i % 2 == 1)
        deadline = time.monotonic() + 20
        while data_files > large_keys and time.monotonic() < deadline:  # collection runs in the background
            s3.put_object(Bucket="crash", Key="nudge", Body=b"x")
            time.sleep(0.2)
            data_files = sum(len(files) for _, _, files in os.walk(srv.data_dir / "blobs"))
        assert data_files == large_keys
    finally:
        srv.stop()


class _Zeros:
    """A file-like object producing ``size`` bytes without holding them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0
        self.block = bytes(range(256)) * 4096  # 1 MiB

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.pos
        if left <= 0:
            return b""
        n = left if n is None or n < 0 else min(n, left)
        n = min(n, len(self.block))
        self.pos += n
        return self.block[:n]

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else (self.pos + offset if whence == 1 else self.size + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos


@pytest.mark.parametrize("size", [1024 * 1024 * 1024])
def test_one_gib_put_and_get_in_constant_memory(tmp_path, size):
    srv = Server(tmp_path / "data").start()
    try:
        s3 = client(srv, read_timeout=300)
        s3.create_bucket(Bucket="big")
        s3.put_object(Bucket="big", Key="warm", Body=b"x" * 200_000)
        s3.get_object(Bucket="big", Key="warm")["Body"].read()
        workers = [psutil.Process(p) for p in srv.worker_pids()]
        baseline = sum(p.memory_info().rss for p in workers)
        peak = baseline
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, sum(p.memory_info().rss for p in workers))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            s3.put_object(Bucket="big", Key="gib", Body=_Zeros(size), ContentLength=size)
            body = s3.get_object(Bucket="big", Key="gib")["Body"]
            md5 = hashlib.md5()
            total = 0
            for chunk in iter(lambda: body.read(1024 * 1024), b""):
                md5.update(chunk)
                total += len(chunk)
        finally:
            done.set()
            sampler.join()
        expected = hashlib.md5()
        src = _Zeros(size)
        for chunk in iter(lambda: src.read(1024 * 1024), b""):
            expected.update(chunk)
        assert total == size
        assert md5.hexdigest() == expected.hexdigest()
        growth = peak - baseline
        assert growth < 50 * 1024 * 1024, f"server RSS grew by {growth / 2**20:.1f} MiB"
    finally:
        srv.stop()
