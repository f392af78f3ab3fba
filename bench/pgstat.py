"""PostgreSQL for the benchmark: throw-away databases, and what PostgreSQL spends while Pails runs on it.

``PgMonitor(admin_url, db)`` watches one database of a local cluster during a timed run:

- **CPU** (utime+stime from /proc) of the PostgreSQL processes that work for that database: its
  backends (Pails' connections, parallel and autovacuum workers in it) and the cluster's shared
  background processes (checkpointer, background writer, walwriter, autovacuum launcher, ...).
  Backends of the cluster's *other* databases are left out (another test suite may be using the
  same cluster); the whole postmaster tree's CPU is kept too, as ``cluster_cpu``. The set of
  processes is re-read every sample, so backends that come and go during the run are counted up
  to their last sample.
- **Waits**: every ``interval`` seconds, the database's backends in ``pg_stat_activity`` waiting
  on a heavyweight lock (``wait_event_type = 'Lock'``), and a tally of every wait event of its
  active backends (a cheap profile: ``IO:WALSync``, ``LWLock:WALWrite``, ``Lock:transactionid``...).
- **Counters** of ``pg_stat_database`` before and after (each read ``STATS_SETTLE`` seconds after the
  work it should or should not include): deadlocks, conflicts, commits, rollbacks.

Needs psycopg 3 (Pails' own dependency for ``--meta``) and must run on the database's machine
(it reads /proc).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

CLK_TCK = os.sysconf("SC_CLK_TCK")
# PostgreSQL (15+) backends flush their pg_stat_database counts at most once a second (an idle
# backend within a second): counters are read this long after the work they should (not) include.
STATS_SETTLE = 1.1
_DB_COUNTERS = ("deadlocks", "conflicts", "xact_commit", "xact_rollback")


def db_url(admin_url: str, db: str) -> str:
    """``admin_url`` with its database replaced by ``db``."""
    u = urlsplit(admin_url)
    return urlunsplit((u.scheme, u.netloc, "/" + db, u.query, u.fragment))


def _connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def recreate_db(admin_url: str, db: str) -> None:
    with _connect(admin_url) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        # UTF8, as Pails needs (its key columns carry their own "C" collation)
        c.execute(f"CREATE DATABASE \"{db}\" ENCODING 'UTF8' TEMPLATE template0")


def drop_db(admin_url: str, db: str) -> None:
    with _connect(admin_url) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def analyze(url: str) -> dict:
    """``ANALYZE`` the database of ``url`` (what autovacuum does on a default cluster once enough rows
    changed); returns how long it took and the state of the ``objects`` table's statistics before:
    the cluster's ``autovacuum`` setting, ``reltuples`` (-1: never analyzed), the last (auto)analyze."""
    with _connect(url) as c:
        before = c.execute(
            "SELECT current_setting('autovacuum'), c.reltuples, s.last_analyze, s.last_autoanalyze, s.n_live_tup "
            "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.relname = 'objects' AND c.relnamespace = current_schema()::regnamespace").fetchone()
        t0 = time.perf_counter()
        c.execute("ANALYZE")
        el = time.perf_counter() - t0
    autovacuum, reltuples, last, last_auto, live = before or ("?", None, None, None, None)
    return {"seconds": el, "autovacuum": autovacuum, "reltuples": reltuples, "live_rows": live,
            "last_analyze": str(last or last_auto or "never")}


def _ticks(pid: int) -> tuple[int, int] | None:
    """(utime+stime, ppid) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(b")") + 2:].split()
    return int(rest[11]) + int(rest[12]), int(rest[1])


def _tree_ticks(root: int) -> int:
    kids: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            t = _ticks(int(d))
            if t:
                ticks[int(d)] = t[0]
                kids.setdefault(t[1], []).append(int(d))
    total, stack = 0, [root]
    while stack:
        p = stack.pop()
        total += ticks.get(p, 0)
        stack.extend(kids.get(p, []))
    return total


class PgMonitor:
    def __init__(self, admin_url: str, db: str, interval: float = 0.1):
        self.admin_url, self.db, self.interval = admin_url, db, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- sampling (the monitor's own backend, in the admin database, is never counted)
    def _pids(self) -> list[tuple[int, str | None, str | None, str | None]]:
        """(pid, state, wait_event_type, wait_event) of the processes that work for ``db``."""
        return [(r[0], r[2], r[3], r[4]) for r in self._conn.execute(
            "SELECT pid, datname, state, wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() "
            "AND (datname = %s OR (datname IS NULL AND backend_type <> 'client backend'))",
            (self.db,)).fetchall()]

    def _sample(self, final: bool = False) -> None:
        rows = self._pids()
        locks = 0
        for pid, state, wtype, wevent in rows:
            t = _ticks(pid)
            if t is not None:
                self._first.setdefault(pid, 0 if self._started else t[0])
                self._last[pid] = t[0]
            if state == "active" and not final:
                self._waits[f"{wtype}:{wevent}" if wtype else "CPU (no wait)"] += 1
                if wtype == "Lock":
                    locks += 1
        if not final:
            self.samples += 1
            self.lock_total += locks
            self.lock_max = max(self.lock_max, locks)
            self.lock_samples += locks > 0

    def _db_counters(self) -> dict[str, int]:
        cols = ", ".join(_DB_COUNTERS)
        self._conn.execute("SELECT pg_stat_clear_snapshot()")
        row = self._conn.execute(f"SELECT {cols} FROM pg_stat_database WHERE datname = %s", (self.db,)).fetchone()
        return dict(zip(_DB_COUNTERS, row or (0,) * len(_DB_COUNTERS), strict=True))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sample()
            except Exception:  # noqa: BLE001 - a missed sample must not end the run
                pass

    # -- one timed run
    def start(self) -> None:
        self._conn = _connect(self.admin_url)
        own = self._conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        self.postmaster = (_ticks(own) or (0, 0))[1]
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._waits: Counter[str] = Counter()
        self.samples = self.lock_total = self.lock_max = self.lock_samples = 0
        self._started = False
        time.sleep(STATS_SETTLE)  # let the backends flush what earlier work left pending
        self._counters0 = self._db_counters()
        self._sample(final=True)  # baseline ticks of the processes there now
        self._started = True
        self._cluster0 = _tree_ticks(self.postmaster)
        self._t0 = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> dict:
        self._stop.set()
        if self._thread:
            self._thread.join()
        cluster = _tree_ticks(self.postmaster) - self._cluster0
        self._sample(final=True)
        el = time.perf_counter() - self._t0
        time.sleep(STATS_SETTLE)
        c1 = self._db_counters()
        self._conn.close()
        cpu = sum(self._last[p] - self._first[p] for p in self._last)
        n = max(1, self.samples)
        d = {k: c1[k] - self._counters0[k] for k in _DB_COUNTERS}
        return {
            "pg_cpu": cpu / CLK_TCK,
            "cluster_cpu": cluster / CLK_TCK,
            "pg_procs": len(self._last),
            "lock_samples": self.samples,
            "lock_waiting_mean": self.lock_total / n,
            "lock_waiting_max": self.lock_max,
            "lock_samples_frac": self.lock_samples / n,
            "wait_events": dict(self._waits.most_common(8)),
            "pg_deadlocks": d["deadlocks"],
            "pg_conflicts": d["conflicts"],
            "pg_commits": d["xact_commit"],
            "pg_rollbacks": d["xact_rollback"],
            "monitor_seconds": el,
        }
