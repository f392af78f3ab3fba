"""Counters and histograms shared by all of the server's processes, for
``/metrics`` on the admin port (``pails.admin.metrics``).

Each process that counts (every S3 worker, the supervising ``pails server``
process) owns two files in the server's metrics directory (``PAILS_METRICS_DIR``,
in ``/dev/shm``, made by ``pails server``): ``PID-N.values``, an mmap'd array
of float64 slots it adds to in place, and ``PID-N.keys``, one JSON line per
series naming its slot (written, in one ``write``, before the slot is first
touched).  Counting is a dict lookup and a float add in shared memory: no lock,
no system call.  The admin process reads every file and sums; the files of a
dead process stay until a scrape folds them into ``retired.json`` (see
``pails.metrics.collect``), so the counts of a worker that died neither vanish
nor count twice.

A slot is written by one thread only: request metrics by the event loop,
commit metrics by the store's committer (its own series), so ``+=`` needs no
lock.  Nothing here imports the rest of Pails: every layer may count.
"""

from __future__ import annotations

import bisect
import json
import mmap
import os
import secrets
import threading
from dataclasses import dataclass

SLOTS = 32768  # series one process can hold (256 KiB of shared memory, touched pages only)
DIR_ENV = "PAILS_METRICS_DIR"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    kind: str  # "counter", "histogram", "gauge" (max over processes)
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


FAMILIES: dict[str, Family] = {}


class _Store:
    """This process's slots and their names."""

    def __init__(self, directory: str) -> None:
        self.pid = os.getpid()
        base = os.path.join(directory, f"{self.pid}-{secrets.token_hex(4)}")
        fd = os.open(base + ".values", os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, SLOTS * 8)
            self._map = mmap.mmap(fd, SLOTS * 8)
        finally:
            os.close(fd)
        self.values = memoryview(self._map).cast("d")
        self._keys = os.open(base + ".keys", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.slots: dict[tuple[str, tuple[str, ...]], int] = {}
        self._lock = threading.Lock()
        self._next = 1  # slot 0: where series past SLOTS go (never read)

    def allocate(self, name: str, labels: tuple[str, ...]) -> int:
        with self._lock:
            slot = self.slots.get((name, labels))
            if slot is not None:
                return slot
            if self._next >= SLOTS:
                return 0
            slot = self._next
            self._next += 1
            os.write(self._keys, (json.dumps([slot, name, list(labels)]) + "\n").encode())
            self.slots[(name, labels)] = slot
            return slot


_store: _Store | None = None
_directory: str | None = None


def store() -> _Store | None:
    """This process's slots (None: metrics are off)."""
    return _store


def enable(directory: str | None = None) -> bool:
    """Count in this process (and in the processes it forks, each in files
    of its own), in ``directory`` or ``$PAILS_METRICS_DIR``.  False: metrics are off."""
    global _store, _directory
    directory = directory or os.environ.get(DIR_ENV)
    if not directory or not os.path.isdir(directory):
        return False
    if _store is None or _store.pid != os.getpid():
        _directory = directory
        _store = _Store(directory)
    return True


def enabled() -> bool:
    return _store is not None


def _after_fork() -> None:
    global _store
    if _store is not None and _directory is not None:
        _store = None
        try:
            _store = _Store(_directory)
        except OSError:  # the directory went away: this process counts nothing
            _store = None


os.register_at_fork(after_in_child=_after_fork)


class Counter:
    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name = name
        FAMILIES[name] = Family(name, "counter", help, labels)

    def inc(self, labels: tuple[str, ...] = (), amount: float = 1.0) -> None:
        store = _store
        if store is None:
            return
        slot = store.slots.get((self.name, labels)) or store.allocate(self.name, labels)
        store.values[slot] += amount

    def slot(self, store: _Store, labels: tuple[str, ...] = ()) -> int:
        """The series' slot in ``store`` (for callers that cache it: see pails.http.request_metrics)."""
        return store.slots.get((self.name, labels)) or store.allocate(self.name, labels)


class Gauge:
    """A value each process sets; the scrape shows the largest (e.g. a time)."""

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name = name
        FAMILIES[name] = Family(name, "gauge", help, labels)

    def set(self, value: float, labels: tuple[str, ...] = ()) -> None:
        store = _store
        if store is None:
            return
        slot = store.slots.get((self.name, labels)) or store.allocate(self.name, labels)
        store.values[slot] = value


class Histogram:
    """Per series: a count per bucket (not cumulative: the scrape adds them
    up), the sum and the count."""

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name = name
        self.buckets = buckets
        self._bucket = f"{name}_bucket"
        self._sum = f"{name}_sum"
        self._count = f"{name}_count"
        FAMILIES[name] = Family(name, "histogram", help, labels, buckets)

    def observe(self, value: float, labels: tuple[str, ...] = ()) -> None:
        store = _store
        if store is None:
            return
        slots = store.slots
        index = bisect.bisect_left(self.buckets, value)
        le = (*labels, str(index))
        values = store.values
        values[slots.get((self._bucket, le)) or store.allocate(self._bucket, le)] += 1.0
        values[slots.get((self._sum, labels)) or store.allocate(self._sum, labels)] += value
        values[slots.get((self._count, labels)) or store.allocate(self._count, labels)] += 1.0

    def slots(self, store: _Store, labels: tuple[str, ...] = ()) -> tuple[list[int], int, int]:
        """The series' slots in ``store``: (one per bucket and +Inf, sum, count)."""
        buckets = [store.slots.get((self._bucket, key)) or store.allocate(self._bucket, key)
                   for key in ((*labels, str(i)) for i in range(len(self.buckets) + 1))]
        return (buckets, store.slots.get((self._sum, labels)) or store.allocate(self._sum, labels),
                store.slots.get((self._count, labels)) or store.allocate(self._count, labels))


# --- the catalogue (docs/operations.md lists them) ---------------------------------------------------

REQUESTS = Counter("pails_s3_requests_total", "S3 requests answered, by operation and HTTP status.",
                   ("operation", "status"))
ERRORS = Counter("pails_s3_errors_total", "S3 error responses, by S3 error code.", ("code",))
LATENCY = Histogram("pails_s3_request_duration_seconds",
                    "Seconds from a request's arrival until its last byte was sent, by operation.",
                    ("operation",))
BYTES_IN = Counter("pails_s3_received_bytes_total", "Request body bytes read, by operation.", ("operation",))
BYTES_OUT = Counter("pails_s3_sent_bytes_total", "Response body bytes sent, by operation.", ("operation",))
INCOMPLETE = Counter("pails_s3_incomplete_responses_total",
                     "Responses given up before their last byte (client gone, stalled, damaged data).")
COMMIT_BATCH = Histogram("pails_meta_commit_batch_size", "Writes per metadata group commit, by store.",
                         ("store",), BATCH_BUCKETS)
COMMIT_SECONDS = Histogram("pails_meta_commit_seconds",
                           "Seconds a group commit's COMMIT took (with fsync on SQLite: the WAL fsync), by store.",
                           ("store",))
WORKER_RESTARTS = Counter("pails_worker_restarts_total", "S3 worker processes replaced after they died.")
LIFECYCLE_BUCKETS = Counter("pails_lifecycle_buckets_total",
                            "Buckets with lifecycle rules a lifecycle pass went through.")
LIFECYCLE_ACTIONS = Counter("pails_lifecycle_actions_total",
                            "Lifecycle actions applied, by kind (expired, removed, transitioned, aborted, skipped).",
                            ("action",))
LIFECYCLE_PASSES = Counter("pails_lifecycle_passes_total", "Lifecycle passes completed.")
LIFECYCLE_LAST_PASS = Gauge("pails_lifecycle_last_pass_timestamp_seconds",
                            "When the last lifecycle pass completed (Unix time).")
