"""Bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration, and the
``x-amz-expiration`` / ``x-amz-abort-date`` headers computed from it.

The configuration lives in ``buckets.props["lifecycle"]`` in the record
form of ``pails.storage.lifecycle_rules``, which also decides what the rules
mean; ``pails.jobs.lifecycle`` applies them in the background.  The parser
and renderer here are pure; the handlers stay thin.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element

from pails.errors import S3Error
from pails.protocol import xml
from pails.protocol.dates import http_date
from pails.s3 import integrity
from pails.s3.permissions import get_bucket, require_owner
from pails.s3.request import Response, S3Request
from pails.storage import lifecycle_rules as lr
from pails.storage.engine import Engine
from pails.storage.records import Bucket, ObjectVersion

MAX_RULES = 1000
MAX_ID = 255
MAX_NEWER = 100
MAX_INT = 2**31 - 1
MAX_LONG = 2**63 - 1
LAST_DATE = 253402300799.0  # 9999-12-31T23:59:59Z: an expiry past it has no HTTP date (no header then)
STORAGE_CLASSES = ("STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR")
# The x-amz-expiration header always counts real days (AWS's value), even
# when PAILS_LIFECYCLE_DAY_SECONDS shortens the worker's day.
HEADER_CLOCK = lr.Clock()
MARK = lr.MARK  # in a bucket's props exactly when it has a configuration: a test that spares the JSON parse

Record = dict[str, Any]


# --- parsing (pure) -------------------------------------------------------------------------------------------------

def _only(el: Element, allowed: tuple[str, ...], repeatable: tuple[str, ...] = ()) -> None:
    """Every child of ``el`` is one of ``allowed``, and only ``repeatable`` ones repeat."""
    seen: set[str] = set()
    for child in el:
        if child.tag not in allowed or (child.tag in seen and child.tag not in repeatable):
            raise S3Error("MalformedXML")
        seen.add(child.tag)


def _int(text: str | None, limit: int = MAX_INT) -> int:
    """An integer element; past ``limit`` (AWS's Integer, or Long for sizes) it is not one."""
    try:
        value = int((text or "").strip())
    except ValueError:
        raise S3Error("MalformedXML") from None
    if abs(value) > limit:
        raise S3Error("MalformedXML")
    return value


def _positive(text: str | None, message: str) -> int:
    value = _int(text)
    if value <= 0:
        raise S3Error("InvalidArgument", message)
    return value


def _date(text: str | None) -> str:
    """A ``Date``: ISO 8601 at midnight UTC; stored as ``YYYY-MM-DDT00:00:00Z``."""
    raw = (text or "").strip()
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise S3Error("InvalidArgument", "'Date' must be at midnight GMT") from None
    if "T" not in raw and len(raw) != 10:  # fromisoformat also takes the basic form 20200101
        raise S3Error("InvalidArgument", "'Date' must be at midnight GMT")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    if (dt.hour, dt.minute, dt.second, dt.microsecond) != (0, 0, 0, 0):
        raise S3Error("InvalidArgument", "'Date' must be at midnight GMT")
    return dt.strftime("%Y-%m-%dT00:00:00Z")


def _tag(el: Element) -> list[str]:
    _only(el, ("Key", "Value"))
    key, value = xml.child_text(el, "Key"), xml.child_text(el, "Value")
    if key is None or value is None:
        raise S3Error("MalformedXML")
    return [key, value]


def _size(el: Element, name: str) -> int | None:
    text = xml.child_text(el, name)
    if text is None:
        return None
    value = _int(text, MAX_LONG)
    if value < 0 or (name == "ObjectSizeLessThan" and value == 0):
        raise S3Error("InvalidArgument", f"'{name}' should be a positive integer")
    return value


def _sizes(el: Element, out: Record) -> None:
    gt, lt = _size(el, "ObjectSizeGreaterThan"), _size(el, "ObjectSizeLessThan")
    if gt is not None:
        out["gt"] = gt
    if lt is not None:
        out["lt"] = lt
    if gt is not None and lt is not None and gt >= lt:
        raise S3Error("InvalidArgument", "ObjectSizeGreaterThan must be less than ObjectSizeLessThan")


def _filter(el: Element) -> Record:
    _only(el, ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "And"))
    out: Record = {}
    if (prefix := xml.child_text(el, "Prefix")) is not None:
        out["prefix"] = prefix
    if (tag := el.find("Tag")) is not None:
        out["tag"] = _tag(tag)
    _sizes(el, out)
    if (both := el.find("And")) is not None:
        _only(both, ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"), repeatable=("Tag",))
        inner: Record = {}
        if (prefix := xml.child_text(both, "Prefix")) is not None:
            inner["prefix"] = prefix
        tags = [_tag(t) for t in both.findall("Tag")]
        if len({k for k, _ in tags}) != len(tags):
            raise S3Error("InvalidArgument", "Duplicate Tag Keys are not allowed.")
        if tags:
            inner["tags"] = tags
        _sizes(both, inner)
        out["and"] = inner
    return out


def _expiration(el: Element) -> Record:
    _only(el, ("Days", "Date", "ExpiredObjectDeleteMarker"))
    days, date, dm = (xml.child_text(el, n) for n in ("Days", "Date", "ExpiredObjectDeleteMarker"))
    if sum(x is not None for x in (days, date, dm)) != 1:
        raise S3Error("MalformedXML")
    if days is not None:
        return {"days": _positive(days, "'Days' for Expiration action must be a positive integer")}
    if date is not None:
        return {"date": _date(date)}
    flag = (dm or "").strip().lower()
    if flag not in ("true", "false"):
        raise S3Error("MalformedXML")
    return {"dm": flag == "true"}


def _transition(el: Element, noncurrent: bool) -> Record:
    if noncurrent:
        _only(el, ("NoncurrentDays", "NewerNoncurrentVersions", "StorageClass"))
    else:
        _only(el, ("Days", "Date", "StorageClass"))
    sc = (xml.child_text(el, "StorageClass") or "").strip()
    if sc not in STORAGE_CLASSES:
        raise S3Error("InvalidStorageClass", "The storage class you specified is not valid")
    out: Record = {"sc": sc}
    if noncurrent:
        days = xml.child_text(el, "NoncurrentDays")
        if days is None:
            raise S3Error("MalformedXML")
        out["days"] = _int(days)
        if out["days"] < 0:
            raise S3Error("InvalidArgument", "'NoncurrentDays' in NoncurrentVersionTransition action must be "
                                             "nonnegative")
        if (newer := xml.child_text(el, "NewerNoncurrentVersions")) is not None:
            out["newer"] = _newer(newer)
        return out
    days, date = xml.child_text(el, "Days"), xml.child_text(el, "Date")
    if (days is None) == (date is None):
        raise S3Error("MalformedXML")
    if days is not None:
        out["days"] = _int(days)
        if out["days"] < 0:
            raise S3Error("InvalidArgument", "'Days' in Transition action must be nonnegative")
    else:
        out["date"] = _date(date)
    return out


def _newer(text: str) -> int:
    value = _int(text)
    if not 0 < value <= MAX_NEWER:
        raise S3Error("InvalidArgument", f"'NewerNoncurrentVersions' must be between 1 and {MAX_NEWER}")
    return value


_RULE_CHILDREN = ("ID", "Prefix", "Filter", "Status", "Expiration", "NoncurrentVersionExpiration",
                  "AbortIncompleteMultipartUpload", "Transition", "NoncurrentVersionTransition")


def parse_rule(el: Element) -> Record:
    _only(el, _RULE_CHILDREN, repeatable=("Transition", "NoncurrentVersionTransition"))
    rec: Record = {}
    rid = xml.child_text(el, "ID")
    if rid is not None and len(rid) > MAX_ID:
        raise S3Error("InvalidArgument", f"ID length should not exceed allowed limit of {MAX_ID}")
    rec["id"] = rid if rid else secrets.token_urlsafe(36)[:48]
    status = (xml.child_text(el, "Status") or "").strip()
    if status not in ("Enabled", "Disabled"):
        raise S3Error("MalformedXML")
    rec["status"] = status
    prefix, filt = xml.child_text(el, "Prefix"), el.find("Filter")
    if prefix is not None and filt is not None:
        raise S3Error("MalformedXML")
    if filt is not None:
        rec["filter"] = _filter(filt)
    else:
        rec["prefix"] = prefix or ""
    if (exp := el.find("Expiration")) is not None:
        rec["exp"] = _expiration(exp)
    if (nc := el.find("NoncurrentVersionExpiration")) is not None:
        _only(nc, ("NoncurrentDays", "NewerNoncurrentVersions"))
        ncrec: Record = {"days": _positive(xml.child_text(nc, "NoncurrentDays"),
                                           "'NoncurrentDays' for NoncurrentVersionExpiration action must be a "
                                           "positive integer")}
        if (newer := xml.child_text(nc, "NewerNoncurrentVersions")) is not None:
            ncrec["newer"] = _newer(newer)
        rec["ncexp"] = ncrec
    if (abort := el.find("AbortIncompleteMultipartUpload")) is not None:
        _only(abort, ("DaysAfterInitiation",))
        rec["abort"] = _positive(xml.child_text(abort, "DaysAfterInitiation"),
                                 "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a "
                                 "positive integer")
    trs = [_transition(t, False) for t in el.findall("Transition")]
    if trs:
        rec["tr"] = trs
    nctrs = [_transition(t, True) for t in el.findall("NoncurrentVersionTransition")]
    if nctrs:
        rec["nctr"] = nctrs
    _check_rule(rec)
    return rec


def _check_rule(rec: Record) -> None:
    if not any(k in rec for k in ("exp", "ncexp", "abort", "tr", "nctr")):
        raise S3Error("InvalidRequest", "At least one action needs to be specified in a rule")
    match = lr.match_of(rec)
    filtered = bool(match.tags) or match.gt is not None or match.lt is not None
    if rec.get("exp", {}).get("dm") and filtered:
        raise S3Error("InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with object tags or "
                                        "object size filters")
    if "abort" in rec and filtered:
        raise S3Error("InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with object tags or "
                                        "object size filters")
    trs = rec.get("tr", [])
    if len({"days" in t for t in trs}) > 1:
        raise S3Error("InvalidRequest", "Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule")
    for key in ("tr", "nctr"):
        classes = [t["sc"] for t in rec.get(key, [])]
        if len(set(classes)) != len(classes):
            raise S3Error("InvalidRequest", "'StorageClass' must be different for Transition actions in the same "
                                            "rule")
    exp = rec.get("exp", {})
    if "days" in exp and any(t.get("days", -1) >= exp["days"] for t in trs):
        raise S3Error("InvalidArgument", "'Days' in the Expiration action must be greater than 'Days' in the "
                                         "Transition action")
    if "date" in exp and any(t.get("date", "") >= exp["date"] for t in trs if "date" in t):
        raise S3Error("InvalidArgument", "'Date' in the Expiration action must be later than 'Date' in the "
                                         "Transition action")


def parse_configuration(body: bytes) -> Record:
    """A ``LifecycleConfiguration`` document: 1 to 1000 rules with unique IDs."""
    root = xml.parse(body, max_elements=60 * MAX_RULES)
    if root.tag != "LifecycleConfiguration":
        raise S3Error("MalformedXML")
    _only(root, ("Rule",), repeatable=("Rule",))
    rules = [parse_rule(el) for el in root]
    if not rules:
        raise S3Error("MalformedXML")
    if len(rules) > MAX_RULES:
        raise S3Error("InvalidRequest", f"Lifecycle configuration cannot have more than {MAX_RULES} rules")
    ids = [r["id"] for r in rules]
    if len(set(ids)) != len(ids):
        raise S3Error("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule")
    return {"rules": rules}


# --- rendering (pure) -----------------------------------------------------------------------------------------------

def _render_tag(tag: list[str]) -> str:
    return f"<Tag>{xml.element('Key', tag[0])}{xml.element('Value', tag[1])}</Tag>"


def _render_match(f: Record) -> str:
    out = ""
    if "prefix" in f:
        out += xml.element("Prefix", f["prefix"])
    if "tag" in f:
        out += _render_tag(f["tag"])
    for t in f.get("tags", []):
        out += _render_tag(t)
    if "gt" in f:
        out += xml.element("ObjectSizeGreaterThan", f["gt"])
    if "lt" in f:
        out += xml.element("ObjectSizeLessThan", f["lt"])
    if "and" in f:
        out += f"<And>{_render_match(f['and'])}</And>"
    return out


def render_rule(rec: Record) -> str:
    out = xml.element("ID", rec["id"])
    if "filter" in rec:
        out += f"<Filter>{_render_match(rec['filter'])}</Filter>"
    else:
        out += xml.element("Prefix", rec.get("prefix", ""))
    out += xml.element("Status", rec["status"])
    for t in rec.get("tr", []):
        when = xml.element("Days", t["days"]) if "days" in t else xml.element("Date", t["date"])
        out += f"<Transition>{when}{xml.element('StorageClass', t['sc'])}</Transition>"
    for t in rec.get("nctr", []):
        newer = xml.element("NewerNoncurrentVersions", t["newer"]) if "newer" in t else ""
        out += (f"<NoncurrentVersionTransition>{xml.element('NoncurrentDays', t['days'])}{newer}"
                f"{xml.element('StorageClass', t['sc'])}</NoncurrentVersionTransition>")
    if "exp" in rec:
        exp = rec["exp"]
        if "days" in exp:
            inner = xml.element("Days", exp["days"])
        elif "date" in exp:
            inner = xml.element("Date", exp["date"])
        else:
            inner = xml.element("ExpiredObjectDeleteMarker", "true" if exp["dm"] else "false")
        out += f"<Expiration>{inner}</Expiration>"
    if "ncexp" in rec:
        nc = rec["ncexp"]
        newer = xml.element("NewerNoncurrentVersions", nc["newer"]) if "newer" in nc else ""
        out += (f"<NoncurrentVersionExpiration>{xml.element('NoncurrentDays', nc['days'])}{newer}"
                "</NoncurrentVersionExpiration>")
    if "abort" in rec:
        out += (f"<AbortIncompleteMultipartUpload>{xml.element('DaysAfterInitiation', rec['abort'])}"
                "</AbortIncompleteMultipartUpload>")
    return f"<Rule>{out}</Rule>"


def render_configuration(cfg: Record) -> bytes:
    return xml.document("LifecycleConfiguration", "".join(render_rule(r) for r in cfg["rules"]))


# --- response headers -----------------------------------------------------------------------------------------------

def expiration_header(bucket: Bucket, key: str, size: int, tags: lr.Tags | None,
                      last_modified: float) -> list[tuple[str, str]]:
    """``x-amz-expiration`` for a current version (PUT, GET, HEAD), if a rule expires it."""
    rules = lr.rules_of(bucket.props)
    if not rules:
        return []
    exp = lr.expiration(rules, key, size, tags, last_modified, HEADER_CLOCK)
    if exp is None or exp[0] > LAST_DATE:
        return []
    return [("x-amz-expiration", f'expiry-date="{http_date(exp[0])}", rule-id="{exp[1]}"')]


def version_expiration_header(bucket: Bucket, obj: ObjectVersion) -> list[tuple[str, str]]:
    """``x-amz-expiration`` for a version just written (CopyObject, CompleteMultipartUpload)."""
    if MARK not in bucket.props:
        return []
    return expiration_header(bucket, obj.key, obj.size, lr.stored_tags(obj.headers), obj.last_modified)


def abort_headers(bucket: Bucket, key: str, initiated: float) -> list[tuple[str, str]]:
    """``x-amz-abort-date`` and ``x-amz-abort-rule-id`` for a multipart upload."""
    rules = lr.rules_of(bucket.props)
    if not rules:
        return []
    at = lr.abort_date(rules, key, initiated, HEADER_CLOCK)
    if at is None or at[0] > LAST_DATE:
        return []
    return [("x-amz-abort-date", http_date(at[0])), ("x-amz-abort-rule-id", at[1])]


# --- handlers -------------------------------------------------------------------------------------------------------

async def put_bucket_lifecycle_configuration(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    body = await req.body.read_all(xml.MAX_XML_BODY)
    integrity.check_body(req, body)
    cfg = parse_configuration(body)
    await engine.meta.set_bucket_prop(bucket.id, lr.BUCKET_PROP, cfg)
    return Response(200)


async def get_bucket_lifecycle_configuration(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    cfg = _stored(bucket)
    if cfg is None:
        raise S3Error("NoSuchLifecycleConfiguration", BucketName=bucket.name)
    return Response.xml(render_configuration(cfg))


async def delete_bucket_lifecycle(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    await engine.meta.set_bucket_prop(bucket.id, lr.BUCKET_PROP, None)
    return Response(204)


def _stored(bucket: Bucket) -> Record | None:
    if lr.MARK not in bucket.props:
        return None
    cfg = json.loads(bucket.props).get(lr.BUCKET_PROP)
    return cfg if isinstance(cfg, dict) else None
