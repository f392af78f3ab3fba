"""The lifecycle configuration parser and renderer (pails.s3.lifecycle) and
the pure evaluator the worker uses (pails.storage.lifecycle_rules)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pails.errors import S3Error
from pails.s3 import lifecycle as lc
from pails.storage import lifecycle_rules as lr

DAY = 86400.0


def _doc(*rules: str) -> bytes:
    return f"<LifecycleConfiguration>{''.join(rules)}</LifecycleConfiguration>".encode()


def _rule(inner: str, status: str = "Enabled", rid: str | None = "r") -> str:
    ident = f"<ID>{rid}</ID>" if rid is not None else ""
    return f"<Rule>{ident}<Status>{status}</Status>{inner}</Rule>"


def _code(body: bytes) -> str:
    with pytest.raises(S3Error) as e:
        lc.parse_configuration(body)
    return e.value.code


# --- parsing and validation -----------------------------------------------------------------------------------------

def test_parse_and_render_round_trip() -> None:
    body = _doc(
        _rule("<Prefix>logs/</Prefix><Expiration><Days>30</Days></Expiration>", rid="a"),
        _rule("<Filter><And><Prefix>t/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>"
              "<ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></And></Filter>"
              "<NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays>"
              "<NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
              status="Disabled", rid="b"),
        _rule("<Filter><Prefix>u/</Prefix></Filter><AbortIncompleteMultipartUpload>"
              "<DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload>", rid="c"),
        _rule("<Filter/><Transition><Days>0</Days><StorageClass>GLACIER</StorageClass></Transition>"
              "<Expiration><Date>2040-01-01T00:00:00.000Z</Date></Expiration>", rid="d"),
        _rule("<Filter><Prefix>x</Prefix></Filter><Expiration><ExpiredObjectDeleteMarker>true"
              "</ExpiredObjectDeleteMarker></Expiration>", rid="e"),
    )
    cfg = lc.parse_configuration(body)
    rules = cfg["rules"]
    assert rules[0] == {"id": "a", "status": "Enabled", "prefix": "logs/", "exp": {"days": 30}}
    assert rules[1]["filter"] == {"and": {"prefix": "t/", "tags": [["k", "v"]], "gt": 5}}
    assert rules[1]["ncexp"] == {"days": 2, "newer": 3}
    assert rules[2]["abort"] == 7
    assert rules[3]["tr"] == [{"sc": "GLACIER", "days": 0}]
    assert rules[3]["exp"] == {"date": "2040-01-01T00:00:00Z"}
    assert rules[4]["exp"] == {"dm": True}
    # What is rendered parses to the same configuration.
    assert lc.parse_configuration(lc.render_configuration(cfg)) == cfg
    assert b"<Prefix>logs/</Prefix>" in lc.render_configuration(cfg)


def test_ids_generated_and_unique() -> None:
    cfg = lc.parse_configuration(_doc(_rule("<Prefix/><Expiration><Days>1</Days></Expiration>", rid=None),
                                      _rule("<Prefix/><Expiration><Days>2</Days></Expiration>", rid=None)))
    ids = [r["id"] for r in cfg["rules"]]
    assert all(ids) and len(set(ids)) == 2 and all(len(i) <= lc.MAX_ID for i in ids)


@pytest.mark.parametrize("body, code", [
    (b"<Other/>", "MalformedXML"),
    (_doc(), "MalformedXML"),
    (_doc(_rule("<Prefix/><Expiration><Days>1</Days></Expiration>", status="enabled")), "MalformedXML"),
    (_doc(_rule("<Prefix/><Expiration><Days>1</Days></Expiration>", rid="a" * 256)), "InvalidArgument"),
    (_doc(_rule("<Prefix/><Expiration><Days>1</Days></Expiration>"),
          _rule("<Prefix/><Expiration><Days>2</Days></Expiration>")), "InvalidArgument"),
    (_doc(_rule("<Prefix/><Expiration><Days>0</Days></Expiration>")), "InvalidArgument"),
    (_doc(_rule("<Prefix/><Expiration><Days>x</Days></Expiration>")), "MalformedXML"),
    (_doc(_rule("<Prefix/><Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>")),
     "MalformedXML"),
    (_doc(_rule("<Prefix/><Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>")), "InvalidArgument"),
    (_doc(_rule("<Prefix/><Expiration><Date>20300101</Date></Expiration>")), "InvalidArgument"),
    (_doc(_rule("<Prefix/>")), "InvalidRequest"),
    (_doc(_rule("<Prefix/><Filter/><Expiration><Days>1</Days></Expiration>")), "MalformedXML"),
    (_doc(_rule("<Prefix/><Bogus/><Expiration><Days>1</Days></Expiration>")), "MalformedXML"),
    (_doc(_rule("<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>"
                "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")),
     "InvalidRequest"),
    (_doc(_rule("<Filter><ObjectSizeGreaterThan>1</ObjectSizeGreaterThan></Filter>"
                "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
                "</AbortIncompleteMultipartUpload>")), "InvalidRequest"),
    (_doc(_rule("<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
                "<ObjectSizeLessThan>10</ObjectSizeLessThan></And></Filter><Expiration><Days>1</Days>"
                "</Expiration>")), "InvalidArgument"),
    (_doc(_rule("<Prefix/><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
                "<NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration>")),
     "InvalidArgument"),
    (_doc(_rule("<Prefix/><Transition><Days>1</Days><StorageClass>NOPE</StorageClass></Transition>")),
     "InvalidStorageClass"),
    (_doc(_rule("<Prefix/><Transition><Days>5</Days><StorageClass>GLACIER</StorageClass></Transition>"
                "<Expiration><Days>5</Days></Expiration>")), "InvalidArgument"),
    (_doc(*[_rule(f"<Prefix>{i}</Prefix><Expiration><Days>1</Days></Expiration>", rid=str(i))
            for i in range(lc.MAX_RULES + 1)]), "InvalidRequest"),
])
def test_invalid(body: bytes, code: str) -> None:
    assert _code(body) == code


def test_thousand_rules_accepted() -> None:
    cfg = lc.parse_configuration(_doc(*[_rule(f"<Prefix>{i}</Prefix><Expiration><Days>1</Days></Expiration>",
                                              rid=str(i)) for i in range(lc.MAX_RULES)]))
    assert len(cfg["rules"]) == lc.MAX_RULES


# --- the evaluator --------------------------------------------------------------------------------------------------

def _rules(*records: dict) -> tuple[lr.Rule, ...]:
    return lr.rules_of(json.dumps({"lifecycle": {"rules": list(records)}}))


def test_real_days_round_up_to_midnight() -> None:
    clock = lr.Clock()
    created = datetime(2014, 1, 15, 10, 30, tzinfo=UTC).timestamp()
    assert clock.due(created, 3) == datetime(2014, 1, 19, tzinfo=UTC).timestamp()
    short = lr.Clock(10.0)
    assert short.due(1000.5, 2) == 1020.5  # a shortened day counts exactly


def test_expiration_picks_earliest_matching_enabled_rule() -> None:
    rules = _rules({"id": "a", "status": "Enabled", "prefix": "p/", "exp": {"days": 5}},
                   {"id": "b", "status": "Enabled", "prefix": "p/", "exp": {"days": 2}},
                   {"id": "c", "status": "Disabled", "prefix": "p/", "exp": {"days": 1}},
                   {"id": "d", "status": "Enabled", "filter": {"tag": ["k", "v"]}, "exp": {"days": 1}})
    clock = lr.Clock(1.0)
    assert lr.expiration(rules, "p/x", 1, [], 100.0, clock) == (102.0, "b")
    assert lr.expiration(rules, "p/x", 1, [("k", "v")], 100.0, clock) == (101.0, "d")
    assert lr.expiration(rules, "q", 1, [("k", "x")], 100.0, clock) is None


def test_filters() -> None:
    m = lr.match_of({"filter": {"and": {"prefix": "a", "tags": [["x", "1"], ["y", "2"]], "gt": 10, "lt": 20}}})
    assert m.matches("ab", 15, [("x", "1"), ("y", "2"), ("z", "3")])
    assert not m.matches("ab", 15, [("x", "1")])
    assert not m.matches("ab", 10, [("x", "1"), ("y", "2")])  # strictly greater
    assert not m.matches("ab", 20, [("x", "1"), ("y", "2")])  # strictly less
    assert not m.matches("b", 15, [("x", "1"), ("y", "2")])
    # Several children of Filter: And wins (Ceph's reading).
    m = lr.match_of({"filter": {"prefix": "z", "tag": ["t", "1"], "and": {"prefix": "a", "tags": [["h", "f"]]}}})
    assert m.matches("ab", 0, [("h", "f")]) and not m.matches("ab", 0, [("t", "1")])
    assert lr.match_of({"prefix": "legacy/"}).matches("legacy/x", 0, None)


def _v(vid: str, lm: float, dm: bool = False, size: int = 1, tags: lr.Tags | None = None,
       sc: str = "STANDARD") -> lr.Version:
    return lr.Version(vid, size, lm, sc, dm, tags)


def test_plan_current_expiry_and_transition() -> None:
    clock = lr.Clock(1.0)
    rules = _rules({"id": "e", "status": "Enabled", "prefix": "e/", "exp": {"days": 3}},
                   {"id": "t", "status": "Enabled", "prefix": "t/",
                    "tr": [{"days": 1, "sc": "STANDARD_IA"}, {"days": 2, "sc": "GLACIER"}]})
    assert not lr.plan_key(rules, "e/a", _v("1", 100.0), [], 102.9, clock).expire_current
    assert lr.plan_key(rules, "e/a", _v("1", 100.0), [], 103.0, clock).expire_current
    assert lr.plan_key(rules, "t/a", _v("1", 100.0), [], 101.5, clock).storage_class == {"1": "STANDARD_IA"}
    assert lr.plan_key(rules, "t/a", _v("1", 100.0), [], 102.5, clock).storage_class == {"1": "GLACIER"}
    assert lr.plan_key(rules, "t/a", _v("1", 100.0, sc="GLACIER"), [], 105, clock).storage_class == {}
    assert lr.plan_key(rules, "x", _v("1", 0.0), [], 1e9, clock) == lr.Plan(delete=[], storage_class={})


def test_plan_noncurrent_keeps_newer_versions() -> None:
    clock = lr.Clock(1.0)
    rules = _rules({"id": "n", "status": "Enabled", "prefix": "", "ncexp": {"days": 1, "newer": 2}})
    current = _v("c", 110.0)
    older = [_v(f"v{i}", 100.0 + i) for i in range(9, 4, -1)]  # v9 (newest) .. v5
    plan = lr.plan_key(rules, "k", current, older, 112.0, clock)
    assert plan.delete == ["v7", "v6", "v5"]
    # Each became noncurrent when the next newer one was written: v7 at 108 is not yet a day noncurrent.
    plan = lr.plan_key(rules, "k", current, older, 108.5, clock)
    assert plan.delete == ["v6", "v5"]


def test_plan_expired_delete_marker() -> None:
    clock = lr.Clock(1.0)
    rules = _rules({"id": "d", "status": "Enabled", "prefix": "", "exp": {"dm": True},
                    "ncexp": {"days": 1}})
    marker = _v("m", 100.0, dm=True)
    # Its only noncurrent version is removed in the same plan, so the marker goes too.
    plan = lr.plan_key(rules, "k", marker, [_v("o", 50.0)], 101.0, clock)
    assert plan.delete == ["o"] and plan.remove_marker
    # Not yet: the noncurrent version stays, and so does the marker.
    plan = lr.plan_key(rules, "k", marker, [_v("o", 50.0)], 100.5, clock)
    assert plan.delete == [] and not plan.remove_marker
    # An Expiration in days removes a lone marker once it is that old.
    rules = _rules({"id": "d", "status": "Enabled", "prefix": "", "exp": {"days": 5}})
    assert not lr.plan_key(rules, "k", marker, [], 104.0, clock).remove_marker
    assert lr.plan_key(rules, "k", marker, [], 105.0, clock).remove_marker
    assert not lr.plan_key(rules, "k", marker, [_v("o", 50.0)], 105.0, clock).remove_marker


def test_plan_noncurrent_tags_and_transitions() -> None:
    clock = lr.Clock(1.0)
    rules = _rules({"id": "t", "status": "Enabled", "filter": {"tag": ["k", "v"]}, "ncexp": {"days": 5}},
                   {"id": "g", "status": "Enabled", "prefix": "", "nctr": [{"days": 1, "sc": "GLACIER"}]})
    current = _v("c", 100.0)
    older = [_v("a", 90.0, tags=[("k", "v")]), _v("b", 80.0, tags=[])]
    plan = lr.plan_key(rules, "x", current, older, 101.0, clock)
    assert plan.delete == [] and plan.storage_class == {"a": "GLACIER", "b": "GLACIER"}
    plan = lr.plan_key(rules, "x", current, older, 105.0, clock)
    assert plan.delete == ["a"] and plan.storage_class == {"b": "GLACIER"}


def test_abort_date() -> None:
    rules = _rules({"id": "m", "status": "Enabled", "filter": {"prefix": "up/"}, "abort": 2},
                   {"id": "off", "status": "Disabled", "prefix": "", "abort": 1})
    clock = lr.Clock()
    started = datetime(2020, 5, 1, 23, 0, tzinfo=UTC).timestamp()
    assert lr.abort_date(rules, "up/x", started, clock) == (datetime(2020, 5, 4, tzinfo=UTC).timestamp(), "m")
    assert lr.abort_date(rules, "other", started, clock) is None


def test_stored_tags() -> None:
    assert lr.stored_tags(json.dumps({"x-amz-tagging": "a=1&b=%20x"})) == [("a", "1"), ("b", " x")]
    assert lr.stored_tags("{}") == []


def test_mutated_documents_are_s3_errors_or_valid() -> None:
    """Whatever a client sends gets a configuration or an S3Error (a 4xx), never another exception."""
    import random

    base = _doc(
        _rule("<Filter><And><Prefix>t/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><ObjectSizeLessThan>9"
              "</ObjectSizeLessThan></And></Filter><NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays>"
              "<NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
              "<Transition><Date>2030-01-01T00:00:00Z</Date><StorageClass>GLACIER</StorageClass></Transition>"
              "<NoncurrentVersionTransition><NoncurrentDays>1</NoncurrentDays><StorageClass>GLACIER"
              "</StorageClass></NoncurrentVersionTransition>"),
        _rule("<Prefix>p</Prefix><Expiration><Days>3</Days></Expiration><AbortIncompleteMultipartUpload>"
              "<DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>", rid="x"))
    rnd = random.Random(7)
    pieces = [b"<", b">", b"/", b"-1", b"99999999999999999999", b"", b"<Days>", b"</Filter>", b"T25:00", b"\xff",
              b"<Tag>", b"Z", b"0"]
    for _ in range(3000):
        doc = bytearray(base)
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randrange(len(doc))
            doc[at:at + rnd.randint(0, 4)] = rnd.choice(pieces)
        try:
            cfg = lc.parse_configuration(bytes(doc))
        except S3Error as exc:
            assert 400 <= exc.status < 500
        else:
            lc.render_configuration(cfg)
            for record in cfg["rules"]:
                lr.rule_of(record)


def test_far_future_has_no_header() -> None:
    from pails.storage.records import Bucket

    cfg = lc.parse_configuration(_doc(_rule(f"<Prefix/><Expiration><Days>{lc.MAX_INT}</Days></Expiration>"
                                            "<AbortIncompleteMultipartUpload><DaysAfterInitiation>"
                                            f"{lc.MAX_INT}</DaysAfterInitiation></AbortIncompleteMultipartUpload>")))
    bucket = Bucket(1, "b", "o", 0.0, "us-east-1", "{}", None, json.dumps({"lifecycle": cfg}))
    assert lc.expiration_header(bucket, "k", 1, [], 1e9) == []
    assert lc.abort_headers(bucket, "k", 1e9) == []
    assert _code(_doc(_rule(f"<Prefix/><Expiration><Days>{lc.MAX_INT + 1}</Days></Expiration>"))) == "MalformedXML"
