"""S3 load generator for the Pails benchmark suite: raw HTTP/1.1 over keep-alive sockets.

Every request of a timed run is built and SigV4-signed (header auth, signed payload hash, as boto3
does over plain HTTP) in the worker processes *before* the timed loop starts; the loop itself only
sends bytes and parses the status line, Content-Length / chunked framing. Each process multiplexes
its connections with ``selectors`` (no threads), several processes run in parallel.

Also here: a blocking keep-alive ``Client`` for untimed calls (bucket creation, listing pages,
streaming 1 GiB bodies, multipart uploads).

Stand-alone use (one run, JSON on stdout)::

    python bench/loadgen.py --endpoint http://127.0.0.1:9000 --ak KEY --sk SECRET \\
        --bucket b --op put --size 4096 --conns 8 --duration 5
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import re
import resource
import selectors
import socket
import threading
import time
from array import array
from dataclasses import dataclass
from urllib.parse import quote, urlparse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"


# ---------------------------------------------------------------- SigV4


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _uri(path: str) -> str:
    return quote(path, safe="/-_.~")


def _qs(query: dict | None) -> str:
    if not query:
        return ""
    return "&".join(f"{quote(str(k), safe='-_.~')}={quote(str(v), safe='-_.~')}" for k, v in sorted(query.items()))


class Signer:
    """AWS Signature Version 4, header authentication, for one endpoint."""

    def __init__(self, endpoint: str, ak: str, sk: str, region: str = "us-east-1"):
        u = urlparse(endpoint)
        self.host = u.netloc
        self.addr = (u.hostname, u.port or 80)
        self.ak, self.sk, self.region = ak, sk, region
        self._date = ""
        self._key = b""

    def _signing_key(self, day: str) -> bytes:
        if day != self._date:
            k = _hmac(("AWS4" + self.sk).encode(), day)
            for part in (self.region, "s3", "aws4_request"):
                k = _hmac(k, part)
            self._date, self._key = day, k
        return self._key

    def head(self, method: str, path: str, query: dict | None = None, payload_hash: str = EMPTY_SHA256,
             content_length: int | None = None, extra: dict | None = None) -> bytes:
        """The request line and headers (ending in the blank line) of a signed request."""
        amz_date = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        headers = {"host": self.host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        if content_length is not None:
            headers["content-length"] = str(content_length)
        if extra:
            headers.update({k.lower(): str(v) for k, v in extra.items()})
        signed = sorted(headers)
        canon = "".join(f"{h}:{headers[h]}\n" for h in signed)
        sh = ";".join(signed)
        qs = _qs(query)
        creq = "\n".join([method, _uri(path), qs, canon, sh, payload_hash])
        scope = f"{amz_date[:8]}/{self.region}/s3/aws4_request"
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
        sig = hmac.new(self._signing_key(amz_date[:8]), sts.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={self.ak}/{scope}, SignedHeaders={sh}, Signature={sig}"
        target = _uri(path) + ("?" + qs if qs else "")
        return (f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                + "\r\n").encode()

    def request(self, method: str, path: str, query: dict | None = None, body: bytes = b"",
                body_hash: str | None = None, extra: dict | None = None) -> bytes:
        """A complete signed request (head + body)."""
        has_body = method in ("PUT", "POST")
        ph = body_hash or (hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256)
        return self.head(method, path, query, ph, len(body) if has_body else None, extra) + body


# ---------------------------------------------------------------- response framing


class ResponseParser:
    """Incremental HTTP/1.1 response parser: Content-Length, chunked, or no body (HEAD/204/304)."""

    __slots__ = ("buf", "status", "need", "chunked", "close", "body_keep", "body", "head_only", "headers")

    def __init__(self, keep_body: bool = False):
        self.buf = bytearray()
        self.body_keep = keep_body
        self.head_only = False
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.need = -1  # -1: in headers; >=0: body bytes still expected
        self.chunked = False
        self.close = False
        self.body = bytearray()
        self.headers: dict[str, str] = {}

    def feed(self, data) -> bool:
        """Add bytes; True when a full response has been read (leftover stays buffered)."""
        self.buf += data
        return self._advance()

    def _advance(self) -> bool:
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            del self.buf[:end + 4]
            self.status = int(lines[0].split(" ", 2)[1])
            for line in lines[1:]:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            te = self.headers.get("transfer-encoding", "").lower()
            self.close = self.headers.get("connection", "").lower() == "close"
            if self.head_only or self.status in (204, 304) or 100 <= self.status < 200:
                self.need = 0
            elif "chunked" in te:
                self.chunked = True
                self.need = 0
            else:
                self.need = int(self.headers.get("content-length", "0"))
        if self.chunked:
            while True:
                if self.need > 0:
                    take = min(self.need, len(self.buf))
                    if self.body_keep:
                        self.body += self.buf[:take]
                    del self.buf[:take]
                    self.need -= take
                    if self.need:
                        return False
                    continue
                nl = self.buf.find(b"\r\n")
                if nl < 0:
                    return False
                line = bytes(self.buf[:nl]).split(b";")[0].strip()
                if not line:  # CRLF after a chunk's data
                    del self.buf[:nl + 2]
                    continue
                size = int(line, 16)
                if size == 0:
                    end = self.buf.find(b"\r\n\r\n", nl)
                    if end < 0:
                        return False
                    del self.buf[:end + 4]
                    return True
                del self.buf[:nl + 2]
                self.need = size
        take = min(self.need, len(self.buf))
        if take:
            if self.body_keep:
                self.body += self.buf[:take]
            del self.buf[:take]
            self.need -= take
        return self.need == 0


# ---------------------------------------------------------------- timed runs


@dataclass
class Plan:
    """What one run does. ``build(proc, conn)`` runs in the worker process before the timed loop and
    returns that connection's requests: a list (replayed in a cycle until ``duration`` is over) or,
    with ``count`` mode, an iterator (the connection stops when it is exhausted). ``endpoints``:
    several servers of one store (gateways); connection ``c`` goes to ``endpoints[c % len]``."""

    endpoint: str
    build: object  # callable (proc_idx, conn_idx) -> list[bytes] | iterator of bytes
    conns: int = 8
    procs: int = 1
    duration: float = 10.0
    count_mode: bool = False
    endpoints: list[str] | None = None  # default [endpoint]

    def addr(self, conn: int) -> tuple[str, int]:
        eps = self.endpoints or [self.endpoint]
        u = urlparse(eps[conn % len(eps)])
        return u.hostname, u.port or 80


def _worker(plan: Plan, pidx: int, conn_ids: list[int], ready, go, out) -> None:
    try:
        sources = [plan.build(pidx, c) for c in conn_ids]
        sel = selectors.DefaultSelector()
        conns = []
        for cid, src in zip(conn_ids, sources, strict=True):
            s = socket.create_connection(plan.addr(cid))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns.append({"sock": s, "src": src, "i": 0, "p": ResponseParser(), "t0": 0.0, "addr": plan.addr(cid)})
    except Exception as e:  # report set-up failures instead of hanging the barrier
        ready.put(("error", repr(e)))
        return
    ready.put(("ready", pidx))
    start_at = go.get()
    while time.time() < start_at:
        time.sleep(0.0005)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    lat = array("d")
    errors = 0
    statuses: dict[int, int] = {}
    ops = 0
    t_start = time.perf_counter()
    deadline = t_start + plan.duration if not plan.count_mode else float("inf")
    active = 0

    def next_req(c):
        src = c["src"]
        if isinstance(src, list):
            r = src[c["i"] % len(src)]
        else:
            r = next(src, None)
        c["i"] += 1
        return r

    def send(c) -> bool:
        r = next_req(c)
        if r is None:
            return False
        c["t0"] = time.perf_counter()
        try:
            c["sock"].sendall(r)
        except OSError:
            reconnect(c)
            c["sock"].sendall(r)
        return True

    def reconnect(c):
        try:
            sel.unregister(c["sock"])
        except Exception:
            pass
        c["sock"].close()
        s = socket.create_connection(c["addr"])
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c["sock"] = s
        c["p"] = ResponseParser()
        sel.register(s, selectors.EVENT_READ, c)

    for c in conns:
        sel.register(c["sock"], selectors.EVENT_READ, c)
        if send(c):
            active += 1
    buf = bytearray(1 << 18)
    mv = memoryview(buf)
    while active:
        for key, _ in sel.select(timeout=1.0):
            c = key.data
            n = c["sock"].recv_into(buf)
            if n == 0:
                errors += 1
                reconnect(c)
                now = time.perf_counter()
                if now < deadline and send(c):
                    continue
                active -= 1
                continue
            p = c["p"]
            if not p.feed(mv[:n]):
                continue
            now = time.perf_counter()
            lat.append(now - c["t0"])
            ops += 1
            statuses[p.status] = statuses.get(p.status, 0) + 1
            if p.status >= 300:
                errors += 1
            close = p.close
            p.reset()
            if close:
                reconnect(c)
            if now >= deadline or not send(c):
                active -= 1
                sel.unregister(c["sock"])
        if time.perf_counter() > deadline + 30:  # stuck responses
            break
    elapsed = time.perf_counter() - t_start
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    for c in conns:
        c["sock"].close()
    out.put({"ops": ops, "errors": errors, "elapsed": elapsed, "lat": lat.tobytes(), "client_cpu": cpu,
             "statuses": statuses})


def run(plan: Plan, on_start=None) -> dict:
    """Run a plan; returns ops, ops_s, p50/p99 (ms), errors, client CPU µs per op, wall seconds.
    ``on_start()`` is called just before the timed loop starts and its value returned as ``start``;
    ``on_end()``-like work is the caller's (it measures right after this returns)."""
    ctx = mp.get_context("fork")
    ready, out = ctx.Queue(), ctx.Queue()
    gos = []
    procs = []
    ids = [list(range(p, plan.conns, plan.procs)) for p in range(plan.procs)]
    for p in range(plan.procs):
        go = ctx.Queue()
        gos.append(go)
        pr = ctx.Process(target=_worker, args=(plan, p, ids[p], ready, go, out), daemon=True)
        pr.start()
        procs.append(pr)
    for _ in procs:
        kind, info = ready.get()
        if kind == "error":
            for pr in procs:
                pr.kill()
            raise RuntimeError(f"loadgen worker set-up failed: {info}")
    before = on_start() if on_start else None
    start_at = time.time() + 0.05
    for go in gos:
        go.put(start_at)
    results = [out.get() for _ in procs]
    for pr in procs:
        pr.join()
    lat = array("d")
    for r in results:
        a = array("d")
        a.frombytes(r["lat"])
        lat.extend(a)
    ops = sum(r["ops"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    s = sorted(lat)
    statuses: dict[int, int] = {}
    for r in results:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "ops": ops,
        "ops_s": ops / elapsed if elapsed else 0.0,
        "p50_ms": s[len(s) // 2] * 1e3 if s else float("nan"),
        "p99_ms": s[min(len(s) - 1, int(len(s) * 0.99))] * 1e3 if s else float("nan"),
        "errors": sum(r["errors"] for r in results),
        "statuses": statuses,
        "client_cpu_us_op": sum(r["client_cpu"] for r in results) / ops * 1e6 if ops else float("nan"),
        "elapsed": elapsed,
        "start": before,
    }


# ---------------------------------------------------------------- blocking client (untimed work, big bodies)


class Client:
    """One blocking keep-alive connection with a signer, for set-up calls and large streams."""

    def __init__(self, signer: Signer, timeout: float = 600):
        self.signer = signer
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(self.signer.addr, timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sock

    def close(self) -> None:
        if self.sock:
            self.sock.close()
            self.sock = None

    def _read_response(self, keep_body=True, head_only=False) -> ResponseParser:
        p = ResponseParser(keep_body=keep_body)
        p.head_only = head_only
        buf = bytearray(1 << 20)
        mv = memoryview(buf)
        while True:
            n = self.sock.recv_into(buf)
            if n == 0:
                self.close()
                raise ConnectionError("server closed the connection")
            if p.feed(mv[:n]):
                break
        if p.close:
            self.close()
        return p

    def request(self, method: str, path: str, query: dict | None = None, body: bytes = b"",
                extra: dict | None = None, keep_body: bool = True) -> ResponseParser:
        raw = self.signer.request(method, path, query, body, extra=extra)
        for attempt in (0, 1):
            try:
                self._connect().sendall(raw)
                return self._read_response(keep_body, head_only=(method == "HEAD"))
            except (ConnectionError, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
        raise AssertionError

    def put_stream(self, path: str, size: int, query: dict | None = None, chunk: int = 1 << 20) -> ResponseParser:
        """PUT ``size`` bytes of a repeated pattern without holding them (UNSIGNED-PAYLOAD)."""
        head = self.signer.head("PUT", path, query, UNSIGNED, size)
        block = (os.urandom(4096) * (chunk // 4096 + 1))[:chunk]
        s = self._connect()
        s.sendall(head)
        left = size
        mv = memoryview(block)
        while left:
            n = min(left, chunk)
            s.sendall(mv[:n])
            left -= n
        return self._read_response()

    def get_stream(self, path: str) -> tuple[int, int]:
        """GET a body and discard it; returns (status, bytes)."""
        self._connect().sendall(self.signer.request("GET", path))
        p = self._read_response(keep_body=False)
        clen = int(p.headers.get("content-length", "0") or 0)
        return p.status, clen

    def create_bucket(self, bucket: str) -> int:
        st = self.request("PUT", f"/{bucket}").status
        if st not in (200, 409):
            raise RuntimeError(f"create bucket {bucket}: HTTP {st}")
        return st


def multipart_put(signer: Signer, path: str, size: int, streams: int = 4, part_size: int = 64 << 20) -> None:
    """Multipart upload of ``size`` bytes with ``streams`` parallel part uploads."""
    c = Client(signer)
    p = c.request("POST", path, {"uploads": ""})
    m = re.search(rb"<UploadId>([^<]+)</UploadId>", bytes(p.body))
    if p.status != 200 or not m:
        raise RuntimeError(f"initiate multipart: HTTP {p.status} {bytes(p.body)[:200]!r}")
    upload_id = m.group(1).decode()
    nparts = (size + part_size - 1) // part_size
    etags: dict[int, str] = {}
    lock = threading.Lock()
    todo = list(range(1, nparts + 1))
    errors: list[str] = []

    def work():
        cl = Client(signer)
        while True:
            with lock:
                if not todo:
                    break
                n = todo.pop(0)
            length = min(part_size, size - (n - 1) * part_size)
            r = cl.put_stream(path, length, {"partNumber": n, "uploadId": upload_id})
            if r.status != 200:
                errors.append(f"part {n}: HTTP {r.status}")
                break
            etags[n] = r.headers.get("etag", "")
        cl.close()

    ths = [threading.Thread(target=work) for _ in range(streams)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors))
    xml = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{etags[n]}</ETag></Part>" for n in sorted(etags)
    ) + "</CompleteMultipartUpload>"
    r = c.request("POST", path, {"uploadId": upload_id}, xml.encode())
    if r.status != 200 or b"<Error>" in bytes(r.body):
        raise RuntimeError(f"complete multipart: HTTP {r.status} {bytes(r.body)[:200]!r}")
    c.close()


def list_all(signer: Signer, bucket: str, prefix: str = "", delimiter: str = "", max_keys: int = 1000,
             max_pages: int | None = None, budget: float | None = None) -> dict:
    """Page through ListObjectsV2; returns keys, prefixes, pages, seconds, per-page latencies, and
    ``partial`` (True if it stopped after ``budget`` seconds, before the end)."""
    c = Client(signer)
    token = None
    keys = prefixes = pages = 0
    partial = False
    lat = []
    t0 = time.perf_counter()
    while True:
        q = {"list-type": "2", "max-keys": str(max_keys)}
        if prefix:
            q["prefix"] = prefix
        if delimiter:
            q["delimiter"] = delimiter
        if token:
            q["continuation-token"] = token
        t1 = time.perf_counter()
        p = c.request("GET", f"/{bucket}", q)
        lat.append(time.perf_counter() - t1)
        body = bytes(p.body)
        if p.status != 200:
            raise RuntimeError(f"list {bucket}: HTTP {p.status} {body[:200]!r}")
        keys += body.count(b"<Key>")
        prefixes += body.count(b"<CommonPrefixes>")
        pages += 1
        m = re.search(rb"<NextContinuationToken>([^<]+)</NextContinuationToken>", body)
        truncated = b"<IsTruncated>true</IsTruncated>" in body
        if not truncated or not m or (max_pages and pages >= max_pages):
            break
        if budget is not None and time.perf_counter() - t0 > budget:
            partial = True
            break
        token = m.group(1).decode().replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") \
            .replace("&quot;", '"').replace("&#39;", "'")
    c.close()
    return {"keys": keys, "prefixes": prefixes, "pages": pages, "seconds": time.perf_counter() - t0, "lat": lat,
            "partial": partial}


# ---------------------------------------------------------------- CLI


def _main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="URL; several comma-separated: connections round-robin")
    ap.add_argument("--ak", required=True)
    ap.add_argument("--sk", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--op", choices=["put", "get"], default="put")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--keys", type=int, default=1000, help="distinct keys per run (GET preloads them)")
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--duration", type=float, default=10)
    a = ap.parse_args()
    endpoints = a.endpoint.split(",")
    a.endpoint = endpoints[0]
    signer = Signer(a.endpoint, a.ak, a.sk, a.region)
    c = Client(signer)
    c.create_bucket(a.bucket)
    body = os.urandom(a.size)
    if a.op == "get":
        for i in range(a.keys):
            c.request("PUT", f"/{a.bucket}/k{i}", body=body)

    def build(p, conn):
        s = Signer(a.endpoint, a.ak, a.sk, a.region)
        per = max(1, a.keys // a.conns)
        if a.op == "put":
            h = hashlib.sha256(body).hexdigest()
            return [s.request("PUT", f"/{a.bucket}/k{conn * per + i}", body=body, body_hash=h) for i in range(per)]
        return [s.request("GET", f"/{a.bucket}/k{(conn * per + i) % a.keys}") for i in range(per)]

    r = run(Plan(a.endpoint, build, a.conns, a.procs, a.duration, endpoints=endpoints))
    print(json.dumps({k: v for k, v in r.items() if k != "start"}))


if __name__ == "__main__":
    _main()
