"""An idle worker gives memory back: SQLite page caches, Python garbage and
free C heap pages (pails.http.app: after a second without a request)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from tests.conftest import client
from tests.pails_server import STORE, Server


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(Path(tmp_path_factory.mktemp("idle")) / "data", extra_args=["--workers", "1"]).start()
    yield srv
    srv.stop()


@pytest.mark.skipif(STORE != "sqlite", reason="releases the SQLite page cache; a PostgreSQL gateway has none")
def test_idle_worker_gives_memory_back(one_worker: Server) -> None:
    s3 = client(one_worker, max_pool_connections=8)
    s3.create_bucket(Bucket="warm")
    body = b"x" * (60 * 1024)  # stored in the metadata database
    keys = [f"k{i:04d}" for i in range(400)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket="warm", Key=k, Body=body), keys))
        for _ in range(2):  # reads fill the worker's SQLite page cache (16 MiB)
            list(pool.map(lambda k: s3.get_object(Bucket="warm", Key=k)["Body"].read(), keys))
    (worker,) = (psutil.Process(pid) for pid in one_worker.worker_pids())
    busy = worker.memory_info().rss
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if worker.memory_info().rss < busy - 8 * 1024 * 1024:
            break
    assert worker.memory_info().rss < busy - 8 * 1024 * 1024, (busy, worker.memory_info().rss)
    assert s3.get_object(Bucket="warm", Key="k0007")["Body"].read() == body  # and still serves
