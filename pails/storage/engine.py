"""The commit protocol, tying the metadata store and the blob store together.

Handlers never touch files or transactions directly: they stream bytes into a
``BlobWriter`` (or keep a small body in memory) and call ``commit_object``.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pails.errors import S3Error
from pails.storage.blobs import BlobStore, BlobWriter, new_blob_id, writer_is_gone
from pails.storage.crypto import KeyRing, UnwrapError, open_secret
from pails.storage.iam_rows import boundary_and_tags, identity_policies
from pails.storage.meta import DeleteCondition, Deleted, MetaStore, StoreUnavailable, WriteCondition
from pails.storage.records import ObjectVersion, User
from pails.storage.space import SpaceGuard, is_full

log = logging.getLogger("pails")


@dataclass(slots=True)
class Settings:
    data_dir: str
    fsync: bool = True
    domain: str | None = None  # virtual-host style: <bucket>.<domain>
    region: str = "us-east-1"
    inline_max: int = 64 * 1024  # bodies up to this size live in the metadata row
    # Metadata in PostgreSQL (postgresql://...) instead of DATA_DIR/meta.sqlite3:
    # many gateways share it, and DATA_DIR is a shared filesystem.
    meta_url: str | None = None
    # Shared data directory: a data file still uncommitted this many seconds
    # after it was announced is taken for a crashed or stalled gateway's and
    # removed; a commit that would reference it fails instead.  Longer than
    # any upload of one body may take.
    intent_timeout: float = 24 * 3600.0
    # PostgreSQL: bucket changes are announced with NOTIFY (off: for compatible
    # databases without it; other gateways then see a change within 1 s).
    meta_notify: bool = True
    # Free space writes leave in the data directory: a size (1GiB, 512M), a
    # percentage of the filesystem (5%), or "" for min(1 GiB, 5%); 0 turns
    # the check off (pails.storage.space).
    disk_reserve: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        """The settings ``pails server`` hands its worker processes in the environment."""
        return cls(
            data_dir=os.environ.get("PAILS_DATA_DIR", "./data"),
            fsync=os.environ.get("PAILS_FSYNC", "1") != "0",
            domain=os.environ.get("PAILS_DOMAIN") or None,
            region=os.environ.get("PAILS_REGION", "us-east-1"),
            meta_url=os.environ.get("PAILS_META_URL") or None,
            intent_timeout=float(os.environ.get("PAILS_INTENT_TIMEOUT", "86400")),
            meta_notify=os.environ.get("PAILS_META_NOTIFY", "1") != "0",
            disk_reserve=os.environ.get("PAILS_DISK_RESERVE", ""),
        )


_COLLECT_INTERVAL = 0.25
_REAP_INTERVAL = 5.0  # shared data directory: how often a gateway looks for stale intents


def open_meta(settings: Settings, make_room: Callable[[], bool] | None = None) -> MetaStore:
    """The metadata store the settings name (chosen once, at start-up).
    ``make_room``: frees some disk space, for a delete that found the disk full."""
    if settings.meta_url:
        from pails.storage.postgres import PgMeta  # psycopg is only imported when PostgreSQL is used

        # The workers of one gateway share a bucket change counter in host-local memory.
        gateway = hashlib.sha256(f"{settings.meta_url}\0{os.path.realpath(settings.data_dir)}".encode())
        epoch_path = os.path.join(tempfile.gettempdir(), f"pails-{gateway.hexdigest()[:24]}-buckets.epoch")
        return PgMeta(settings.meta_url, epoch_path, notify=settings.meta_notify)
    from pails.storage.sqlite import SqliteMeta

    return SqliteMeta(os.path.join(settings.data_dir, "meta.sqlite3"), fsync=settings.fsync, make_room=make_room)


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        os.makedirs(settings.data_dir, exist_ok=True)
        self.space = SpaceGuard(settings.data_dir, settings.disk_reserve)
        self.meta: MetaStore = open_meta(settings, self.space.release_ballast)
        if self.meta.commits_in_data_dir:
            self.space.keep_ballast()
        self.space.reusable = self.meta.reusable_bytes
        self.blobs = BlobStore(settings.data_dir, fsync=settings.fsync, shared=self.meta.shared_blobs,
                               space=self.space)
        self.keys = KeyRing(settings.data_dir)  # server-side encryption keys, created on first use
        self._collecting = False
        self._collect_checked = 0.0
        self._collect_deferred = False
        self._reaped_at = 0.0

    async def open(self) -> None:
        """Before the first request: the metadata store's schema is ready, and
        a shared data directory does what the protocol needs of it."""
        await self.meta.open()
        if self.blobs.shared:
            try:
                self.blobs.check_shared()
            except OSError as exc:
                if is_full(exc):  # cannot be checked now; refusing to start would keep deletes from freeing space
                    log.warning("the data directory %s is full: its sharing check is skipped", self.settings.data_dir)
                    return
                raise StoreUnavailable(f"the data directory {self.settings.data_dir} cannot be shared: {exc}") \
                    from None

    async def principal(self, access_key: str) -> User | None:
        """Who signs with ``access_key``, ready to authenticate and authorize:
        an IAM user's secret opened with the master key and its identity
        policies gathered (one more read, for IAM users and roots the operator
        gave policies only); None for an unknown, inactive or expired key."""
        user = await self.meta.get_user(access_key)
        if user is None:
            return None
        if user.sealed:  # a key of iam_keys: an IAM user's, or one more of a root's
            if user.key_expires is not None and user.key_expires <= time.time():
                return None
            try:
                user.secret_key = open_secret(self.keys.master(), user.secret_key)
            except UnwrapError:
                log.error("the secret of access key %s does not open with the master key", access_key)
                return None
            user.sealed = False
        if user.iam_user is not None or user.policies:
            state = await self.meta.iam_state(user.account_id)
            if user.iam_user is not None:
                user.policies = identity_policies(state, "user", user.iam_user)
                user.boundary, user.principal_tags = boundary_and_tags(state, "user", user.iam_user)
            else:
                user.policies = identity_policies(state, "root", "")
        return user

    async def session_principal(self, access_key: str, token: str) -> User | None:
        """The principal of temporary credentials (STS): the session token is
        sealed with the master key and carries the secret, the expiry and who
        the session is; the account, IAM user or role must still exist, and
        their policies apply as they are now.  None: not a valid, unexpired
        token for ``access_key``; S3Error ExpiredToken once it has expired."""
        try:
            session = json.loads(open_secret(self.keys.master(), token))
        except (UnwrapError, ValueError):
            return None
        if session.get("k") != access_key:
            return None
        if session["e"] <= time.time():
            raise S3Error("ExpiredToken")
        account = await self.meta.get_account(session["a"])
        if account is None:
            return None
        if session.get("pk") and await self.principal(session["pk"]) is None:
            return None  # the key the session was made with is deleted, inactive or expired
        inside = bool(session.get("u") or session.get("r"))  # an IAM user's or a role's session, not a root's
        user = User(access_key, session["s"], account.canonical_id, account.display_name, account.email,
                    session["i"], account.account_id, account.operator and not inside, key_expires=session["e"],
                    session_policy=session.get("p"), session_token=token, token_issued=session["i"])
        state = await self.meta.iam_state(account.account_id)
        if inside:
            kind, name = ("role", session["r"]) if session.get("r") else ("user", session["u"])
            entity = state.entities.get((kind, name.lower()))
            if entity is None:
                return None
            user.iam_user, user.iam_user_id, user.iam_path = entity.name, entity.id, entity.path
            user.policies = identity_policies(state, kind, name)
            user.boundary, user.principal_tags = boundary_and_tags(state, kind, name)
            if session.get("t"):  # session tags override the role's tags of the same key (any case)
                over = {k.lower() for k in session["t"]}
                user.principal_tags = {**{k: v for k, v in user.principal_tags.items() if k.lower() not in over},
                                       **session["t"]}
            if kind == "role":
                user.role_session = session.get("n", "")
                user.iam_user_id = f"{entity.id}:{user.role_session}"
        else:
            user.policies = identity_policies(state, "root", "")
        return user

    async def recover(self) -> tuple[int, int, int]:
        """Run once before serving: finish or undo interrupted writes; unlink
        collected files.  Returns (finished, removed, collected).  A shared
        data directory has no start-up recovery (other gateways are writing):
        stale intents are reaped while serving."""
        finished = removed = 0
        if not self.blobs.shared:
            for blob_id in self.blobs.pending_writes():
                if await self._settle(blob_id):
                    finished += 1
                else:
                    removed += 1
        collected = 0
        while garbage := await self.meta.pending_garbage(1000):
            for blob_id in garbage:
                # A local store double-checks (a file may be listed and referenced
                # again only through a bug; never unlink what is referenced).
                if self.blobs.shared or not await self.meta.blob_is_referenced(blob_id):
                    self.blobs.delete(blob_id)
            await self.meta.forget_garbage(garbage)
            collected += len(garbage)
        if self.blobs.shared:
            collected += await self._reap()
        return finished, removed, collected

    def filesystem_capacity(self) -> tuple[int, int]:
        """(size, bytes available to Pails) of the filesystem holding the data directory."""
        st = os.statvfs(self.settings.data_dir)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    def admit(self, length: int | None, inline: bool = False) -> None:
        """Refuse (507 InsufficientStorage) a write of ``length`` bytes (None:
        not said) that would take the data directory's reserve; ``inline``:
        a body this small may go into the metadata row."""
        small = inline and length is not None and length <= self.settings.inline_max
        self.space.admit(length, small)
    async def recover_dead_writers(self) -> tuple[int, int]:
        """``recover`` while serving, for the files in ``tmp`` whose writer
        process has exited (a worker that died): run by the worker that
        replaces it, so no restart is needed.  Returns (finished, removed).
        A dead process commits nothing more, so its files' fate is decided.
        A shared data directory needs nothing: the dead writer's intents
        expire as a crashed gateway's do."""
        finished = removed = 0
        if self.blobs.shared:
            return 0, 0
        for blob_id in self.blobs.pending_writes():
            if writer_is_gone(blob_id):
                if await self._settle(blob_id):
                    finished += 1
                else:
                    removed += 1
        return finished, removed

    async def _settle(self, blob_id: str) -> bool:
        """A file in ``tmp`` nobody is writing: committed ones finish their
        rename (True), the rest are deleted."""
        if await self.meta.blob_is_referenced(blob_id):
            self.blobs.promote(blob_id)
            return True
        self.blobs.delete(blob_id)
        return False

    async def new_blob_ids(self, count: int) -> list[str]:
        """Ids for data files about to be staged (announced on a shared data directory)."""
        self.space.admit(None)
        ids = [new_blob_id() for _ in range(count)]
        if self.blobs.shared:
            for blob_id in ids:
                await self.meta.add_blob_intent(blob_id)
        return ids

    async def create_blob(self) -> BlobWriter:
        """A new data file to stream a body into; on a shared data directory
        it is announced (an intent) before it exists."""
        self.space.admit(None)
        blob_id = new_blob_id()
        if self.blobs.shared:
            await self.meta.add_blob_intent(blob_id)
        return self.blobs.create(blob_id)

    async def commit_object(self, version: ObjectVersion, writer: BlobWriter | None,
                            condition: WriteCondition | None = None) -> str:
        """Make ``version`` (with the data ``writer`` holds, if any) durable and
        visible; return its version id.  On failure the data file is removed
        and nothing changes."""
        if writer is not None:
            try:
                if self.settings.fsync:
                    await asyncio.get_running_loop().run_in_executor(None, writer.seal)
                else:
                    writer.seal()
                version_id = await self.meta.put_object(version, condition)
            except BaseException as exc:
                writer.abort(exc)
                raise
            self.blobs.promote(writer.blob_id)
        else:
            version_id = await self.meta.put_object(version, condition)
        self.collect_soon()
        return version_id

    async def delete_object(self, bucket_id: int, key: str, owner_id: str = "",
                            condition: DeleteCondition | None = None) -> Deleted:
        result = await self.meta.delete_object(bucket_id, key, owner_id, condition)
        self.collect_soon(now=True)
        return result

    async def delete_version(self, bucket_id: int, key: str, version_id: str,
                             condition: DeleteCondition | None = None, bypass_governance: bool = False) -> Deleted:
        result = await self.meta.delete_version(bucket_id, key, version_id, condition, bypass_governance)
        self.collect_soon(now=True)
        return result

    def collect_soon(self, now: bool = False) -> None:
        """Unlink data files that commits stopped referencing, in the background.
        Looks at most every ``_COLLECT_INTERVAL`` seconds (a query per write
        is measurable on small PUTs), or at once when ``now``."""
        if self._collecting:
            return
        t = time.monotonic()
        if not now and t - self._collect_checked < _COLLECT_INTERVAL:
            if not self._collect_deferred:  # look once more when the interval is over
                self._collect_deferred = True
                asyncio.get_running_loop().call_later(_COLLECT_INTERVAL, self._deferred_collect)
            return
        self._collect_checked = t
        self._collecting = True
        asyncio.get_running_loop().create_task(self._collect())

    def tick(self) -> None:
        """Called about once a second: a shared data directory is checked
        for stale intents even when this gateway writes nothing; free space
        is looked at (and the ballast laid down) even when nothing is written."""
        self.space.poll()
        if self.blobs.shared and time.monotonic() - self._reaped_at > _REAP_INTERVAL:
            self.collect_soon(now=True)

    def _deferred_collect(self) -> None:
        self._collect_deferred = False
        self.collect_soon(now=True)

    async def _collect(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            while True:
                garbage = await self.meta.pending_garbage(500)
                if not garbage:
                    break
                await loop.run_in_executor(None, self._unlink_all, garbage)
                await self.meta.forget_garbage(garbage)
            if self.blobs.shared and time.monotonic() - self._reaped_at > _REAP_INTERVAL:
                await self._reap()
        except S3Error:  # the store is unavailable: the next write looks again
            pass
        finally:
            self._collecting = False

    async def _reap(self) -> int:
        """Remove the data files of intents older than ``intent_timeout``
        (their writers crashed or stalled): the intents go first, in a commit,
        so a late commit referencing one of the files fails."""
        self._reaped_at = time.monotonic()
        reaped = 0
        while stale := await self.meta.reap_intents(self.settings.intent_timeout, 500):
            await asyncio.get_running_loop().run_in_executor(None, self._unlink_all, stale)
            reaped += len(stale)
        return reaped

    def _unlink_all(self, blob_ids: list[str]) -> None:
        for blob_id in blob_ids:
            self.blobs.delete(blob_id)

    def release_memory(self) -> None:
        """Give memory back to the OS while idle: metadata caches, then the
        free pages of the C heap (glibc keeps them otherwise; a big listing
        leaves tens of MB behind)."""
        self.meta.release_memory()
        gc.collect()
        if _malloc_trim is not None:
            _malloc_trim(0)

    async def close(self) -> None:
        await self.meta.close()


def _find_malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None


_malloc_trim = _find_malloc_trim()
