"""Bucket lifecycle rules as stored, and what they decide: pure, no I/O.

A bucket's lifecycle configuration lives in ``buckets.props["lifecycle"]``
as ``{"rules": [record, ...]}`` (``pails.s3.lifecycle`` parses and renders
the XML; the worker in ``pails.jobs.lifecycle`` applies the rules).  One
record::

    {"id": "...", "status": "Enabled" | "Disabled",
     "prefix": "p/"                      # the legacy top-level <Prefix>, or
     "filter": {"prefix": .., "tag": [k, v], "gt": n, "lt": n,
                "and": {"prefix": .., "tags": [[k, v], ..], "gt": n, "lt": n}},
     "exp": {"days": n} | {"date": "2030-01-01T00:00:00Z"} | {"dm": true},
     "ncexp": {"days": n, "newer": n?},
     "abort": n,                         # AbortIncompleteMultipartUpload days
     "tr": [{"days": n | "date": ..., "sc": "GLACIER"}, ..],
     "nctr": [{"days": n, "newer": n?, "sc": ..}, ..]}

Times: a "day" is ``Clock.day`` seconds (86400, or ``PAILS_LIFECYCLE_DAY_SECONDS``
for tests).  With real days an action is due at the midnight UTC after
start + days (as AWS computes it); with a shortened day the count is exact,
as Ceph's ``rgw_lc_debug_interval`` does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

BUCKET_PROP = "lifecycle"
MARK = '"lifecycle"'  # in a bucket's props text exactly when it has a configuration
DAY = 86400.0

TAGS_KEY = "x-amz-tagging"  # where a version's stored headers keep its tags (see pails.s3.tagging)

Tags = list[tuple[str, str]]


def stored_tags(headers: str) -> Tags:
    """A version's tags from its stored headers (JSON text)."""
    if TAGS_KEY not in headers:
        return []
    value = json.loads(headers).get(TAGS_KEY)
    return parse_qsl(value, keep_blank_values=True) if value else []


@dataclass(frozen=True, slots=True)
class Clock:
    day: float = DAY

    @property
    def rounds(self) -> bool:
        return self.day == DAY

    def due(self, start: float, days: int) -> float:
        """When an action ``days`` after ``start`` falls due."""
        t = start + days * self.day
        if self.rounds:
            t = math.ceil(t / DAY) * DAY
        return t


def date_ts(text: str) -> float:
    """A stored ``Date`` (ISO 8601, UTC) as epoch seconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass(frozen=True, slots=True)
class Match:
    """What a rule's filter asks of a version: all of it must hold."""

    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    gt: int | None = None  # size strictly greater than
    lt: int | None = None  # size strictly less than

    def key_matches(self, key: str) -> bool:
        return key.startswith(self.prefix)

    def matches(self, key: str, size: int, tags: Tags | None) -> bool:
        """``tags`` None: not known (callers ask ``needs_tags`` first)."""
        if not key.startswith(self.prefix):
            return False
        if self.gt is not None and not size > self.gt:
            return False
        if self.lt is not None and not size < self.lt:
            return False
        if self.tags:
            have = set(tags or ())
            return all(t in have for t in self.tags)
        return True


def match_of(record: dict[str, Any]) -> Match:
    """A rule's filter.  ``And`` wins over the other children when a filter
    carries several (Ceph's reading; AWS refuses such a filter)."""
    if "filter" not in record:
        return Match(prefix=record.get("prefix") or "")
    f = record["filter"]
    if "and" in f:
        a = f["and"]
        return Match(a.get("prefix") or "", tuple((k, v) for k, v in a.get("tags") or ()), a.get("gt"), a.get("lt"))
    tags = (tuple(f["tag"]),) if "tag" in f else ()
    return Match(f.get("prefix") or "", tags, f.get("gt"), f.get("lt"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    enabled: bool
    match: Match
    exp_days: int | None = None
    exp_date: float | None = None
    exp_delete_marker: bool = False
    nc_days: int | None = None
    nc_newer: int = 0
    abort_days: int | None = None
    transitions: tuple[tuple[int | None, float | None, str], ...] = ()  # (days, date, storage class)
    nc_transitions: tuple[tuple[int, int, str], ...] = ()  # (days, newer, storage class)

    def expiry(self, last_modified: float, clock: Clock) -> float | None:
        """When a current version modified at ``last_modified`` expires by this rule."""
        if self.exp_days is not None:
            return clock.due(last_modified, self.exp_days)
        return self.exp_date

    def transition_due(self, last_modified: float, now: float, clock: Clock) -> str | None:
        """The storage class a current version should have by now (the
        latest transition that is due), or None."""
        best: tuple[float, str] | None = None
        for days, date, sc in self.transitions:
            at = clock.due(last_modified, days) if days is not None else date
            if at is not None and at <= now and (best is None or at >= best[0]):
                best = (at, sc)
        return best[1] if best else None

    def nc_transition_due(self, since: float, newer: int, now: float, clock: Clock) -> str | None:
        best: tuple[float, str] | None = None
        for days, keep, sc in self.nc_transitions:
            at = clock.due(since, days)
            if newer >= keep and at <= now and (best is None or at >= best[0]):
                best = (at, sc)
        return best[1] if best else None


def rule_of(record: dict[str, Any]) -> Rule:
    exp = record.get("exp") or {}
    nc = record.get("ncexp") or {}
    return Rule(
        id=record["id"], enabled=record.get("status") == "Enabled", match=match_of(record),
        exp_days=exp.get("days"), exp_date=date_ts(exp["date"]) if "date" in exp else None,
        exp_delete_marker=bool(exp.get("dm")), nc_days=nc.get("days"), nc_newer=nc.get("newer") or 0,
        abort_days=record.get("abort"),
        transitions=tuple((t.get("days"), date_ts(t["date"]) if "date" in t else None, t["sc"])
                          for t in record.get("tr") or ()),
        nc_transitions=tuple((t["days"], t.get("newer") or 0, t["sc"]) for t in record.get("nctr") or ()),
    )


@lru_cache(maxsize=256)
def _rules_of_props(props: str) -> tuple[Rule, ...]:
    cfg = json.loads(props).get(BUCKET_PROP)
    if not isinstance(cfg, dict):
        return ()
    return tuple(rule_of(r) for r in cfg.get("rules") or ())


def rules_of(props: str) -> tuple[Rule, ...]:
    """The rules stored in a bucket's props text (cached by that text)."""
    if MARK not in props:  # most buckets: no JSON parse
        return ()
    return _rules_of_props(props)


def needs_tags(rules: tuple[Rule, ...] | list[Rule]) -> bool:
    return any(r.enabled and r.match.tags for r in rules)


def expiration(rules: tuple[Rule, ...] | list[Rule], key: str, size: int, tags: Tags | None, last_modified: float,
               clock: Clock) -> tuple[float, str] | None:
    """(expiry time, rule id) of a current version: the earliest of the
    enabled rules that match it and expire current versions."""
    best: tuple[float, str] | None = None
    for r in rules:
        if not r.enabled or (r.exp_days is None and r.exp_date is None):
            continue
        if not r.match.matches(key, size, tags):
            continue
        at = r.expiry(last_modified, clock)
        if at is not None and (best is None or at < best[0]):
            best = (at, r.id)
    return best


def abort_date(rules: tuple[Rule, ...] | list[Rule], key: str, initiated: float,
               clock: Clock) -> tuple[float, str] | None:
    """(abort time, rule id) of a multipart upload: the earliest enabled
    AbortIncompleteMultipartUpload rule whose prefix it falls under."""
    best: tuple[float, str] | None = None
    for r in rules:
        if r.enabled and r.abort_days is not None and r.match.key_matches(key):
            at = clock.due(initiated, r.abort_days)
            if best is None or at < best[0]:
                best = (at, r.id)
    return best


@dataclass(frozen=True, slots=True)
class Version:
    """One version as the worker sees it (newest first within a key)."""

    version_id: str
    size: int
    last_modified: float
    storage_class: str
    delete_marker: bool
    tags: Tags | None = None  # None: not read (no rule needs them) or a delete marker


@dataclass(slots=True)
class Plan:
    """What to do to one key's versions."""

    expire_current: bool = False  # delete it (unversioned) or put a delete marker on it
    delete: list[str] | None = None  # version ids to remove permanently (noncurrent, oldest last)
    remove_marker: bool = False  # the current delete marker is expired: remove it
    storage_class: dict[str, str] | None = None  # version id -> new storage class


def plan_key(rules: tuple[Rule, ...] | list[Rule], key: str, current: Version | None, noncurrent: list[Version],
             now: float, clock: Clock) -> Plan:
    """Decide one key.  ``noncurrent`` newest first; a noncurrent version
    became noncurrent when the next newer one was written, which is how
    long it has been noncurrent.  The expired delete marker is decided on
    the assumption that the deletions planned here succeed (the store may
    refuse some: locked versions; then the marker stays, and the caller
    checks ``delete`` emptied the history before removing it)."""
    plan = Plan(delete=[], storage_class={})
    active = [r for r in rules if r.enabled and r.match.key_matches(key)]
    if not active:
        return plan
    assert plan.delete is not None and plan.storage_class is not None
    if current is not None and not current.delete_marker:
        exp = expiration(active, key, current.size, current.tags, current.last_modified, clock)
        if exp is not None and exp[0] <= now:
            plan.expire_current = True
        else:
            for r in active:
                if r.transitions and r.match.matches(key, current.size, current.tags):
                    sc = r.transition_due(current.last_modified, now, clock)
                    if sc is not None and sc != current.storage_class:
                        plan.storage_class[current.version_id] = sc
    newer_time = current.last_modified if current is not None else None
    for index, v in enumerate(noncurrent):
        since = newer_time if newer_time is not None else v.last_modified
        newer_time = v.last_modified
        deleted = False
        for r in active:
            if r.nc_days is None and not r.nc_transitions:
                continue
            if v.delete_marker:
                if r.match.tags or r.match.gt is not None or r.match.lt is not None:
                    continue
            elif not r.match.matches(key, v.size, v.tags):
                continue
            if r.nc_days is not None and index >= r.nc_newer and clock.due(since, r.nc_days) <= now:
                plan.delete.append(v.version_id)
                deleted = True
                break
        if deleted or v.delete_marker:
            continue
        for r in active:
            if r.nc_transitions and r.match.matches(key, v.size, v.tags):
                sc = r.nc_transition_due(since, index, now, clock)
                if sc is not None and sc != v.storage_class:
                    plan.storage_class[v.version_id] = sc
    if current is not None and current.delete_marker and len(plan.delete) == len(noncurrent):
        for r in active:
            if r.match.tags or r.match.gt is not None or r.match.lt is not None:
                continue
            if r.exp_delete_marker:
                plan.remove_marker = True
            else:
                at = r.expiry(current.last_modified, clock)
                if at is not None and at <= now:
                    plan.remove_marker = True
    return plan
