"""Lifecycle under load (issue 9: "a long run on a million-key bucket keeps p99 of concurrent
requests within 2x"): p99 of concurrent 4 KiB GET/PUT without, then during, a lifecycle run that
expires a bucket of many keys, on one store.

    PYTHONPATH=. .venv/bin/python bench/lifecycle_load.py --store sqlite --keys 200000
    PYTHONPATH=. .venv/bin/python bench/lifecycle_load.py --store postgresql --keys 200000

Steps: Pails starts with its defaults (fsync on, one worker per CPU) and
``PAILS_LIFECYCLE_DAY_SECONDS=4`` (a pass every second); buckets ``lc`` and ``hot`` are created
over HTTP, ``hot`` gets 1,000 4 KiB objects; the server stops and ``lc`` is filled with
``--keys`` 100-byte objects written 10 days ago through the storage interface in-process (the
fast path: batches of concurrent ``put_object``, no fsync; the time is reported); the server
starts again. ``--runs`` timed runs of the load (``--conns`` connections, half GET, half PUT of
4 KiB on ``hot``) measure the baseline; then ``lc`` gets an Expiration rule (Days 1), and once the
worker's first delete shows, the same runs measure the load during the run. The report gives
the medians and the ratio of p99s, checks that the lifecycle run was still going at the end of
the last timed run (so every timed run overlapped it) and how many keys it had expired by then;
if the run ends within ``--wait`` seconds, the baseline runs again after it (the machine's other
load drifts) and the baseline is the median of the runs before and after.

Writes ``bench/results/lifecycle-<store>-<UTC stamp>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402
from loadgen import Client, Plan, Signer  # noqa: E402

AK, SK = "PAILSLIFECYCLEBENCH01", "pails-lifecycle-bench-secret-000000000000"
KiB = 1024
HOT_KEYS = 1000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Pails:
    def __init__(self, data: Path, port: int, meta_url: str | None, day: str) -> None:
        self.data, self.port, self.meta_url, self.day = data, port, meta_url, day
        self.endpoint = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, PAILS_ROOT_ACCESS_KEY=AK, PAILS_ROOT_SECRET_KEY=SK, PAILS_LIFECYCLE_DAY_SECONDS=self.day)
        cmd = [sys.executable, "-m", "pails", "server", str(self.data), "--address", f"127.0.0.1:{self.port}",
               "--no-admin"]
        if self.meta_url:
            cmd += ["--meta", self.meta_url]
        log_file = open(self.data.parent / "server.log", "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        client = Client(Signer(self.endpoint, AK, SK))
        deadline = time.time() + 60
        while True:
            try:
                if client.request("GET", "/").status == 200:
                    return
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("Pails did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.proc = None


async def fill(data: Path, meta_url: str | None, bucket: str, n: int, batch: int = 2000) -> float:
    """``n`` 100-byte objects written 10 days ago, through the storage interface; returns seconds."""
    from pails.storage.engine import Engine, Settings
    from pails.storage.records import ObjectVersion

    engine = Engine(Settings(str(data), fsync=False, meta_url=meta_url))
    await engine.open()
    try:
        b = await engine.meta.get_bucket(bucket)
        assert b is not None
        old = time.time() - 10 * 86400
        body = b"x" * 100
        etag = f'"{hashlib.md5(body).hexdigest()}"'
        t0 = time.time()
        for start in range(0, n, batch):
            await asyncio.gather(*(engine.meta.put_object(ObjectVersion(
                b.id, f"k/{i:08d}", "null", len(body), etag, old, "{}", b.acl, b.owner_id, "STANDARD", body, None,
                None, None)) for i in range(start, min(n, start + batch))))
            if start and start % (batch * 25) == 0:
                log(f"  filled {start} keys ({start / (time.time() - t0):.0f}/s)")
        return time.time() - t0
    finally:
        await engine.close()


def preload(endpoint: str) -> None:
    body = os.urandom(4 * KiB)
    h = hashlib.sha256(body).hexdigest()

    def build(p, c):
        sg = Signer(endpoint, AK, SK)
        return (sg.request("PUT", f"/hotbench/h/{i:05d}", body=body, body_hash=h) for i in range(c, HOT_KEYS, 16))

    r = loadgen.run(Plan(endpoint, build, 16, 1, 0, True))
    if r["errors"]:
        raise RuntimeError(f"preload: {r['statuses']}")


def load(endpoint: str, conns: int, duration: float, procs: int) -> dict:
    body = os.urandom(4 * KiB)
    h = hashlib.sha256(body).hexdigest()

    def build(p, c):
        sg = Signer(endpoint, AK, SK)
        rnd = random.Random(c)
        out = []
        for _ in range(400):
            k = f"/hotbench/h/{rnd.randrange(HOT_KEYS):05d}"
            out.append(sg.request("GET", k) if rnd.random() < 0.5 else sg.request("PUT", k, body=body, body_hash=h))
        return out

    return loadgen.run(Plan(endpoint, build, conns, procs, duration))


def exists(client: Client, key: str) -> bool:
    st = client.request("HEAD", f"/lcbench/{key}").status
    assert st in (200, 404), st
    return st == 200


def put_rule(client: Client) -> None:
    xml = (b"<LifecycleConfiguration><Rule><ID>expire</ID><Filter><Prefix>k/</Prefix></Filter>"
           b"<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>")
    md5 = base64.b64encode(hashlib.md5(xml).digest()).decode()
    st = client.request("PUT", "/lcbench", {"lifecycle": ""}, xml, extra={"Content-MD5": md5}).status
    if st != 200:
        raise RuntimeError(f"PutBucketLifecycleConfiguration: HTTP {st}")


def pg_database(base_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {name}")
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per timed run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--procs", type=int, default=2, help="load generator processes")
    ap.add_argument("--port", type=int, default=19300)
    ap.add_argument("--wait", type=float, default=600.0,
                    help="seconds to wait for the lifecycle run to end before the baseline runs after it")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--work", default=str(Path.home() / ".cache" / "pails-bench" / "lifecycle"))
    cfg = ap.parse_args()

    work = Path(cfg.work) / cfg.store
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    data.mkdir(parents=True)
    meta_url = pg_database(cfg.pg_url, "pails_bench_lifecycle") if cfg.store == "postgresql" else None
    server = Pails(data, cfg.port, meta_url, "4")
    result: dict = {"store": cfg.store, "keys": cfg.keys, "duration": cfg.duration, "runs": cfg.runs,
                    "conns": cfg.conns, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        server.start()
        client = Client(Signer(server.endpoint, AK, SK))
        client.create_bucket("lcbench")
        client.create_bucket("hotbench")
        preload(server.endpoint)
        server.stop()
        log(f"filling lc with {cfg.keys} keys through the storage interface")
        result["fill_seconds"] = asyncio.run(fill(data, meta_url, "lcbench", cfg.keys))
        log(f"filled in {result['fill_seconds']:.0f} s ({cfg.keys / result['fill_seconds']:.0f} keys/s)")
        server.start()
        client = Client(Signer(server.endpoint, AK, SK))
        last = f"k/{cfg.keys - 1:08d}"
        assert exists(client, "k/00000000") and exists(client, last)
        result["without"] = []
        for r in range(cfg.runs):
            m = load(server.endpoint, cfg.conns, cfg.duration, cfg.procs)
            log(f"without lifecycle, run {r}: {m['ops_s']:.0f} ops/s, p50 {m['p50_ms']:.2f} ms, "
                f"p99 {m['p99_ms']:.2f} ms, errors {m['errors']}")
            result["without"].append(m)
        put_rule(client)
        t_rule = time.time()
        while exists(client, "k/00000000"):
            time.sleep(0.05)
        result["run_started_after"] = time.time() - t_rule
        log(f"the lifecycle run started ({result['run_started_after']:.1f} s after the rule)")
        result["with"] = []
        for r in range(cfg.runs):
            m = load(server.endpoint, cfg.conns, cfg.duration, cfg.procs)
            log(f"with lifecycle, run {r}: {m['ops_s']:.0f} ops/s, p50 {m['p50_ms']:.2f} ms, "
                f"p99 {m['p99_ms']:.2f} ms, errors {m['errors']}")
            result["with"].append(m)
        result["still_running_after_last"] = exists(client, last)
        # Keys go in order: the first one left says how many are gone.
        lo, hi = 0, cfg.keys
        while lo < hi:
            mid = (lo + hi) // 2
            if exists(client, f"k/{mid:08d}"):
                hi = mid
            else:
                lo = mid + 1
        elapsed = time.time() - t_rule - result["run_started_after"]
        result["expired_during_runs"] = lo
        result["expiry_rate"] = lo / elapsed
        log(f"{lo} keys expired in the {elapsed:.0f} s since the run started ({result['expiry_rate']:.0f} keys/s)")
        # Once the run is over (if within --wait), the baseline again: other load on the machine drifts.
        t_wait = time.time()
        while exists(client, last) and time.time() - t_wait < cfg.wait:
            time.sleep(1)
        result["after"] = []
        if not exists(client, last):
            result["lifecycle_run_seconds"] = time.time() - t_rule - result["run_started_after"]
            log(f"the lifecycle run took {result['lifecycle_run_seconds']:.0f} s")
            for r in range(cfg.runs):
                m = load(server.endpoint, cfg.conns, cfg.duration, cfg.procs)
                log(f"after the lifecycle run, run {r}: {m['ops_s']:.0f} ops/s, p50 {m['p50_ms']:.2f} ms, "
                    f"p99 {m['p99_ms']:.2f} ms, errors {m['errors']}")
                result["after"].append(m)
    finally:
        server.stop()
    for m in result["without"] + result["with"] + result["after"]:
        m.pop("start", None)
    for part, runs in (("without", result["without"] + result["after"]), ("with", result["with"])):
        result[f"{part}_p99_ms"] = statistics.median(m["p99_ms"] for m in runs)
        result[f"{part}_p50_ms"] = statistics.median(m["p50_ms"] for m in runs)
        result[f"{part}_ops_s"] = statistics.median(m["ops_s"] for m in runs)
    result["p99_ratio"] = result["with_p99_ms"] / result["without_p99_ms"]
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = Path(__file__).resolve().parent / "results" / f"lifecycle-{cfg.store}-{stamp}"
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    lines = [f"# Lifecycle under load: {cfg.store}, {cfg.keys:,} keys", "",
             f"Started {result['started']}; {cfg.runs} runs of {cfg.duration:.0f} s each, {cfg.conns} connections, "
             "50% GET / 50% PUT of 4 KiB on another bucket; medians.", "",
             "| | ops/s | p50 ms | p99 ms |", "|---|---|---|---|",
             f"| without a lifecycle run ({len(result['without']) + len(result['after'])} runs: before"
             f"{', after' if result['after'] else ''}) | {result['without_ops_s']:.0f} | "
             f"{result['without_p50_ms']:.2f} | {result['without_p99_ms']:.2f} |",
             f"| during a lifecycle run | {result['with_ops_s']:.0f} | {result['with_p50_ms']:.2f} | "
             f"{result['with_p99_ms']:.2f} |", "",
             f"p99 ratio: **{result['p99_ratio']:.2f}** (target ≤ 2). Lifecycle run still going after the last timed "
             f"run: {result['still_running_after_last']} ({result['expired_during_runs']:,} keys expired by then, "
             f"{result['expiry_rate']:.0f} keys/s). Fill through the storage interface: "
             f"{result['fill_seconds']:.0f} s; the whole lifecycle run: "
             + (f"{result['lifecycle_run_seconds']:.0f} s." if "lifecycle_run_seconds" in result
                else f"longer than the {cfg.wait:.0f} s waited.")]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
