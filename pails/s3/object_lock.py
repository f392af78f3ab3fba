"""Object Lock: Get/PutObjectLockConfiguration, Get/PutObjectRetention,
Get/PutObjectLegalHold, and what writes and deletes take from it.

Where it lives:

- a bucket: ``buckets.props["object_lock"]``, ``{"enabled": true}`` and,
  with a default retention rule, ``"rule": {"mode": M, "days"|"years": N}``.
  Lock is enabled at CreateBucket (``x-amz-bucket-object-lock-enabled:
  true``, which turns versioning on) or later by PutObjectLockConfiguration
  on a bucket whose versioning is Enabled; it is never disabled, and the
  bucket's versioning can then no longer be suspended.
- a version: its stored headers (``pails.storage.object_lock``), which also
  decides, inside each store's commit, what a lock forbids.

The parsers and renderers here are pure; the handlers stay thin.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from pails.errors import S3Error
from pails.protocol import checksums as ck
from pails.protocol import xml
from pails.s3 import integrity
from pails.s3.permissions import access_decision, get_bucket, require_owner
from pails.s3.request import Response, S3Request
from pails.storage.engine import Engine
from pails.storage.meta import BucketChange
from pails.storage.object_lock import HOLD, MODE, MODES, UNTIL, LockChange, Retention, format_date, parse_date
from pails.storage.object_lock import MARK as MARK  # objects.py tests it on the GET path
from pails.storage.records import Bucket, ObjectVersion

BUCKET_PROP = "object_lock"
CREATE_HEADER = "x-amz-bucket-object-lock-enabled"
BYPASS_HEADER = "x-amz-bypass-governance-retention"
BYPASS_ACTION = "s3:BypassGovernanceRetention"
MAX_DAYS = 36500
MAX_YEARS = 100
_MISSING_CONFIG = "Bucket is missing Object Lock Configuration"
_CHECKSUM_NEEDED = ("Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object "
                    "Lock parameters")
_NOT_FUTURE = "The retain until date must be in the future!"
_STATE_NEEDS_VERSIONING = "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
_STATE_LOCKED = "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."

Config = dict[str, object]


# --- bucket configuration (pure) --------------------------------------------------------------------------------------

def config_of(bucket: Bucket) -> Config | None:
    """The bucket's Object Lock configuration, or None when lock is not enabled."""
    if BUCKET_PROP not in bucket.props:  # most buckets: no JSON parse
        return None
    cfg = json.loads(bucket.props).get(BUCKET_PROP)
    return cfg if isinstance(cfg, dict) and cfg.get("enabled") else None


def requested_at_creation(headers: dict[str, str]) -> bool:
    """CreateBucket's ``x-amz-bucket-object-lock-enabled``."""
    value = headers.get(CREATE_HEADER)
    if value is None:
        return False
    value = value.strip().lower()
    if value not in ("true", "false"):
        raise S3Error("InvalidArgument", f"Invalid {CREATE_HEADER} header", ArgumentName=CREATE_HEADER,
                      ArgumentValue=value[:64])
    return value == "true"


def _period(text: str | None) -> int:
    try:
        value = int((text or "").strip())
    except ValueError:
        raise S3Error("MalformedXML") from None
    if value <= 0:
        raise S3Error("InvalidRetentionPeriod")
    return value


def parse_configuration(body: bytes) -> Config:
    """An ``ObjectLockConfiguration`` document: ``ObjectLockEnabled`` must be
    ``Enabled``; an optional ``Rule`` holds one ``DefaultRetention`` with a
    ``Mode`` and exactly one of ``Days`` / ``Years``, a positive integer."""
    root = xml.parse(body)
    if root.tag != "ObjectLockConfiguration" or any(c.tag not in ("ObjectLockEnabled", "Rule") for c in root):
        raise S3Error("MalformedXML")
    if (xml.child_text(root, "ObjectLockEnabled") or "").strip() != "Enabled":
        raise S3Error("MalformedXML")
    cfg: Config = {"enabled": True}
    rule = root.find("Rule")
    if rule is None:
        return cfg
    if len(rule) != 1 or rule[0].tag != "DefaultRetention":
        raise S3Error("MalformedXML")
    retention = rule[0]
    if any(c.tag not in ("Mode", "Days", "Years") for c in retention) or len(retention) != len(
            {c.tag for c in retention}):
        raise S3Error("MalformedXML")
    mode = (xml.child_text(retention, "Mode") or "").strip()
    if mode not in MODES:
        raise S3Error("MalformedXML")
    days, years = xml.child_text(retention, "Days"), xml.child_text(retention, "Years")
    if (days is None) == (years is None):
        raise S3Error("MalformedXML")
    if days is not None:
        n = _period(days)
        if n > MAX_DAYS:
            raise S3Error("InvalidRetentionPeriod", f"Default retention period cannot exceed {MAX_DAYS} days.")
        cfg["rule"] = {"mode": mode, "days": n}
    else:
        n = _period(years)
        if n > MAX_YEARS:
            raise S3Error("InvalidRetentionPeriod", f"Default retention period cannot exceed {MAX_YEARS} years.")
        cfg["rule"] = {"mode": mode, "years": n}
    return cfg


def render_configuration(cfg: Config) -> bytes:
    inner = "<ObjectLockEnabled>Enabled</ObjectLockEnabled>"
    rule = cfg.get("rule")
    if isinstance(rule, dict):
        period = xml.element("Days", rule["days"]) if "days" in rule else xml.element("Years", rule["years"])
        inner += f"<Rule><DefaultRetention>{xml.element('Mode', rule['mode'])}{period}</DefaultRetention></Rule>"
    return xml.document("ObjectLockConfiguration", inner)


def default_retention(cfg: Config | None, now: float) -> Retention | None:
    """What the bucket's default rule gives a version created at ``now``."""
    rule = cfg.get("rule") if cfg else None
    if not isinstance(rule, dict):
        return None
    start = datetime.fromtimestamp(now, UTC)
    if "days" in rule:
        until = start + timedelta(days=int(rule["days"]))
    else:
        year = start.year + int(rule["years"])
        day = 28 if start.month == 2 and start.day == 29 else start.day  # a leap day that the target year lacks
        until = start.replace(year=year, day=day)
    return Retention(str(rule["mode"]), format_date(until))


# --- a version's retention and legal hold (pure) ----------------------------------------------------------------------

def parse_retention(body: bytes, now: float) -> Retention | None:
    """A ``Retention`` document: ``Mode`` and ``RetainUntilDate`` (in the
    future), or neither (None: remove the retention)."""
    root = xml.parse(body)
    if root.tag != "Retention" or any(c.tag not in ("Mode", "RetainUntilDate") for c in root):
        raise S3Error("MalformedXML")
    mode = xml.child_text(root, "Mode")
    raw = xml.child_text(root, "RetainUntilDate")
    if mode is None and raw is None:
        return None
    if mode is None or raw is None or mode.strip() not in MODES:
        raise S3Error("MalformedXML")
    until = parse_date(raw)
    if until is None:
        raise S3Error("MalformedXML")
    if until.timestamp() <= now:
        raise S3Error("InvalidArgument", _NOT_FUTURE, ArgumentName="RetainUntilDate", ArgumentValue=raw.strip())
    return Retention(mode.strip(), format_date(until))


def render_retention(r: Retention) -> bytes:
    return xml.document("Retention", xml.element("Mode", r.mode) + xml.element("RetainUntilDate", r.until))


def parse_legal_hold(body: bytes) -> str:
    """A ``LegalHold`` document: ``Status`` ON or OFF."""
    root = xml.parse(body)
    if root.tag != "LegalHold" or any(c.tag != "Status" for c in root):
        raise S3Error("MalformedXML")
    status = (xml.child_text(root, "Status") or "").strip()
    if status not in ("ON", "OFF"):
        raise S3Error("MalformedXML")
    return status


def render_legal_hold(status: str) -> bytes:
    return xml.document("LegalHold", xml.element("Status", status))


def parse_lock_headers(mode: str | None, until: str | None, hold: str | None,
                       now: float) -> tuple[Retention | None, str | None]:
    """A write's ``x-amz-object-lock-mode`` and ``-retain-until-date`` (both
    or neither; the date in the future) and ``-legal-hold`` (ON or OFF)."""
    retention = None
    if (mode is None) != (until is None):
        raise S3Error("InvalidArgument", "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must "
                                         "both be supplied", ArgumentName=MODE if mode is None else UNTIL)
    if mode is not None and until is not None:
        if mode.strip() not in MODES:
            raise S3Error("InvalidArgument", "Unknown wormMode directive.", ArgumentName=MODE,
                          ArgumentValue=mode[:64])
        date = parse_date(until)
        if date is None:
            raise S3Error("InvalidArgument", "The retain until date must be provided in ISO 8601 format",
                          ArgumentName=UNTIL, ArgumentValue=until[:64])
        if date.timestamp() <= now:
            raise S3Error("InvalidArgument", _NOT_FUTURE, ArgumentName=UNTIL, ArgumentValue=until[:64])
        retention = Retention(mode.strip(), format_date(date))
    if hold is not None and hold.strip() not in ("ON", "OFF"):
        raise S3Error("InvalidArgument", "Legal Hold must be either of 'ON' or 'OFF'", ArgumentName=HOLD,
                      ArgumentValue=hold[:64])
    return retention, hold.strip() if hold is not None else None


def has_integrity_header(headers: dict[str, str]) -> bool:
    """Content-MD5, or a flexible checksum sent as a header or announced as a trailer."""
    if "content-md5" in headers or "x-amz-checksum-" in headers.get("x-amz-trailer", "").lower():
        return True
    return any(ck.algorithm_for_header(name) is not None for name in headers if name.startswith("x-amz-checksum-"))


def strip(headers: dict[str, str]) -> None:
    """A copy's source lock is not the copy's."""
    for name in (MODE, UNTIL, HOLD):
        headers.pop(name, None)


def set_stored(headers: dict[str, str], retention: Retention | None, hold: str | None) -> None:
    if retention is not None:
        headers[MODE] = retention.mode
        headers[UNTIL] = retention.until
    if hold is not None:
        headers[HOLD] = hold


# --- what writes take from it -----------------------------------------------------------------------------------------

def apply_to_write(req: S3Request, bucket: Bucket, headers: dict[str, str], *, checksum_required: bool = False,
                   use_default: bool = True) -> None:
    """The lock a new version gets, added to its stored ``headers``: the
    request's lock headers (InvalidRequest in a bucket without lock), else
    the bucket's default retention (``use_default``; a multipart upload takes
    it at completion).  ``checksum_required``: PutObject with lock headers
    (or into a bucket with a default retention) needs Content-MD5 or a
    flexible checksum, as AWS."""
    h = req.headers
    mode, until, hold = h.get(MODE), h.get(UNTIL), h.get(HOLD)
    if mode is None and until is None and hold is None:
        if use_default and BUCKET_PROP in bucket.props:
            retention = default_retention(config_of(bucket), time.time())
            # A default retention is a retention period too: AWS asks for the check as with the headers.
            if retention is not None and checksum_required and not has_integrity_header(h):
                raise S3Error("InvalidRequest", _CHECKSUM_NEEDED)
            set_stored(headers, retention, None)
        return
    cfg = config_of(bucket)
    if cfg is None:
        raise S3Error("InvalidRequest", _MISSING_CONFIG)
    if checksum_required and not has_integrity_header(h):
        raise S3Error("InvalidRequest", _CHECKSUM_NEEDED)
    now = time.time()
    retention, hold_status = parse_lock_headers(mode, until, hold, now)
    if retention is None and use_default:
        retention = default_retention(cfg, now)
    set_stored(headers, retention, hold_status)


def with_default(headers_json: str, bucket: Bucket) -> str:
    """A completed multipart upload's headers with the bucket's default
    retention, unless the upload asked for one."""
    cfg = config_of(bucket)
    if cfg is None or MODE in headers_json:
        return headers_json
    retention = default_retention(cfg, time.time())
    if retention is None:
        return headers_json
    headers = json.loads(headers_json)
    set_stored(headers, retention, None)
    return json.dumps(headers, separators=(",", ":"))


def may_bypass(req: S3Request, bucket: Bucket, key: str) -> bool:
    """``x-amz-bypass-governance-retention: true`` from a principal allowed
    ``s3:BypassGovernanceRetention``: a bucket policy decides (an explicit
    Deny wins); without one, the bucket owner (the account) is allowed and
    no one else (ACLs grant no such permission)."""
    if req.headers.get(BYPASS_HEADER, "").strip().lower() != "true":
        return False
    decision = access_decision(req, bucket, key, None, BYPASS_ACTION)
    if decision is not None:
        return decision == "Allow"
    return req.principal_id is not None and req.principal_id == bucket.owner_id


# --- bucket handlers --------------------------------------------------------------------------------------------------

async def get_object_lock_configuration(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    cfg = config_of(bucket)
    if cfg is None:
        raise S3Error("ObjectLockConfigurationNotFoundError", BucketName=bucket.name)
    return Response.xml(render_configuration(cfg))


async def put_object_lock_configuration(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    body = await req.body.read_all(xml.MAX_XML_BODY)
    integrity.check_body(req, body, integrity.MISSING_MD5_OR_CHECKSUM)
    cfg = parse_configuration(body)

    def change(versioning: str | None, props: dict[str, object]) -> tuple[str | None, dict[str, object]]:
        # Decided on the bucket as it is in the commit: a PutBucketVersioning racing this one is seen.
        if not props.get(BUCKET_PROP) and versioning != "Enabled":
            raise S3Error("InvalidBucketState", _STATE_NEEDS_VERSIONING, BucketName=bucket.name)
        props[BUCKET_PROP] = cfg
        return None, props
    await engine.meta.change_bucket(bucket.id, change)
    return Response(200)


def versioning_change(status: str) -> BucketChange:
    """PutBucketVersioning's change of a bucket (``MetaStore.change_bucket``):
    a bucket with Object Lock stays Enabled."""
    def change(versioning: str | None, props: dict[str, object]) -> tuple[str | None, None]:
        if status != "Enabled" and props.get(BUCKET_PROP):
            raise S3Error("InvalidBucketState", _STATE_LOCKED)
        return status, None
    return change


def _may(req: S3Request, bucket: Bucket, obj: ObjectVersion, action: str) -> bool:
    """Whether the requester may ``action`` on a version's lock: a bucket
    policy decides; without one, the bucket owner or the object's owner."""
    decision = access_decision(req, bucket, obj.key, obj, action)
    if decision is not None:
        return decision == "Allow"
    return req.principal_id is not None and req.principal_id in (bucket.owner_id, obj.owner_id)


def hide_unreadable(req: S3Request, bucket: Bucket, obj: ObjectVersion, stored: dict[str, str]) -> None:
    """GET/HEAD return a version's retention only to those allowed
    s3:GetObjectRetention, its legal hold only to those allowed
    s3:GetObjectLegalHold, as AWS."""
    if MODE in stored and not _may(req, bucket, obj, "s3:GetObjectRetention"):
        stored.pop(MODE, None)
        stored.pop(UNTIL, None)
    if HOLD in stored and not _may(req, bucket, obj, "s3:GetObjectLegalHold"):
        stored.pop(HOLD, None)


# --- object handlers --------------------------------------------------------------------------------------------------

async def _locked_version(engine: Engine, req: S3Request, action: str) -> tuple[Bucket, ObjectVersion]:
    """The version addressed, in a bucket with lock, by a principal allowed
    ``action``: a bucket policy decides; without one, the bucket owner or the
    object's owner."""
    from pails.s3.objects import locate  # imports this module

    bucket = await get_bucket(engine, req)
    if config_of(bucket) is None:
        raise S3Error("InvalidRequest", _MISSING_CONFIG)
    bucket, obj = await locate(engine, req)
    if not _may(req, bucket, obj, action):
        raise S3Error("AccessDenied")
    return bucket, obj


async def get_object_retention(engine: Engine, req: S3Request) -> Response:
    _bucket, obj = await _locked_version(engine, req, req.action)
    stored = json.loads(obj.headers)
    if MODE not in stored or UNTIL not in stored:
        raise S3Error("NoSuchObjectLockConfiguration")
    return Response.xml(render_retention(Retention(stored[MODE], stored[UNTIL])))


async def put_object_retention(engine: Engine, req: S3Request) -> Response:
    bucket, obj = await _locked_version(engine, req, req.action)
    body = await req.body.read_all(xml.MAX_XML_BODY)
    integrity.check_body(req, body, integrity.MISSING_MD5_OR_CHECKSUM)
    retention = parse_retention(body, time.time())
    change = LockChange(set_retention=True, retention=retention, bypass=may_bypass(req, bucket, obj.key))
    if not await engine.meta.update_object_lock(bucket.id, obj.key, obj.version_id, change):
        raise S3Error("NoSuchVersion", Key=obj.key, VersionId=obj.version_id)
    return Response(200)


async def get_object_legal_hold(engine: Engine, req: S3Request) -> Response:
    _bucket, obj = await _locked_version(engine, req, req.action)
    status = json.loads(obj.headers).get(HOLD)
    if status is None:
        raise S3Error("NoSuchObjectLockConfiguration")
    return Response.xml(render_legal_hold(status))


async def put_object_legal_hold(engine: Engine, req: S3Request) -> Response:
    bucket, obj = await _locked_version(engine, req, req.action)
    body = await req.body.read_all(xml.MAX_XML_BODY)
    integrity.check_body(req, body, integrity.MISSING_MD5_OR_CHECKSUM)
    status = parse_legal_hold(body)
    if not await engine.meta.update_object_lock(bucket.id, obj.key, obj.version_id, LockChange(legal_hold=status)):
        raise S3Error("NoSuchVersion", Key=obj.key, VersionId=obj.version_id)
    return Response(200)
