#!/usr/bin/env python3
"""A local Pails cluster: N gateways on one PostgreSQL database and one data
directory, behind a load balancer, HAProxy or nginx (docs/scale-out.md).
Standard library only; run it with the project's virtualenv python
(``make cluster`` does).

    python scripts/cluster.py [--gateways N] [--port P] [--data DIR] [--database NAME] [--reset]
                              [--balancer haproxy|nginx]
    python scripts/cluster.py --detach ...       # start in the background, pids in DATA/cluster.pids
    python scripts/cluster.py --stop [--data DIR]

- The database (default ``pails_cluster``) is created on the local PostgreSQL
  (``--postgres``, default postgresql://postgres@127.0.0.1:5432, trust auth)
  if missing; ``--reset`` drops it and the data directory first.
- Gateway i (1..N) listens on 127.0.0.1:PORT+100+i (9101, 9102, ... for
  port 9000), its admin API on PORT+200+i (9201, ...); the balancer on
  127.0.0.1:PORT.  The balancer (default HAProxy:
  it passes ``Expect: 100-continue`` through, see docs/scale-out.md) is
  installed with apt-get when missing and this runs as root, and runs as a
  child of this script on a generated configuration; it, its log and the
  gateways' logs are in DATA/cluster-run/.
- Root credentials: PAILS_ROOT_ACCESS_KEY / PAILS_ROOT_SECRET_KEY if set,
  else the ones the first gateway generates (DATA/root-credentials.json).
- In the foreground, Ctrl-C or SIGTERM stops everything; a child that dies
  stops the rest.

From Python (tests)::

    from cluster import Cluster, Options      # with scripts/ on sys.path
    with Cluster(Options(data="/tmp/c", database="pails_c", port=9300)) as c:
        boto3.client("s3", endpoint_url=c.endpoint, aws_access_key_id=c.access_key, ...)
"""

from __future__ import annotations

import argparse
import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIDS_FILE = "cluster.pids"
RUN_DIR = "cluster-run"
CREDENTIALS_FILE = "root-credentials.json"
BALANCERS = ("haproxy", "nginx")
START_TIMEOUT = 60.0  # seconds for one process to answer
STOP_TIMEOUT = 15.0  # seconds a process gets after SIGTERM before SIGKILL (Granian kills busy workers at 10)


@dataclass
class Options:
    gateways: int = 3
    port: int = 9000
    data: str = "./cluster-data"
    database: str = "pails_cluster"
    postgres: str = "postgresql://postgres@127.0.0.1:5432"  # server, without a database name
    workers: int = 1
    host: str = "127.0.0.1"
    reset: bool = False
    balancer: str = "haproxy"  # or "nginx"
    extra_args: list[str] = field(default_factory=list)  # more `pails server` options, e.g. --intent-timeout 60

    @property
    def data_dir(self) -> str:
        return os.path.abspath(self.data)

    @property
    def run_dir(self) -> str:
        return os.path.join(self.data_dir, RUN_DIR)

    @property
    def meta_url(self) -> str:
        return f"{self.postgres.rstrip('/')}/{self.database}"

    def gateway_ports(self) -> list[int]:
        return [self.port + 100 + i for i in range(1, self.gateways + 1)]

    def admin_ports(self) -> list[int]:
        """Gateway i's admin API (docs/admin-api.md) on PORT+200+i."""
        return [self.port + 200 + i for i in range(1, self.gateways + 1)]


class ClusterError(Exception):
    pass


# --- PostgreSQL (through psql: no driver needed here) ----------------------------------------------------

def _psql(opts: Options, sql: str) -> str:
    psql = shutil.which("psql")
    if psql is None:
        raise ClusterError("psql not found (Debian: apt-get install postgresql-client)")
    proc = subprocess.run([psql, f"{opts.postgres.rstrip('/')}/postgres", "-X", "-q", "-t", "-A",
                           "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"psql: {proc.stderr.strip()}\n(is PostgreSQL running? make postgres)")
    return proc.stdout.strip()


def prepare_database(opts: Options) -> bool:
    """Create the database if missing (dropped first with ``reset``); True if created."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", opts.database):
        raise ClusterError(f"database name {opts.database!r}: letters, digits and _ only")
    if opts.reset:
        _psql(opts, f'DROP DATABASE IF EXISTS "{opts.database}" WITH (FORCE)')
    if _psql(opts, f"SELECT 1 FROM pg_database WHERE datname = '{opts.database}'") == "1":
        return False
    # UTF8 is required (Pails checks it); template0 accepts any encoding the server's locale allows,
    # and a server whose default locale is not UTF-8 compatible gets the C.UTF-8 locale.
    try:
        _psql(opts, f'CREATE DATABASE "{opts.database}" ENCODING \'UTF8\' TEMPLATE template0')
    except ClusterError as exc:
        if "incompatible" not in str(exc):
            raise
        _psql(opts, f'CREATE DATABASE "{opts.database}" ENCODING \'UTF8\' LOCALE \'C.UTF-8\' TEMPLATE template0')
    return True


def prepare_data_dir(opts: Options) -> None:
    path = opts.data_dir
    if opts.reset and os.path.isdir(path):
        pails_like = {"blobs", "tmp", CREDENTIALS_FILE, RUN_DIR}
        if os.listdir(path) and not pails_like & set(os.listdir(path)):
            raise ClusterError(f"--reset: {path} does not look like a Pails data directory; not removing it")
        shutil.rmtree(path)
    os.makedirs(opts.run_dir, exist_ok=True)


# --- processes ----------------------------------------------------------------------------------------------

def _die_with_parent() -> None:
    """In the child (foreground mode): SIGTERM when this script dies, even by SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Child:
    name: str  # "gateway-1", ..., "haproxy" or "nginx"
    pid: int
    popen: subprocess.Popen[bytes] | None = None  # None: read back from the pids file
    log: str = ""


def _spawn(name: str, argv: list[str], log_path: str, env: dict[str, str], tie: bool) -> Child:
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 cwd=REPO, start_new_session=True,  # own process group: Ctrl-C reaches only us
                                 preexec_fn=_die_with_parent if tie else None)
    return Child(name, popen.pid, popen, log_path)


def _alive(child: Child) -> bool:
    if child.popen is not None:
        return child.popen.poll() is None
    return _pid_is(child.pid, child.name)


def _pid_is(pid: int, name: str) -> bool:
    """``pid`` is running and is the process the pids file means (not a reused pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ")
    except OSError:
        return False
    want = name.encode() if name in BALANCERS else b"pails"
    return want in cmdline


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def stop_children(children: list[Child], quiet: bool = False) -> None:
    """The balancer first (no new requests), then the gateways: each gets its
    graceful stop signal, and SIGKILL goes to what is left of its process
    group after STOP_TIMEOUT.  Each child leads its own process group (its
    workers are in it)."""
    balancer = [c for c in children if c.name in BALANCERS]
    gateways = [c for c in children if c.name not in BALANCERS]
    for group in (balancer, gateways):
        live = [c for c in group if _alive(c) or _group_alive(c.pid)]
        for c in live:
            if not quiet:
                print(f"stopping {c.name} (pid {c.pid})", flush=True)
            # To the leader, which stops its workers, finishing the requests in flight (HAProxy:
            # SIGUSR1, nginx: SIGQUIT, Granian: SIGTERM); to the whole group if the leader is gone.
            sig = {"haproxy": signal.SIGUSR1, "nginx": signal.SIGQUIT}.get(c.name, signal.SIGTERM)
            if _alive(c):
                os.kill(c.pid, sig)
            else:
                _signal_group(c.pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT
        while live and time.monotonic() < deadline:
            for c in live:
                if c.popen is not None:
                    c.popen.poll()  # reap
            live = [c for c in live if _group_alive(c.pid)]
            if live:
                time.sleep(0.1)
        for c in live:
            print(f"{c.name} (pid {c.pid}) did not stop in {STOP_TIMEOUT:.0f} s: killed", file=sys.stderr, flush=True)
            _signal_group(c.pid, signal.SIGKILL)
            if c.popen is not None:
                c.popen.wait()


def _answers(host: str, port: int) -> dict[str, str] | None:
    """The headers of an HTTP response to GET /, or None if nothing answers yet."""
    try:
        conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            return {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return None


def _wait_answers(child: Child, host: str, port: int) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        headers = _answers(host, port)
        if headers is not None:
            return headers
        if not _alive(child):
            raise ClusterError(f"{child.name} exited while starting:\n{_tail(child.log)}")
        time.sleep(0.1)
    raise ClusterError(f"{child.name} does not answer on {host}:{port} after {START_TIMEOUT:.0f} s:\n"
                       f"{_tail(child.log)}")


def _tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


# --- the balancer -------------------------------------------------------------------------------------------

_PACKAGES = {"haproxy": ("haproxy",), "nginx": ("nginx-light", "nginx")}  # Debian packages, in order of preference


def find_balancer(kind: str, install: bool = True) -> str:
    """The balancer's binary; installed from Debian if missing and we are root."""
    found = shutil.which(kind) or next((p for p in (f"/usr/sbin/{kind}", f"/usr/local/sbin/{kind}")
                                        if os.access(p, os.X_OK)), None)
    if found:
        return found
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ClusterError(f"{kind} not found: install it (Debian: sudo apt-get install {_PACKAGES[kind][0]})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"installing {kind}: apt-get install -y {_PACKAGES[kind][0]}", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    for package in _PACKAGES[kind]:
        if subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL).returncode == 0:
            break
    return find_balancer(kind, install=False)


def haproxy_config(opts: Options) -> str:
    """The balancer's configuration (explained in docs/scale-out.md)."""
    servers = "\n".join(f"    server gateway-{i} {opts.host}:{p} check inter 2s fall 2 rise 1"
                        for i, p in enumerate(opts.gateway_ports(), 1))
    return f"""# Generated by scripts/cluster.py: {opts.gateways} Pails gateways behind one endpoint.
global
    maxconn 4096
    log stdout format raw local0
    # Request headers up to 32 KiB (user metadata, long presigned URLs); the default is 16 KiB.
    tune.bufsize 32768
    # Stopping (SIGUSR1) lets requests in flight finish, for at most this long.
    hard-stop-after 10s

defaults
    mode http
    log global
    option httplog
    # Large uploads and downloads: these bound silences, not transfers.
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-request 60s
    timeout http-keep-alive 75s
    timeout queue 30s
    # A gateway that refuses the connection: the request goes to another one (nothing was sent yet).
    retries 2
    option redispatch

frontend s3
    bind {opts.host}:{opts.port}
    capture response header x-amz-request-id len 24
    # A request refused before its body was sent ("Expect: 100-continue" answered with an error):
    # the gateway closes its connection, and so must we, or the client's next request on this one
    # would be read as that body.
    http-request set-var(txn.expect) req.hdr(expect)
    http-response set-header Connection close if {{ var(txn.expect) -m found }} {{ status ge 300 }}
    default_backend pails

backend pails
    balance leastconn
    http-reuse safe
{servers}
"""


def nginx_config(opts: Options, nginx: str) -> str:
    """The alternative balancer's configuration (docs/scale-out.md)."""
    run = opts.run_dir
    built = subprocess.run([nginx, "-V"], capture_output=True, text=True).stderr
    temp_paths = [f"client_body_temp_path {run}/tmp/body;", f"proxy_temp_path {run}/tmp/proxy;"]
    for module in ("fastcgi", "uwsgi", "scgi"):  # built-in modules would create their default dirs
        if f"--without-http_{module}_module" not in built:
            temp_paths.append(f"{module}_temp_path {run}/tmp/{module};")
    # max_fails=0: errors do not take a gateway out of rotation (a rejected upload makes one, see
    # docs/scale-out.md); one that refuses connections is skipped by proxy_next_upstream.
    servers = "\n".join(f"        server {opts.host}:{p} max_fails=0;" for p in opts.gateway_ports())
    temp = "\n    ".join(temp_paths)
    return f"""# Generated by scripts/cluster.py: {opts.gateways} Pails gateways behind one endpoint.
worker_processes 2;
pid {run}/nginx.pid;
error_log {run}/nginx-error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    log_format s3 '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                  'upstream=$upstream_addr upstream_status=$upstream_status time=$request_time '
                  'id=$upstream_http_x_amz_request_id';
    access_log {run}/nginx-access.log s3;
    {temp}

    # S3 bodies have any size and stream both ways: no limit, no buffering on disk or in memory.
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_max_temp_file_size 0;
    # Large headers (user metadata, long presigned URLs); every header passed as received
    # (SigV4 signs headers; x-amz-meta-* names may contain underscores).
    client_header_buffer_size 16k;
    large_client_header_buffers 8 64k;
    proxy_buffer_size 64k;  # response headers; unbuffered bodies stream through it
    proxy_buffers 4 64k;
    proxy_busy_buffers_size 128k;
    underscores_in_headers on;
    ignore_invalid_headers off;
    merge_slashes off;
    server_tokens off;
    # Uploads and downloads of large objects: generous idle timeouts (they bound silences, not transfers).
    client_header_timeout 60s;
    client_body_timeout 300s;
    send_timeout 300s;
    keepalive_timeout 75s;
    keepalive_requests 10000;

    upstream pails {{
        least_conn;
{servers}
        keepalive 64;
        keepalive_requests 10000;
        keepalive_timeout 20s;  # shorter than the gateways' idle timeout (Granian: 30 s)
    }}

    server {{
        listen {opts.host}:{opts.port} backlog=2048;
        location / {{
            proxy_pass http://pails;  # no URI part: the request URI goes upstream exactly as received
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;  # SigV4 signs Host (port included)
            proxy_redirect off;
            proxy_connect_timeout 5s;
            proxy_send_timeout 300s;
            proxy_read_timeout 300s;
            # A gateway that cannot be reached or fails before answering: the request goes to another
            # (not once part of its body, or a POST, was sent).
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""


# --- the cluster --------------------------------------------------------------------------------------------

def read_pids(data_dir: str) -> list[Child]:
    path = os.path.join(data_dir, PIDS_FILE)
    children = []
    try:
        with open(path) as f:
            for line in f:
                pid, _, name = line.strip().partition(" ")
                if pid.isdigit() and name:
                    children.append(Child(name, int(pid), log=os.path.join(data_dir, RUN_DIR, f"{name}.log")))
    except FileNotFoundError:
        pass
    return children


def running(data_dir: str) -> list[Child]:
    return [c for c in read_pids(data_dir) if _pid_is(c.pid, c.name)]


def stop(data_dir: str, quiet: bool = False) -> bool:
    """Stop the cluster whose pids are in DATA/cluster.pids; False if none was running."""
    children = read_pids(data_dir)
    live = [c for c in children if _pid_is(c.pid, c.name)]
    stop_children(live, quiet)
    try:
        os.unlink(os.path.join(data_dir, PIDS_FILE))
    except FileNotFoundError:
        pass
    return bool(live)


class Cluster:
    def __init__(self, opts: Options | None = None, *, tie_to_parent: bool = False) -> None:
        self.opts = opts or Options()
        self.tie = tie_to_parent  # children get SIGTERM if this process dies (foreground CLI)
        self.children: list[Child] = []
        self.access_key = ""
        self.secret_key = ""
        self.database_created = False

    @property
    def endpoint(self) -> str:
        return f"http://{self.opts.host}:{self.opts.port}"

    @property
    def gateway_endpoints(self) -> list[str]:
        return [f"http://{self.opts.host}:{p}" for p in self.opts.gateway_ports()]

    @property
    def admin_endpoints(self) -> list[str]:
        return [f"http://{self.opts.host}:{p}" for p in self.opts.admin_ports()]

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Cluster:
        opts = self.opts
        if opts.gateways < 1:
            raise ClusterError("--gateways must be at least 1")
        live = running(opts.data_dir)
        if live:
            raise ClusterError(f"a cluster is already running on {opts.data_dir} (pids "
                               f"{', '.join(str(c.pid) for c in live)}): python scripts/cluster.py --stop "
                               f"--data {opts.data}")
        busy = [p for p in [opts.port, *opts.gateway_ports(), *opts.admin_ports()] if not _port_free(opts.host, p)]
        if busy:
            raise ClusterError(f"port(s) {', '.join(map(str, busy))} on {opts.host} already in use")
        if opts.balancer not in BALANCERS:
            raise ClusterError(f"--balancer: one of {', '.join(BALANCERS)}")
        balancer = find_balancer(opts.balancer)
        self.database_created = prepare_database(opts)
        prepare_data_dir(opts)
        try:
            self._start_gateways()
            self._start_balancer(balancer)
        except BaseException:
            self.stop(quiet=True)
            raise
        return self

    def _write_pids(self) -> None:
        path = os.path.join(self.opts.data_dir, PIDS_FILE)
        with open(path + ".new", "w") as f:
            f.writelines(f"{c.pid} {c.name}\n" for c in self.children)
        os.replace(path + ".new", path)

    def _start_gateways(self) -> None:
        opts = self.opts
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PAILS_META_URL", None)
        for i, (port, admin_port) in enumerate(zip(opts.gateway_ports(), opts.admin_ports(), strict=True), 1):
            argv = [sys.executable, "-m", "pails", "server", opts.data_dir, "--meta", opts.meta_url,
                    "--address", f"{opts.host}:{port}", "--admin-address", f"{opts.host}:{admin_port}",
                    "--workers", str(opts.workers), *opts.extra_args]
            name = f"gateway-{i}"
            child = _spawn(name, argv, os.path.join(opts.run_dir, f"{name}.log"), env, self.tie)
            self.children.append(child)
            self._write_pids()
            if i == 1:
                # The first one creates the schema and, without PAILS_ROOT_*, the root credentials
                # file: the others start once it serves, and read it.
                _wait_answers(child, opts.host, port)
                self._read_credentials()
        for child, port in zip(self.children[1:], opts.gateway_ports()[1:], strict=True):
            _wait_answers(child, opts.host, port)

    def _read_credentials(self) -> None:
        key, secret = os.environ.get("PAILS_ROOT_ACCESS_KEY"), os.environ.get("PAILS_ROOT_SECRET_KEY")
        if key and secret:
            self.access_key, self.secret_key = key, secret
            return
        with open(os.path.join(self.opts.data_dir, CREDENTIALS_FILE)) as f:
            saved = json.load(f)
        self.access_key, self.secret_key = saved["access_key"], saved["secret_key"]

    def _start_balancer(self, binary: str) -> None:
        opts, kind, run = self.opts, self.opts.balancer, self.opts.run_dir
        conf = os.path.join(run, f"{kind}.conf")
        log = os.path.join(run, f"{kind}.log")
        if kind == "haproxy":
            text = haproxy_config(opts)
            check = [binary, "-c", "-q", "-f", conf]
            argv = [binary, "-db", "-f", conf]  # -db: in the foreground, logging to stdout
        else:
            os.makedirs(os.path.join(run, "tmp"), exist_ok=True)
            text = nginx_config(opts, binary)
            check = [binary, "-t", "-q", "-c", conf, "-p", run, "-e", log]
            argv = [binary, "-c", conf, "-p", run, "-e", log, "-g", "daemon off;"]
        with open(conf, "w") as f:
            f.write(text)
        checked = subprocess.run(check, capture_output=True, text=True)
        if checked.returncode != 0:
            raise ClusterError(f"{kind} rejects {conf}:\n{checked.stdout}{checked.stderr}")
        child = _spawn(kind, argv, log, dict(os.environ), self.tie)
        self.children.append(child)
        self._write_pids()
        headers = _wait_answers(child, opts.host, opts.port)
        if "x-amz-request-id" not in headers:
            raise ClusterError(f"{self.endpoint} answers, but not from a Pails gateway: {headers}")

    def failed(self) -> Child | None:
        """A child that has exited, if any."""
        return next((c for c in self.children if not _alive(c)), None)

    def stop(self, quiet: bool = False) -> None:
        stop_children(self.children, quiet)
        self.children = []
        try:
            os.unlink(os.path.join(self.opts.data_dir, PIDS_FILE))
        except FileNotFoundError:
            pass

    def describe(self) -> str:
        o = self.opts
        lines = [
            f"Pails cluster: {o.gateways} gateway{'s' if o.gateways > 1 else ''} behind {o.balancer}",
            f"  endpoint:   {self.endpoint}",
            f"  access key: {self.access_key}",
            f"  secret key: {self.secret_key}",
            f"  gateways:   {' '.join(self.gateway_endpoints)}",
            f"  admin API:  {' '.join(self.admin_endpoints)}  (pails user/bucket/key --data {o.data} --meta URL)",
            f"  metadata:   {o.meta_url}" + ("  (created)" if self.database_created else ""),
            f"  data:       {o.data_dir}",
            f"  logs:       {o.run_dir}/*.log",
        ]
        return "\n".join(lines)


# --- command line -------------------------------------------------------------------------------------------

class _Stop(Exception):
    pass


def _on_signal(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run N Pails gateways on one PostgreSQL database and one data "
                                "directory, behind a load balancer (docs/scale-out.md).")
    p.add_argument("--gateways", type=int, default=3, help="gateway processes (default 3)")
    p.add_argument("--port", type=int, default=9000,
                   help="the balancer's port on 127.0.0.1 (default 9000); gateway i listens on PORT+100+i, "
                   "its admin API on PORT+200+i")
    p.add_argument("--data", default="./cluster-data", help="the shared data directory (default ./cluster-data)")
    p.add_argument("--database", default="pails_cluster", help="PostgreSQL database (default pails_cluster)")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432",
                   help="PostgreSQL server, without a database (default postgresql://postgres@127.0.0.1:5432)")
    p.add_argument("--workers", type=int, default=1, help="worker processes per gateway (default 1)")
    p.add_argument("--balancer", choices=BALANCERS, default="haproxy",
                   help="the load balancer (default haproxy; nginx answers Expect: 100-continue itself)")
    p.add_argument("--reset", action="store_true", help="drop and recreate the database and the data directory")
    p.add_argument("--detach", action="store_true", help="start in the background (pids in DATA/cluster.pids)")
    p.add_argument("--stop", action="store_true", help="stop the cluster started on DATA")
    args = p.parse_args(argv)
    opts = Options(gateways=args.gateways, port=args.port, data=args.data, database=args.database,
                   postgres=args.postgres, workers=args.workers, reset=args.reset,
                   balancer=args.balancer)

    if args.stop:
        if not stop(opts.data_dir):
            print(f"no cluster running on {opts.data_dir}")
        return 0

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    cluster = Cluster(opts, tie_to_parent=not args.detach)
    try:
        cluster.start()
        print(cluster.describe(), flush=True)
        if args.detach:
            print(f"  stop with:  {sys.executable} {os.path.relpath(__file__)} --stop --data {args.data}", flush=True)
            return 0
        print("Ctrl-C stops the cluster.", flush=True)
        while True:
            dead = cluster.failed()
            if dead is not None:
                print(f"{dead.name} exited unexpectedly:\n{_tail(dead.log)}", file=sys.stderr, flush=True)
                cluster.stop()
                return 1
            time.sleep(0.5)
    except _Stop as why:
        print(f"\n{why}: stopping the cluster", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cluster.stop()
        return 0
    except ClusterError as exc:
        print(f"cluster: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
