"""Bucket notifications against a real Pails server and the real services
on 127.0.0.1 (docs/notifications.md): the configuration API and its errors,
the test event, every event type arriving once at a webhook, each broker
kind, MinIO's ListenBucketNotification refused, and delivery that survives
a target that is down while the server is SIGKILLed, and a bounded outbox."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from botocore.exceptions import ClientError

from tests import notify_peers as peers
from tests.notify_peers import CONSUMERS, Webhook, records_of
from tests.pails_server import Server, free_port

DEADLINE = 30.0


def wait_for(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def pails(server: Server, *args: str) -> str:
    cmd = [sys.executable, "-m", "pails", *args, "--data", str(server.data_dir), *server.meta_args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def add_target(server: Server, name: str, kind: str, **options: Any) -> str:
    words = [f"{k}={json.dumps(v) if isinstance(v, bool) else v}" for k, v in options.items()]
    return pails(server, "target", "add", name, kind, *words).strip()


def target_state(server: Server, name: str) -> dict[str, Any]:
    return next(t for t in json.loads(pails(server, "target", "list", "--json")) if t["name"] == name)


def queue_config(arn: str, events: list[str], prefix: str = "", suffix: str = "", id_: str = "c1") -> dict[str, Any]:
    config: dict[str, Any] = {"Id": id_, "QueueArn": arn, "Events": events}
    rules = [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix)) if v]
    if rules:
        config["Filter"] = {"Key": {"FilterRules": rules}}
    return config


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook().start()
    yield hook
    hook.stop()


@pytest.fixture(scope="module")
def hook_arn(server: Server, webhook: Webhook) -> str:
    return add_target(server, "hook" + uuid.uuid4().hex[:8], "webhook", endpoint=webhook.url, auth_token="Bearer t0k")


def test_configuration_round_trip_and_test_event(s3, bucket: str, hook_arn: str, webhook: Webhook) -> None:
    assert s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", []) == []
    before = len(webhook.bodies)
    configs = [queue_config(hook_arn, ["s3:ObjectCreated:*"], prefix="photos/", suffix=".jpg"),
               queue_config(hook_arn, ["s3:ObjectRemoved:Delete", "s3:ObjectTagging:*"], id_="c2")]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs})
    got = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert [c["Id"] for c in got] == ["c1", "c2"]
    assert got[0]["QueueArn"] == hook_arn and got[0]["Events"] == ["s3:ObjectCreated:*"]
    rules = {r["Name"].lower(): r["Value"] for r in got[0]["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "photos/", "suffix": ".jpg"}
    # AWS validates the destination with s3:TestEvent, synchronously.
    tests = [b for b in webhook.bodies[before:] if b.get("Event") == "s3:TestEvent"]
    assert len(tests) == 1 and tests[0]["Bucket"] == bucket
    assert webhook.auth[-1] == "Bearer t0k"
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)


@pytest.mark.parametrize("events, rules, why", [
    (["s3:ObjectCreated:Nope"], {}, "The event is not supported for notifications"),
    (["s3:ObjectCreated:Put"], {"Key": {"FilterRules": [{"Name": "other", "Value": "x"}]}},
     "filter rule name must be either prefix or suffix"),
])
def test_invalid_configurations(s3, bucket: str, hook_arn: str, events: list[str], rules: dict[str, Any],
                                why: str) -> None:
    config: dict[str, Any] = {"QueueArn": hook_arn, "Events": events}
    if rules:
        config["Filter"] = rules
    with pytest.raises(ClientError) as err:
        s3.put_bucket_notification_configuration(Bucket=bucket,
                                                 NotificationConfiguration={"QueueConfigurations": [config]})
    assert err.value.response["Error"]["Code"] == "InvalidArgument"
    assert why in err.value.response["Error"]["Message"]


def test_overlapping_and_unknown_destinations(s3, bucket: str, hook_arn: str, server: Server) -> None:
    overlapping = [queue_config(hook_arn, ["s3:ObjectCreated:*"], prefix="a/"),
                   queue_config(hook_arn, ["s3:ObjectCreated:Put"], prefix="a/b", id_="c2")]
    with pytest.raises(ClientError) as err:
        s3.put_bucket_notification_configuration(Bucket=bucket,
                                                 NotificationConfiguration={"QueueConfigurations": overlapping})
    assert err.value.response["Error"]["Code"] == "InvalidArgument"
    assert "overlap" in err.value.response["Error"]["Message"]
    # Disjoint prefixes do not overlap.
    fine = [queue_config(hook_arn, ["s3:ObjectCreated:*"], prefix="a/"),
            queue_config(hook_arn, ["s3:ObjectCreated:Put"], prefix="b/", id_="c2")]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": fine})
    for arn in ("arn:pails:sqs::nosuch:webhook", "arn:aws:sqs:us-east-1:123456789012:q"):
        with pytest.raises(ClientError) as err:
            s3.put_bucket_notification_configuration(
                Bucket=bucket,
                NotificationConfiguration={"QueueConfigurations": [queue_config(arn, ["s3:ObjectCreated:*"])]})
        assert err.value.response["Error"]["Code"] == "InvalidArgument"
        assert err.value.response["Error"]["Message"] == "Unable to validate the following destination configurations"
    # A target that does not accept the test event fails validation too, unless validation is skipped.
    down = add_target(server, "down" + uuid.uuid4().hex[:8], "webhook", endpoint=f"http://127.0.0.1:{free_port()}/")
    cfg = {"QueueConfigurations": [queue_config(down, ["s3:ObjectCreated:*"])]}
    with pytest.raises(ClientError) as err:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=cfg)
    assert err.value.response["Error"]["Message"] == "Unable to validate the following destination configurations"
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=cfg,
                                             SkipDestinationValidation=True)
    # MinIO's form of the ARN names the same target.
    minio_arn = hook_arn.replace("arn:pails:", "arn:minio:")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [queue_config(minio_arn, ["s3:ObjectCreated:*"])]})
    got = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert got[0]["QueueArn"] == minio_arn


def test_listen_bucket_notification_is_not_implemented(server: Server, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = f"{server.endpoint}/{bucket}?events=s3%3AObjectCreated%3A%2A&prefix=&suffix="
    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(s3._request_signer._credentials, "s3", "us-east-1").add_auth(request)
    resp = urllib3.request("GET", url, headers=dict(request.headers), timeout=10)
    assert resp.status == 501, resp.data and b"<Code>NotImplemented</Code>" in resp.data
    assert b"ListBucketResult" not in resp.data


def _events(records: list[dict[str, Any]], bucket: str) -> list[tuple[str, str]]:
    return [(r["eventName"], urllib.parse.unquote_plus(r["s3"]["object"]["key"])) for r in records
            if r["s3"]["bucket"]["name"] == bucket]


@pytest.fixture
def versioned(s3) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={})
    listing = s3.list_object_versions(Bucket=name)
    for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=name)


def test_every_event_type_arrives_once(server: Server, s3, versioned: str, hook_arn: str, webhook: Webhook) -> None:
    bucket = versioned
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectTagging:*", "s3:ObjectAcl:Put"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [queue_config(hook_arn, events)]})
    put = s3.put_object(Bucket=bucket, Key="a b/π.txt", Body=b"hello")
    post = s3.generate_presigned_post(bucket, "posted")
    form = urllib3.request("POST", post["url"], fields={**post["fields"], "file": ("f", b"form")}, timeout=10)
    assert form.status == 204
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "a b/π.txt"})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="multi", UploadId=upload, PartNumber=1, Body=b"m" * 10)
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    s3.put_object_tagging(Bucket=bucket, Key="copied", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    s3.delete_object_tagging(Bucket=bucket, Key="copied")
    s3.put_object_acl(Bucket=bucket, Key="copied", ACL="public-read")
    marker = s3.delete_object(Bucket=bucket, Key="posted")  # a delete marker
    s3.delete_object(Bucket=bucket, Key="multi", VersionId=s3.head_object(Bucket=bucket, Key="multi")["VersionId"])
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "copied"}, {"Key": "never-there-is-fine"}]})
    expected = [
        ("ObjectCreated:Put", "a b/π.txt"), ("ObjectCreated:Post", "posted"), ("ObjectCreated:Copy", "copied"),
        ("ObjectCreated:CompleteMultipartUpload", "multi"), ("ObjectTagging:Put", "copied"),
        ("ObjectTagging:Delete", "copied"), ("ObjectAcl:Put", "copied"),
        ("ObjectRemoved:DeleteMarkerCreated", "posted"), ("ObjectRemoved:Delete", "multi"),
        ("ObjectRemoved:DeleteMarkerCreated", "copied"), ("ObjectRemoved:DeleteMarkerCreated", "never-there-is-fine"),
    ]
    wait_for(lambda: len(_events(webhook.records(), bucket)) >= len(expected), "every event")
    records = [r for r in webhook.records() if r["s3"]["bucket"]["name"] == bucket]
    assert sorted(_events(records, bucket)) == sorted(expected)
    first = records[0]
    assert first["eventVersion"] == "2.1" and first["eventSource"] == "aws:s3"
    assert first["s3"]["object"]["key"] == "a+b/%CF%80.txt"
    assert first["s3"]["object"]["size"] == 5
    assert first["s3"]["object"]["eTag"] == put["ETag"].strip('"')
    assert first["s3"]["object"]["versionId"] == put["VersionId"]
    assert first["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert first["s3"]["configurationId"] == "c1"
    assert first["responseElements"]["x-amz-request-id"]
    assert first["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    by_marker = [r for r in records if r["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
                 and r["s3"]["object"]["key"] == "posted"]
    assert by_marker[0]["s3"]["object"]["versionId"] == marker["VersionId"]
    sequencers = [r["s3"]["object"]["sequencer"] for r in records]
    assert sequencers == sorted(sequencers) and len(set(sequencers)) == len(sequencers)


def test_filters_select_events(s3, bucket: str, hook_arn: str, webhook: Webhook) -> None:
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
        queue_config(hook_arn, ["s3:ObjectCreated:Put"], prefix="in/", suffix=".jpg")]})
    for key in ("in/a.jpg", "in/a.png", "out/a.jpg", "in/b.jpg"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.delete_object(Bucket=bucket, Key="in/a.jpg")  # not configured
    wait_for(lambda: len(_events(webhook.records(), bucket)) >= 2, "the filtered events")
    s3.put_object(Bucket=bucket, Key="in/c.jpg", Body=b"x")  # a later event: earlier extras would have come first
    wait_for(lambda: len(_events(webhook.records(), bucket)) >= 3, "the last event")
    assert _events(webhook.records(), bucket) == [("ObjectCreated:Put", "in/a.jpg"), ("ObjectCreated:Put", "in/b.jpg"),
                                                  ("ObjectCreated:Put", "in/c.jpg")]


@pytest.mark.parametrize("kind", sorted(CONSUMERS))
def test_each_broker_receives_events_once(server: Server, s3, bucket: str, kind: str) -> None:
    consumer = peers.consumer(kind)
    try:
        arn = add_target(server, consumer.name, consumer.kind, **consumer.options())
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            queue_config(arn, ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])]})
        assert any(json.loads(m).get("Event") == "s3:TestEvent" for m in wait_for(consumer.messages, "the test event"))
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * i)
        s3.delete_object(Bucket=bucket, Key="k0")
        expected = [("ObjectCreated:Put", "k0"), ("ObjectCreated:Put", "k1"), ("ObjectCreated:Put", "k2"),
                    ("ObjectRemoved:Delete", "k0")]
        wait_for(lambda: len(records_of(consumer.messages())) >= 4, f"the events on {kind}")
        assert _events(records_of(consumer.messages()), bucket) == expected
        assert target_state(server, consumer.name)["queued"] == 0
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
        pails(server, "target", "remove", consumer.name)
        consumer.close()


def test_minio_listen_bucket_notification_fails_at_once(server: Server, bucket: str) -> None:
    """minio-py's listen_bucket_notification gets NotImplemented (with a listing it looped forever)."""
    from minio import Minio
    from minio.error import S3Error as MinioError

    minio = Minio(f"127.0.0.1:{server.port}", access_key=server.access_key, secret_key=server.secret_key,
                  secure=False)
    with pytest.raises(MinioError) as err:
        with minio.listen_bucket_notification(bucket, events=["s3:ObjectCreated:*"]) as events:
            next(iter(events))
    assert err.value.code == "NotImplemented"


def test_only_the_owner_configures(s3, alt_s3, bucket: str, hook_arn: str) -> None:
    config = {"QueueConfigurations": [queue_config(hook_arn, ["s3:ObjectCreated:*"])]}
    for call in (lambda: alt_s3.put_bucket_notification_configuration(Bucket=bucket,
                                                                      NotificationConfiguration=config),
                 lambda: alt_s3.get_bucket_notification_configuration(Bucket=bucket)):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as err:
        s3.get_bucket_notification_configuration(Bucket="no-such-bucket-" + uuid.uuid4().hex[:8])
    assert err.value.response["Error"]["Code"] == "NoSuchBucket"
