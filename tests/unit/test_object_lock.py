"""Object Lock's pure parts: the bucket configuration, retention and legal
hold documents, write headers, and the decisions every store makes in its
commit (pails.storage.object_lock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pails.errors import S3Error
from pails.s3 import object_lock as s3lock
from pails.storage import object_lock as lock
from pails.storage.object_lock import LockChange, Retention
from pails.storage.records import Bucket

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC).timestamp()
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def _code(fn, *args) -> str:
    with pytest.raises(S3Error) as exc:
        fn(*args)
    return exc.value.code


def _config(rule: str = "", enabled: str = "<ObjectLockEnabled>Enabled</ObjectLockEnabled>") -> bytes:
    return f"<ObjectLockConfiguration {NS}>{enabled}{rule}</ObjectLockConfiguration>".encode()


def _rule(inner: str) -> str:
    return f"<Rule><DefaultRetention>{inner}</DefaultRetention></Rule>"


# --- bucket configuration ---------------------------------------------------------------------------------------------

def test_configuration_round_trips() -> None:
    assert s3lock.parse_configuration(_config()) == {"enabled": True}
    days = s3lock.parse_configuration(_config(_rule("<Mode>GOVERNANCE</Mode><Days>1</Days>")))
    assert days == {"enabled": True, "rule": {"mode": "GOVERNANCE", "days": 1}}
    years = s3lock.parse_configuration(_config(_rule("<Mode>COMPLIANCE</Mode><Years>2</Years>")))
    assert years == {"enabled": True, "rule": {"mode": "COMPLIANCE", "years": 2}}
    for cfg in (days, years, {"enabled": True}):
        assert s3lock.parse_configuration(s3lock.render_configuration(cfg)) == cfg


@pytest.mark.parametrize(("body", "code"), [
    (_config(_rule("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>")), "MalformedXML"),
    (_config(_rule("<Mode>GOVERNANCE</Mode>")), "MalformedXML"),
    (_config(_rule("<Days>1</Days>")), "MalformedXML"),
    (_config(_rule("<Mode>governance</Mode><Days>1</Days>")), "MalformedXML"),
    (_config(_rule("<Mode>abc</Mode><Years>1</Years>")), "MalformedXML"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Days>x</Days>")), "MalformedXML"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Days>1</Days><Days>2</Days>")), "MalformedXML"),
    (_config("<Rule></Rule>"), "MalformedXML"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Days>0</Days>")), "InvalidRetentionPeriod"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Years>-1</Years>")), "InvalidRetentionPeriod"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Days>36501</Days>")), "InvalidRetentionPeriod"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Years>101</Years>")), "InvalidRetentionPeriod"),
    (_config(enabled="<ObjectLockEnabled>Disabled</ObjectLockEnabled>"), "MalformedXML"),
    (_config(enabled=""), "MalformedXML"),
    (b"<VersioningConfiguration/>", "MalformedXML"),
    (b"<ObjectLockConfiguration><Other/></ObjectLockConfiguration>", "MalformedXML"),
    (b"not xml", "MalformedXML"),
])
def test_configuration_errors(body: bytes, code: str) -> None:
    assert _code(s3lock.parse_configuration, body) == code


def test_default_retention() -> None:
    assert s3lock.default_retention(None, NOW) is None
    assert s3lock.default_retention({"enabled": True}, NOW) is None
    days = s3lock.default_retention({"enabled": True, "rule": {"mode": "GOVERNANCE", "days": 3}}, NOW)
    assert days == Retention("GOVERNANCE", "2025-06-04T12:00:00.000Z")
    years = s3lock.default_retention({"enabled": True, "rule": {"mode": "COMPLIANCE", "years": 1}}, NOW)
    assert years == Retention("COMPLIANCE", "2026-06-01T12:00:00.000Z")
    leap = datetime(2024, 2, 29, tzinfo=UTC).timestamp()
    assert s3lock.default_retention({"enabled": True, "rule": {"mode": "GOVERNANCE", "years": 1}}, leap) \
        == Retention("GOVERNANCE", "2025-02-28T00:00:00.000Z")


def test_config_of_bucket() -> None:
    def bucket(props: dict) -> Bucket:
        return Bucket(1, "b", "o", 0.0, "", "{}", "Enabled", json.dumps(props))
    assert s3lock.config_of(bucket({})) is None
    assert s3lock.config_of(bucket({"tagging": []})) is None
    assert s3lock.config_of(bucket({"object_lock": {"enabled": True}})) == {"enabled": True}


def test_create_header() -> None:
    assert s3lock.requested_at_creation({}) is False
    assert s3lock.requested_at_creation({"x-amz-bucket-object-lock-enabled": "True"}) is True
    assert s3lock.requested_at_creation({"x-amz-bucket-object-lock-enabled": "false"}) is False
    assert _code(s3lock.requested_at_creation, {"x-amz-bucket-object-lock-enabled": "yes"}) == "InvalidArgument"


def test_versioning_cannot_be_suspended_under_lock() -> None:
    locked: dict[str, object] = {"object_lock": {"enabled": True}}
    assert s3lock.versioning_change("Enabled")("Enabled", locked) == ("Enabled", None)
    assert _code(s3lock.versioning_change("Suspended"), "Enabled", locked) == "InvalidBucketState"
    assert s3lock.versioning_change("Suspended")("Enabled", {}) == ("Suspended", None)


# --- retention and legal hold documents -------------------------------------------------------------------------------

def test_retention_document() -> None:
    body = f"<Retention {NS}><Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>" \
           "</Retention>"
    r = s3lock.parse_retention(body.encode(), NOW)
    assert r == Retention("GOVERNANCE", "2030-01-01T00:00:00.000Z")
    assert r is not None and s3lock.parse_retention(s3lock.render_retention(r), NOW) == r
    assert s3lock.parse_retention(f"<Retention {NS}/>".encode(), NOW) is None  # removal
    micro = b"<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00.123456+02:00" \
            b"</RetainUntilDate></Retention>"
    assert s3lock.parse_retention(micro, NOW) == Retention("COMPLIANCE", "2029-12-31T22:00:00.123Z")


@pytest.mark.parametrize(("body", "code"), [
    (b"<Retention><Mode>governance</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>",
     "MalformedXML"),
    (b"<Retention><Mode>GOVERNANCE</Mode></Retention>", "MalformedXML"),
    (b"<Retention><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>", "MalformedXML"),
    (b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>soon</RetainUntilDate></Retention>", "MalformedXML"),
    (b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2020-01-01T00:00:00Z</RetainUntilDate></Retention>",
     "InvalidArgument"),
    (b"<LegalHold/>", "MalformedXML"),
])
def test_retention_errors(body: bytes, code: str) -> None:
    assert _code(s3lock.parse_retention, body, NOW) == code


def test_legal_hold_document() -> None:
    assert s3lock.parse_legal_hold(b"<LegalHold><Status>ON</Status></LegalHold>") == "ON"
    assert s3lock.parse_legal_hold(s3lock.render_legal_hold("OFF")) == "OFF"
    for bad in (b"<LegalHold><Status>abc</Status></LegalHold>", b"<LegalHold/>", b"<Retention/>",
                b"<LegalHold><Status>on</Status></LegalHold>"):
        assert _code(s3lock.parse_legal_hold, bad) == "MalformedXML"


def test_write_headers() -> None:
    r, hold = s3lock.parse_lock_headers("COMPLIANCE", "2030-01-01T00:00:00Z", "ON", NOW)
    assert r == Retention("COMPLIANCE", "2030-01-01T00:00:00.000Z") and hold == "ON"
    assert s3lock.parse_lock_headers(None, None, "OFF", NOW) == (None, "OFF")
    assert _code(s3lock.parse_lock_headers, "GOVERNANCE", None, None, NOW) == "InvalidArgument"
    assert _code(s3lock.parse_lock_headers, None, "2030-01-01T00:00:00Z", None, NOW) == "InvalidArgument"
    assert _code(s3lock.parse_lock_headers, "governance", "2030-01-01T00:00:00Z", None, NOW) == "InvalidArgument"
    assert _code(s3lock.parse_lock_headers, "GOVERNANCE", "tomorrow", None, NOW) == "InvalidArgument"
    assert _code(s3lock.parse_lock_headers, "GOVERNANCE", "2020-01-01T00:00:00Z", None, NOW) == "InvalidArgument"
    assert _code(s3lock.parse_lock_headers, None, None, "yes", NOW) == "InvalidArgument"


def test_integrity_headers() -> None:
    assert s3lock.has_integrity_header({"content-md5": "x"})
    assert s3lock.has_integrity_header({"x-amz-checksum-crc32": "x"})
    assert s3lock.has_integrity_header({"x-amz-trailer": "x-amz-checksum-crc32c"})
    assert not s3lock.has_integrity_header({"x-amz-checksum-algorithm": "CRC32"})
    assert not s3lock.has_integrity_header({"content-length": "3"})


# --- the decisions of the stores --------------------------------------------------------------------------------------

def _stored(mode: str | None = None, until: float | None = None, hold: str | None = None) -> dict[str, str]:
    h = {"Content-Type": "text/plain"}
    if mode is not None and until is not None:
        h[lock.MODE] = mode
        h[lock.UNTIL] = lock.format_date(datetime.fromtimestamp(until, UTC))
    if hold is not None:
        h[lock.HOLD] = hold
    return h


@pytest.mark.parametrize(("stored", "bypass", "allowed"), [
    (_stored(), False, True),
    (_stored(hold="OFF"), False, True),
    (_stored(hold="ON"), True, False),
    (_stored("GOVERNANCE", NOW + 60), False, False),
    (_stored("GOVERNANCE", NOW + 60), True, True),
    (_stored("COMPLIANCE", NOW + 60), True, False),
    (_stored("COMPLIANCE", NOW + 60), False, False),
    (_stored("COMPLIANCE", NOW - 1), False, True),  # expired
    (_stored("COMPLIANCE", NOW), False, True),  # expires at that instant
    (_stored("GOVERNANCE", NOW - 1), False, True),
    (_stored("GOVERNANCE", NOW - 1, "ON"), True, False),
])
def test_check_delete(stored: dict[str, str], bypass: bool, allowed: bool) -> None:
    for form in (stored, json.dumps(stored)):
        if allowed:
            lock.check_delete(form, NOW, bypass)
        else:
            with pytest.raises(S3Error) as exc:
                lock.check_delete(form, NOW, bypass)
            assert (exc.value.code, exc.value.status, exc.value.message) == \
                ("AccessDenied", 403, "Access Denied because object protected by object lock.")


def _r(mode: str, until: float) -> Retention:
    return Retention(mode, lock.format_date(datetime.fromtimestamp(until, UTC)))


G, C = "GOVERNANCE", "COMPLIANCE"


@pytest.mark.parametrize(("old", "new", "bypass", "allowed"), [
    (None, _r(G, NOW + 10), False, True),
    (None, _r(C, NOW + 10), False, True),
    (_r(G, NOW + 10), _r(G, NOW + 20), False, True),  # lengthen
    (_r(G, NOW + 10), _r(G, NOW + 10), False, True),  # unchanged
    (_r(G, NOW + 10), _r(G, NOW + 5), False, False),  # shorten
    (_r(G, NOW + 10), _r(G, NOW + 5), True, True),
    (_r(G, NOW + 10), _r(C, NOW + 10), False, False),  # to COMPLIANCE
    (_r(G, NOW + 10), _r(C, NOW + 10), True, True),
    (_r(G, NOW + 10), None, False, False),  # remove
    (_r(G, NOW + 10), None, True, True),
    (_r(C, NOW + 10), _r(C, NOW + 20), False, True),
    (_r(C, NOW + 10), _r(C, NOW + 10), True, True),
    (_r(C, NOW + 10), _r(C, NOW + 5), True, False),
    (_r(C, NOW + 10), _r(G, NOW + 20), True, False),
    (_r(C, NOW + 10), None, True, False),
    (_r(C, NOW - 10), None, False, True),  # expired: anything goes
    (_r(C, NOW - 10), _r(G, NOW + 5), False, True),
])
def test_check_retention_change(old: Retention | None, new: Retention | None, bypass: bool, allowed: bool) -> None:
    if allowed:
        lock.check_retention_change(old, new, NOW, bypass)
    else:
        assert _code(lock.check_retention_change, old, new, NOW, bypass) == "AccessDenied"


def test_apply_change() -> None:
    headers = _stored()
    lock.apply_change(headers, LockChange(set_retention=True, retention=_r(G, NOW + 10)), NOW)
    assert headers[lock.MODE] == G and lock.UNTIL in headers
    lock.apply_change(headers, LockChange(legal_hold="ON"), NOW)
    assert headers[lock.HOLD] == "ON"
    before = dict(headers)
    with pytest.raises(S3Error):
        lock.apply_change(headers, LockChange(set_retention=True, retention=None), NOW)
    assert headers == before  # refused: unchanged
    lock.apply_change(headers, LockChange(set_retention=True, retention=None, bypass=True), NOW)
    assert lock.MODE not in headers and lock.UNTIL not in headers and headers[lock.HOLD] == "ON"


def test_dates() -> None:
    assert lock.parse_date("2030-01-01") == datetime(2030, 1, 1, tzinfo=UTC)
    assert lock.parse_date("2030-01-01T00:00:00.5Z") is not None
    assert lock.parse_date("nope") is None
    assert lock.format_date(datetime(2030, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)) == "2030-01-01T00:00:00.999Z"
