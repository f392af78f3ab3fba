"""Pails benchmark suite: Pails side by side with real peers, and the machine's physical limits.

    python bench/run.py                      # the full benchmark (see bench/README.md)
    python bench/run.py --smoke              # seconds per scenario, small objects: checks the suite works
    python bench/run.py --scenarios 1,3 --peers seaweedfs,nginx --duration 5

Every measurement is repeated ``--runs`` times, alternating the targets (Pails, peer A, peer B,
Pails, ...); the report gives the median of each metric. Results: bench/results/<stamp>.md, .png
and .json.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import loadgen  # noqa: E402
import peers  # noqa: E402
from loadgen import Client, Plan, Signer, list_all, multipart_put  # noqa: E402

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
ALL_PEERS = ["seaweedfs", "juicefs", "ceph", "nginx"]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- machine and physical limits


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        src = subprocess.run(["df", "--output=source,fstype", str(HERE)], capture_output=True, text=True).stdout
        dev, fstype = src.splitlines()[1].split()
        info["disk"] = f"{dev} ({fstype})"
        name = os.path.basename(os.path.realpath(dev))
        rot = Path(f"/sys/block/{name}/queue/rotational")
        if rot.exists():
            info["disk"] += ", rotational" if rot.read_text().strip() == "1" else ", non-rotational"
    except (OSError, ValueError, IndexError):
        pass
    try:
        info["load_at_start"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


def durable_small_writes(d: Path, size: int, secs: float, threads: int) -> dict:
    """The bound for a durable small PUT: write a temp file, fsync it, rename it, fsync the directory."""
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    data = os.urandom(size)
    counts = [0] * threads
    lats: list[float] = []

    def work(t: int) -> None:
        sub = d / f"t{t}"
        sub.mkdir()
        dfd = os.open(sub, os.O_RDONLY)
        end = time.perf_counter() + secs
        i = 0
        my = []
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            tmp, fin = sub / f".tmp{i}", sub / f"o{i}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, fin)
            os.fsync(dfd)
            my.append(time.perf_counter() - t0)
            i += 1
        counts[t] = i
        lats.extend(my)
        os.close(dfd)

    ths = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    el = time.perf_counter() - t0
    lats.sort()
    shutil.rmtree(d, ignore_errors=True)
    return {"rate": sum(counts) / el, "p50_ms": lats[len(lats) // 2] * 1e3, "p99_ms": lats[int(len(lats) * .99)] * 1e3}


_libc = ctypes.CDLL(None, use_errno=True)


def seq_write(d: Path, size: int) -> float:
    """MiB/s of a sequential write made durable (fsync), written the way a
    storage server should stream it: writeback started every 8 MiB and the
    pages of the step before dropped once on disk.  (Writing everything and
    fsyncing at the end measures the page cache instead: on this kind of VM,
    taking fresh memory runs at ~300 MiB/s, reusing freed pages at GB/s.)"""
    d.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MiB)
    path = d / "seq"
    step = 8 * MiB
    sfr = getattr(_libc, "sync_file_range", None)
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = flushed = 0
        for _ in range(size // MiB):
            written += os.write(fd, block)
            if sfr is not None and written - flushed >= step:
                sfr(fd, ctypes.c_longlong(flushed), ctypes.c_longlong(written - flushed), 2)
                if flushed >= step:
                    sfr(fd, ctypes.c_longlong(flushed - step), ctypes.c_longlong(step), 7)
                    os.posix_fadvise(fd, flushed - step, step, os.POSIX_FADV_DONTNEED)
                flushed = written
        os.fsync(fd)
    finally:
        os.close(fd)
    el = time.perf_counter() - t0
    path.unlink()
    return size / MiB / el


class RawDisk:
    """A pseudo-target for scenario 3: the bench process itself writes the
    object's size with ``seq_write`` between the servers' PUTs, so the disk's
    bound is measured under the same conditions as they are."""

    name, s3 = "raw disk", False

    def __init__(self, workdir: Path):
        self.dir = workdir / "raw-disk"

    def pids(self) -> list[int]:
        return []

    def write(self, size: int) -> None:
        seq_write(self.dir, size)


def md5_speed(size: int = 512 * MiB) -> float:
    block = os.urandom(MiB)
    h = hashlib.md5()
    t0 = time.perf_counter()
    for _ in range(size // MiB):
        h.update(block)
    return size / MiB / (time.perf_counter() - t0)


def loopback_speed(secs: float) -> float:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    pid = os.fork()
    if pid == 0:  # receiver
        c, _ = srv.accept()
        buf = bytearray(MiB)
        while c.recv_into(buf):
            pass
        os._exit(0)
    c = socket.create_connection(("127.0.0.1", port))
    data = os.urandom(MiB)
    n = 0
    t0 = time.perf_counter()
    end = t0 + secs
    while time.perf_counter() < end:
        c.sendall(data)
        n += len(data)
    c.close()
    os.waitpid(pid, 0)
    el = time.perf_counter() - t0
    srv.close()
    return n / MiB / el


def physical_limits(cfg, work: Path) -> list[dict]:
    out = []
    secs = max(1.0, cfg.duration / 2)
    for th in (1, 8, 64):
        r = durable_small_writes(work / "limits-durable", 4 * KiB, secs, th)
        out.append({"limit": f"durable 4 KiB file writes (write+fsync+rename+dir fsync), {th} threads",
                    "value": r["rate"], "unit": "files/s", "key": f"durable_{th}",
                    "note": f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms"})
        log(f"limit durable x{th}: {r['rate']:.0f} files/s")
    v = seq_write(work / "limits-seq", cfg.big)
    out.append({"limit": f"sequential write of {cfg.big // MiB} MiB + fsync", "value": v, "unit": "MiB/s",
                "key": "seq_write", "note": ""})
    v = md5_speed()
    out.append({"limit": "MD5, one core", "value": v, "unit": "MiB/s", "key": "md5", "note": ""})
    v = loopback_speed(secs)
    out.append({"limit": "loopback TCP, one Python stream (1 MiB sendall)", "value": v, "unit": "MiB/s",
                "key": "loopback", "note": ""})
    log(f"limits: seq write {out[3]['value']:.0f} MiB/s, md5 {out[4]['value']:.0f} MiB/s, "
        f"loopback {out[5]['value']:.0f} MiB/s")
    return out


# ---------------------------------------------------------------- measurement plumbing


class Bench:
    def __init__(self, cfg, targets: dict[str, peers.Server]):
        self.cfg = cfg
        self.targets = targets
        self.rows: list[dict] = []  # one per (scenario, measure, target, run)
        self.notes: list[str] = []
        self.listing_built: dict[str, int] = {}  # target -> prefixes of 1000 keys in its listing bucket

    def alternate(self, scenario: str, measure: str, unit: str, names: list[str], fn, runs: int | None = None) -> None:
        """Run ``fn(server)`` ``runs`` times per target, alternating targets; record every run."""
        names = [n for n in names if n in self.targets]
        for r in range(runs or self.cfg.runs):
            for n in names:
                s = self.targets[n]
                try:
                    m = fn(s)
                except Exception as e:  # one failing target must not end the benchmark
                    log(f"{scenario}/{measure}/{n}: FAILED {e!r}")
                    m = {"error": repr(e)[:200]}
                m.update(scenario=scenario, measure=measure, unit=unit, target=n, run=r)
                self.rows.append(m)
                if "rate" in m:
                    log(f"{scenario} {measure:34s} {n:10s} run {r}: {m['rate']:10.1f} {unit}"
                        + (f"  p99 {m['p99_ms']:.1f} ms" if m.get("p99_ms") == m.get("p99_ms") and "p99_ms" in m
                           else "")
                        + (f"  cpu {m['cpu_ms_op']:.3f} ms/op" if "cpu_ms_op" in m else "")
                        + (f" (Pails {m['pails_cpu_ms_op']:.3f} + PostgreSQL {m['pg_cpu_ms_op']:.3f}; Lock waiters "
                           f"{m['lock_waiting_mean']:.2f}/sample, deadlocks {m['pg_deadlocks']}, rollbacks "
                           f"{m['pg_rollbacks']})" if "pg_cpu_ms_op" in m else ""))

    def loadgen_run(self, s: peers.Server, build, conns: int, procs: int | None = None,
                    duration: float | None = None, count_mode: bool = False) -> dict:
        procs = procs or min(self.cfg.procs, conns)
        meter = CpuMeter(s)
        r = loadgen.run(Plan(s.endpoint, build, conns, procs, duration or self.cfg.duration, count_mode,
                             endpoints=s.endpoints), meter.start)
        r.update(meter.stop(r["ops"]))
        r["rate"] = r["ops_s"]
        r.pop("start", None)
        if r["errors"]:
            log(f"  {s.name}: {r['errors']} errors {r['statuses']}")
            if r["errors"] > 0.01 * r["ops"]:
                raise RuntimeError(f"{r['errors']} of {r['ops']} requests failed: {r['statuses']}")
        return r


class CpuMeter:
    """Server CPU over one timed run: utime+stime of the server's process tree. For Pails on
    PostgreSQL (``s.pg``) also PostgreSQL's processes working for its database, its lock waits and
    counters (``pgstat.PgMonitor``); ``cpu_ms_op`` is then Pails + PostgreSQL, with the two parts
    in ``pails_cpu_ms_op`` and ``pg_cpu_ms_op``."""

    def __init__(self, s: peers.Server):
        self.s = s
        self.mon = s.monitor() if s.pg else None

    def start(self) -> None:
        if self.mon:
            self.mon.start()
        self.c0 = peers.tree_cpu_seconds(self.s.pids())

    def stop(self, ops: int, scale: float = 1e3) -> dict:
        """Metrics of the run; CPU per op in ms (times ``scale`` / 1e3: per GiB, per page...)."""
        cpu = peers.tree_cpu_seconds(self.s.pids()) - self.c0
        per = scale / ops if ops else float("nan")
        if not self.mon:
            return {"cpu_ms_op": cpu * per}
        m = self.mon.stop()
        m["pails_cpu_ms_op"] = cpu * per
        m["pg_cpu_ms_op"] = m["pg_cpu"] * per
        m["cluster_cpu_ms_op"] = m["cluster_cpu"] * per
        m["cpu_ms_op"] = (cpu + m["pg_cpu"]) * per
        # every autocommit read is a transaction too; for PUTs this shows how many share a commit
        m["xact_per_op"] = (m["pg_commits"] + m["pg_rollbacks"]) / ops if ops else float("nan")
        return m


def delete(s: peers.Server, bucket: str, keys: list[str]) -> None:
    """Free the space of big objects (best effort)."""
    c = Client(s.signer())
    for k in keys:
        try:
            c.request("DELETE", f"/{bucket}/{k}")
        except OSError:
            pass
    c.close()


def preload(s: peers.Server, bucket: str, keys: list[str], size: int) -> None:
    """Create objects untimed (nginx: files)."""
    if isinstance(s, peers.Nginx):
        for k in keys:
            s.put_file(bucket, k, os.urandom(size))
        return
    body = os.urandom(size)
    h = hashlib.sha256(body).hexdigest()
    conns = 16

    def build(p, c):
        sg = Signer(s.endpoint, s.ak, s.sk)
        return (sg.request("PUT", f"/{bucket}/{keys[i]}", body=body, body_hash=h) for i in range(c, len(keys), conns))

    r = loadgen.run(Plan(s.endpoint, build, conns, 1, 0, True, endpoints=s.endpoints))
    if r["errors"]:
        raise RuntimeError(f"preload {s.name}/{bucket}: {r['errors']} errors {r['statuses']}")


# ---------------------------------------------------------------- scenarios


def s3_names(b: Bench) -> list[str]:
    """The S3 targets of scenarios 1-6: Pails (default settings) and the S3 peers; the other
    Pails variants (pails-w1, pails-w2, pails-pg, pails-pg3) belong to scenarios 7 and 8."""
    return [n for n, s in b.targets.items() if s.s3 and not n.startswith("pails-")]


def small_ops(b: Bench, scenario: str, names: list[str], conns_list=(8, 64), ops=("PUT", "GET")) -> None:
    size = 4 * KiB
    bucket = "bench-small"
    nkeys = 1000
    gkeys = [f"g/{i:06d}" for i in range(nkeys)]
    for n in names:
        if n not in b.targets:
            continue
        s = b.targets[n]
        s.create_bucket(bucket)
        if "GET" in ops:
            preload(s, bucket, gkeys, size)
    body = os.urandom(size)
    h = hashlib.sha256(body).hexdigest()
    for op in ops:
        for conns in conns_list:
            per_conn = max(20, 16000 // conns)

            def build(p, c, s=None, op=op, per_conn=per_conn):
                sg = Signer(b.cur.endpoint, b.cur.ak, b.cur.sk)
                if op == "PUT":
                    return [sg.request("PUT", f"/{bucket}/p/{c:03d}-{i:05d}", body=body, body_hash=h)
                            for i in range(per_conn)]
                rnd = random.Random(c)
                return [sg.request("GET", f"/{bucket}/{gkeys[rnd.randrange(nkeys)]}") for i in range(per_conn)]

            def fn(s, build=build, conns=conns):
                b.cur = s
                return b.loadgen_run(s, build, conns)

            tnames = names if op == "GET" else [n for n in names if b.targets.get(n) and b.targets[n].s3]
            b.alternate(scenario, f"4 KiB {op} @{conns} conns", "ops/s", tnames, fn)


def scenario1(b: Bench) -> None:
    small_ops(b, "1 small", s3_names(b) + ["nginx"])


def scenario2(b: Bench) -> None:
    # Uses scenario 1's PUT runs; measured here only when scenario 1 was not selected.
    if not any(r["scenario"] == "1 small" and "PUT" in r["measure"] for r in b.rows):
        small_ops(b, "1 small", s3_names(b), ops=("PUT",))


def scenario3(b: Bench) -> None:
    size = b.cfg.big
    bucket = "bench-big"
    names = s3_names(b)
    for n in names:
        b.targets[n].create_bucket(bucket)
    if "nginx" in b.targets:
        b.targets["nginx"].put_file(bucket, "big", size=size)

    def timed(s, work):
        c0 = peers.tree_cpu_seconds(s.pids())
        t0 = time.perf_counter()
        work()
        el = time.perf_counter() - t0
        cpu = peers.tree_cpu_seconds(s.pids()) - c0
        return {"rate": size / MiB / el, "seconds": el, "cpu_ms_op": cpu * 1e3 / (size / GiB)}

    def put1(s):
        if isinstance(s, RawDisk):
            return timed(s, lambda: s.write(size))
        c = Client(s.signer())

        def w():
            r = c.put_stream(f"/{bucket}/big", size)
            if r.status != 200:
                raise RuntimeError(f"HTTP {r.status}")
        m = timed(s, w)
        c.close()
        return m

    def get1(s):
        c = Client(s.signer())

        def w():
            st, n = c.get_stream(f"/{bucket}/big")
            if st != 200 or n != size:
                raise RuntimeError(f"HTTP {st}, {n} bytes")
        m = timed(s, w)
        c.close()
        return m

    def mpu(s):
        return timed(s, lambda: multipart_put(s.signer(), f"/{bucket}/mpu", size, 4, b.cfg.part))

    label = f"{size // MiB} MiB"  # server CPU of these measures is per GiB moved
    b.targets["raw disk"] = RawDisk(Path(b.cfg.workdir))
    try:
        b.alternate("3 big", f"{label} PUT, one stream (CPU ms/GiB)", "MiB/s", names + ["raw disk"], put1)
    finally:
        del b.targets["raw disk"]
    b.alternate("3 big", f"{label} GET, one stream (CPU ms/GiB)", "MiB/s", names + ["nginx"], get1)
    b.alternate("3 big", f"{label} multipart PUT, 4 part streams (CPU ms/GiB)", "MiB/s", names, mpu)
    for n in names:
        delete(b.targets[n], bucket, ["big", "mpu"])


LIST_BUCKET = "bench-list"


def build_listing(b: Bench, scenario: str, s: peers.Server, nprefix: int, conns: int = 64) -> None:
    """Fill the listing bucket: ``nprefix`` prefixes x 1000 keys, by ``conns`` connections of
    0-byte PUTs (spread over every endpoint of the target); records the creation rate. Done once
    per target and key count (scenario 8 reuses scenario 4's bucket)."""
    if b.listing_built.get(s.name) == nprefix:
        return
    bucket = LIST_BUCKET
    s.create_bucket(bucket)

    def build(p, c, s=s):
        sg = Signer(s.endpoint, s.ak, s.sk)
        return (sg.request("PUT", f"/{bucket}/p{g // 1000:04d}/k{g % 1000:04d}", body_hash=loadgen.EMPTY_SHA256)
                for g in range(c, nprefix * 1000, conns))

    log(f"{scenario}: creating {nprefix * 1000} keys in {s.name} ({conns} connections of 0-byte PUTs)")
    meter = CpuMeter(s)
    meter.start()
    t0 = time.perf_counter()
    r = loadgen.run(Plan(s.endpoint, build, conns, b.cfg.procs, 0, True, endpoints=s.endpoints))
    el = time.perf_counter() - t0
    m = meter.stop(max(1, r["ops"]))
    log(f"  {s.name}: {r['ops']} keys in {el:.0f} s ({r['ops'] / el:.0f}/s), {r['errors']} errors")
    m.update({"scenario": scenario, "measure": f"create {nprefix * 1000} keys (0-byte PUTs @{conns})",
              "unit": "keys/s", "target": s.name, "run": 0, "rate": r["ops"] / el, "seconds": el,
              "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "errors": r["errors"]})
    b.rows.append(m)
    if not r["errors"]:
        b.listing_built[s.name] = nprefix


def listing(b: Bench, scenario: str, names: list[str], delimiter: bool = True, budget: float | None = None,
            label: str = "") -> None:
    """Full flat ListObjectsV2 of the listing bucket, 1000 keys per page (keys/s, CPU per page);
    then repeated delimiter '/' listings over its prefixes (pages/s, CPU per page). ``budget``:
    a flat listing still running after that many seconds stops there (``partial``: keys/s of the
    pages listed); ``label`` is added to the measures' names."""
    nprefix = max(1, b.cfg.keys // 1000)
    bucket = LIST_BUCKET
    for n in names:
        build_listing(b, scenario, b.targets[n], nprefix)

    def flat(s):
        meter = CpuMeter(s)
        meter.start()
        r = list_all(s.signer(), bucket, max_keys=1000, budget=budget)
        m = meter.stop(r["pages"])
        if r["keys"] != nprefix * 1000 and not r["partial"]:
            raise RuntimeError(f"listed {r['keys']} keys, expected {nprefix * 1000}")
        lat = sorted(r["lat"])
        m.update({"rate": r["keys"] / r["seconds"], "pages": r["pages"], "seconds": r["seconds"],
                  "ms_page": r["seconds"] / r["pages"] * 1e3, "p50_ms": lat[len(lat) // 2] * 1e3,
                  "p99_ms": lat[int(len(lat) * .99)] * 1e3})
        if r["partial"]:
            m["partial_keys"] = r["keys"]
            log(f"  {s.name}: flat listing stopped after {r['seconds']:.0f} s (budget), {r['keys']} of "
                f"{nprefix * 1000} keys")
        return m

    def delim(s):
        meter = CpuMeter(s)
        meter.start()
        t0 = time.perf_counter()
        lat = []
        while len(lat) < 5 or time.perf_counter() - t0 < b.cfg.duration / 2:
            r = list_all(s.signer(), bucket, delimiter="/", max_keys=1000)
            if r["prefixes"] != nprefix:
                raise RuntimeError(f"listed {r['prefixes']} prefixes, expected {nprefix}")
            lat += r["lat"]
        el = time.perf_counter() - t0
        m = meter.stop(len(lat))
        lat.sort()
        m.update({"rate": len(lat) / el, "pages": len(lat), "ms_page": el / len(lat) * 1e3,
                  "p50_ms": lat[len(lat) // 2] * 1e3, "p99_ms": lat[-1] * 1e3})
        return m

    b.alternate(scenario, f"flat ListObjectsV2 of {nprefix * 1000} keys{label}, 1000/page (keys/s; cpu per page)",
                "keys/s", names, flat)
    if delimiter:
        b.alternate(scenario, f"delimiter '/' over {nprefix} prefixes x 1000 keys{label} (pages/s; cpu per page)",
                    "pages/s", names, delim)


def scenario4(b: Bench) -> None:
    listing(b, "4 listing", [n for n in s3_names(b) if n in b.cfg.list_targets])


def mixed(b: Bench, scenario: str, names: list[str], after_preload=None) -> None:
    """16 clients, 60% GET / 30% PUT / 10% LIST (100 keys), 64 KiB objects over 1000 keys.
    ``after_preload(name)`` runs for each target once its objects are in."""
    size = 64 * KiB
    bucket = "bench-mixed"
    nkeys = 1000
    keys = [f"m/{i:05d}" for i in range(nkeys)]
    for n in names:
        b.targets[n].create_bucket(bucket)
        preload(b.targets[n], bucket, keys, size)
        if after_preload:
            after_preload(n)
    body = os.urandom(size)
    h = hashlib.sha256(body).hexdigest()

    def build(p, c):
        s = b.cur
        sg = Signer(s.endpoint, s.ak, s.sk)
        rnd = random.Random(1000 + c)
        out = []
        for _ in range(300):
            x = rnd.random()
            k = keys[rnd.randrange(nkeys)]
            if x < 0.6:
                out.append(sg.request("GET", f"/{bucket}/{k}"))
            elif x < 0.9:
                out.append(sg.request("PUT", f"/{bucket}/{k}", body=body, body_hash=h))
            else:
                out.append(sg.request("GET", f"/{bucket}", {"list-type": "2", "prefix": "m/", "max-keys": "100",
                                                             "start-after": k}))
        return out

    def fn(s):
        b.cur = s
        return b.loadgen_run(s, build, 16)

    b.alternate(scenario, "16 clients: 60% GET / 30% PUT / 10% LIST, 64 KiB", "ops/s", names, fn)


def scenario5(b: Bench) -> None:
    mixed(b, "5 mixed", s3_names(b))


def scenario6(b: Bench) -> None:
    size = b.cfg.big
    bucket = "bench-mem"
    names = s3_names(b) + [n for n in b.targets if n == "pails-w1"]
    clients = 8
    for n in names:
        b.targets[n].create_bucket(bucket)

    def fn(s):
        time.sleep(1)
        idle = peers.tree_rss_mib(s.pids())
        peak = dict(idle)
        peak_total = sum(idle.values())
        stop = threading.Event()

        def sample():
            nonlocal peak_total
            while not stop.is_set():
                r = peers.tree_rss_mib(s.pids())
                for p, v in r.items():
                    peak[p] = max(peak.get(p, 0), v)
                peak_total = max(peak_total, sum(r.values()))
                time.sleep(0.1)

        errs = []

        def up(i):
            c = Client(s.signer())
            r = c.put_stream(f"/{bucket}/u{i}", size)
            if r.status != 200:
                errs.append(r.status)
            c.close()

        delete(s, bucket, [f"u{i}" for i in range(clients)])
        th = threading.Thread(target=sample)
        th.start()
        t0 = time.perf_counter()
        ups = [threading.Thread(target=up, args=(i,)) for i in range(clients)]
        for t in ups:
            t.start()
        for t in ups:
            t.join()
        el = time.perf_counter() - t0
        stop.set()
        th.join()
        delete(s, bucket, [f"u{i}" for i in range(clients)])
        if errs:
            raise RuntimeError(f"uploads failed: {errs}")
        return {"rate": clients * size / MiB / el, "rss_idle_mib": sum(idle.values()),
                "rss_idle_per_proc": sorted(round(v) for v in idle.values()),
                "rss_peak_mib": peak_total, "rss_peak_max_proc_mib": max(peak.values()), "procs": len(peak)}

    b.alternate("6 memory", f"RSS: idle, and {clients} clients each PUT {size // MiB} MiB (MiB/s aggregate)",
                "MiB/s", names, fn, runs=b.cfg.mem_runs)


def scenario7(b: Bench) -> None:
    small_ops(b, "7 workers", ["pails-w1", "pails-w2"], conns_list=(64,))


def scenario9(b: Bench) -> None:
    """The metrics' cost: 4 KiB GETs, one worker, metrics counted (admin port on) or not (--no-metrics);
    pails-metrics-off2, a second server without, after the one with: the same-run noise (and any order effect)."""
    small_ops(b, "9 metrics", ["pails-metrics-off", "pails-metrics-on", "pails-metrics-off2"], conns_list=(8,),
              ops=("GET",))


PG_SCENARIO = "8 postgresql"


def scenario8(b: Bench) -> None:
    """Pails on PostgreSQL next to Pails on SQLite: one gateway (default workers), one gateway with
    3 workers (pails-pg-w3: as many processes as the next) and three gateways (--workers 1 each,
    one database, one data directory, connections round-robin)."""
    names = [n for n in ("pails", "pails-pg", "pails-pg-w3", "pails-pg3") if n in b.targets]
    if not any(b.targets[n].pg for n in names):
        b.notes.append("scenario 8 skipped: no PostgreSQL-backed Pails started (see the notes above; --pg-url)")
        log("scenario 8: no PostgreSQL target running, skipped")
        return
    small_ops(b, PG_SCENARIO, names)
    # The listing as Pails leaves its tables: PostgreSQL plans with whatever statistics autovacuum
    # has gathered (none if the cluster runs with autovacuum off and nothing ANALYZEd the tables),
    # which can turn each page into a scan of the rest of the bucket: hence a time budget.
    lnames = [n for n in names if n not in ("pails-pg3", "pails-pg-w3") or n in b.cfg.list_targets]
    listing(b, PG_SCENARIO, lnames, delimiter=False, budget=max(30.0, 3 * b.cfg.duration))
    # Then with statistics, as a default cluster's autovacuum would eventually gather them.
    pgs = [n for n in lnames if b.targets[n].pg]
    for n in pgs:
        pg_analyze(b, n, "after the flat listing as Pails left it")
    listing(b, PG_SCENARIO, pgs, label=" after ANALYZE")
    # The mixed workload's LISTs use the same plans: every PostgreSQL target runs it with statistics.
    mixed(b, PG_SCENARIO, [n for n in names if n != "pails-pg-w3"],
          lambda n: pg_analyze(b, n, "after the mixed preload"))


def pg_analyze(b: Bench, n: str, when: str) -> None:
    """ANALYZE a PostgreSQL target's database (no-op for others); the statistics' state before goes to the notes."""
    if not b.targets[n].pg:
        return
    try:
        a = b.targets[n].analyze()
    except Exception as e:  # noqa: BLE001 - reported, the runs go on without statistics
        b.notes.append(f"scenario 8, {n}: ANALYZE {when} failed: {e!r}")
        log(f"8: ANALYZE {n} failed: {e!r}")
        return
    rt = f"{a['reltuples']:.0f}" if a["reltuples"] is not None else "?"
    b.notes.append(f"scenario 8, {n}: ANALYZE {when} ({a['seconds']:.1f} s); before it the cluster had "
                   f"autovacuum={a['autovacuum']} and the objects table reltuples={rt} (-1: never analyzed), "
                   f"{a['live_rows']} live rows, last analyzed {a['last_analyze']}")
    log(f"8: ANALYZE {n} {when}: {a}")


SCENARIOS = {"1": scenario1, "2": scenario2, "3": scenario3, "4": scenario4, "5": scenario5, "6": scenario6,
             "7": scenario7, "8": scenario8, "9": scenario9}


# ---------------------------------------------------------------- report


def summarise(rows: list[dict]) -> list[dict]:
    """Median of each numeric metric over the runs of each (scenario, measure, target)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["measure"], r["target"]), []).append(r)
    out = []
    for (sc, me, t), rs in groups.items():
        ok = [r for r in rs if "error" not in r]
        m = {"scenario": sc, "measure": me, "target": t, "unit": rs[0]["unit"], "runs": len(ok)}
        if not ok:
            m["error"] = rs[0]["error"]
        for k in ("rate", "p50_ms", "p99_ms", "cpu_ms_op", "ms_page", "rss_idle_mib", "rss_peak_mib",
                  "rss_peak_max_proc_mib", "client_cpu_us_op", "seconds", "errors",
                  "pails_cpu_ms_op", "pg_cpu_ms_op", "cluster_cpu_ms_op", "pg_procs",
                  "lock_waiting_mean", "lock_samples_frac", "partial_keys", "xact_per_op"):
            vals = [r[k] for r in ok if k in r and r[k] == r[k]]
            if vals:
                m[k] = statistics.median(vals)
        # PostgreSQL counters and waits: over all runs, not a median
        for k in ("pg_deadlocks", "pg_conflicts", "pg_commits", "pg_rollbacks", "lock_samples"):
            if any(k in r for r in ok):
                m[k] = sum(r.get(k, 0) for r in ok)
        if any("lock_waiting_max" in r for r in ok):
            m["lock_waiting_max"] = max(r.get("lock_waiting_max", 0) for r in ok)
        if any("wait_events" in r for r in ok):
            waits: dict[str, int] = {}
            for r in ok:
                for w, c in r.get("wait_events", {}).items():
                    waits[w] = waits.get(w, 0) + c
            m["wait_events"] = dict(sorted(waits.items(), key=lambda x: -x[1]))
        if ok and "rss_idle_per_proc" in ok[0]:
            m["rss_idle_per_proc"] = ok[0]["rss_idle_per_proc"]
        out.append(m)
    return out


def fmt(v, nd=1) -> str:
    if v is None or v != v:
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}" if abs(v) >= 1 else f"{v:.{max(nd, 3)}f}"


def target_checks(summary: list[dict], limits: list[dict]) -> list[tuple[str, str, str, str]]:
    """The issue's targets against this run: (#, target, measured, met)."""
    by = {(m["scenario"][:1], m["measure"], m["target"]): m for m in summary}

    def get(sc: str, needle: str, target: str) -> dict | None:
        for (s, me, t), m in by.items():
            if s == sc and t == target and needle in me and m.get("rate"):
                return m
        return None

    def verdict(ok: bool | None) -> str:
        return "–" if ok is None else ("yes" if ok else "no")

    out: list[tuple[str, str, str, str]] = []
    lims = {m["key"]: m["value"] for m in limits}
    for op in ("PUT", "GET"):
        for conns in (8, 64):
            p, w = get("1", f"4 KiB {op} @{conns} ", "pails"), get("1", f"4 KiB {op} @{conns} ", "seaweedfs")
            if p and w:
                out.append(("1", f"server CPU per 4 KiB {op} @{conns} ≤ SeaweedFS",
                            f"{p['cpu_ms_op']:.3f} vs {w['cpu_ms_op']:.3f} ms",
                            verdict(p["cpu_ms_op"] <= w["cpu_ms_op"])))
    for conns in (8, 64):
        p, bound = get("1", f"4 KiB PUT @{conns} ", "pails"), lims.get(f"durable_{conns}")
        if p and bound:
            out.append(("2", f"durable 4 KiB PUTs @{conns} ≥ 1.5× raw write+fsync+rename ({bound:,.0f} files/s)",
                        f"{p['rate']:,.0f} ops/s = {p['rate'] / bound:.2f}×", verdict(p["rate"] >= 1.5 * bound)))
    put, disk = get("3", "PUT, one stream", "pails"), get("3", "PUT, one stream", "raw disk")
    if put:
        bound = min(x for x in (lims.get("md5"), disk["rate"] if disk else lims.get("seq_write")) if x)
        out.append(("3", f"one-stream PUT ≥ 85% of min(MD5, raw disk write same run) = {0.85 * bound:,.0f} MiB/s",
                    f"{put['rate']:,.0f} MiB/s = {put['rate'] / bound:.0%}", verdict(put["rate"] >= 0.85 * bound)))
    get1, nginx = get("3", "GET, one stream", "pails"), get("3", "GET, one stream", "nginx")
    if get1 and nginx:
        out.append(("3", "one-stream GET ≥ 80% of nginx", f"{get1['rate']:,.0f} vs {nginx['rate']:,.0f} MiB/s = "
                    f"{get1['rate'] / nginx['rate']:.0%}", verdict(get1["rate"] >= 0.8 * nginx["rate"])))
    mpu = get("3", "multipart", "pails")
    if mpu and put:
        out.append(("3", "multipart PUT, 4 streams ≥ 1.6× one stream", f"{mpu['rate']:,.0f} vs {put['rate']:,.0f} "
                    f"MiB/s = {mpu['rate'] / put['rate']:.2f}×", verdict(mpu["rate"] >= 1.6 * put["rate"])))
    flat, delim = get("4", "flat", "pails"), get("4", "delimiter", "pails")
    if flat:
        sw = get("4", "flat", "seaweedfs")
        out.append(("4", "1M-key ListObjectsV2 ≥ 250,000 keys/s", f"{flat['rate']:,.0f} keys/s"
                    + (f" (SeaweedFS {sw['rate']:,.0f})" if sw else ""), verdict(flat["rate"] >= 250_000)))
    if flat and delim:
        r = delim["cpu_ms_op"] / flat["cpu_ms_op"]
        out.append(("4", "a delimiter page costs the same as a flat page (CPU ≤ 1.1×)",
                    f"{delim['cpu_ms_op']:.2f} vs {flat['cpu_ms_op']:.2f} ms CPU/page = {r:.2f}×; wall "
                    f"{delim['ms_page']:.2f} vs {flat['ms_page']:.2f} ms", verdict(r <= 1.1)))
    mixed = get("5", "", "pails")
    if mixed:
        peers_txt = ", ".join(f"{t} {m['rate']:,.0f} ops/s p99 {m['p99_ms']:.1f} ms" for (s, _, t), m in by.items()
                              if s == "5" and t != "pails" and m.get("rate"))
        out.append(("5", "mixed 60/30/10, 64 KiB, 16 clients (reported)",
                    f"{mixed['rate']:,.0f} ops/s p99 {mixed['p99_ms']:.1f} ms; {peers_txt}", "–"))
    for name in ("pails", "pails-w1"):
        mem = get("6", "", name)
        if mem and mem.get("rss_idle_per_proc"):
            idle = max(mem["rss_idle_per_proc"])
            peak = mem["rss_peak_max_proc_mib"]
            out.append(("6", f"{name}: idle RSS per process ≤ 80 MB; largest process ≤ idle + 30 MB under 8 concurrent "
                        "big uploads", f"idle {mem['rss_idle_per_proc']} MiB; peak {peak:.0f} MiB (+{peak - idle:.0f})",
                        verdict(idle <= 80 and peak - idle <= 30)))
    for op in ("PUT", "GET"):
        one, two = get("7", f"4 KiB {op}", "pails-w1"), get("7", f"4 KiB {op}", "pails-w2")
        if one and two:
            out.append(("7", f"--workers 2: CPU per 4 KiB {op} ≤ 1.1× one worker's; throughput",
                        f"{two['cpu_ms_op']:.3f} vs {one['cpu_ms_op']:.3f} ms "
                        f"({two['cpu_ms_op'] / one['cpu_ms_op'] - 1:+.0%}); {one['rate']:,.0f} → {two['rate']:,.0f} "
                        "ops/s", verdict(two["cpu_ms_op"] <= 1.1 * one["cpu_ms_op"])))
    off, on = get("9", "4 KiB GET", "pails-metrics-off"), get("9", "4 KiB GET", "pails-metrics-on")
    off2 = get("9", "4 KiB GET", "pails-metrics-off2")
    if off and on:
        ratio = on["cpu_ms_op"] / off["cpu_ms_op"]
        control = (f"; control (a second server without): {off2['cpu_ms_op']:.3f} ms "
                   f"({off2['cpu_ms_op'] / off['cpu_ms_op'] - 1:+.1%})" if off2 else "")
        out.append(("9", "metrics on: CPU per 4 KiB GET ≤ 1.05× with --no-metrics",
                    f"{on['cpu_ms_op']:.3f} vs {off['cpu_ms_op']:.3f} ms ({ratio - 1:+.1%}); "
                    f"{off['rate']:,.0f} → {on['rate']:,.0f} ops/s{control}", verdict(ratio <= 1.05)))
    out += pg_checks(by, get, verdict, lims)
    return out


def pg_checks(by: dict, get, verdict, lims: dict) -> list[tuple[str, str, str, str]]:
    """Scenario 8's targets. CPU of a PostgreSQL-backed target = Pails + PostgreSQL's processes."""
    out = []

    def split(m: dict) -> str:
        return f"{m['pails_cpu_ms_op']:.3f} Pails + {m['pg_cpu_ms_op']:.3f} PostgreSQL" if "pg_cpu_ms_op" in m else ""

    for conns in (8, 64):
        sq, pg = get("8", f"4 KiB GET @{conns} ", "pails"), get("8", f"4 KiB GET @{conns} ", "pails-pg")
        if sq and pg and "pails_cpu_ms_op" in pg:
            r = pg["cpu_ms_op"] / sq["cpu_ms_op"]
            out.append(("8", f"PostgreSQL: CPU per 4 KiB GET @{conns} (Pails + PostgreSQL) ≤ 1.5× SQLite Pails",
                        f"{pg['cpu_ms_op']:.3f} ms ({split(pg)}) vs {sq['cpu_ms_op']:.3f} ms = {r:.2f}×; Pails "
                        f"only {pg['pails_cpu_ms_op'] / sq['cpu_ms_op']:.2f}×", verdict(r <= 1.5)))
    # One gateway as it runs by default (2 workers here), and with as many worker processes as the
    # three gateways have in all (3): only the second isolates what the gateways cost each other.
    for single, how in (("pails-pg-w3", "one gateway's with as many processes (3 workers)"),
                        ("pails-pg", "one gateway's (default workers)")):
        for op in ("PUT", "GET"):
            for conns in (8, 64):
                one, three = get("8", f"4 KiB {op} @{conns} ", single), get("8", f"4 KiB {op} @{conns} ", "pails-pg3")
                if one and three and "pails_cpu_ms_op" in one and "pails_cpu_ms_op" in three:
                    r = three["cpu_ms_op"] / one["cpu_ms_op"]
                    rp = three["pails_cpu_ms_op"] / one["pails_cpu_ms_op"]
                    out.append(("8", f"3 gateways: CPU per 4 KiB {op} @{conns} (Pails + PostgreSQL) ≤ 1.15× {how}",
                                f"{three['cpu_ms_op']:.3f} vs {one['cpu_ms_op']:.3f} ms ({r - 1:+.0%}); Pails only "
                                f"{three['pails_cpu_ms_op']:.3f} vs {one['pails_cpu_ms_op']:.3f} ms ({rp - 1:+.0%})",
                                verdict(r <= 1.15)))
    def flat8(target: str, analyzed: bool) -> dict | None:
        for (sc, me, t), m in by.items():
            if sc == "8" and t == target and me.startswith("flat") and ("ANALYZE" in me) == analyzed and m.get("rate"):
                return m
        return None

    sqf = flat8("pails", False)
    for analyzed in (False, True):
        flat = flat8("pails-pg", analyzed)
        if not flat:
            continue
        keys = flat["measure"].split(" of ")[1].split()[0]
        part = (f" (stopped at the time budget after {flat['partial_keys']:,.0f} keys)" if flat.get("partial_keys")
                else "")
        out.append(("8", "full ListObjectsV2 on PostgreSQL (1000/page) ≥ 150,000 keys/s, "
                    + ("after the suite's ANALYZE" if analyzed else "as Pails leaves its tables"),
                    f"{flat['rate']:,.0f} keys/s over {keys} keys{part}, {flat['cpu_ms_op']:.2f} ms CPU/page "
                    f"({split(flat)})" + (f"; SQLite {sqf['rate']:,.0f} keys/s, {sqf['cpu_ms_op']:.2f} ms CPU/page"
                                          if sqf else ""), verdict(flat["rate"] >= 150_000)))
    for op in ("PUT", "GET"):
        ms = [(t, get("8", f"4 KiB {op} @64 ", t)) for t in ("pails", "pails-pg", "pails-pg3")]
        ms = [(t, m) for t, m in ms if m]
        if len(ms) > 1:
            bound = lims.get("durable_64") if op == "PUT" else None
            out.append(("8", f"throughput, 4 KiB {op} @64{' (durable)' if op == 'PUT' else ''}: SQLite, PostgreSQL 1 "
                        "and 3 gateways (reported; on 2 cores more gateways cannot add throughput)",
                        " / ".join(f"{t} {m['rate']:,.0f}" for t, m in ms) + " ops/s"
                        + (f" (raw write+fsync+rename bound {bound:,.0f} files/s)" if bound else ""), "–"))
    for t in ("pails-pg", "pails-pg-w3", "pails-pg3"):
        rows = [m for (s, _, tt), m in by.items() if s == "8" and tt == t and m.get("lock_samples")]
        if rows:
            n = sum(m["lock_samples"] for m in rows)
            mean = sum(m["lock_waiting_mean"] * m["lock_samples"] for m in rows) / n
            frac = sum(m["lock_samples_frac"] * m["lock_samples"] for m in rows) / n
            tot = {k: sum(m[k] for m in rows) for k in ("pg_deadlocks", "pg_conflicts", "pg_rollbacks", "pg_commits")}
            most = max(m["lock_waiting_max"] for m in rows)
            out.append(("8", f"{t}: PostgreSQL lock waits over scenario 8's runs (reported)",
                        f"{mean:.2f} backends waiting on a Lock per sample (max {most}, {frac:.0%} of {n:,} "
                        f"samples); deadlocks {tot['pg_deadlocks']}, conflicts {tot['pg_conflicts']}, rollbacks "
                        f"{tot['pg_rollbacks']:,} of {tot['pg_commits'] + tot['pg_rollbacks']:,} transactions", "–"))
    mixed = [(t, get("8", "16 clients", t)) for t in ("pails", "pails-pg", "pails-pg3")]
    mixed = [(t, m) for t, m in mixed if m]
    if len(mixed) > 1:
        out.append(("8", "mixed 60/30/10, 64 KiB, 16 clients (reported)", "; ".join(
            f"{t} {m['rate']:,.0f} ops/s p99 {m['p99_ms']:.1f} ms, {m['cpu_ms_op']:.2f} ms CPU/op" for t, m in mixed),
            "–"))
    return out


def report(cfg, info, limits, summary, notes, out: Path, started: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    lines = [f"# Pails benchmark{' — SMOKE RUN' if cfg.smoke else ''} ({when} UTC)", ""]
    if cfg.smoke:
        lines += ["**Smoke run**: a few seconds per measurement, small objects, on a busy shared machine. It "
                  "shows that the suite works end to end; its numbers are not the benchmark.", ""]
    lines += [f"Machine: {info.get('nproc')} CPUs ({info.get('cpu', '?')}), {info.get('ram_gib', '?')} GiB RAM, "
              f"disk {info.get('disk', '?')}, Linux {info.get('kernel')}, Python {info.get('python')}; "
              f"load average at start {info.get('load_at_start', 0):.2f}. Pails: {info.get('pails')}.", "",
              f"Settings: duration {cfg.duration:g} s per run, {cfg.runs} alternating runs per measurement (median "
              f"shown), loadgen {cfg.procs} process(es); big object {cfg.big // MiB} MiB; listing bucket "
              f"{cfg.keys} keys. Wall time {(time.time() - started) / 60:.1f} min.", "",
              "Server CPU = utime+stime of the server's whole process tree (from /proc) over the run, per "
              "operation (per GiB for big objects, per page for listings); for Pails on PostgreSQL "
              "(pails-pg, pails-pg3) it is Pails' processes plus PostgreSQL's (see scenario 8). Ratio = Pails "
              "÷ that target (throughput; > 1 means Pails is faster).", ""]
    checks = target_checks(summary, limits)
    if checks:
        lines += ["## The issue's targets in this run", "", "| # | target | measured | met |", "|---|---|---|---|"]
        lines += [f"| {n} | {t} | {v} | {ok} |" for n, t, v, ok in checks]
        lines.append("")
    if limits:
        lines += ["## Physical limits (same run)", "", "| limit | value | notes |", "|---|---:|---|"]
        for m in limits:
            lines.append(f"| {m['limit']} | {fmt(m['value'])} {m['unit']} | {m['note']} |")
        lines.append("")
    by_sc: dict[str, list[dict]] = {}
    for m in summary:
        by_sc.setdefault(m["scenario"], []).append(m)
    for sc, ms in by_sc.items():
        lines += [f"## Scenario {sc}", "", "| measure | target | throughput | p50 ms | p99 ms | server CPU ms/op "
                  "| Pails ÷ target | notes |", "|---|---|---:|---:|---:|---:|---:|---|"]
        pails_rate = {m["measure"]: m.get("rate") for m in ms if m["target"] == "pails"}
        for m in ms:
            pr = pails_rate.get(m["measure"])
            ratio = (pr / m["rate"]) if pr and m.get("rate") and m["target"] != "pails" else None
            notes_c = []
            if "error" in m:
                notes_c.append("FAILED: " + m["error"].replace("|", "/")[:120])
            if "ms_page" in m:
                notes_c.append(f"{fmt(m['ms_page'], 2)} ms/page")
            if m.get("partial_keys"):
                notes_c.append(f"stopped at the time budget after {m['partial_keys']:,.0f} keys")
            if "rss_idle_mib" in m:
                notes_c.append(f"RSS idle {fmt(m['rss_idle_mib'])} MiB (per process {m.get('rss_idle_per_proc')}), "
                               f"peak {fmt(m.get('rss_peak_mib'))} MiB total, {fmt(m.get('rss_peak_max_proc_mib'))} "
                               "MiB largest process")
            if "client_cpu_us_op" in m:
                notes_c.append(f"loadgen {fmt(m['client_cpu_us_op'])} µs CPU/op")
            if m.get("errors"):
                notes_c.append(f"{m['errors']:.0f} errors")
            if m.get("runs", 0) < cfg.runs and "create" not in m["measure"]:
                notes_c.append(f"{m.get('runs')} runs")
            lines.append(f"| {m['measure']} | {m['target']} | {fmt(m.get('rate'))} {m['unit']} "
                         f"| {fmt(m.get('p50_ms'), 2)} | {fmt(m.get('p99_ms'), 2)} | {fmt(m.get('cpu_ms_op'), 3)} | "
                         f"{fmt(ratio, 2) if ratio else '–'} | {'; '.join(notes_c)} |")
        if sc.startswith("1") and limits:
            lims = {m["key"]: m["value"] for m in limits}
            lines += ["", "Scenario 2 (durable small PUT vs the raw write+fsync+rename bound at the same "
                      "concurrency):", "", "| target | conns | PUT ops/s | raw bound files/s | fraction of bound |",
                      "|---|---:|---:|---:|---:|"]
            for m in ms:
                if "PUT" in m["measure"] and m.get("rate"):
                    conns = int(m["measure"].split("@")[1].split()[0])
                    bound = lims.get(f"durable_{conns}")
                    if bound:
                        lines.append(f"| {m['target']} | {conns} | {fmt(m['rate'])} | {fmt(bound)} | "
                                     f"{m['rate'] / bound:.2f} |")
        if sc.startswith("8"):
            lines += pg_tables(ms)
        if sc.startswith("4") or sc.startswith("8"):
            flat = {m["target"]: m for m in ms if m["measure"].startswith("flat") and "ms_page" in m}
            dl = {m["target"]: m for m in ms if m["measure"].startswith("delimiter") and "ms_page" in m}
            if flat and dl:
                lines += ["", "Cost of one delimiter page (every common prefix, 1000 keys under each) vs one flat "
                          "page (1000 keys):", "", "| target | flat ms/page | delimiter ms/page | ratio | flat CPU "
                          "ms/page | delimiter CPU ms/page |", "|---|---:|---:|---:|---:|---:|"]
                for t in flat:
                    if t in dl:
                        f, d = flat[t], dl[t]
                        lines.append(f"| {t} | {fmt(f['ms_page'], 2)} | {fmt(d['ms_page'], 2)} | "
                                     f"{d['ms_page'] / f['ms_page']:.2f} | {fmt(f.get('cpu_ms_op'), 2)} | "
                                     f"{fmt(d.get('cpu_ms_op'), 2)} |")
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    text = "\n".join(lines)
    out.with_suffix(".md").write_text(text)
    return text


def pg_tables(ms: list[dict]) -> list[str]:
    """Scenario 8: where the CPU goes (Pails, PostgreSQL) and what PostgreSQL waited on."""
    pg = [m for m in ms if "pg_cpu_ms_op" in m]
    if not pg:
        return []
    lines = ["", "Server CPU of the PostgreSQL-backed targets, split (ms per op; per page for listings). "
             "PostgreSQL = the backends of the target's database plus the cluster's background processes "
             "(checkpointer, walwriter, ...); \"whole cluster\" = every process of the postmaster's tree, "
             "other databases included:", "",
             "| measure | target | Pails | PostgreSQL | Pails + PostgreSQL | whole cluster | PostgreSQL processes |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for m in pg:
        lines.append(f"| {m['measure']} | {m['target']} | {fmt(m.get('pails_cpu_ms_op'), 3)} | "
                     f"{fmt(m.get('pg_cpu_ms_op'), 3)} | {fmt(m.get('cpu_ms_op'), 3)} | "
                     f"{fmt(m.get('cluster_cpu_ms_op'), 3)} | {fmt(m.get('pg_procs'))} |")
    lines += ["", "PostgreSQL waits during the timed runs: `pg_stat_activity` sampled every 0.1 s (backends of the "
              "target's database waiting on a heavyweight lock, `wait_event_type = 'Lock'`; the most frequent "
              "wait events of its active backends) and `pg_stat_database` before and after (summed over the runs):",
              "", "| measure | target | samples | Lock waiters per sample | max | samples with one | deadlocks "
              "| conflicts | rollbacks / transactions | transactions per op (reads included) "
              "| active backends' wait events (samples) |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for m in pg:
        if "lock_samples" not in m:
            continue
        waits = ", ".join(f"{w} {c}" for w, c in list(m.get("wait_events", {}).items())[:5])
        lines.append(f"| {m['measure']} | {m['target']} | {m['lock_samples']:,} | {m['lock_waiting_mean']:.3f} | "
                     f"{m['lock_waiting_max']} | {m['lock_samples_frac']:.1%} | {m['pg_deadlocks']} | "
                     f"{m['pg_conflicts']} | {m['pg_rollbacks']:,} / {m['pg_commits'] + m['pg_rollbacks']:,} | "
                     f"{fmt(m.get('xact_per_op'), 3)} | {waits} |")
    return lines


def chart(summary: list[dict], out: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no chart (pip install -r bench/requirements.txt)")
        return
    measures: dict[tuple, list[dict]] = {}
    for m in summary:
        if m.get("rate"):
            measures.setdefault((m["scenario"], m["measure"], m["unit"]), []).append(m)
    if not measures:
        return
    n = len(measures)
    cols = 3
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 5.2, rows * 3.4), squeeze=False)
    colors = {"pails": "#d62728", "pails-w1": "#ff9896", "pails-w2": "#ff9896", "pails-pg": "#e377c2",
              "pails-pg3": "#f7b6d2", "pails-pg-w3": "#c49c94", "seaweedfs": "#1f77b4",
              "juicefs": "#2ca02c", "ceph": "#9467bd", "nginx": "#7f7f7f", "raw disk": "#8c564b"}
    for ax, ((sc, me, unit), ms) in zip(axes.flat, measures.items(), strict=False):
        names = [m["target"] for m in ms]
        vals = [m["rate"] for m in ms]
        ax.bar(names, vals, color=[colors.get(x, "#bcbd22") for x in names])
        ax.set_title(f"{sc}: {me}"[:70], fontsize=8)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        for i, v in enumerate(vals):
            ax.text(i, v, fmt(v), ha="center", va="bottom", fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(out.with_suffix(".png"), dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------- main


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true",
                    help="short check that everything works: 3 s runs, 256 MiB objects, 100k listing keys")
    ap.add_argument("--scenarios", default="1,2,3,4,5,6,7",
                    help="comma-separated scenario numbers; 8 (Pails on PostgreSQL) is not in the default: it "
                         "needs a PostgreSQL cluster (--pg-url)")
    ap.add_argument("--peers", default=",".join(ALL_PEERS), help=f"comma-separated subset of {ALL_PEERS}, or none")
    ap.add_argument("--no-ceph", action="store_true", help="skip Ceph RGW (its cluster takes ~1 min to set up)")
    ap.add_argument("--list-targets", default="pails,seaweedfs",
                    help="S3 targets that build the big listing bucket (JuiceFS and Ceph RGW create keys at a few "
                         "hundred/s: add them with --list-targets pails,seaweedfs,juicefs,ceph)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per timed run (default 20; smoke 3)")
    ap.add_argument("--runs", type=int, default=3, help="alternating runs per measurement (median reported)")
    ap.add_argument("--big", type=int, default=None, help="big object MiB (default 1024; smoke 256)")
    ap.add_argument("--keys", type=int, default=None, help="listing bucket keys (default 1000000; smoke 100000)")
    ap.add_argument("--mem-runs", type=int, default=1,
                    help="runs of scenario 6 (8 x 1 GiB uploads per target per run; peak RSS is not a rate)")
    ap.add_argument("--procs", type=int, default=2, help="loadgen processes")
    ap.add_argument("--workdir", default=str(peers.CACHE / "work"), help="data directories (wiped first)")
    ap.add_argument("--pails-src", default=None, help="directory holding the pails package to run (default: repo)")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="scenario 8: a PostgreSQL cluster on this machine (a superuser, any database): the "
                         "suite creates and drops the databases pails_bench_pg, pails_bench_pg_w3 and "
                         "pails_bench_pg3 there")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--no-install", action="store_true")
    cfg = ap.parse_args(argv)
    # stop the servers on Ctrl-C and kill alike (a background job starts with SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    cfg.duration = cfg.duration or (3.0 if cfg.smoke else 20.0)
    cfg.big = (cfg.big or (256 if cfg.smoke else 1024)) * MiB
    cfg.part = 64 * MiB
    cfg.keys = cfg.keys or (100_000 if cfg.smoke else 1_000_000)
    names = [p for p in cfg.peers.split(",") if p and p != "none" and not (cfg.no_ceph and p == "ceph")]
    if set(names) - set(ALL_PEERS):
        ap.error(f"unknown peers {sorted(set(names) - set(ALL_PEERS))}; choose from {ALL_PEERS} (or none)")
    scen = [s.strip() for s in cfg.scenarios.split(",") if s.strip()]
    started = time.time()
    info = machine()
    src = cfg.pails_src or str(HERE.parent)
    rev = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", src, "status", "--porcelain", "pails"], capture_output=True,
                           text=True).stdout.strip()
    info["pails"] = (f"{rev or 'not a git checkout'}{' + uncommitted changes' if dirty else ''}"
                     + (f" ({cfg.pails_src})" if cfg.pails_src else ""))
    work = Path(cfg.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    free_gb = shutil.disk_usage(work).free / 1e9
    if not cfg.smoke and free_gb < 30:
        log(f"WARNING: {free_gb:.0f} GB free under {work}; a full run needs about 30 GB")
    notes = []
    if not cfg.no_install:
        for n, e in peers.install(names).items():
            notes.append(f"{n} could not be installed: {e}")
            log(f"{n}: install failed: {e}")
            names.remove(n)
    targets: dict[str, peers.Server] = {"pails": peers.Pails(work, 19000, None, cfg.pails_src)}
    if "6" in scen or "7" in scen:
        targets["pails-w1"] = peers.Pails(work, 19001, 1, cfg.pails_src)
    if "7" in scen:
        targets["pails-w2"] = peers.Pails(work, 19002, 2, cfg.pails_src)
    if "9" in scen:
        targets["pails-metrics-off"] = peers.Pails(work, 19050, 1, cfg.pails_src, name="pails-metrics-off",
                                                   extra=["--admin-address", "127.0.0.1:19051", "--no-metrics"])
        targets["pails-metrics-on"] = peers.Pails(work, 19052, 1, cfg.pails_src, name="pails-metrics-on",
                                                  extra=["--admin-address", "127.0.0.1:19053"])
        targets["pails-metrics-off2"] = peers.Pails(work, 19054, 1, cfg.pails_src, name="pails-metrics-off2",
                                                    extra=["--admin-address", "127.0.0.1:19055", "--no-metrics"])
    if "8" in scen:
        targets["pails-pg"] = peers.PailsPG(work, "pails-pg", 19030, cfg.pg_url, "pails_bench_pg",
                                            src=cfg.pails_src)
        targets["pails-pg-w3"] = peers.PailsPG(work, "pails-pg-w3", 19035, cfg.pg_url, "pails_bench_pg_w3",
                                               workers=3, src=cfg.pails_src)
        targets["pails-pg3"] = peers.PailsPG(work, "pails-pg3", 19040, cfg.pg_url, "pails_bench_pg3", gateways=3,
                                             workers=1, src=cfg.pails_src)
    for n in names:
        targets[n] = peers.PEERS[n](work)
    cfg.list_targets = cfg.list_targets.split(",")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + ("-smoke" if cfg.smoke else "")
    out = Path(cfg.out) / stamp
    out.parent.mkdir(parents=True, exist_ok=True)
    b = Bench(cfg, {})
    try:
        for n, s in targets.items():
            t0 = time.time()
            try:
                s.start()
                b.targets[n] = s
                log(f"started {n} at {', '.join(s.endpoints)} in {time.time() - t0:.0f} s (pids {s.pids()})")
            except Exception as e:
                notes.append(f"{n} did not start: {e}")
                log(f"{n}: start failed: {e}")
                s.stop()
        limits = physical_limits(cfg, work) if "limits" not in os.environ.get("BENCH_SKIP", "") else []
        for sc in scen:
            t0 = time.time()
            log(f"scenario {sc}")
            SCENARIOS[sc](b)
            log(f"scenario {sc} took {time.time() - t0:.0f} s")
            summary = summarise(b.rows)
            (out.with_suffix(".json")).write_text(json.dumps({"machine": info, "limits": limits, "rows": b.rows,
                                                              "summary": summary}, indent=1, default=str))
            report(cfg, info, limits, summary, notes + b.notes, out, started)
    finally:
        for s in targets.values():
            s.stop()
    notes += [
        "Durability as each server ships: Pails fsyncs data and metadata before answering; SeaweedFS and the "
        "JuiceFS gateway (local-file storage, SQLite metadata) do not fsync each write by default; Ceph "
        "bluestore commits to its (file-backed) block device.",
        "nginx serves the same files from disk with sendfile: a ceiling for GET, not an S3 server.",
    ]
    summary = summarise(b.rows)
    text = report(cfg, info, limits, summary, notes + b.notes, out, started)
    chart(summary, out, f"Pails vs peers{' (SMOKE RUN, busy machine)' if cfg.smoke else ''} — {stamp}")
    print(text)
    log(f"wrote {out}.md, .png, .json in {(time.time() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
