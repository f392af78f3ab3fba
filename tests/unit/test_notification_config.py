"""The pure parts of bucket notifications: the configuration's parser and
renderer (AWS's errors), overlap, the events a write records, ARNs and
target options (pails.s3.notification, pails.storage.notify, pails.events.targets)."""

from __future__ import annotations

import json

import pytest

from pails.errors import S3Error
from pails.events.targets import check_options, message, target_of_arn
from pails.s3.notification import parse_configuration, render_configuration
from pails.storage.meta import Deleted
from pails.storage.notify import Config, Pending, RequestInfo, overlap, pending_for, with_sequencer

ARN = "arn:pails:sqs::hook:webhook"


def _doc(*configs: str) -> bytes:
    return ("<NotificationConfiguration xmlns='http://s3.amazonaws.com/doc/2006-03-01/'>" + "".join(configs)
            + "</NotificationConfiguration>").encode()


def _queue(events: list[str], prefix: str = "", suffix: str = "", id_: str = "", arn: str = ARN,
           tag: str = "Queue") -> str:
    rules = "".join(f"<FilterRule><Name>{n}</Name><Value>{v}</Value></FilterRule>"
                    for n, v in (("prefix", prefix), ("suffix", suffix)) if v)
    return (f"<{tag}Configuration>" + (f"<Id>{id_}</Id>" if id_ else "") + f"<{tag}>{arn}</{tag}>"
            + "".join(f"<Event>{e}</Event>" for e in events)
            + (f"<Filter><S3Key>{rules}</S3Key></Filter>" if rules else "") + f"</{tag}Configuration>")


def _error(body: bytes) -> S3Error:
    with pytest.raises(S3Error) as err:
        parse_configuration(body)
    return err.value


def test_parse_and_render_round_trip() -> None:
    parsed = parse_configuration(_doc(_queue(["s3:ObjectCreated:*"], "a/", ".jpg", "one"),
                                      _queue(["s3:ObjectRemoved:Delete"], id_="two", tag="Topic",
                                             arn="arn:minio:sqs::hook:webhook")))
    configs = [c for c, _ in parsed]
    assert [c.id for c in configs] == ["one", "two"]
    assert configs[0] == Config("one", "Queue", ARN, "hook", ("s3:ObjectCreated:*",), "a/", ".jpg")
    assert parsed[1][1] == ("hook", "webhook")
    again = [c for c, _ in parse_configuration(render_configuration(configs))]
    assert again == configs


def test_an_id_is_generated() -> None:
    (config, _), = parse_configuration(_doc(_queue(["s3:ObjectCreated:Put"])))
    assert len(config.id) == 32


@pytest.mark.parametrize("body, message", [
    (_doc(_queue(["s3:ObjectCreated:Nope"])), "The event is not supported for notifications"),
    (_doc(_queue([])), "At least one event must be specified."),
    (_doc(_queue(["s3:ObjectCreated:*"], prefix="a", id_="x"), _queue(["s3:ObjectCreated:Put"], prefix="ab")),
     "Configurations overlap. Configurations on the same bucket cannot share a common event type."),
    (_doc(_queue(["s3:ObjectCreated:*"], id_="x"), _queue(["s3:ObjectRemoved:*"], id_="x")),
     "Configuration Ids must be unique."),
])
def test_invalid_argument(body: bytes, message: str) -> None:
    err = _error(body)
    assert (err.code, err.message) == ("InvalidArgument", message)


def test_filter_rules() -> None:
    bad = _doc("<QueueConfiguration><Queue>q</Queue><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule>"
               "<Name>middle</Name><Value>x</Value></FilterRule></S3Key></Filter></QueueConfiguration>")
    assert _error(bad).message == "filter rule name must be either prefix or suffix"
    twice = _doc("<QueueConfiguration><Queue>q</Queue><Event>s3:ObjectCreated:*</Event><Filter><S3Key>"
                 "<FilterRule><Name>Prefix</Name><Value>a</Value></FilterRule>"
                 "<FilterRule><Name>prefix</Name><Value>b</Value></FilterRule></S3Key></Filter></QueueConfiguration>")
    assert _error(twice).message == "Cannot specify more than one prefix rule in a filter."
    assert _error(b"<Nope/>").code == "MalformedXML"
    assert _error(_doc("<EventBridgeConfiguration/>")).code == "NotImplemented"


def test_overlap() -> None:
    def c(events: tuple[str, ...], prefix: str = "", suffix: str = "") -> Config:
        return Config("i", "Queue", ARN, "hook", events, prefix, suffix)
    assert overlap(c(("s3:ObjectCreated:*",)), c(("s3:ObjectCreated:Put",)))
    assert not overlap(c(("s3:ObjectCreated:*",)), c(("s3:ObjectRemoved:*",)))
    assert not overlap(c(("s3:ObjectCreated:*",), "a/"), c(("s3:ObjectCreated:*",), "b/"))
    assert overlap(c(("s3:ObjectCreated:*",), "a/", ".jpg"), c(("s3:ObjectCreated:*",), "", "g"))
    assert not overlap(c(("s3:ObjectCreated:*",), "", ".jpg"), c(("s3:ObjectCreated:*",), "", ".png"))


def _pending(event: str, configs: list[Config], **fields: object) -> Pending:
    return Pending(event, "bkt", "owner", "a b/π.txt", configs, RequestInfo("me", "10.0.0.1", "R1", "H1"),
                   **fields)  # type: ignore[arg-type]


def test_rows_of_a_put() -> None:
    config = Config("c", "Queue", ARN, "hook", ("s3:ObjectCreated:*",))
    rows = _pending("s3:ObjectCreated:Put", [config], size=5, etag='"abc"').rows("0123456789abcdef0123456789abcdef")
    (target, _when, record_json), = rows
    assert target == "hook"
    record = with_sequencer(record_json, 255)
    assert record["eventName"] == "ObjectCreated:Put" and record["eventVersion"] == "2.1"
    assert record["s3"]["object"] == {"key": "a+b/%CF%80.txt", "size": 5, "eTag": "abc",
                                      "versionId": "0123456789abcdef0123456789abcdef",
                                      "sequencer": "00000000000000FF"}
    assert record["userIdentity"]["principalId"] == "me"
    assert record["requestParameters"]["sourceIPAddress"] == "10.0.0.1"
    assert json.loads(message(record))["Key"] == "bkt/a b/π.txt"
    assert _pending("s3:ObjectCreated:Put", [config]).rows("null")[0][2].find("versionId") < 0


def test_rows_of_deletes() -> None:
    removed = Config("c", "Queue", ARN, "hook", ("s3:ObjectRemoved:DeleteMarkerCreated",))
    assert _pending("s3:ObjectRemoved:Delete", [removed]).rows(Deleted(None, False, True)) == []
    (_, _, record_json), = _pending("s3:ObjectRemoved:Delete", [removed]).rows(Deleted("v1", True, True))
    assert json.loads(record_json)["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    # Removing a delete marker by its version id is a Delete, which this configuration does not want.
    assert _pending("s3:ObjectRemoved:Delete", [removed], version_id="v1").rows(Deleted("v1", True, True)) == []
    assert _pending("s3:ObjectAcl:Put", [Config("c", "Queue", ARN, "hook", ("s3:ObjectAcl:Put",))]).rows(False) == []


def test_pending_for_only_with_a_configuration() -> None:
    info = RequestInfo()
    assert pending_for("{}", "s3:ObjectCreated:Put", "b", "o", "k", info) is None
    props = json.dumps({"notification": {"configs": [
        Config("c", "Queue", ARN, "hook", ("s3:ObjectRemoved:DeleteMarkerCreated",), "in/").to_record()]}})
    assert pending_for(props, "s3:ObjectCreated:Put", "b", "o", "in/k", info) is None
    assert pending_for(props, "s3:ObjectRemoved:Delete", "b", "o", "out/k", info) is None
    assert pending_for(props, "s3:ObjectRemoved:Delete", "b", "o", "in/k", info) is not None


def test_arns_and_options() -> None:
    assert target_of_arn(ARN) == ("hook", "webhook")
    assert target_of_arn("arn:minio:sqs:us-east-1:hook:webhook") == ("hook", "webhook")
    assert target_of_arn("arn:aws:sqs:us-east-1:123456789012:queue") is None
    assert target_of_arn("nonsense") is None
    assert check_options("redis", {"key": "k"})["mode"] == "list"
    assert check_options("nats", {"subject": "s", "jetstream": "true"})["jetstream"] is True
    for kind, options in (("redis", {}), ("redis", {"key": "k", "mode": "x"}), ("nope", {}),
                          ("webhook", {"endpoint": "ftp://x"}), ("mysql", {"dsn": "d", "table": "a;b"}),
                          ("webhook", {"endpoint": "http://x", "max_queued": 0}), ("mqtt", {"topic": "t", "x": 1})):
        with pytest.raises(ValueError):
            check_options(kind, options)
