"""Object Lock on one object version: where its state lives and what it
forbids, decided inside a commit by every store alike (like ``conditions``).

A version's lock state lives in its stored ``headers`` JSON under the very
names S3 returns it with on GET/HEAD, so the one place that replays stored
headers returns it unchanged and every path that carries a version's headers
(noncurrent versions, multipart completion) carries its lock in the same
commit, with no schema change:

- ``x-amz-object-lock-mode``: ``GOVERNANCE`` or ``COMPLIANCE``;
- ``x-amz-object-lock-retain-until-date``: ISO 8601 UTC with milliseconds
  (``2030-01-01T00:00:00.000Z``), present exactly when the mode is;
- ``x-amz-object-lock-legal-hold``: ``ON`` or ``OFF``.

The functions here are pure: the store reads the headers under the key's
write lock, calls them with the commit's clock, and writes (or deletes) only
if they do not raise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pails.errors import S3Error

MODE = "x-amz-object-lock-mode"
UNTIL = "x-amz-object-lock-retain-until-date"
HOLD = "x-amz-object-lock-legal-hold"
MODES = ("GOVERNANCE", "COMPLIANCE")
# Any stored headers that mention none of the three names hold no lock: a
# substring test spares the JSON parse of every unlocked version.
MARK = "x-amz-object-lock-"
PROTECTED = "Access Denied because object protected by object lock."


def parse_date(text: str) -> datetime | None:
    """An ISO 8601 date-time (a missing offset is UTC), or None."""
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_date(dt: datetime) -> str:
    """The stored and returned form: UTC, milliseconds, ``Z``."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Retention:
    mode: str  # GOVERNANCE or COMPLIANCE
    until: str  # format_date form

    @property
    def until_ts(self) -> float:
        dt = parse_date(self.until)
        assert dt is not None
        return dt.timestamp()


@dataclass(frozen=True, slots=True)
class LockChange:
    """A PutObjectRetention (``retention`` set, ``None``: remove it) or a
    PutObjectLegalHold (``legal_hold`` "ON"/"OFF"), with whether the caller
    may and asked to bypass GOVERNANCE retention."""

    set_retention: bool = False
    retention: Retention | None = None
    legal_hold: str | None = None
    bypass: bool = False


def retention_of(headers: Mapping[str, str]) -> Retention | None:
    mode = headers.get(MODE)
    until = headers.get(UNTIL)
    if mode is None or until is None:
        return None
    return Retention(mode, until)


def check_delete(headers: str | Mapping[str, str], now: float, bypass: bool) -> None:
    """Whether a version may be removed permanently: AccessDenied under a
    legal hold, under COMPLIANCE retention, or under GOVERNANCE retention
    without ``bypass``.  ``headers`` as stored (JSON text) or parsed."""
    if isinstance(headers, str):
        if MARK not in headers:
            return
        headers = json.loads(headers)
    assert not isinstance(headers, str)
    if headers.get(HOLD) == "ON":
        raise S3Error("AccessDenied", PROTECTED)
    r = retention_of(headers)
    if r is not None and r.until_ts > now and (r.mode == "COMPLIANCE" or not bypass):
        raise S3Error("AccessDenied", PROTECTED)


def check_retention_change(old: Retention | None, new: Retention | None, now: float, bypass: bool) -> None:
    """An active COMPLIANCE retention can only be kept or lengthened, by
    anyone; an active GOVERNANCE one likewise (or made COMPLIANCE never
    shorter), unless ``bypass``; an expired one, or none, may become anything."""
    if old is None or old.until_ts <= now:
        return
    if old.mode == "COMPLIANCE":
        if new is None or new.mode != "COMPLIANCE" or new.until_ts < old.until_ts:
            raise S3Error("AccessDenied", PROTECTED)
    elif not bypass and (new is None or new.mode != "GOVERNANCE" or new.until_ts < old.until_ts):
        raise S3Error("AccessDenied", PROTECTED)


def apply_change(headers: dict[str, str], change: LockChange, now: float) -> None:
    """Apply ``change`` to a version's parsed headers in place, or raise
    AccessDenied having changed nothing."""
    if change.set_retention:
        check_retention_change(retention_of(headers), change.retention, now, change.bypass)
        if change.retention is None:
            headers.pop(MODE, None)
            headers.pop(UNTIL, None)
        else:
            headers[MODE] = change.retention.mode
            headers[UNTIL] = change.retention.until
    if change.legal_hold is not None:
        headers[HOLD] = change.legal_hold
