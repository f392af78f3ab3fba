"""Plain records the metadata store returns.  No behaviour, no I/O."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(slots=True)
class User:
    """A principal with a key pair: an account's root (a row of ``users``,
    ``iam_user`` None) or an IAM user of that account signing with one of its
    access keys.  ``canonical_id`` and ``display_name`` are always the
    account's: what an IAM user creates belongs to its account, as on AWS."""

    access_key: str
    secret_key: str
    canonical_id: str
    display_name: str
    email: str | None
    created: float
    account_id: str = ""  # 12 digits
    operator: bool = False  # the server's root credentials: administers every account, reaches every bucket
    iam_user: str | None = None  # the IAM user's name; None: the account root
    iam_user_id: str = ""  # AIDA...
    iam_path: str = "/"
    key_expires: float | None = None  # an IAM user's key: refused from then on
    key_last_used: float | None = None
    sealed: bool = False  # secret_key is still sealed with the master key (an IAM user's key, as stored)
    # Identity policy documents (JSON text): an IAM user's inline, attached and
    # groups' policies; for a root, those the operator set on the account.
    policies: tuple[str, ...] = ()
    # Temporary credentials (STS): the role session's name (``iam_user`` is then
    # the role's name), the session policy that narrows it, the session token.
    role_session: str | None = None
    session_policy: str | None = None
    session_token: str | None = None
    # The permissions boundary (a managed policy's document) of the IAM user or
    # role: an identity-based Allow holds only where it allows too.
    boundary: str | None = None
    principal_tags: dict[str, str] = field(default_factory=dict)  # the user's or role's tags (aws:PrincipalTag)
    token_issued: float | None = None  # a session's issue time (aws:TokenIssueTime)

    @property
    def arn(self) -> str:
        if self.iam_user is None:
            return f"arn:aws:iam::{self.account_id}:root"
        if self.role_session is not None:
            return f"arn:aws:sts::{self.account_id}:assumed-role/{self.iam_user}/{self.role_session}"
        return f"arn:aws:iam::{self.account_id}:user{self.iam_path}{self.iam_user}"


@dataclass(slots=True)
class IamEntity:
    """An IAM user, group, role or managed policy of an account, or ("root",
    "") the operator-set policies of the account root.  ``doc`` holds what
    the kind has: inline policies, attached policy ARNs, group names,
    trust policy, policy versions (docs/iam.md, "Storage")."""

    kind: str  # "user" | "group" | "role" | "policy" | "root"
    name: str
    id: str
    path: str
    created: float
    doc: dict[str, Any]


@dataclass(slots=True)
class IamKey:
    """An access key of an IAM user; the secret is stored sealed (crypto.seal)."""

    access_key: str
    user: str  # the user's name, lower-cased
    secret: str
    status: str  # "Active" | "Inactive"
    created: float
    expires: float | None = None
    last_used: float | None = None


@dataclass(slots=True)
class IamState:
    """Every IAM entity and key of one account, as read in one transaction."""

    account_id: str
    entities: dict[tuple[str, str], IamEntity]  # (kind, lower-cased name) -> entity
    keys: dict[str, IamKey]


@dataclass(slots=True)
class IamWrite:
    """The changes a pure IAM decision makes to its account's state."""

    put: list[IamEntity] = field(default_factory=list)
    delete: list[tuple[str, str]] = field(default_factory=list)  # (kind, lower-cased name)
    put_keys: list[IamKey] = field(default_factory=list)
    delete_keys: list[str] = field(default_factory=list)


@dataclass(slots=True, frozen=True)  # shared by every request through the bucket cache
class Bucket:
    id: int
    name: str
    owner_id: str
    created: float
    location: str
    acl: str  # Acl.to_json()
    versioning: str | None  # None (never enabled), "Enabled", "Suspended"
    props: str  # JSON object of bucket sub-resources (tagging, policy, ...), "{}" when none
    epoch: int = 0  # bumped by every change of the record (stores that share it between gateways)


@dataclass(slots=True)
class ObjectVersion:
    """One version of one key.  ``headers`` is a JSON object of the response
    headers stored with the object (Content-Type, user metadata, ...)."""

    bucket_id: int
    key: str
    version_id: str  # "null" for unversioned writes
    size: int
    etag: str  # quoted, as sent in the ETag header
    last_modified: float  # epoch seconds
    headers: str
    acl: str
    owner_id: str
    storage_class: str
    inline: bytes | None  # small objects live in the row
    blob_id: str | None  # data file of a single-part object
    manifest: str | None  # JSON list of [blob_id, size] for stitched multipart objects
    checksums: str | None  # JSON {algorithm: b64} of stored flexible checksums
    delete_marker: bool = False

    def blob_ids(self) -> list[str]:
        """Every data file this version references."""
        if self.blob_id:
            return [self.blob_id]
        if self.manifest:
            import json

            return [part[0] for part in json.loads(self.manifest)]
        return []


def object_from_row(r: tuple[Any, ...]) -> ObjectVersion:
    """A version from the columns every store selects in this order:
    bucket_id, key, version_id, size, etag, last_modified, owner_id,
    storage_class, delete_marker, headers, acl, blob_id, manifest, checksums,
    and the small body."""
    return ObjectVersion(
        bucket_id=r[0], key=r[1], version_id=r[2], size=r[3], etag=r[4], last_modified=r[5], owner_id=r[6],
        storage_class=r[7], delete_marker=bool(r[8]), headers=r[9], acl=r[10], blob_id=r[11], manifest=r[12],
        checksums=r[13], inline=r[14],
    )


class ListingRow(NamedTuple):
    """The columns a listing page needs, nothing more.  A tuple, because a
    listing builds one per key: it comes straight from the database row."""

    key: str
    size: int
    etag: str
    last_modified: float
    owner_id: str
    storage_class: str
    version_id: str
    delete_marker: int  # 0 or 1, as stored
    is_latest: int  # 0 or 1
    seq: int = 0  # 0: the current version; else its place among noncurrent ones (higher is newer)


# One <Contents> entry of an object listing: (key, size, etag, last_modified,
# storage_class, owner_id).  A plain tuple, straight from the database row: a
# listing builds one per key and formats it at once.  ``owner_id`` is "" when
# the listing was asked without owners.
ContentsRow = tuple[str, int, str, float, str, str]


class ObjectPage(NamedTuple):
    """One ListObjects page: rows and common prefixes (each in key order),
    whether more follow, and the last entry's key or prefix (the next
    page's marker)."""

    rows: list[ContentsRow]
    prefixes: list[str]
    truncated: bool
    last: str | None


@dataclass(slots=True, frozen=True)
class BucketUsage:
    """What a bucket stores, kept exact by the store in the same transaction
    as every write (never a directory walk).  Delete markers are counted on
    their own (they hold no bytes and are not objects for a quota)."""

    objects: int = 0  # current versions that are not delete markers
    bytes: int = 0
    noncurrent_objects: int = 0  # noncurrent versions that are not delete markers
    noncurrent_bytes: int = 0
    delete_markers: int = 0  # current and noncurrent
    uploads: int = 0  # multipart uploads in progress
    parts: int = 0  # their parts
    part_bytes: int = 0

    @property
    def stored_bytes(self) -> int:
        """The bytes a quota counts: every version and every uploaded part."""
        return self.bytes + self.noncurrent_bytes + self.part_bytes

    @property
    def stored_objects(self) -> int:
        """The objects a quota counts: every version that is not a delete marker."""
        return self.objects + self.noncurrent_objects


@dataclass(slots=True, frozen=True)
class BucketQuota:
    """Hard limits of a bucket (None: no limit), kept in its props as ``quota``."""

    max_bytes: int | None = None
    max_objects: int | None = None

    @classmethod
    def of(cls, props: dict[str, Any]) -> BucketQuota | None:
        q = props.get("quota")
        if not isinstance(q, dict):
            return None
        quota = cls(q.get("max_bytes"), q.get("max_objects"))
        return None if quota.max_bytes is None and quota.max_objects is None else quota

    def exceeded_by(self, usage: BucketUsage, more_bytes: int, more_objects: int) -> bool:
        """Whether adding that much to ``usage`` would pass a limit (adding nothing never does)."""
        if more_bytes > 0 and self.max_bytes is not None and usage.stored_bytes + more_bytes > self.max_bytes:
            return True
        return (more_objects > 0 and self.max_objects is not None
                and usage.stored_objects + more_objects > self.max_objects)


def new_account_id() -> str:
    """A 12-digit account id, as AWS's (never starting with 0)."""
    return str(secrets.randbelow(9 * 10**11) + 10**11)
