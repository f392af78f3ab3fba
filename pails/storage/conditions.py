"""Preconditions of writes and deletes, decided inside a commit on the
version being replaced, by every store alike.  ``old`` is the replaced
version's (etag, delete_marker, blob_id, manifest, version_id,
last_modified, size, ...) as the store read it under its write lock, or None."""

from __future__ import annotations

from typing import Any

from pails.errors import S3Error
from pails.storage.lifecycle_rules import stored_tags
from pails.storage.meta import DeleteCondition, Unchanged, WriteCondition

# RenameObject (an S3 Express operation, where buckets have no versions) in a bucket that has versioning.
RENAME_VERSIONED = "RenameObject is not implemented for buckets with versioning enabled or suspended."


def check_delete(cond: DeleteCondition, old: tuple[Any, ...] | None, by_version: bool = False,
                 current: bool = True) -> bool:
    """Whether a conditional delete goes ahead: False (a no-op) when there is
    nothing to delete; PreconditionFailed when a condition does not hold.
    ``current``: ``old`` is the key's current version (else a noncurrent one)."""
    if old is None:
        return False
    marker = bool(old[1])
    u = cond.unchanged
    if u is not None and (u.current != current or old[4] != u.version_id or float(old[5]) != u.last_modified):
        raise S3Error("PreconditionFailed", Condition="lifecycle")
    if cond.if_match is not None:
        if cond.if_match.strip() == "*":
            if marker and not by_version:
                return False  # the object does not exist
        elif marker or cond.if_match.strip().strip('"') != old[0].strip('"'):
            raise S3Error("PreconditionFailed", Condition="If-Match")
    if cond.last_modified is not None and int(old[5]) != int(cond.last_modified):
        raise S3Error("PreconditionFailed", Condition="x-amz-if-match-last-modified-time")
    if cond.size is not None and (marker or int(old[6]) != cond.size):
        raise S3Error("PreconditionFailed", Condition="x-amz-if-match-size")
    return True


def check_unchanged(u: Unchanged, headers: str, newer: str | None = None, newer_count: int = 0,
                    alone: bool = True) -> None:
    """The rest of a lifecycle decision's ``Unchanged``, which the store
    reads under the key's write lock only when asked (``newer``: the version
    right above a noncurrent one, the current one for the newest;
    ``newer_count``: the noncurrent versions above it; ``alone``: the
    current version has no noncurrent ones)."""
    if u.newer is not None and newer != u.newer:
        raise S3Error("PreconditionFailed", Condition="lifecycle")
    if newer_count < u.min_newer or (u.alone and not alone):
        raise S3Error("PreconditionFailed", Condition="lifecycle")
    if u.tags is not None and sorted(stored_tags(headers)) != sorted(u.tags):
        raise S3Error("PreconditionFailed", Condition="lifecycle")


def check_condition(cond: WriteCondition, old: tuple[Any, ...] | None) -> None:
    exists = old is not None and not old[1]
    if cond.if_none_match_any and exists:
        raise S3Error("PreconditionFailed", Condition="If-None-Match")
    if cond.if_none_match is not None and exists and \
            old[0].strip('"') in {e.strip().strip('"') for e in cond.if_none_match.split(",")}:  # type: ignore[index]
        raise S3Error("PreconditionFailed", Condition="If-None-Match")
    if cond.if_match is not None:
        if not exists:
            raise S3Error("NoSuchKey")
        if cond.if_match != "*" and cond.if_match.strip('"') != old[0].strip('"'):  # type: ignore[index]
            raise S3Error("PreconditionFailed", Condition="If-Match")
