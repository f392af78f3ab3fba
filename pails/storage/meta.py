"""The metadata store interface.

Every metadata backend (SQLite for one machine, PostgreSQL for many stateless
gateways) implements this, and nothing above ``pails.storage`` knows which one
runs.  Every method is ``async``: a read may be a network round trip
(PostgreSQL), which must not hold up the other requests of the worker; the
SQLite store answers in-process without suspending, so awaiting it costs a
coroutine call.  Writes may be grouped with those of concurrent requests into
one durable commit (one fsync acknowledges many writes); none is acknowledged
before its commit.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pails.errors import S3Error
from pails.protocol.keys import prefix_successor
from pails.storage.object_lock import LockChange, apply_change
from pails.storage.records import (
    Bucket,
    BucketQuota,
    BucketUsage,
    ContentsRow,
    IamState,
    IamWrite,
    ListingRow,
    ObjectPage,
    ObjectVersion,
    User,
)

T = TypeVar("T")


class CommitOutcomeUnknown(S3Error):
    """The connection to the store was lost while a commit was under way: it
    may or may not have taken effect.  The client gets 503 (nothing was
    acknowledged), and the data files the commit would reference must stay
    (a shared data directory's intents remove them if it did not)."""

    def __init__(self) -> None:
        super().__init__("ServiceUnavailable", "The metadata database is unavailable; please try again.")


def may_be_committed(exc: BaseException | None) -> bool:
    """Whether the failure ``exc`` of a commit leaves its outcome open."""
    return isinstance(exc, CommitOutcomeUnknown)


class StoreUnavailable(Exception):
    """The store cannot be opened: unreachable, or its schema is one this
    version of Pails does not know."""


class BucketChanged(Exception):
    """A read found that the bucket record the request was decided on has
    changed since (another gateway changed it): run the request again."""


class AlreadyExists(Exception):
    """A user (name, access key or e-mail) that exists already."""


@dataclass(frozen=True, slots=True)
class WriteCondition:
    """Preconditions on the current version, decided inside the commit so two
    racing writers cannot both pass."""

    if_match: str | None = None  # quoted ETag the current object must have
    if_none_match_any: bool = False  # "If-None-Match: *": the key must not exist
    if_none_match: str | None = None  # "If-None-Match: <etag>[, <etag>...]": the current object must not have one


@dataclass(frozen=True, slots=True)
class DeleteCondition:
    """Preconditions of a conditional delete on the version it removes (or,
    without a version id, on the current version), decided inside the commit."""

    if_match: str | None = None  # quoted ETag or "*"
    last_modified: float | None = None  # epoch seconds (compared to the second)
    size: int | None = None
    unchanged: Unchanged | None = None  # the lifecycle worker's: what its decision was made on


@dataclass(frozen=True, slots=True)
class Unchanged:
    """What a lifecycle decision to delete a version was made on, checked
    again in the commit that deletes it (``conditions.check_unchanged``): if
    a request changed any of it meanwhile, the delete fails with
    PreconditionFailed and nothing happens (the next pass decides again).

    ``version_id``/``last_modified`` (exact) name the very version; ``current``
    where it sat.  A noncurrent version's expiry counts from when it became
    noncurrent, the Last-Modified of the version right above it (``newer``),
    and NewerNoncurrentVersions counts the noncurrent versions above it
    (``min_newer``: at least that many).  An expired delete marker goes only
    while it is ``alone`` (no noncurrent version under it).  ``tags``: the
    version's tags, when a rule's filter looked at them."""

    version_id: str
    last_modified: float
    current: bool
    newer: str | None = None
    min_newer: int = 0
    alone: bool = False
    tags: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True, slots=True)
class Deleted:
    """What a delete did.  ``version_id``: the version removed or the delete
    marker created (None: nothing happened); ``delete_marker``: that version is
    a delete marker; ``versioned``: the bucket has versioning (Enabled or
    Suspended), so the response names versions."""

    version_id: str | None
    delete_marker: bool
    versioned: bool


_VERSION_ID = re.compile(r"[0-9a-f]{32}")


def new_version_id() -> str:
    """A fresh version id: 32 URL-safe characters, sorting by creation time
    (microseconds since the epoch, then 72 random bits)."""
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(9)}"


def valid_version_id(value: str) -> bool:
    return value == "null" or _VERSION_ID.fullmatch(value) is not None


def key_range(prefix: str, after: str, inclusive: bool) -> tuple[str, str, str | None]:
    """A listing's key range as SQL wants it: (">" or ">=", the lower
    bound, the exclusive upper bound or None)."""
    op = ">=" if inclusive else ">"
    if after < prefix:
        after, op = prefix, ">="
    return op, after, prefix_successor(prefix) if prefix else None


def merge_versions(out: list[ListingRow], current: list[ListingRow], older: list[ListingRow],
                   limit: int) -> list[ListingRow]:
    """ListObjectVersions from its two range scans: by key (code point order
    is UTF-8 byte order), each key's current version first, then its
    noncurrent ones newest first (``older`` comes so ordered); appended to
    ``out`` up to ``limit``."""
    i = j = 0
    while len(out) < limit and (i < len(current) or j < len(older)):
        if j >= len(older) or (i < len(current) and current[i].key <= older[j].key):
            out.append(current[i])
            i += 1
        else:
            out.append(older[j])
            j += 1
    return out


def quota_props(props: str, quota: BucketQuota | None) -> str:
    """The bucket's props JSON with its ``quota`` entry set to ``quota`` (None: removed)."""
    values = json.loads(props or "{}")
    if quota is None:
        values.pop("quota", None)
    else:
        values["quota"] = {k: v for k, v in (("max_bytes", quota.max_bytes), ("max_objects", quota.max_objects))
                           if v is not None}
    return json.dumps(values, separators=(",", ":"))


# change(versioning, props) -> (new versioning or None, new props or None); see MetaStore.change_bucket
BucketChange = Callable[[str | None, dict[str, object]], tuple[str | None, dict[str, object] | None]]


class MetaStore(ABC):
    # --- accounts and IAM (docs/iam.md) ---------------------------------
    @abstractmethod
    async def get_user(self, access_key: str) -> User | None:
        """The principal signing with ``access_key``, in one indexed read: an
        account root (a ``users`` row) or an IAM user's active key (its
        secret still sealed: ``User.sealed``); None if unknown or inactive."""

    @abstractmethod
    async def get_user_by_id(self, canonical_id: str) -> User | None: ...

    @abstractmethod
    async def get_user_by_email(self, email: str) -> User | None: ...

    @abstractmethod
    async def get_account(self, account_id: str) -> User | None:
        """The account (its root) with this 12-digit id."""

    @abstractmethod
    async def list_users(self) -> list[User]:
        """Every account (its root), oldest first."""

    @abstractmethod
    async def add_user(self, user: User) -> None:
        """Add an account; AlreadyExists if its name, e-mail or key is taken."""

    @abstractmethod
    async def remove_user(self, name_or_key: str) -> bool:
        """Remove an account with its IAM users, groups, roles, policies and
        keys (the caller checks it owns no bucket first)."""

    @abstractmethod
    async def replace_keys(self, account_id: str, access_key: str, secret_key: str) -> None:
        """Give an account root a new key pair (the operator's, from its environment)."""

    @abstractmethod
    async def move_buckets(self, from_owner: str, to_owner: str) -> int:
        """Give every bucket of one account (canonical id) to another; how many moved."""

    @abstractmethod
    async def iam_state(self, account_id: str) -> IamState: ...

    @abstractmethod
    async def change_iam(self, account_id: str, change: Callable[[IamState], tuple[T, IamWrite]]) -> T:
        """In one commit, serialized with the account's other IAM changes:
        read its state, call ``change`` (pure and quick; it may raise, and
        nothing changes) and apply the IamWrite it returns; its result is returned."""

    @abstractmethod
    def credentials_epoch(self) -> int:
        """A counter every change of keys or policies bumps once committed, read
        without I/O: a principal cached while it is unchanged is current (on
        this host; other PostgreSQL gateways' changes within the cache's 1 s)."""

    @abstractmethod
    async def touch_key(self, access_key: str, when: float) -> None:
        """Record when an IAM user's key was last used."""

    # --- buckets -----------------------------------------------------------
    @abstractmethod
    async def get_bucket(self, name: str) -> Bucket | None: ...

    @abstractmethod
    async def list_buckets(self, owner_id: str) -> list[Bucket]: ...

    @abstractmethod
    async def create_bucket(self, bucket: Bucket) -> tuple[bool, Bucket]:
        """Insert ``bucket``; return (created, the bucket now holding the name)."""

    @abstractmethod
    async def delete_bucket(self, bucket_id: int) -> None:
        """Delete an empty bucket; raise S3Error BucketNotEmpty otherwise."""

    @abstractmethod
    async def update_bucket(self, bucket_id: int, *, acl: str | None = None, props: str | None = None,
                            versioning: str | None = None) -> None: ...

    @abstractmethod
    async def change_bucket(self, bucket_id: int, change: BucketChange) -> None:
        """Read the bucket's versioning state and props under its write lock,
        call ``change(versioning, props)`` (pure and quick; it may raise an
        S3Error, and nothing changes) and write what it returns: (the new
        versioning state or None to keep it, the new props or None to keep
        them).  NoSuchBucket if the bucket is gone."""

    # --- objects -----------------------------------------------------------
    @abstractmethod
    async def get_object(self, bucket_id: int, key: str) -> ObjectVersion | None:
        """The current version of ``key`` (possibly a delete marker), or None."""

    @abstractmethod
    async def put_object(self, version: ObjectVersion, condition: WriteCondition | None = None) -> str:
        """Make ``version`` the current version of its key, atomically, and
        return its version id.  By the bucket's versioning state, read inside
        the commit: never enabled, the replaced version's data files go to
        blob collection; Enabled, the replaced version becomes noncurrent and
        ``version`` gets a fresh id; Suspended, ``version`` is "null" and
        replaces any "null" version (collected), other versions are kept."""

    @abstractmethod
    async def append_object(self, bucket_id: int, key: str, offset: int,
                            build: Callable[[ObjectVersion | None], ObjectVersion]) -> ObjectVersion:
        """In one commit: the current version must hold exactly ``offset``
        bytes (a missing key or a delete marker: 0), else S3Error
        InvalidWriteOffset; then ``build(current or None)`` (pure and quick: it
        runs inside the commit) makes the version that replaces it.  Data files
        of the current version that the new one does not list go to blob
        collection.  Returns the new version."""

    @abstractmethod
    async def rename_object(self, bucket_id: int, source: str, dest: str,
                            check: Callable[[ObjectVersion, ObjectVersion | None], None]) -> ObjectVersion:
        """RenameObject: in one commit, the current version of ``source``
        becomes that of ``dest`` (its data, metadata and Last-Modified kept),
        replacing ``dest``'s (whose data files go to blob collection);
        ``source`` is gone in that same commit.  NoSuchKey if ``source`` has
        no current object; ``check(source, dest or None)`` (pure, quick: it
        runs inside the commit, under both keys' write locks) raises to
        refuse.  Buckets that have (had) versioning: NotImplemented.
        Returns the renamed version."""

    @abstractmethod
    async def delete_object(self, bucket_id: int, key: str, owner_id: str = "",
                            condition: DeleteCondition | None = None) -> Deleted:
        """Delete without a version id: never-versioned buckets remove the
        current version; Enabled/Suspended buckets put a delete marker (owned
        by ``owner_id``) on top.  A ``condition`` on a missing key is a no-op;
        one that fails raises PreconditionFailed."""

    @abstractmethod
    async def delete_version(self, bucket_id: int, key: str, version_id: str,
                             condition: DeleteCondition | None = None, bypass_governance: bool = False) -> Deleted:
        """Remove one version permanently (its data files go to blob
        collection in the same commit); if it was current, the newest
        noncurrent version becomes current.  An unknown version is a no-op.
        A version under Object Lock is refused (AccessDenied, decided by
        ``object_lock.check_delete`` under the key's write lock);
        ``bypass_governance``: the caller may and asked to bypass GOVERNANCE
        retention."""

    @abstractmethod
    async def get_object_version(self, bucket_id: int, key: str, version_id: str) -> ObjectVersion | None:
        """The version ``version_id`` of ``key``, current or not (possibly a delete marker)."""

    @abstractmethod
    async def version_position(self, bucket_id: int, key: str, version_id: str) -> int | None:
        """Where a version sits in its key's history: 0 for the current one,
        its ``seq`` for a noncurrent one, None if unknown."""

    @abstractmethod
    async def list_versions(self, bucket_id: int, prefix: str, after: str, inclusive: bool, limit: int,
                      resume_key: str | None = None, resume_seq: int = 0) -> list[ListingRow]:
        """Every version and delete marker, keys in UTF-8 byte order and each
        key's versions newest first (the current one, then noncurrent ones by
        descending ``seq``), at most ``limit``.  With ``resume_key``, first
        the noncurrent versions of that key older than ``resume_seq`` (all of
        them when it is 0), then keys > ``resume_key``; else keys > ``after``
        (>= when ``inclusive``) starting with ``prefix``."""

    @abstractmethod
    async def set_object_acl(self, bucket_id: int, key: str, acl: str, version_id: str | None = None) -> bool:
        """Set the ACL of the current version (or of ``version_id``); False if
        there is no such version or it is a delete marker."""

    @abstractmethod
    async def update_headers(self, bucket_id: int, key: str, version_id: str | None,
                             update: Callable[[dict[str, str]], None]) -> bool:
        """Read-modify-write of the current version's (or ``version_id``'s)
        stored ``headers`` in one commit, under the key's write lock
        (``update`` changes them in place, or raises and nothing changes);
        False if there is no such version (or it is a delete marker)."""

    async def set_object_header(self, bucket_id: int, key: str, name: str, value: str | None,
                                version_id: str | None = None) -> bool:
        """Set (``value`` None: remove) one entry of the version's stored ``headers``."""
        def update(headers: dict[str, str]) -> None:
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        return await self.update_headers(bucket_id, key, version_id, update)

    async def update_object_lock(self, bucket_id: int, key: str, version_id: str, change: LockChange) -> bool:
        """Apply a retention or legal hold ``change`` to version ``version_id``
        (``object_lock.apply_change`` on its stored headers, under the key's
        write lock, with the commit's clock: a shortening racing another change
        is decided on the latest state); False if there is no such version (or
        it is a delete marker); AccessDenied if the lock forbids the change."""
        def update(headers: dict[str, str]) -> None:
            apply_change(headers, change, time.time())
        return await self.update_headers(bucket_id, key, version_id, update)

    @abstractmethod
    async def set_bucket_prop(self, bucket_id: int, name: str, value: object | None) -> None:
        """Set (``value`` None: remove) one entry of the bucket's ``props``
        JSON object, read-modify-write in one commit."""

    @abstractmethod
    async def list_objects(self, bucket_id: int, after: str, prefix: str, limit: int,
                           inclusive: bool = False) -> list[ListingRow]:
        """Current versions that are not delete markers, with key > ``after``
        (>= when ``inclusive``) and starting with ``prefix``, in UTF-8 byte
        order, at most ``limit``."""

    async def list_page(self, bucket_id: int, prefix: str, delimiter: str, after: str, max_keys: int,
                        owners: bool = False) -> ObjectPage:
        """One ListObjects page: keys starting with ``prefix`` after ``after``
        (exclusive), those with ``delimiter`` after the prefix rolled up into
        common prefixes, at most ``max_keys`` entries.  A common prefix that
        ``after`` lies inside has been returned already and is skipped.
        ``owners``: fill the rows' owner_id (else it may be "").

        This generic version reads rows in batches from ``list_objects`` and,
        at a common prefix, abandons the batch for a new one past the prefix,
        so the keys under it are mostly not read; a backend does it in one
        statement where it can."""
        rows: list[ContentsRow] = []
        prefixes: list[str] = []
        if max_keys <= 0:
            return ObjectPage(rows, prefixes, False, None)
        count = 0
        last: str | None = None
        cursor, inclusive = after, False
        plen = len(prefix)
        batch = min(max_keys + 1, 100) if delimiter else max_keys + 1
        while True:
            chunk = await self.list_objects(bucket_id, cursor, prefix, batch, inclusive)
            reseek = False
            for row in chunk:
                key = row.key
                if delimiter:
                    idx = key.find(delimiter, plen)
                    if idx >= 0:
                        common = key[:idx + len(delimiter)]
                        if not after.startswith(common):
                            if count == max_keys:
                                return ObjectPage(rows, prefixes, True, last)
                            prefixes.append(common)
                            count += 1
                            last = common
                        nxt = prefix_successor(common)
                        if nxt is None:
                            return ObjectPage(rows, prefixes, False, last)
                        cursor, inclusive, reseek = nxt, True, True
                        break
                if count == max_keys:
                    return ObjectPage(rows, prefixes, True, last)
                rows.append((key, row.size, row.etag, row.last_modified, row.storage_class, row.owner_id))
                count += 1
                last = key
                cursor, inclusive = key, False
            if not reseek and len(chunk) < batch:
                return ObjectPage(rows, prefixes, False, last)

    @abstractmethod
    async def bucket_is_empty(self, bucket_id: int) -> bool: ...

    @abstractmethod
    async def bucket_usage(self, bucket_id: int) -> BucketUsage:
        """What the bucket stores, as committed (exact: every write keeps it in its own transaction)."""

    @abstractmethod
    async def set_bucket_quota(self, bucket_id: int, quota: BucketQuota | None) -> None:
        """Set (None: remove) the bucket's quota, kept in its props as ``quota``.
        Every commit that grows the bucket's stored bytes or objects past it
        then fails with S3Error QuotaExceeded, decided atomically in that
        commit (writes that shrink it always pass).  NoSuchBucket if gone."""

    # --- data-file collection ---------------------------------------------
    @abstractmethod
    async def pending_garbage(self, limit: int) -> list[str]:
        """Data files no metadata references any more, awaiting unlink."""

    @abstractmethod
    async def forget_garbage(self, blob_ids: list[str]) -> None: ...

    @abstractmethod
    async def blob_is_referenced(self, blob_id: str) -> bool: ...

    # Data files live on a filesystem shared by many gateways (PostgreSQL
    # store): each is announced by an intent before it is created, the commit
    # that references it consumes the intent, and stale intents are reaped
    # (see pails.storage.blobs).  False: one machine, the tmp + rename
    # protocol and start-up recovery of ``tmp``.
    shared_blobs: bool = False
    # Commits write files in the data directory (SQLite's WAL): a delete then
    # needs room there, and a ballast file keeps some (pails.storage.space).
    commits_in_data_dir: bool = False

    def reusable_bytes(self) -> int:
        """Room inside the store's files that new rows reuse without growing
        them (SQLite's free pages); 0 where the data directory holds no metadata."""
        return 0

    @abstractmethod
    async def ping(self) -> None:
        """A trivial read: raises if the store cannot be reached (health checks)."""

    async def add_blob_intent(self, blob_id: str) -> None:
        """Announce a data file about to be written (shared blobs only)."""
        raise NotImplementedError

    async def reap_intents(self, older_than: float, limit: int) -> list[str]:
        """Delete (committed) intents created before ``older_than`` and
        return their blob ids: the files may then be unlinked, since a commit
        that references them can no longer succeed (shared blobs only)."""
        return []

    # --- background jobs (pails.jobs) --------------------------------------
    @abstractmethod
    async def all_buckets(self, after: str, limit: int) -> list[Bucket]:
        """Every bucket (whoever owns it) with a name > ``after``, by name, at most ``limit``."""

    @abstractmethod
    async def set_storage_class(self, bucket_id: int, key: str, version_id: str, storage_class: str) -> bool:
        """Change the storage class of version ``version_id`` (current or
        not; the data stays where it is: one tier); False if there is no
        such version (or it is a delete marker)."""

    @abstractmethod
    async def try_lease(self, name: str) -> bool:
        """Whether this process holds the lease ``name`` (taking it if it is
        free): one holder among every process of every gateway on this
        store, held until the process exits or loses the store.  Never waits."""

    # --- multipart uploads -----------------------------------------------
    @abstractmethod
    async def create_upload(self, upload: MultipartUpload) -> None: ...

    @abstractmethod
    async def get_upload(self, upload_id: str) -> MultipartUpload | None: ...

    @abstractmethod
    async def put_part(self, part: UploadedPart) -> None:
        """Add or replace a part; a replaced part's data file goes to blob
        collection in the same commit.  S3Error NoSuchUpload if the upload is
        gone (completed or aborted meanwhile)."""

    @abstractmethod
    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[UploadedPart]:
        """Parts with number > ``after``, ascending, at most ``limit``."""

    @abstractmethod
    async def complete_upload(self, upload_id: str, version: ObjectVersion,
                              condition: WriteCondition | None = None, if_none_match: str | None = None) -> str:
        """In one commit: check ``condition`` (and ``if_none_match``, a list of
        ETags the current version must not have), make ``version`` (whose manifest
        lists part data files of the upload) the current version of its key,
        delete the upload and its parts, and hand the data files of unused
        parts to blob collection; the replaced version is handled by the
        bucket's versioning state as in ``put_object``.  Returns the version id.  S3Error
        NoSuchUpload if the upload is gone, InvalidPart if a listed data file
        is no longer one of its parts."""

    @abstractmethod
    async def abort_upload(self, upload_id: str) -> bool:
        """Delete the upload and its parts (their data files go to blob
        collection in the same commit); False if there was no such upload."""

    @abstractmethod
    async def list_uploads(self, bucket_id: int, prefix: str, after_key: str, after_upload_id: str | None,
                           limit: int) -> list[MultipartUpload]:
        """Uploads in (key, upload_id) order, keys starting with ``prefix``,
        after (``after_key``, ``after_upload_id``); with ``after_upload_id``
        None, only keys > ``after_key``."""

    @abstractmethod
    async def open(self) -> None:
        """Make the store ready before its first use (create or migrate its
        schema); StoreUnavailable if it cannot be."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def release_memory(self) -> None:
        """Drop caches that can be rebuilt (called when the server is idle)."""


# --- multipart uploads --------------------------------------------------------
@dataclass(slots=True)
class MultipartUpload:
    """An upload in progress.  ``headers``/``acl``/``storage_class`` become the
    object's on completion; ``props`` is a JSON object (checksum algorithm and
    type, ...)."""

    upload_id: str
    bucket_id: int
    key: str
    initiated: float
    owner_id: str
    storage_class: str
    headers: str
    acl: str
    props: str = "{}"


@dataclass(slots=True)
class UploadedPart:
    upload_id: str
    part_number: int
    size: int
    etag: str  # quoted
    last_modified: float
    blob_id: str
    checksums: str | None  # JSON {algorithm: b64}
