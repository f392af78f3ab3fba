"""The CPU the metrics add to a 4 KiB GET, measured in one process: Pails'
ASGI app (pails.http.app) serves the same signed GET over and over, with the
metrics sink on and off in alternating rounds; CPU time (process_time) per
request, median of the rounds.  Only the Python side (no HTTP parsing, no
socket): the whole server's CPU per GET is larger, so the ratio here is an
upper bound of the ratio bench/run.py's scenario 9 measures.

    python bench/metrics_cost.py [--rounds 9] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.credentials  # noqa: E402

AK, SK = "AKIAMETRICSCOST00000", "metrics-cost-secret-key-0123456789abcdef"


def signed_scope(method: str, path: str, body: bytes = b"") -> dict:
    request = botocore.awsrequest.AWSRequest(method, f"http://127.0.0.1:9000{path}", data=body)
    request.headers["x-amz-content-sha256"] = botocore.auth.EMPTY_SHA256_HASH if not body else \
        __import__("hashlib").sha256(body).hexdigest()
    botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(AK, SK), "s3", "us-east-1").add_auth(request)
    headers = [(b"host", b"127.0.0.1:9000")] + [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    return {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
            "headers": headers, "client": ("127.0.0.1", 40000), "extensions": {}}


async def call(app, scope: dict, body: bytes = b"") -> int:  # type: ignore[no-untyped-def]
    sent: list[dict] = []
    given = False

    async def receive() -> dict:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app.handle(scope, receive, send)
    return sent[0]["status"]


async def main(rounds: int, requests: int) -> None:
    os.environ.update(PAILS_ROOT_ACCESS_KEY=AK, PAILS_ROOT_SECRET_KEY=SK)
    from pails import metrics
    from pails.http import request_log, request_metrics
    from pails.http.app import PailsApp
    from pails.storage.engine import Settings
    from pails.users import ensure_root

    work = tempfile.mkdtemp(prefix="pails-metrics-cost-")
    data = os.path.join(work, "data")
    os.mkdir(data)
    os.mkdir(os.path.join(work, "metrics"))
    app = PailsApp(Settings(data_dir=data))
    engine = await app.start()
    await ensure_root(engine.meta, data)
    assert await call(app, signed_scope("PUT", "/cost")) == 200
    body = os.urandom(4096)
    assert await call(app, signed_scope("PUT", "/cost/key", body), body) == 200
    get = signed_scope("GET", "/cost/key")
    metrics.enable(os.path.join(work, "metrics"))
    results: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(rounds):
        for mode in ("off", "on"):
            if mode == "on":
                request_log.add_sink(request_metrics.count)
            for _ in range(200):  # warm
                await call(app, get)
            started = time.process_time()
            for _ in range(requests):
                await call(app, get)
            results[mode].append((time.process_time() - started) / requests * 1e6)
            if mode == "on":
                request_log.remove_sink(request_metrics.count)
    off, on = statistics.median(results["off"]), statistics.median(results["on"])
    print(f"4 KiB GET, Python side, CPU µs/request (median of {rounds} rounds of {requests}):")
    print(f"  metrics off {off:.1f}  (rounds: {', '.join(f'{v:.1f}' for v in results['off'])})")
    print(f"  metrics on  {on:.1f}  (rounds: {', '.join(f'{v:.1f}' for v in results['on'])})")
    print(f"  difference  {on - off:+.1f} µs ({on / off - 1:+.1%})")
    for task in app._jobs:
        task.cancel()
    await engine.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--requests", type=int, default=3000)
    a = ap.parse_args()
    asyncio.run(main(a.rounds, a.requests))
