"""Bucket notifications: Put/GetBucketNotificationConfiguration, and the
``Pending`` events of the handlers that change objects (docs/notifications.md).

The configuration lives in ``buckets.props["notification"]`` as records of
``pails.storage.notify.Config``; each names one of the operator's targets by
ARN (``pails.events.targets.target_of_arn``).  Parsing and rendering are pure;
the handlers stay thin.  A new configuration is validated as AWS does: each
destination must be known and must accept ``s3:TestEvent`` (unless
``x-amz-skip-destination-validation: true``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any
from xml.etree.ElementTree import Element

from pails.errors import S3Error
from pails.events.targets import sender_for, target_of_arn
from pails.protocol import xml
from pails.s3 import integrity
from pails.s3.permissions import get_bucket, require_owner
from pails.s3.request import Response, S3Request
from pails.storage import notify
from pails.storage.engine import Engine
from pails.storage.event_rows import EventTarget
from pails.storage.notify import Config, Pending, RequestInfo
from pails.storage.records import Bucket

MAX_CONFIGS = 100
MAX_ID = 255
# (element, ARN element, kind)
KINDS = (("QueueConfiguration", "Queue", "Queue"), ("TopicConfiguration", "Topic", "Topic"),
         ("CloudFunctionConfiguration", "CloudFunction", "CloudFunction"))
_UNVALIDATED = "Unable to validate the following destination configurations"


# --- parsing and rendering (pure) -------------------------------------------------------------------------------------

def _filter(el: Element | None) -> tuple[str, str]:
    """(prefix, suffix) of a ``Filter``."""
    if el is None:
        return "", ""
    found: dict[str, str] = {}
    for s3key in el:
        if s3key.tag != "S3Key":
            raise S3Error("MalformedXML")
        for rule in s3key:
            if rule.tag != "FilterRule":
                raise S3Error("MalformedXML")
            name = (xml.child_text(rule, "Name") or "").strip().lower()
            if name not in ("prefix", "suffix"):
                raise S3Error("InvalidArgument", "filter rule name must be either prefix or suffix",
                              ArgumentName="FilterRule.Name", ArgumentValue=name)
            if name in found:
                raise S3Error("InvalidArgument", f"Cannot specify more than one {name} rule in a filter.",
                              ArgumentName="FilterRule.Name", ArgumentValue=name)
            value = xml.child_text(rule, "Value") or ""
            if len(value.encode()) > 1024:
                raise S3Error("InvalidArgument", "The filter rule value is too long.",
                              ArgumentName="FilterRule.Value", ArgumentValue=value[:64])
            found[name] = value
    return found.get("prefix", ""), found.get("suffix", "")


def parse_configuration(body: bytes) -> list[tuple[Config, tuple[str, str] | None]]:
    """Each configuration with the (target name, kind) its ARN names (None:
    not an ARN of ours), in document order; S3Error as AWS answers."""
    root = xml.parse(body)
    if root.tag != "NotificationConfiguration":
        raise S3Error("MalformedXML")
    out: list[tuple[Config, tuple[str, str] | None]] = []
    ids: set[str] = set()
    for el in root:
        if el.tag == "EventBridgeConfiguration":
            raise S3Error("NotImplemented", "Amazon EventBridge destinations are not supported.")
        spec = next((k for k in KINDS if k[0] == el.tag), None)
        if spec is None:
            raise S3Error("MalformedXML")
        arn = (xml.child_text(el, spec[1]) or "").strip()
        if not arn:
            raise S3Error("InvalidArgument", f"A {spec[1]} ARN is required.", ArgumentName=spec[1],
                          ArgumentValue="")
        config_id = (xml.child_text(el, "Id") or "").strip() or secrets.token_hex(16)
        if len(config_id) > MAX_ID:
            raise S3Error("InvalidArgument", "The configuration Id is too long.", ArgumentName="Id",
                          ArgumentValue=config_id[:64])
        if config_id in ids:
            raise S3Error("InvalidArgument", "Configuration Ids must be unique.", ArgumentName="Id",
                          ArgumentValue=config_id)
        ids.add(config_id)
        events = [(e.text or "").strip() for e in el.findall("Event")]
        if not events:
            raise S3Error("InvalidArgument", "At least one event must be specified.", ArgumentName="Event",
                          ArgumentValue="")
        for event in events:
            if not notify.valid_event(event):
                raise S3Error("InvalidArgument", "The event is not supported for notifications",
                              ArgumentName=event, ArgumentValue=event)
        prefix, suffix = _filter(el.find("Filter"))
        named = target_of_arn(arn)
        config = Config(config_id, spec[2], arn, named[0] if named else "", tuple(dict.fromkeys(events)),
                        prefix, suffix)
        for earlier, _ in out:
            if notify.overlap(earlier, config):
                raise S3Error("InvalidArgument", "Configurations overlap. Configurations on the same bucket cannot "
                                                 "share a common event type.",
                              ArgumentName="Event", ArgumentValue=",".join(config.events))
        out.append((config, named))
        if len(out) > MAX_CONFIGS:
            raise S3Error("InvalidArgument", "Too many notification configurations.")
    return out


def render_configuration(configs: list[Config]) -> bytes:
    parts: list[str] = []
    for c in configs:
        element, arn_tag, _kind = next(k for k in KINDS if k[2] == c.kind)
        inner = xml.element("Id", c.id) + xml.element(arn_tag, c.arn)
        inner += "".join(xml.element("Event", e) for e in c.events)
        rules = "".join(f"<FilterRule>{xml.element('Name', name)}{xml.element('Value', value)}</FilterRule>"
                        for name, value in (("Prefix", c.prefix), ("Suffix", c.suffix)) if value)
        if rules:
            inner += f"<Filter><S3Key>{rules}</S3Key></Filter>"
        parts.append(f"<{element}>{inner}</{element}>")
    return xml.document_of("NotificationConfiguration", parts)


def _unvalidated(failures: dict[str, str]) -> S3Error:
    extra: dict[str, str] = {}
    for i, (arn, why) in enumerate(sorted(failures.items()), 1):
        extra[f"ArgumentName{i}"] = arn
        extra[f"ArgumentValue{i}"] = why
    return S3Error("InvalidArgument", _UNVALIDATED, **extra)


# --- handlers ---------------------------------------------------------------------------------------------------------

async def _send_test_event(target: EventTarget, body: bytes) -> str | None:
    """None if ``target`` acknowledged the test event, else why not."""
    sender = sender_for(target)
    try:
        await sender.send(body, "")
        return None
    except Exception as exc:  # noqa: BLE001 - the client is told the destination failed validation
        return f"The destination did not accept the test event ({type(exc).__name__})"
    finally:
        await sender.close()


async def put_bucket_notification_configuration(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    body = await req.body.read_all(xml.MAX_XML_BODY)
    if "content-md5" in req.headers:  # optional here (AWS does not require it)
        integrity.check_body(req, body)
    parsed = parse_configuration(body)
    targets = {t.name: t for t in await engine.meta.list_event_targets()}
    failures: dict[str, str] = {}
    for config, named in parsed:
        target = targets.get(named[0]) if named else None
        if target is None or named is None or target.kind != named[1]:
            failures[config.arn] = "The destination is not a configured notification target"
    if failures:
        raise _unvalidated(failures)
    if req.headers.get("x-amz-skip-destination-validation", "").lower() != "true":
        test = json.dumps(notify.test_event(bucket.name, req.request_id, req.request_id)).encode()
        used = {c.arn: targets[c.target] for c, _ in parsed}
        results = await asyncio.gather(*(_send_test_event(t, test) for t in used.values()))
        failures = {arn: why for arn, why in zip(used, results, strict=True) if why is not None}
        if failures:
            raise _unvalidated(failures)
    value: dict[str, Any] | None = {"configs": [c.to_record() for c, _ in parsed]} if parsed else None
    await engine.meta.set_bucket_prop(bucket.id, notify.PROP, value)
    return Response(200)


async def get_bucket_notification_configuration(engine: Engine, req: S3Request) -> Response:
    bucket = await get_bucket(engine, req)
    require_owner(req, bucket)
    return Response.xml(render_configuration(notify.configs_of(bucket.props)))


async def listen_bucket_notification(engine: Engine, req: S3Request) -> Response:
    """MinIO's ListenBucketNotification (``GET /bucket?events=...``): not
    served (a listing would make minio-py's client loop forever)."""
    await get_bucket(engine, req)
    raise S3Error("NotImplemented", "ListenBucketNotification is not supported; configure a notification target "
                                    "(docs/notifications.md).")


# --- the events of the handlers ---------------------------------------------------------------------------------------

def pending(req: S3Request, bucket: Bucket, event: str, key: str, **fields: Any) -> Pending | None:
    """The events of a change of ``key`` by ``req``, or None (no configuration
    covers it: the common case costs a substring test)."""
    if notify.MARK not in bucket.props:
        return None
    info = RequestInfo(principal_id=req.principal_id or "anonymous", source_ip=req.client_ip,
                       request_id=req.request_id, host_id=req.request_id, region=bucket.location or "us-east-1")
    return notify.pending_for(bucket.props, event, bucket.name, bucket.owner_id, key, info, **fields)
