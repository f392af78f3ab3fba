"""Server access logging: Put/GetBucketLogging, the flush call (Ceph RGW's
``POST /bucket?logging``), and the request-log guard and sink that turn each
request on a logging bucket into a record (docs/access-logging.md).

The configuration is a bucket property (``pails.s3.logging_config``); the
records go to this process's spool and are delivered into the target bucket
by ``pails.storage.log_spool`` (the periodic pass: ``pails.jobs.access_log``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from pails.access.log_delivery import delivery_allowed
from pails.errors import S3Error
from pails.protocol import xml
from pails.protocol.dates import http_date
from pails.s3 import encryption, integrity, log_format
from pails.s3.logging_config import BUCKET_PROP, LoggingConfig, config_of, parse, render
from pails.s3.permissions import bucket_policy, get_bucket, require_owner, user_resolvers
from pails.s3.request import Response, S3Request
from pails.storage import log_spool
from pails.storage.engine import Engine
from pails.storage.failures import log_failure
from pails.storage.log_spool import Delivery, DeliveryDenied, Source, Spool, Target
from pails.storage.records import Bucket

log = logging.getLogger("pails")

_ACCOUNTS_TTL = 60.0  # seconds an owner's account ids are cached
# Journal writes refused when their target would refuse the journal; deletes
# never are (a bucket whose log target refuses can still be emptied).
_JOURNAL_GUARDED = log_format.JOURNAL_ROUTES - {"DeleteObject", "DeleteObjects"}


@dataclass(slots=True)
class Setup:
    """A logging bucket's configuration, resolved for one request."""

    config: LoggingConfig
    target: Target
    source: Source
    owner_id: str


class AccessLogger:
    """This process's part of access logging: the guard and sink of
    ``pails.http.request_log``, its spool file, and the delivery."""

    def __init__(self, engine: Engine, max_object: int = log_spool.DEFAULT_MAX_OBJECT) -> None:
        self.engine = engine
        self.spool = Spool(engine.settings.data_dir)
        self.delivery = Delivery(engine, self.authorize, max_object)
        self._accounts: dict[str, tuple[float, list[str]]] = {}
        self._late: set[asyncio.Task[None]] = set()

    # --- resolution -------------------------------------------------------
    async def accounts(self, owner_id: str) -> list[str]:
        hit = self._accounts.get(owner_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        user = await self.engine.meta.get_user_by_id(owner_id)
        ids = [user.account_id, owner_id] if user is not None and user.account_id else [owner_id]
        self._accounts[owner_id] = (time.monotonic() + _ACCOUNTS_TTL, ids)
        return ids

    async def setup(self, bucket: Bucket, config: LoggingConfig, target: Bucket | None = None) -> Setup | None:
        """None when the target bucket is gone (the records have nowhere to go)."""
        if target is None:
            target = await self.engine.meta.get_bucket(config.target_bucket)
            if target is None:
                return None
        accounts = await self.accounts(bucket.owner_id)
        prefix = config.target_prefix
        if config.partitioned:
            prefix += f"{accounts[0]}/{self.engine.settings.region}/{bucket.name}/"
        grants = [[g.grantee_type, g.resolved or g.grantee, g.permission] for g in config.grants]
        return Setup(config,
                     Target(target.name, target.id, prefix, config.partitioned, config.date_source, config.roll_time,
                            grants, config.target_prefix, target.created),
                     Source(bucket.name, bucket.id, bucket.owner_id, accounts), bucket.owner_id)

    async def authorize(self, target: Bucket, source: Source, batch: Target) -> bool:
        return delivery_allowed(target.name, bucket_policy(target), target.acl, batch.policy_prefix, source.bucket,
                                tuple(source.accounts))

    # --- request log hooks ------------------------------------------------
    async def guard(self, record: Any) -> None:
        """Before a request runs: resolve its bucket's logging setup; a
        Journal write its target would refuse is refused (AccessDenied)."""
        if record.bucket is None:
            return
        bucket = await self.engine.meta.get_bucket(record.bucket)
        config = config_of(bucket.props) if bucket is not None else None
        if bucket is None or config is None:
            record.bucket_logging = False
            return
        setup = await self.setup(bucket, config)
        record.bucket_logging = setup if setup is not None else False
        if setup is not None and config.logging_type == "Journal" and record.operation in _JOURNAL_GUARDED:
            target = await self.engine.meta.get_bucket(config.target_bucket)
            if target is None or not await self.authorize(target, setup.source, setup.target):
                raise S3Error("AccessDenied", f"Logging bucket {config.target_bucket} does not allow the logging "
                                              f"service to write the journal of {bucket.name}")

    def sink(self, record: Any) -> None:
        setup = record.bucket_logging
        if setup is False or record.bucket is None:
            return
        if setup is None:  # refused before it was routed (a bad signature, ...): resolve it now
            task = asyncio.get_running_loop().create_task(self._late_record(record))
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return
        self.spool_record(record, setup)

    async def _late_record(self, record: Any) -> None:
        try:
            bucket = await self.engine.meta.get_bucket(record.bucket)
            config = config_of(bucket.props) if bucket is not None else None
            setup = await self.setup(bucket, config) if bucket is not None and config is not None else None
            if setup is not None:
                self.spool_record(record, setup)
        except Exception:  # noqa: BLE001 - a record lost is logged, never a failure of anything else
            log_failure(log, "access log record of request %s lost", record.request_id)

    def spool_record(self, record: Any, setup: Setup) -> None:
        config = setup.config
        journal = config.logging_type == "Journal"
        if journal and (record.operation not in log_format.JOURNAL_ROUTES or not 200 <= record.status < 300):
            return
        entry = _entry(record, setup)
        keys: list[tuple[str, str | None]] = record.keys if record.keys is not None else [(record.key, None)]
        for key, version in keys:
            if journal and not config.key_matches(key):
                continue
            entry.key = key
            if record.keys is not None:
                entry.version_id = version
            line = log_format.journal_line(entry) if journal else log_format.standard_line(entry)
            self.spool.append({"t": record.start, "target": _as_dict(setup.target), "source": _as_dict(setup.source),
                               "line": line})

    # --- delivery on request ----------------------------------------------
    async def flush(self, setup: Setup, always: bool, required: bool = True) -> str | None:
        """Deliver ``setup``'s batch now, with every record spooled until now
        (in any worker); the key written (None: no batch and not ``always``).
        ``required`` False: an implicit flush (configuration changed, source
        deleted), delivered without asking the target's policy again."""
        self.spool.rotate()
        await self.delivery.wait_for_spools(time.time() + log_spool.FLUSH_GRACE)
        async with self.delivery.locked():
            await self.delivery.ingest(time.time())
            return await self.delivery.commit(setup.target, time.time(), setup.source if required else None, always,
                                              check=required)


def _as_dict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _entry(record: Any, setup: Setup) -> log_format.Entry:
    user = record.principal
    requester = "" if user is None else (user.arn if user.iam_user is not None else user.canonical_id)
    size = record.object_size
    if size is None and record.key is not None and 200 <= record.status < 300:
        if record.method in ("PUT", "POST"):
            size = record.bytes_in or None
        elif record.method == "GET":
            size = record.bytes_out or None
    sig = {"v4": "SigV4", "v2": "SigV2"}.get(record.signature_version, record.signature_version)
    version = record.version_id or getattr(record, "version_created", None)
    return log_format.Entry(
        bucket_owner=setup.owner_id, bucket=record.bucket, time=record.start, remote_ip=record.remote_ip,
        requester=requester, request_id=record.request_id,
        operation=log_format.operation(record.operation, record.method, _subresource(record.uri)),
        key=record.key, method=record.method, uri=record.uri, status=record.status, error_code=record.error_code,
        bytes_sent=record.bytes_out, object_size=size, total_ms=int(record.duration * 1000),
        turnaround_ms=int(record.turnaround * 1000), referer=record.referer, user_agent=record.user_agent,
        version_id=version, signature_version=sig, auth_type=record.auth_type, host=record.host,
        acl_required=record.acl_required, etag=record.etag)


def _subresource(uri: str) -> str | None:
    query = uri.partition("?")[2]
    first = query.split("&", 1)[0].split("=", 1)[0] if query else ""
    return first or None


# --- one logger per engine (per process) ---------------------------------
_LOGGERS: dict[int, AccessLogger] = {}


def logger_for(engine: Engine) -> AccessLogger:
    found = _LOGGERS.get(id(engine))
    if found is None:
        found = _LOGGERS[id(engine)] = AccessLogger(engine, max_object_from_env())
    return found


def max_object_from_env() -> int:
    value = os.environ.get("PAILS_ACCESS_LOG_MAX_OBJECT", "")
    return int(value) if value.isdigit() and int(value) > 0 else log_spool.DEFAULT_MAX_OBJECT


# --- handlers -------------------------------------------------------------
def _require_bucket_owner(req: S3Request, bucket: Bucket) -> None:
    """Logging is set by the bucket owner (its account's root or IAM users it
    allows), as AWS: a bucket policy cannot hand it to others."""
    require_owner(req, bucket)
    user = req.user
    if user is None or not (user.operator or user.canonical_id == bucket.owner_id):
        raise S3Error("AccessDenied")


async def _resolve_grants(engine: Engine, config: LoggingConfig) -> None:
    if not any(g.grantee_type == "AmazonCustomerByEmail" for g in config.grants):
        return
    by_email, _ = await user_resolvers(engine)
    for g in config.grants:
        if g.grantee_type == "AmazonCustomerByEmail":
            found = by_email(g.grantee)
            if found is None:
                raise S3Error("UnresolvableGrantByEmailAddress")
            g.resolved = found[0]


async def put_bucket_logging(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    _require_bucket_owner(req, bucket)
    body = await req.body.read_all(xml.MAX_XML_BODY)
    integrity.check_body(req, body)
    config = parse(body, time.time())
    logger = logger_for(engine)
    new_setup = None
    if config is not None:
        target = await engine.meta.get_bucket(config.target_bucket) if ":" not in config.target_bucket else None
        if target is None:
            raise S3Error("InvalidTargetBucketForLogging", TargetBucket=config.target_bucket)
        if encryption.BUCKET_PROP in _props_keys(target):
            raise S3Error("InvalidArgument", "The target bucket has default encryption: log objects are written "
                                             "unencrypted")
        await _resolve_grants(engine, config)
        new_setup = await logger.setup(bucket, config, target)
        assert new_setup is not None
        if not await logger.authorize(target, new_setup.source, new_setup.target):
            raise S3Error("AccessDenied", f"The policy of {target.name} does not allow the logging service "
                                          f"(logging.s3.amazonaws.com) s3:PutObject for {bucket.name}")
    old = config_of(bucket.props)
    if config is not None and config.same_setup(old):
        return Response(200)  # the same configuration: nothing changes (nor its Last-Modified)
    await engine.meta.set_bucket_prop(bucket.id, BUCKET_PROP, config.to_json() if config is not None else None)
    flushed = None
    if old is not None:
        old_setup = await logger.setup(bucket, old)
        if old_setup is not None:
            try:
                flushed = await logger.flush(old_setup, always=False, required=False)
            except Exception:  # noqa: BLE001 - the configuration changed; the old batch waits for the periodic pass
                log.exception("access log of %s: the old configuration's records not delivered yet", bucket.name)
    if new_setup is not None:
        async with logger.delivery.locked():
            logger.delivery.open_batch(new_setup.target, time.time())
    if flushed is None:
        return Response(200)
    return Response.xml(xml.document("PutBucketLoggingOutput", xml.element("FlushedLoggingObject", flushed)))


def _props_keys(bucket: Bucket) -> set[str]:
    return set(json.loads(bucket.props or "{}"))


async def get_bucket_logging(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    _require_bucket_owner(req, bucket)
    config = config_of(bucket.props)
    response = Response.xml(render(config))
    if config is not None and config.modified:
        response.headers = [*response.headers, ("Last-Modified", http_date(config.modified))]
    return response


async def post_bucket_logging(engine: Engine, req: S3Request) -> Response:
    """Ceph RGW's flush call: deliver the bucket's pending log object now."""
    bucket = await get_bucket(engine, req)
    _require_bucket_owner(req, bucket)
    config = config_of(bucket.props)
    key = ""
    if config is not None:
        logger = logger_for(engine)
        setup = await logger.setup(bucket, config)
        if setup is None:
            raise S3Error("InvalidTargetBucketForLogging", TargetBucket=config.target_bucket)
        try:
            key = await logger.flush(setup, always=True) or ""
        except DeliveryDenied:
            raise S3Error("AccessDenied", f"Logging bucket {config.target_bucket} does not allow the logging "
                                          f"service to write the logs of {bucket.name}") from None
    return Response.xml(xml.document("PostBucketLoggingOutput", xml.element("FlushedLoggingObject", key)))


async def bucket_deleted(engine: Engine, bucket: Bucket) -> None:
    """A deleted source bucket's pending log object is delivered at once."""
    config = config_of(bucket.props)
    if config is None:
        return
    logger = logger_for(engine)
    setup = await logger.setup(bucket, config)
    if setup is None:
        return
    try:
        await logger.flush(setup, always=False, required=False)
    except Exception:  # noqa: BLE001 - the bucket is gone either way; the batch waits for the periodic pass
        log.exception("access log of deleted bucket %s not delivered", bucket.name)
