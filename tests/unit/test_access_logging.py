"""The pure parts of server access logging: the configuration's XML, the
record lines, the delivery decision and the log object keys."""

from __future__ import annotations

import json
import shlex

import pytest

from pails.access import acl as acls
from pails.access.log_delivery import delivery_allowed
from pails.errors import S3Error
from pails.s3 import log_format, logging_config
from pails.storage.log_spool import Target, unique_key

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def _status(inner: str) -> bytes:
    return f"<BucketLoggingStatus {NS}>{inner}</BucketLoggingStatus>".encode()


def test_parse_and_render_round_trip() -> None:
    body = _status(
        "<LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix>p/</TargetPrefix>"
        '<TargetGrants><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">'
        "<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>"
        "</TargetGrants><TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>DeliveryTime"
        "</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat><ObjectRollTime>7</ObjectRollTime>"
        "<LoggingType>Journal</LoggingType><Filter><Key><FilterRule><Name>suffix</Name><Value>.txt</Value>"
        "</FilterRule></Key></Filter></LoggingEnabled>")
    config = logging_config.parse(body, 5.0)
    assert config is not None
    assert (config.target_bucket, config.target_prefix, config.partitioned, config.date_source) == \
        ("logs", "p/", True, "DeliveryTime")
    assert (config.roll_time, config.logging_type, config.filter_rules) == (7, "Journal", [("suffix", ".txt")])
    assert config.grants[0].grantee == acls.ALL_USERS and config.modified == 5.0
    again = logging_config.parse(logging_config.render(config), 9.0)
    assert again is not None and again.same_setup(config) and again.modified == 9.0
    stored = logging_config.LoggingConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert stored == config
    assert config.key_matches("a.txt") and not config.key_matches("a.bin") and not config.key_matches(None)


def test_defaults_and_disabling() -> None:
    config = logging_config.parse(_status("<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/>"
                                          "</LoggingEnabled>"), 0.0)
    assert config is not None
    assert (config.target_prefix, config.partitioned, config.logging_type, config.roll_time) == \
        ("", False, "Standard", logging_config.DEFAULT_ROLL_TIME)
    assert b"<SimplePrefix/>" in logging_config.render(config)
    assert logging_config.parse(_status(""), 0.0) is None
    assert logging_config.config_of("{}") is None


@pytest.mark.parametrize("inner, code", [
    ("<LoggingEnabled><TargetPrefix>p</TargetPrefix></LoggingEnabled>", "MalformedXML"),
    ("<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/><LoggingType>Other</LoggingType>"
     "</LoggingEnabled>", "MalformedXML"),
    ("<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/><TargetObjectKeyFormat><PartitionedPrefix>"
     "<PartitionDateSource>Later</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat>"
     "</LoggingEnabled>", "MalformedXML"),
    ("<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/><TargetObjectKeyFormat><SimplePrefix/>"
     "<PartitionedPrefix/></TargetObjectKeyFormat></LoggingEnabled>", "MalformedXML"),
    ("<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/><ObjectRollTime>0</ObjectRollTime>"
     "</LoggingEnabled>", "InvalidArgument"),
])
def test_refused_configurations(inner: str, code: str) -> None:
    with pytest.raises(S3Error) as err:
        logging_config.parse(_status(inner), 0.0)
    assert err.value.code == code


def _entry(**changes: object) -> log_format.Entry:
    entry = log_format.Entry(
        bucket_owner="owner", bucket="b", time=1549411238.0, remote_ip="10.0.0.1", requester="", request_id="R1",
        operation="REST.GET.OBJECT", key="a b/c", method="GET", uri="/b/a%20b/c?x=1", status=404,
        error_code="NoSuchKey", bytes_sent=0, object_size=None, total_ms=3, turnaround_ms=1, referer="",
        user_agent='ua "q" 1', version_id=None, signature_version="", auth_type="", host="h:1", acl_required=False)
    for name, value in changes.items():
        setattr(entry, name, value)
    return entry


def test_standard_line_parses_into_26_fields() -> None:
    line = log_format.standard_line(_entry())
    fields = shlex.split(line.replace("[", '"').replace("]", '"'))
    assert len(fields) == 26
    assert fields[:10] == ["owner", "b", "06/Feb/2019:00:00:38 +0000", "10.0.0.1", "-", "R1", "REST.GET.OBJECT",
                           "a%20b/c", "GET /b/a%20b/c?x=1 HTTP/1.1", "404"]
    assert fields[10:14] == ["NoSuchKey", "-", "-", "3"]
    assert fields[16] == 'ua "q" 1' and fields[15] == "-" and fields[25] == "-"
    assert shlex.split(log_format.standard_line(_entry(acl_required=True)))[-1] == "Yes"


def test_journal_line() -> None:
    line = log_format.journal_line(_entry(operation="REST.PUT.OBJECT", object_size=5, version_id="v1",
                                          etag='"abc"'))
    fields = shlex.split(line.replace("[", '"').replace("]", '"'))
    assert fields == ["owner", "b", "06/Feb/2019:00:00:38 +0000", "REST.PUT.OBJECT", "a%20b/c", "5", "v1", "abc"]


def test_operation_names() -> None:
    assert log_format.operation("DeleteObjects", "POST", "delete") == "REST.POST.DELETE_MULTI_OBJECT"
    assert log_format.operation("PutObjectAcl", "PUT", "acl") == "REST.PUT.ACL"
    assert log_format.operation("PutObjectLegalHold", "PUT", "legal-hold") == "REST.PUT.LEGAL_HOLD"
    assert log_format.operation("", "GET", None) == "REST.GET.UNKNOWN"


def _policy(**statement: object) -> str:
    base = {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::logs/p/*"}
    base.update(statement)
    return json.dumps({"Version": "2012-10-17", "Statement": [base]})


PRIVATE = acls.Acl("o", "o", (acls.Grant(acls.CANONICAL_USER, "o", acls.FULL_CONTROL),)).to_json()


@pytest.mark.parametrize("policy, allowed", [
    (_policy(), True),
    (_policy(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:s3:::src"},
                        "StringEquals": {"aws:SourceAccount": "123456789012"}}), True),
    (_policy(Condition={"StringEquals": {"aws:SourceAccount": "canonical"}}), True),
    (_policy(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:s3:::other"}}), False),
    (_policy(Principal={"AWS": "*"}), False),
    (_policy(Principal={"Service": "s3.amazonaws.com"}), False),
    (_policy(Action="s3:GetObject"), False),
    (_policy(Resource="arn:aws:s3:::logs/other/*"), False),
    (_policy(Effect="Deny", Principal="*", Action="s3:*", Resource="arn:aws:s3:::logs/*"), False),
    (None, False),
])
def test_delivery_decision(policy: str | None, allowed: bool) -> None:
    assert delivery_allowed("logs", policy, PRIVATE, "p/", "src", ("123456789012", "canonical")) is allowed


def test_log_delivery_group_acl() -> None:
    acl = acls.Acl("o", "o", (acls.Grant(acls.GROUP, acls.LOG_DELIVERY, acls.WRITE),)).to_json()
    assert delivery_allowed("logs", None, acl, "p/", "src", ("1",))


def test_keys_sort_in_delivery_order() -> None:
    simple = Target("logs", 1, "p/", False, "EventTime", 300)
    keys = [unique_key("p/", simple, 1_700_000_000 + i / 1000, 0) for i in range(50)]
    assert keys == sorted(keys) and len(set(keys)) == 50
    assert keys[0].startswith("p/2023-11-14-22-13-20-") and len(keys[0].rsplit("-", 1)[1]) == 16
    partitioned = Target("logs", 1, "p/123/us-east-1/src/", True, "EventTime", 300)
    key = unique_key(partitioned.key_prefix, partitioned, 1_700_000_000, 1_600_000_000)
    assert key.startswith("p/123/us-east-1/src/2020/09/13/2023-11-14-22-13-20-")
