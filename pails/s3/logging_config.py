"""The bucket logging configuration (``BucketLoggingStatus``): parsed from
PutBucketLogging's XML, kept as JSON in ``buckets.props["logging"]``,
rendered for GetBucketLogging.  Pure: no I/O.

Besides AWS's fields (TargetBucket, TargetPrefix, TargetGrants,
TargetObjectKeyFormat) it takes Ceph RGW's extensions that ceph/s3-tests
exercises: LoggingType (Standard | Journal), ObjectRollTime (seconds),
RecordsBatchSize and a key Filter (prefix/suffix rules, Journal records only).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from pails.access import acl as acls
from pails.errors import S3Error
from pails.protocol import xml

BUCKET_PROP = "logging"
MARK = '"logging"'  # in a bucket's props JSON iff logging is configured (no parse for most buckets)
DEFAULT_ROLL_TIME = 300  # seconds (RGW's default)
MAX_ROLL_TIME = 7 * 24 * 3600
LOGGING_TYPES = ("Standard", "Journal")
DATE_SOURCES = ("EventTime", "DeliveryTime")
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_PERMISSIONS = ("FULL_CONTROL", "READ", "WRITE")  # the permissions a TargetGrant may give


@dataclass(slots=True)
class TargetGrant:
    grantee_type: str  # CanonicalUser | AmazonCustomerByEmail | Group
    grantee: str  # canonical id, e-mail address or group URI
    permission: str
    display_name: str = ""
    resolved: str = ""  # the canonical id an e-mail grantee stands for (set when the configuration is stored)


@dataclass(slots=True)
class LoggingConfig:
    target_bucket: str
    target_prefix: str
    grants: list[TargetGrant] = field(default_factory=list)
    partitioned: bool = False  # TargetObjectKeyFormat: PartitionedPrefix (else SimplePrefix)
    date_source: str = "EventTime"  # PartitionedPrefix's PartitionDateSource
    logging_type: str = "Standard"
    roll_time: int = DEFAULT_ROLL_TIME
    batch_size: int = 0
    filter_rules: list[tuple[str, str]] = field(default_factory=list)  # (prefix|suffix, value)
    modified: float = 0.0  # when the configuration last changed (GetBucketLogging's Last-Modified)

    def same_setup(self, other: LoggingConfig | None) -> bool:
        """Whether ``other`` configures the same thing (``modified`` aside)."""
        if other is None:
            return False
        a, b = asdict(self), asdict(other)
        a.pop("modified")
        b.pop("modified")
        return a == b

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> LoggingConfig:
        d = dict(d)
        d["grants"] = [TargetGrant(**g) for g in d.get("grants", [])]
        d["filter_rules"] = [(n, v) for n, v in d.get("filter_rules", [])]
        return LoggingConfig(**d)

    def key_matches(self, key: str | None) -> bool:
        """The Filter of Journal records: every rule must hold."""
        if not self.filter_rules:
            return True
        if key is None:
            return False
        for name, value in self.filter_rules:
            if name == "prefix" and not key.startswith(value):
                return False
            if name == "suffix" and not key.endswith(value):
                return False
        return True


def config_of(props: str) -> LoggingConfig | None:
    """The logging configuration in a bucket's props JSON, if any."""
    if MARK not in props:
        return None
    raw = json.loads(props).get(BUCKET_PROP)
    return LoggingConfig.from_json(raw) if raw else None


def _one(el: ET.Element, name: str) -> ET.Element | None:
    found = el.findall(name)
    if len(found) > 1:
        raise S3Error("MalformedXML")
    return found[0] if found else None


def _int(el: ET.Element, name: str, default: int, low: int, high: int) -> int:
    text = xml.child_text(el, name)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise S3Error("MalformedXML") from None
    if not low <= value <= high:
        raise S3Error("InvalidArgument", f"{name} must be between {low} and {high}")
    return value


def _grant(el: ET.Element) -> TargetGrant:
    grantee = _one(el, "Grantee")
    permission = (xml.child_text(el, "Permission") or "").strip()
    if grantee is None or permission not in _PERMISSIONS:
        raise S3Error("MalformedXML")
    kind = grantee.get(_XSI_TYPE, "")
    if kind == "CanonicalUser":
        value = xml.child_text(grantee, "ID")
    elif kind == "AmazonCustomerByEmail":
        value = xml.child_text(grantee, "EmailAddress")
    elif kind == "Group":
        value = xml.child_text(grantee, "URI")
    else:
        raise S3Error("MalformedXML")
    if not value:
        raise S3Error("MalformedXML")
    return TargetGrant(kind, value.strip(), permission, (xml.child_text(grantee, "DisplayName") or "").strip())


def parse(body: bytes, now: float) -> LoggingConfig | None:
    """PutBucketLogging's body: the configuration, or None (logging off:
    a ``BucketLoggingStatus`` without ``LoggingEnabled``)."""
    root = xml.parse(body)
    if root.tag != "BucketLoggingStatus":
        raise S3Error("MalformedXML")
    enabled = _one(root, "LoggingEnabled")
    if enabled is None:
        return None
    bucket = xml.child_text(enabled, "TargetBucket")
    prefix = xml.child_text(enabled, "TargetPrefix")
    if not bucket or prefix is None:
        raise S3Error("MalformedXML")
    config = LoggingConfig(bucket.strip(), prefix, modified=now)
    grants = _one(enabled, "TargetGrants")
    if grants is not None:
        config.grants = [_grant(g) for g in grants.findall("Grant")]
        if len(config.grants) > acls.MAX_GRANTS:
            raise S3Error("MalformedXML")
    key_format = _one(enabled, "TargetObjectKeyFormat")
    if key_format is not None:
        simple, partitioned = _one(key_format, "SimplePrefix"), _one(key_format, "PartitionedPrefix")
        if (simple is None) == (partitioned is None):
            raise S3Error("MalformedXML")
        if partitioned is not None:
            config.partitioned = True
            source = xml.child_text(partitioned, "PartitionDateSource")
            if source is not None and source not in DATE_SOURCES:
                raise S3Error("MalformedXML")
            config.date_source = source or "EventTime"
    kind = xml.child_text(enabled, "LoggingType")
    if kind is not None:
        if kind not in LOGGING_TYPES:
            raise S3Error("MalformedXML")
        config.logging_type = kind
    config.roll_time = _int(enabled, "ObjectRollTime", DEFAULT_ROLL_TIME, 1, MAX_ROLL_TIME)
    config.batch_size = _int(enabled, "RecordsBatchSize", 0, 0, 1_000_000)
    filt = _one(enabled, "Filter")
    if filt is not None:
        key = _one(filt, "Key")
        for rule in key.findall("FilterRule") if key is not None else ():
            name, value = (xml.child_text(rule, "Name") or "").lower(), xml.child_text(rule, "Value")
            if name not in ("prefix", "suffix") or value is None:
                raise S3Error("InvalidArgument", "Filter rules are prefix and suffix rules")
            config.filter_rules.append((name, value))
    return config


def _render_grant(g: TargetGrant) -> str:
    if g.grantee_type == "CanonicalUser":
        who = xml.element("ID", g.grantee) + (xml.element("DisplayName", g.display_name) if g.display_name else "")
    elif g.grantee_type == "AmazonCustomerByEmail":
        who = xml.element("EmailAddress", g.grantee)
    else:
        who = xml.element("URI", g.grantee)
    return (f'<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="{g.grantee_type}">'
            f"{who}</Grantee>{xml.element('Permission', g.permission)}</Grant>")


def render(config: LoggingConfig | None) -> bytes:
    if config is None:
        return xml.document("BucketLoggingStatus", "")
    parts = [xml.element("TargetBucket", config.target_bucket), xml.element("TargetPrefix", config.target_prefix)]
    if config.grants:
        parts.append("<TargetGrants>" + "".join(_render_grant(g) for g in config.grants) + "</TargetGrants>")
    if config.partitioned:
        parts.append("<TargetObjectKeyFormat><PartitionedPrefix>"
                     + xml.element("PartitionDateSource", config.date_source)
                     + "</PartitionedPrefix></TargetObjectKeyFormat>")
    else:
        parts.append("<TargetObjectKeyFormat><SimplePrefix/></TargetObjectKeyFormat>")
    parts.append(xml.element("ObjectRollTime", config.roll_time))
    parts.append(xml.element("LoggingType", config.logging_type))
    parts.append(xml.element("RecordsBatchSize", config.batch_size))
    if config.filter_rules:
        rules = "".join(f"<FilterRule>{xml.element('Name', n)}{xml.element('Value', v)}</FilterRule>"
                        for n, v in config.filter_rules)
        parts.append(f"<Filter><Key>{rules}</Key></Filter>")
    return xml.document("BucketLoggingStatus", "<LoggingEnabled>" + "".join(parts) + "</LoggingEnabled>")
