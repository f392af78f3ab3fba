"""Server access logging against a real Pails server (two workers): the
configuration API and its refusals, records of every kind of request parsed
back and checked against what was sent (Standard and Journal), delivery on
the flush call (``POST /bucket?logging``), by time and by size, a refused
delivery, and records spooled by a SIGKILLed server delivered after its
restart.  Waits are conditions with deadlines, never fixed sleeps."""

from __future__ import annotations

import json
import shlex
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.pails_server import Server

MODELS = str(Path(__file__).resolve().parents[2] / "scripts" / "s3tests-models")  # the flush call, LoggingType, ...
DEADLINE = 20.0
STANDARD_FIELDS = ("owner", "bucket", "time", "ip", "requester", "request_id", "operation", "key", "uri", "status",
                   "error", "bytes_sent", "object_size", "total_ms", "turnaround_ms", "referer", "user_agent",
                   "version_id", "host_id", "sig", "cipher", "auth", "host", "tls", "access_point", "acl_required")
JOURNAL_FIELDS = ("owner", "bucket", "time", "operation", "key", "object_size", "version_id", "etag")


def _client(server: Server, access_key: str | None = None, secret_key: str | None = None, **config: object):
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, MODELS)
    return boto3.Session(botocore_session=session).client(
        "s3", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id=access_key or server.access_key, aws_secret_access_key=secret_key or server.secret_key,
        config=Config(**config) if config else None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("logging") / "data", extra_args=["--workers", "2"]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def s3(server: Server):
    return _client(server)


def _wait(what: str, cond: Callable[[], bool], deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline} s: {what}")
        time.sleep(0.1)


def _name(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def _allow_logging(s3, target: str, sources: list[str], prefix: str = "log/") -> None:
    """The target's policy lets the logging service write the sources' logs, as AWS documents it."""
    s3.put_bucket_policy(Bucket=target, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{target}/{prefix}*",
        "Condition": {"ArnLike": {"aws:SourceArn": [f"arn:aws:s3:::{s}" for s in sources]}}}]}))


def _pair(s3, **extra: object) -> tuple[str, str]:
    """A source bucket logging into a new target bucket under log/."""
    src, dst = _name("src"), _name("logs")
    s3.create_bucket(Bucket=src)
    s3.create_bucket(Bucket=dst)
    _allow_logging(s3, dst, [src])
    s3.put_bucket_logging(Bucket=src, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": dst, "TargetPrefix": "log/", **extra}})
    return src, dst


def _parse(line: str, fields: tuple[str, ...]) -> dict[str, str]:
    chunks = shlex.split(line.replace("[", '"').replace("]", '"'))
    assert len(chunks) == len(fields), line
    return dict(zip(fields, chunks, strict=True))


def _log_objects(s3, target: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=target).get("Contents", [])]


def _records(s3, target: str, fields: tuple[str, ...] = STANDARD_FIELDS) -> list[dict[str, str]]:
    out = []
    for key in _log_objects(s3, target):
        body = s3.get_object(Bucket=target, Key=key)["Body"].read().decode()
        out.extend(_parse(line, fields) for line in body.splitlines())
    return out


def _http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    """A plain GET (no SDK): its status and headers."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            r.read()
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)


def _request_id(response: dict) -> str:
    return str(response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"])


# --- configuration ----------------------------------------------------------
def test_configuration_round_trip(s3) -> None:
    src, dst = _pair(s3)
    got = s3.get_bucket_logging(Bucket=src)
    assert got["LoggingEnabled"] == {"TargetBucket": dst, "TargetPrefix": "log/",
                                     "TargetObjectKeyFormat": {"SimplePrefix": {}}, "ObjectRollTime": 300,
                                     "LoggingType": "Standard", "RecordsBatchSize": 0}
    modified = got["ResponseMetadata"]["HTTPHeaders"]["last-modified"]
    # The same configuration again changes nothing, not even Last-Modified.
    s3.put_bucket_logging(Bucket=src, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": dst,
                                                                               "TargetPrefix": "log/"}})
    assert s3.get_bucket_logging(Bucket=src)["ResponseMetadata"]["HTTPHeaders"]["last-modified"] == modified
    owner = s3.get_bucket_acl(Bucket=src)["Owner"]["ID"]
    partitioned = {"TargetBucket": dst, "TargetPrefix": "log/",
                   "TargetGrants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner}, "Permission": "READ"}],
                   "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "DeliveryTime"}},
                   "LoggingType": "Journal", "ObjectRollTime": 60, "RecordsBatchSize": 0}
    s3.put_bucket_logging(Bucket=src, BucketLoggingStatus={"LoggingEnabled": partitioned})
    assert s3.get_bucket_logging(Bucket=src)["LoggingEnabled"] == partitioned
    s3.put_bucket_logging(Bucket=src, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=src)


def test_configuration_refusals(s3, server: Server) -> None:
    src, dst = _name("src"), _name("logs")
    s3.create_bucket(Bucket=src)
    s3.create_bucket(Bucket=dst)

    def refused(code: str, client=s3, bucket: str = src, **enabled: object) -> None:
        config = {"TargetBucket": dst, "TargetPrefix": "log/", **enabled}
        with pytest.raises(ClientError) as err:
            client.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": config})
        assert err.value.response["Error"]["Code"] == code

    refused("NoSuchBucket", bucket=src + "-missing")
    refused("InvalidTargetBucketForLogging", TargetBucket=dst + "-missing")
    refused("AccessDenied")  # the target allows no delivery yet
    s3.put_bucket_policy(Bucket=dst, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{dst}/*"}]}))
    refused("AccessDenied")  # AWS principals are not the logging service
    _allow_logging(s3, dst, [src + "-other"])
    refused("AccessDenied")  # the policy's SourceArn names another bucket
    _allow_logging(s3, dst, [src])
    refused("MalformedXML", LoggingType="Sometimes")
    refused("MalformedXML", TargetObjectKeyFormat={"PartitionedPrefix": {"PartitionDateSource": "Tomorrow"}})
    alt = server.add_user(_name("alt"))
    refused("AccessDenied", client=_client(server, alt["access_key"], alt["secret_key"]))
    # The older way: the target's ACL grants WRITE to the LogDelivery group.
    acl_target = _name("logs")
    s3.create_bucket(Bucket=acl_target)
    s3.put_bucket_acl(Bucket=acl_target, GrantWrite="uri=http://acs.amazonaws.com/groups/s3/LogDelivery",
                      GrantFullControl=f"id={s3.get_bucket_acl(Bucket=acl_target)['Owner']['ID']}")
    s3.put_bucket_logging(Bucket=src, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": acl_target,
                                                                               "TargetPrefix": ""}})


# --- records ------------------------------------------------------------------
def test_standard_records_of_every_request_type(s3, server: Server) -> None:
    src, dst = _pair(s3)
    owner = s3.get_bucket_acl(Bucket=src)["Owner"]["ID"]
    sent: dict[str, tuple[str, str]] = {}  # request id -> (operation, key)
    sent[_request_id(s3.put_object(Bucket=src, Key="dir/a b.txt", Body=b"hello"))] = ("REST.PUT.OBJECT", "dir/a b.txt")
    got = s3.get_object(Bucket=src, Key="dir/a b.txt")
    assert got["Body"].read() == b"hello"
    sent[_request_id(got)] = ("REST.GET.OBJECT", "dir/a b.txt")
    sent[_request_id(s3.head_object(Bucket=src, Key="dir/a b.txt"))] = ("REST.HEAD.OBJECT", "dir/a b.txt")
    sent[_request_id(s3.list_objects_v2(Bucket=src))] = ("REST.GET.BUCKET", "-")
    upload = s3.create_multipart_upload(Bucket=src, Key="big")
    sent[_request_id(upload)] = ("REST.POST.UPLOADS", "big")
    part = s3.upload_part(Bucket=src, Key="big", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 100)
    sent[_request_id(part)] = ("REST.PUT.PART", "big")
    done = s3.complete_multipart_upload(Bucket=src, Key="big", UploadId=upload["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    sent[_request_id(done)] = ("REST.POST.UPLOAD", "big")
    sent[_request_id(s3.delete_object(Bucket=src, Key="big"))] = ("REST.DELETE.OBJECT", "big")
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=src, Key="missing")
    sent[missing.value.response["ResponseMetadata"]["RequestId"]] = ("REST.GET.OBJECT", "missing")
    status, anonymous = _http_get(f"{server.endpoint}/{src}/dir/a%20b.txt")
    assert status == 403
    sent[anonymous["x-amz-request-id"]] = ("REST.GET.OBJECT", "dir/a b.txt")
    presigned = _client(server, signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": src, "Key": "dir/a b.txt"})
    status, by_url = _http_get(presigned, {"User-Agent": 'tester "quoted"', "Referer": "http://r.example/"})
    assert status == 200
    sent[by_url["x-amz-request-id"]] = ("REST.GET.OBJECT", "dir/a b.txt")
    flushed = s3.post_bucket_logging(Bucket=src)["FlushedLoggingObject"]
    assert flushed.startswith("log/") and _log_objects(s3, dst) == [flushed]
    records = {r["request_id"]: r for r in _records(s3, dst)}
    for request_id, (operation, key) in sent.items():
        r = records[request_id]
        assert (r["operation"], r["key"].replace("%20", " ")) == (operation, key), r
        assert r["owner"] == owner and r["bucket"] == src and r["host_id"] == request_id
        assert r["time"].endswith("+0000") and r["ip"] == "127.0.0.1"
    put = records[next(i for i, v in sent.items() if v[0] == "REST.PUT.OBJECT")]
    assert put["uri"] == f"PUT /{src}/dir/a%20b.txt HTTP/1.1" and put["status"] == "200"
    assert put["requester"] == owner and put["sig"] == "SigV4" and put["auth"] == "AuthHeader"
    assert put["object_size"] == "5" and put["host"] == server.endpoint.split("//")[1]
    assert put["user_agent"].startswith("Boto3/")
    get = records[_request_id(got)]
    assert get["bytes_sent"] == "5" and get["object_size"] == "5"
    error = records[missing.value.response["ResponseMetadata"]["RequestId"]]
    assert (error["status"], error["error"]) == ("404", "NoSuchKey")
    denied = records[anonymous["x-amz-request-id"]]
    assert (denied["status"], denied["error"], denied["requester"], denied["auth"], denied["sig"]) == \
        ("403", "AccessDenied", "-", "-", "-")
    signed_url = records[by_url["x-amz-request-id"]]
    assert (signed_url["auth"], signed_url["sig"]) == ("QueryString", "SigV4")
    assert signed_url["user_agent"] == 'tester "quoted"' and signed_url["referer"] == "http://r.example/"


def test_journal_records_and_filter(s3) -> None:
    src, dst = _pair(s3, LoggingType="Journal", Filter={"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}})
    s3.put_bucket_versioning(Bucket=src, VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket=src, Key="in/a", Body=b"12345")
    s3.put_object(Bucket=src, Key="out/b", Body=b"x")
    s3.get_object(Bucket=src, Key="in/a")  # reads are not journaled
    s3.put_object_tagging(Bucket=src, Key="in/a", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    s3.delete_objects(Bucket=src, Delete={"Objects": [{"Key": "in/a", "VersionId": put["VersionId"]},
                                                      {"Key": "out/b"}]})
    s3.post_bucket_logging(Bucket=src)
    records = _records(s3, dst, JOURNAL_FIELDS)
    assert [(r["operation"], r["key"]) for r in records] == [
        ("REST.PUT.OBJECT", "in/a"), ("REST.PUT.OBJECT_TAGGING", "in/a"), ("REST.POST.DELETE_MULTI_OBJECT", "in/a")]
    assert records[0]["object_size"] == "5" and records[0]["etag"] == put["ETag"].strip('"')
    assert records[0]["version_id"] == put["VersionId"] == records[2]["version_id"]


def test_acl_required_field(s3, server: Server) -> None:
    src, dst = _pair(s3)
    s3.put_object(Bucket=src, Key="k", Body=b"x", ACL="public-read")
    alt = server.add_user(_name("alt"))
    alt_s3 = _client(server, alt["access_key"], alt["secret_key"])
    by_acl = _request_id(alt_s3.get_object(Bucket=src, Key="k"))
    by_owner = _request_id(s3.get_object(Bucket=src, Key="k"))
    s3.post_bucket_logging(Bucket=src)
    records = {r["request_id"]: r for r in _records(s3, dst)}
    assert records[by_acl]["acl_required"] == "Yes" and records[by_owner]["acl_required"] == "-"
    assert records[by_acl]["requester"] == alt["canonical_id"]


# --- delivery -------------------------------------------------------------
def test_flush_key_format_and_empty_flush(s3) -> None:
    src, dst = _pair(s3, TargetObjectKeyFormat={"PartitionedPrefix": {"PartitionDateSource": "EventTime"}})
    s3.put_object(Bucket=src, Key="k", Body=b"x")
    key = s3.post_bucket_logging(Bucket=src)["FlushedLoggingObject"]
    day = time.strftime("%Y/%m/%d", time.gmtime())
    assert key.startswith("log/") and f"/us-east-1/{src}/{day}/" in key
    stamp, unique = key.rsplit("/", 1)[1].rsplit("-", 1)
    assert len(unique) == 16 and abs(time.mktime(time.strptime(stamp, "%Y-%m-%d-%H-%M-%S")) - time.mktime(
        time.gmtime())) < 60
    # A flush with nothing pending still delivers an (empty) object; a second one likewise.
    second = s3.post_bucket_logging(Bucket=src)["FlushedLoggingObject"]
    assert second > key and len(_log_objects(s3, dst)) == 2


def test_roll_by_time(s3) -> None:
    src, dst = _pair(s3, ObjectRollTime=1)
    s3.put_object(Bucket=src, Key="first", Body=b"x")
    # Delivered without a flush: once the next record arrives after the roll
    # time, or by the periodic pass after twice the roll time.
    _wait("a log object by time", lambda: len(_log_objects(s3, dst)) == 1)
    assert [r["key"] for r in _records(s3, dst)] == ["first"]


def test_configuration_change_delivers_pending(s3) -> None:
    src, dst = _pair(s3)
    s3.put_object(Bucket=src, Key="before", Body=b"x")
    out = s3.put_bucket_logging(Bucket=src, BucketLoggingStatus={})
    assert _log_objects(s3, dst) == [out["FlushedLoggingObject"]]
    assert [r["key"] for r in _records(s3, dst)] == ["before"]
    s3.put_object(Bucket=src, Key="after", Body=b"x")  # logging is off: no record
    assert s3.post_bucket_logging(Bucket=src)["FlushedLoggingObject"] == ""


def test_refused_delivery(s3) -> None:
    src, dst = _pair(s3)
    s3.put_object(Bucket=src, Key="k", Body=b"x")
    _allow_logging(s3, dst, [src + "-other"])
    with pytest.raises(ClientError) as err:
        s3.post_bucket_logging(Bucket=src)
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert _log_objects(s3, dst) == []
    # A Journal write whose journal the target refuses is refused itself.
    _allow_logging(s3, dst, [src])
    s3.put_bucket_logging(Bucket=src, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": dst, "TargetPrefix": "log/", "LoggingType": "Journal"}})
    _allow_logging(s3, dst, [src + "-other"])
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=src, Key="refused", Body=b"x")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert err.value.response["Error"]["Message"].startswith("Logging bucket")
    s3.delete_object(Bucket=src, Key="k")  # deletes are never refused for their journal


def test_deleted_source_delivers_pending(s3) -> None:
    src, dst = _pair(s3)
    s3.put_object(Bucket=src, Key="k", Body=b"x")
    s3.delete_object(Bucket=src, Key="k")
    s3.delete_bucket(Bucket=src)
    assert sorted(r["operation"] for r in _records(s3, dst)) == ["REST.DELETE.OBJECT", "REST.PUT.OBJECT"]


# --- a server of its own: size roll, SIGKILL ------------------------------------
@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", extra_args=["--workers", "2"],
                 env={"PAILS_ACCESS_LOG_MAX_OBJECT": "2000"}).start()
    yield srv
    srv.stop()


def test_roll_by_size(small_server: Server) -> None:
    s3 = _client(small_server)
    src, dst = _pair(s3)
    for i in range(20):  # about 400 bytes a record: 8000 bytes, about four objects of 2000
        s3.put_object(Bucket=src, Key=f"k{i:02d}", Body=b"x")
    _wait("log objects by size", lambda: len(_log_objects(s3, dst)) >= 3)
    s3.post_bucket_logging(Bucket=src)
    keys = [r["key"] for r in _records(s3, dst) if r["operation"] == "REST.PUT.OBJECT"]
    assert sorted(keys) == [f"k{i:02d}" for i in range(20)]
    assert all(o["Size"] < 2000 + 1000 for o in s3.list_objects_v2(Bucket=dst)["Contents"])


def test_spooled_records_survive_sigkill(small_server: Server) -> None:
    s3 = _client(small_server)
    src, dst = _pair(s3)
    ids = [_request_id(s3.put_object(Bucket=src, Key=f"k{i}", Body=b"x")) for i in range(5)]
    spool = small_server.data_dir / "access-log" / "spool"

    def spooled() -> bool:
        text = "".join(p.read_text() for p in spool.iterdir() if p.is_file())
        return all(i in text for i in ids)

    _wait("records spooled", spooled)
    small_server.kill()
    small_server.start()
    s3 = _client(small_server)
    s3.post_bucket_logging(Bucket=src)
    assert {r["request_id"] for r in _records(s3, dst)} >= set(ids)
