"""The cost of checking whole-object GETs against their MD5 (docs/reliability.md, "Bit rot").

Starts one Pails server per ``--verify-reads`` setting (``off``: Granian sends a whole data file
itself; ``crc``: it streams through Python when the object has a stored CRC, checked on the way;
``all``: also against a SHA or the ETag's MD5), stores a few objects
of each size, runs keep-alive GETs with ``bench/loadgen.py`` and reports requests per second and
the server's CPU time per GET (utime+stime of its whole process tree, from /proc).

    python bench/get_verify.py [--sizes 1048576,67108864] [--duration 10] [--conns 4] [--workers 1]
                               [--checksum none|crc32|crc32c] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import loadgen  # noqa: E402

KEY, SECRET = "BENCHVERIFYKEY000001", "bench-verify-secret-key-0000000000000000"


def _tree_cpu(pid: int) -> float:
    """utime+stime (s) of ``pid`` and its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                continue
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
        todo.extend(children.get(p, []))
    return total


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _checksum_header(algorithm: str, body: bytes) -> dict:
    if algorithm == "none":
        return {}
    import base64

    from awscrt import checksums
    value = {"crc32": lambda: checksums.crc32(body).to_bytes(4, "big"),
             "crc32c": lambda: checksums.crc32c(body).to_bytes(4, "big")}[algorithm]()
    return {f"x-amz-checksum-{algorithm}": base64.b64encode(value).decode()}


def measure(size: int, mode: str, args: argparse.Namespace) -> dict:
    data = tempfile.mkdtemp(prefix="pails-getverify-")
    port = _free_port()
    env = dict(os.environ, PAILS_ROOT_ACCESS_KEY=KEY, PAILS_ROOT_SECRET_KEY=SECRET)
    cmd = [sys.executable, "-m", "pails", "server", data, "--address", f"127.0.0.1:{port}", "--no-admin",
           "--workers", str(args.workers), "--verify-reads", mode]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        signer = loadgen.Signer(endpoint, KEY, SECRET)
        client = loadgen.Client(signer)
        client.create_bucket("bench")
        body = os.urandom(size)
        for i in range(args.keys):
            client.request("PUT", f"/bench/k{i}", body=body, extra=_checksum_header(args.checksum, body))

        def build(_p: int, conn: int) -> list[bytes]:
            s = loadgen.Signer(endpoint, KEY, SECRET)
            return [s.request("GET", f"/bench/k{(conn + i) % args.keys}") for i in range(args.keys)]

        for i in range(args.keys):  # warm the page cache
            client.request("GET", f"/bench/k{i}")
        cpu0 = _tree_cpu(proc.pid)
        result = loadgen.run(loadgen.Plan(endpoint, build, args.conns, 1, args.duration))
        cpu = _tree_cpu(proc.pid) - cpu0
        ops = result["ops"]
        return {"size": size, "verify_reads": mode, "checksum": args.checksum, "ops": ops,
                "ops_s": round(result["ops_s"], 1),
                "MiB_s": round(result["ops_s"] * size / 2**20, 1), "errors": result["errors"],
                "server_cpu_ms_per_get": round(1000 * cpu / max(ops, 1), 3)}
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=f"{2**20},{64 * 2**20}")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--keys", type=int, default=4)
    ap.add_argument("--checksum", choices=["none", "crc32", "crc32c"], default="none",
                    help="store the objects with this checksum (GETs then verify it instead of the MD5)")
    ap.add_argument("--modes", default="off,crc,all", help="pails server --verify-reads settings to compare")
    ap.add_argument("--rounds", type=int, default=1, help="alternate the settings this many times")
    args = ap.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        for _ in range(args.rounds):
            for mode in args.modes.split(","):
                print(json.dumps(measure(size, mode, args)), flush=True)


if __name__ == "__main__":
    main()
