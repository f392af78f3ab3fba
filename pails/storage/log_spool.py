"""Server access log delivery: spool files, pending batches, log objects.

Each worker process appends the records of its requests to a spool file of
its own (``DATA/access-log/spool/<created>-<worker>.open``, one JSON line per
record, written before the next request is read: a SIGKILL loses only what
was not yet written).  The worker closes the file a fraction of a second
later (renamed ``.ready``) and starts another on its next record.

Whoever holds the delivery lock (``DATA/access-log/lock``: ``flock``, which
also holds across gateways on a shared filesystem with working locks) moves
ready spool files into pending batches, one per log object to be
(``batches/<id>/``: ``meta.json`` and ``records``), and commits a batch as an
object of the target bucket through the storage engine (as a PUT does: the
target's quota and usage count it).  A batch is committed when a record
arrives after its roll time, when it grows past the size limit, when its
roll time has passed twice without a record arriving, or on request (the
flush call, a changed or removed configuration, a deleted source bucket).

Delivery is at least once: a crash between writing an object (or a batch)
and removing what it was made from delivers those records again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pails.storage.engine import Engine
from pails.storage.failures import log_failure
from pails.storage.records import Bucket, ObjectVersion

log = logging.getLogger("pails")

ROOT = "access-log"
ROTATE_AFTER = 0.2  # seconds a spool file stays open (a flush waits about this long for other workers)
STALE_AFTER = 5.0  # an open spool file untouched this long belongs to a worker that died
FLUSH_GRACE = 0.05  # seconds: records of requests answered just before a flush arrived are still spooled
FLUSH_WAIT = 5.0  # at most this long a flush waits for other workers' spool files
DEFAULT_MAX_OBJECT = 16 * 1024 * 1024  # a log object is committed once its records reach this size


@dataclass(slots=True)
class Target:
    """Where a source bucket's records go: what makes a batch."""

    bucket: str  # the target bucket's name
    bucket_id: int  # ... and id (a target deleted and made again is another bucket)
    key_prefix: str  # TargetPrefix, with the partition path for PartitionedPrefix
    partitioned: bool
    date_source: str  # EventTime | DeliveryTime
    roll_time: int
    grants: list[list[str]] = field(default_factory=list)  # [grantee type, id or URI, permission]
    policy_prefix: str = ""  # TargetPrefix as configured: what the target's policy must allow
    bucket_created: float = 0.0  # with the id: this bucket, not one made later under its name (or its id)

    @property
    def batch_id(self) -> str:
        made = f"{self.bucket_id}\0{self.bucket_created!r}\0{self.key_prefix}"
        return hashlib.sha256(made.encode()).hexdigest()[:24]


@dataclass(slots=True)
class Source:
    bucket: str
    bucket_id: int
    owner_id: str
    accounts: list[str]  # aws:SourceAccount values: the owner's account id and canonical id


# (target bucket, the source, the batch's Target): may the source's records go there?
Authorize = Callable[[Bucket, Source, Target], Awaitable[bool]]


class DeliveryDenied(Exception):
    """The target bucket's policy no longer lets the logging service write the source's records."""


def log_dir(data_dir: str) -> str:
    return os.path.join(data_dir, ROOT)


class Spool:
    """This process's spool file (used from its event loop only)."""

    def __init__(self, data_dir: str) -> None:
        self.dir = os.path.join(log_dir(data_dir), "spool")
        os.makedirs(self.dir, exist_ok=True)
        self.worker = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._fd: int | None = None
        self._path = ""
        self._opened = 0.0

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        if self._fd is None:
            self._opened = time.time()
            self._path = os.path.join(self.dir, f"{time.time_ns():020d}-{self.worker}.open")
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        view = memoryview(line)
        while view:
            view = view[os.write(self._fd, view):]
        if time.time() - self._opened >= ROTATE_AFTER:
            self.rotate()

    def rotate(self) -> None:
        """Close the open file: it is ready to be delivered."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        os.rename(self._path, self._path[:-5] + ".ready")

    def tick(self) -> None:
        if self._fd is not None and time.time() - self._opened >= ROTATE_AFTER:
            self.rotate()


def _writer_is_gone(name: str) -> bool:
    """Whether an open spool file's worker (on this host) has exited."""
    host, _, rest = name.split("-", 1)[1].rpartition("-")[0].rpartition("-")
    if host != socket.gethostname() or not rest.isdigit():
        return False  # another host's: its age tells
    try:
        os.kill(int(rest), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def unique_key(prefix: str, target: Target, when: float, event_time: float) -> str:
    """AWS's key forms: [prefix]YYYY-mm-DD-HH-MM-SS-UniqueString, or, partitioned,
    [prefix][account]/[region]/[bucket]/YYYY/mm/DD/YYYY-mm-DD-HH-MM-SS-UniqueString.
    The unique part starts with the microsecond, so keys sort in delivery order."""
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(when))
    unique = f"{int(when * 1_000_000) % 1_000_000:05X}{secrets.token_hex(6).upper()[:11]}"
    if not target.partitioned:
        return f"{prefix}{stamp}-{unique}"
    day = time.strftime("%Y/%m/%d", time.gmtime(event_time if target.date_source == "EventTime" else when))
    return f"{prefix}{day}/{stamp}-{unique}"


class Delivery:
    """Pending batches and their delivery (one per process; the lock orders them)."""

    def __init__(self, engine: Engine, authorize: Authorize, max_object: int = DEFAULT_MAX_OBJECT) -> None:
        root = log_dir(engine.settings.data_dir)
        self.engine = engine
        self.authorize = authorize
        self.max_object = max_object
        self.spool_dir = os.path.join(root, "spool")
        self.batch_dir = os.path.join(root, "batches")
        os.makedirs(self.spool_dir, exist_ok=True)
        os.makedirs(self.batch_dir, exist_ok=True)
        self._lock_path = os.path.join(root, "lock")
        self._local = asyncio.Lock()

    # --- the lock ---------------------------------------------------------
    @contextlib.asynccontextmanager
    async def locked(self) -> Any:
        async with self._local:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the lock

    # --- batches ----------------------------------------------------------
    def _meta_path(self, batch_id: str) -> str:
        return os.path.join(self.batch_dir, batch_id, "meta.json")

    def _load(self, batch_id: str) -> dict[str, Any] | None:
        try:
            with open(self._meta_path(batch_id), encoding="utf-8") as f:
                meta: dict[str, Any] = json.load(f)
                return meta
        except FileNotFoundError:
            return None
        except ValueError:  # torn by a power loss (not fsynced): its records file is kept, and delivered later
            log.warning("access log: batch %s had an unreadable state; started again", batch_id)
            return None

    def _save(self, batch_id: str, meta: dict[str, Any]) -> None:
        path = self._meta_path(batch_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f)
        os.replace(tmp, path)

    def _new_meta(self, target: Target, started: float) -> dict[str, Any]:
        return {"target": asdict(target), "started": started, "records": 0, "bytes": 0, "sources": {}}

    def open_batch(self, target: Target, now: float) -> None:
        """A configuration was set: its batch exists from now on (committed
        by the flush call even when it holds no record)."""
        if self._load(target.batch_id) is None:
            self._save(target.batch_id, self._new_meta(target, now))

    def _records_path(self, batch_id: str) -> str:
        return os.path.join(self.batch_dir, batch_id, "records")

    def _drop(self, batch_id: str) -> None:
        for name in ("records", "meta.json"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.batch_dir, batch_id, name))
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(self.batch_dir, batch_id))

    # --- spool files -> batches ------------------------------------------
    def _spool_files(self, now: float) -> tuple[list[str], float | None]:
        """(files to take, in the order they were started; the creation time of
        the oldest file still open by a live worker)."""
        take: list[str] = []
        oldest_open: float | None = None
        for name in sorted(os.listdir(self.spool_dir)):
            path = os.path.join(self.spool_dir, name)
            if name.endswith(".ready"):
                take.append(path)
            elif name.endswith(".open"):
                try:
                    idle = now - os.stat(path).st_mtime
                except FileNotFoundError:
                    continue
                if idle > STALE_AFTER or _writer_is_gone(name):
                    take.append(path)  # its worker died: nobody closes it
                else:
                    created = int(name.split("-", 1)[0]) / 1e9
                    oldest_open = created if oldest_open is None else min(oldest_open, created)
        return take, oldest_open

    async def wait_for_spools(self, since: float) -> None:
        """Until every worker closed the spool files it started before ``since``."""
        deadline = time.monotonic() + FLUSH_WAIT
        await asyncio.sleep(FLUSH_GRACE)
        while time.monotonic() < deadline:
            _, oldest_open = self._spool_files(time.time())
            if oldest_open is None or oldest_open > since:
                return
            await asyncio.sleep(0.02)

    async def ingest(self, now: float) -> None:
        """Move ready spool files into their batches (under the lock)."""
        files, _ = self._spool_files(now)
        metas: dict[str, dict[str, Any]] = {}
        outs: dict[str, Any] = {}
        try:
            for path in files:
                try:
                    with open(path, "rb") as f:
                        lines = f.read().splitlines()
                except FileNotFoundError:
                    continue
                for raw in lines:
                    try:
                        rec = json.loads(raw)
                    except ValueError:
                        continue  # a torn last line of a killed worker
                    target = Target(**rec["target"])
                    bid = target.batch_id
                    meta = metas.get(bid) or self._load(bid)
                    if meta is None:
                        meta = self._new_meta(target, rec["t"])
                    elif meta["records"] == 0:
                        meta["started"] = rec["t"]  # a batch opened by its configuration starts with its first record
                    elif rec["t"] >= meta["started"] + meta["target"]["roll_time"]:
                        # Past its roll time: this record starts the next object.
                        out = outs.pop(bid, None)
                        if out is not None:
                            out.close()
                        self._save(bid, meta)
                        if await self._try_commit(bid, meta, now):
                            meta = self._new_meta(target, rec["t"])
                    meta["target"] = asdict(target)  # the newest configuration's roll time and grants
                    meta["sources"][str(rec["source"]["bucket_id"])] = rec["source"]
                    out = outs.get(bid)
                    if out is None:
                        os.makedirs(os.path.join(self.batch_dir, bid), exist_ok=True)
                        out = outs[bid] = open(self._records_path(bid), "ab")  # noqa: SIM115 - closed below
                    line = f"{rec['source']['bucket_id']} {rec['line']}\n".encode()
                    out.write(line)
                    meta["records"] += 1
                    meta["bytes"] += len(line)
                    metas[bid] = meta
                    if meta["bytes"] >= self.max_object:
                        out.close()
                        del outs[bid]
                        self._save(bid, meta)
                        if await self._try_commit(bid, meta, now):
                            metas[bid] = self._new_meta(target, now)
                for bid, out in list(outs.items()):
                    out.flush()
                    if self.engine.settings.fsync:
                        os.fsync(out.fileno())
                    self._save(bid, metas[bid])
                os.unlink(path)
        finally:
            for out in outs.values():
                out.close()
        for bid, meta in metas.items():
            if meta["records"]:
                self._save(bid, meta)

    # --- batches -> objects -----------------------------------------------
    async def _try_commit(self, batch_id: str, meta: dict[str, Any], now: float) -> bool:
        """Commit while moving spool files: a failure (the target's quota, a
        full disk) keeps the batch to be tried again, and the move goes on."""
        try:
            await self._commit(batch_id, meta, now)
        except Exception:  # noqa: BLE001 - the records stay in their batch
            log_failure(log, "access log: batch %s not delivered", batch_id)
            return False
        return True

    async def _commit(self, batch_id: str, meta: dict[str, Any], now: float,
                      required: Source | None = None, check: bool = True) -> str | None:
        """Write the batch as a log object and forget it; the key, or None if
        its target is gone or refuses all its sources (the records are dropped,
        as AWS drops logs it cannot deliver).  ``required``: the source whose
        flush this is: DeliveryDenied if it may not deliver."""
        target = Target(**meta["target"])
        bucket = await self.engine.meta.get_bucket(target.bucket)
        if bucket is None or bucket.id != target.bucket_id or bucket.created != target.bucket_created:
            log.warning("access log: target bucket %s is gone; %d records dropped", target.bucket, meta["records"])
            self._drop(batch_id)
            if required is not None:
                raise DeliveryDenied(target.bucket)
            return None
        allowed: set[str] = set()
        for sid, src in meta["sources"].items():
            if not check or await self.authorize(bucket, Source(**src), target):
                allowed.add(sid)
        if required is not None and str(required.bucket_id) not in allowed:
            if not await self.authorize(bucket, required, target):
                raise DeliveryDenied(target.bucket)
        if meta["records"] and not allowed:
            log.warning("access log: %s refuses the logging service; %d records dropped", target.bucket,
                        meta["records"])
            self._drop(batch_id)
            return None
        key = unique_key(target.key_prefix, target, now, meta["started"])
        await self._store(bucket, key, batch_id, allowed, target)
        self._drop(batch_id)
        return key

    async def _store(self, bucket: Bucket, key: str, batch_id: str, allowed: set[str], target: Target) -> None:
        from pails.access import acl as acls  # the ACL form (pure) of the delivered object

        engine = self.engine
        writer = await engine.create_blob()
        try:
            path = self._records_path(batch_id)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    for raw in f:
                        sid, _, line = raw.partition(b" ")
                        if sid.decode() in allowed:
                            writer.write(line)
        except BaseException as exc:
            writer.abort(exc)
            raise
        owner = await engine.meta.get_user_by_id(bucket.owner_id)
        owner_name = owner.display_name if owner is not None else ""
        grants = [acls.Grant(acls.CANONICAL_USER, bucket.owner_id, acls.FULL_CONTROL, owner_name)]
        for kind, who, permission in target.grants:
            grants.append(acls.Grant(acls.GROUP if kind == "Group" else acls.CANONICAL_USER, who, permission))
        acl = acls.Acl(bucket.owner_id, owner_name, tuple(grants))
        version = ObjectVersion(
            bucket_id=bucket.id, key=key, version_id="null", size=writer.size, etag=f'"{writer.md5.hexdigest()}"',
            last_modified=time.time(), headers=json.dumps({"Content-Type": "text/plain"}), acl=acl.to_json(),
            owner_id=bucket.owner_id, storage_class="STANDARD", inline=None, blob_id=writer.blob_id,
            manifest=None, checksums=None)
        await engine.commit_object(version, writer)

    async def commit(self, target: Target, now: float, required: Source | None = None,
                     always: bool = False, check: bool = True) -> str | None:
        """Commit ``target``'s batch (under the lock, after ``ingest``): the
        key written, or None when there was no batch (``always``: an empty
        object then, as the flush call makes).  ``check`` False: without
        asking the target's policy again (the owner reconfigured or deleted
        the source: what was accepted under the old configuration goes)."""
        meta = self._load(target.batch_id)
        if meta is None:
            if not always:
                return None
            meta = self._new_meta(target, now)
        return await self._commit(target.batch_id, meta, now, required, check)

    async def roll(self, now: float) -> int:
        """The periodic pass (under the lock): objects for batches that
        waited twice their roll time or are too large; empty batches that
        old are forgotten.  Returns the number of objects written."""
        await self.ingest(now)
        written = 0
        for bid in os.listdir(self.batch_dir):
            meta = self._load(bid)
            if meta is None:
                continue
            roll = meta["target"]["roll_time"]
            if now < meta["started"] + 2 * roll and meta["bytes"] < self.max_object:
                continue
            if meta["records"] == 0:
                self._drop(bid)
                continue
            try:
                if await self._commit(bid, meta, now) is not None:
                    written += 1
            except Exception:  # noqa: BLE001 - the next pass tries again
                log_failure(log, "access log: batch %s not delivered", bid)
        return written
