"""S3 Select throughput: rows per second over a ~100 MB CSV object.

Generates a CSV (10 integer columns, about 100 MB; ``--mb``), stores it in a
fresh Pails server (SQLite, one worker), then runs each query with boto3's
select_object_content and reports wall time, rows/s and MB/s, next to the
same query run in-process through the scanner alone (no HTTP, no event
stream) to show what the SQL evaluation itself costs, and the server's peak
resident memory (which does not grow with the object).

    python bench/s3select.py [--mb 100] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUERIES = [
    ("count(*)", "SELECT COUNT(*) FROM S3Object"),
    ("sum(cast)", "SELECT SUM(CAST(_1 AS INT)) FROM S3Object"),
    ("where, 1% out", "SELECT _1, _2 FROM S3Object WHERE CAST(_3 AS INT) < 10"),
    ("where+like", "SELECT _2 FROM S3Object WHERE _4 LIKE '99%' AND CAST(_5 AS INT) > 500"),
    ("select *", "SELECT * FROM S3Object"),
]


def make_csv(path: Path, megabytes: int) -> int:
    rng = random.Random(7)
    rows = 0
    target = megabytes * 1024 * 1024
    size = 0
    with open(path, "w") as f:
        while size < target:
            block = "".join(",".join(str(rng.randint(0, 1000)) for _ in range(10)) + "\n" for _ in range(10000))
            f.write(block)
            size += len(block)
            rows += 10000
    return rows


def peak_rss_mb(pid: int) -> float:
    """The largest peak resident set (VmHWM) among ``pid`` and its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    tree = {pid}
    grew = True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    peak = 0
    for p in tree:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return peak / 1024


def in_process(path: Path, sql: str) -> float:
    from pails.s3.select import config
    from pails.s3.select import sql as sqlmod
    from pails.s3.select.scanner import Scanner

    settings = config.Settings(expression=sql, input_format="csv")
    scanner = Scanner(settings, sqlmod.parse(sql))
    start = time.perf_counter()
    with open(path, "rb") as f:
        while chunk := f.read(256 * 1024):
            scanner.feed(chunk)
    scanner.feed(b"", last=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()

    import boto3
    from boto3.s3.transfer import TransferConfig

    from tests.pails_server import Server

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "data.csv"
        rows = make_csv(csv_path, args.mb)
        size = os.path.getsize(csv_path)
        print(f"object: {size / 1e6:.1f} MB, {rows} rows, 10 integer columns")
        server = Server(Path(tmp) / "pails").start()
        try:
            s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                              aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key)
            s3.create_bucket(Bucket="bench")
            s3.upload_file(str(csv_path), "bench", "data.csv",
                           Config=TransferConfig(multipart_threshold=8 * 1024 * 1024))
            print(f"{'query':<16} {'server s':>9} {'rows/s':>11} {'MB/s':>7} {'out MB':>7} "
                  f"{'in-process s':>13} {'rows/s':>11}")
            for name, sql in QUERIES:
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    r = s3.select_object_content(
                        Bucket="bench", Key="data.csv", ExpressionType="SQL", Expression=sql,
                        InputSerialization={"CSV": {}}, OutputSerialization={"CSV": {}})
                    out = 0
                    for event in r["Payload"]:
                        if "Records" in event:
                            out += len(event["Records"]["Payload"])
                    wall = time.perf_counter() - start
                    local = in_process(csv_path, sql)
                    print(f"{name:<16} {wall:>9.2f} {rows / wall:>11,.0f} {size / wall / 1e6:>7.1f} "
                          f"{out / 1e6:>7.1f} {local:>13.2f} {rows / local:>11,.0f}", flush=True)
            assert server.proc is not None
            print(f"server peak RSS (largest process of its tree, VmHWM): {peak_rss_mb(server.proc.pid):.0f} MB")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
