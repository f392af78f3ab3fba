"""Bucket lifecycle against a real Pails server whose lifecycle "day" is one
second (``PAILS_LIFECYCLE_DAY_SECONDS=1``) and which runs two worker
processes (only the lease holder works): the configuration API and its
errors, and the worker's actions, each awaited as a condition with a
deadline: expiry of current versions (deleted, or hidden under a delete
marker), noncurrent expiry keeping NewerNoncurrentVersions, expired delete
markers, aborted uploads, tag and size filters, transitions, a Disabled
rule, Object Lock, and the x-amz-expiration / x-amz-abort-date headers."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.pails_server import Server
from tests.pg import run_on_test_store

DEADLINE = 20.0  # seconds a condition may take: a due action is applied within about two passes (1 s each)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("lifecycle") / "data", extra_args=["--workers", "2"],
                 env={"PAILS_LIFECYCLE_DAY_SECONDS": "1"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def s3(server: Server):
    return client(server)


def _bucket(s3, versioned: bool = False, lock: bool = False) -> str:
    name = f"lc-{uuid.uuid4().hex[:16]}"
    if lock:
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    else:
        s3.create_bucket(Bucket=name)
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _wait(what: str, cond: Callable[[], bool], deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline} s: {what}")
        time.sleep(0.2)


def _keys(s3, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _versions(s3, bucket: str) -> tuple[list[dict], list[dict]]:
    r = s3.list_object_versions(Bucket=bucket)
    return r.get("Versions", []), r.get("DeleteMarkers", [])


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def _put_rules(s3, bucket: str, *rules: dict) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


# --- the configuration ----------------------------------------------------------------------------------------------

def test_configuration_round_trip_and_delete(s3) -> None:
    b = _bucket(s3)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=b)
    assert _error(e) == (404, "NoSuchLifecycleConfiguration")
    rules = [
        {"ID": "legacy", "Prefix": "logs/", "Status": "Enabled", "Expiration": {"Days": 30}},
        {"ID": "filtered", "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "a", "Value": "1"}],
                                              "ObjectSizeGreaterThan": 10}},
         "Status": "Disabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 3, "NewerNoncurrentVersions": 2}},
        {"ID": "mpu", "Filter": {"Prefix": "up/"}, "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
        {"ID": "tier", "Filter": {}, "Status": "Enabled", "Transitions": [{"Days": 0, "StorageClass": "GLACIER"}],
         "Expiration": {"Date": datetime(2040, 1, 1, tzinfo=UTC)}},
    ]
    _put_rules(s3, b, *rules)
    got = s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    assert [r["ID"] for r in got] == ["legacy", "filtered", "mpu", "tier"]
    assert got[0] == rules[0]
    assert got[1]["Filter"] == rules[1]["Filter"] and got[1]["Status"] == "Disabled"
    assert got[1]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 3, "NewerNoncurrentVersions": 2}
    assert got[2]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert got[3]["Transitions"] == [{"Days": 0, "StorageClass": "GLACIER"}]
    assert got[3]["Expiration"]["Date"] == datetime(2040, 1, 1, tzinfo=UTC)
    # An ID is generated when absent.
    _put_rules(s3, b, {"Prefix": "x/", "Status": "Enabled", "Expiration": {"Days": 1}})
    assert s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"][0]["ID"]
    assert s3.delete_bucket_lifecycle(Bucket=b)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=b)
    assert _error(e) == (404, "NoSuchLifecycleConfiguration")
    assert s3.delete_bucket_lifecycle(Bucket=b)["ResponseMetadata"]["HTTPStatusCode"] == 204


@pytest.mark.parametrize("rules, expected", [
    ([{"ID": "a" * 256, "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 1}}], "InvalidArgument"),
    ([{"ID": "same", "Prefix": "a", "Status": "Enabled", "Expiration": {"Days": 1}},
      {"ID": "same", "Prefix": "b", "Status": "Enabled", "Expiration": {"Days": 1}}], "InvalidArgument"),
    ([{"ID": "r", "Prefix": "", "Status": "enabled", "Expiration": {"Days": 1}}], "MalformedXML"),
    ([{"ID": "r", "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 0}}], "InvalidArgument"),
    ([{"ID": "r", "Prefix": "", "Status": "Enabled"}], "InvalidRequest"),
    ([{"ID": "r", "Prefix": "", "Status": "Enabled",
       "Expiration": {"Date": datetime(2030, 1, 1, 12, tzinfo=UTC)}}], "InvalidArgument"),
    ([{"ID": "r", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Status": "Enabled",
       "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}], "InvalidRequest"),
    ([{"ID": f"r{i}", "Prefix": f"{i}/", "Status": "Enabled", "Expiration": {"Days": 1}} for i in range(1001)],
     "InvalidRequest"),
])
def test_invalid_configurations(s3, rules: list[dict], expected: str) -> None:
    b = _bucket(s3)
    with pytest.raises(ClientError) as e:
        _put_rules(s3, b, *rules)
    assert _error(e) == (400, expected)


def test_put_requires_an_integrity_header(server: Server, s3) -> None:
    b = _bucket(s3)
    raw = client(server)
    # A boto3 event hook removes the checksum headers boto3 adds.
    def strip(request, **_: object) -> None:
        for name in list(request.headers):
            if name.lower() == "content-md5" or name.lower().startswith("x-amz-checksum-") \
                    or name.lower() == "x-amz-sdk-checksum-algorithm":
                del request.headers[name]
    raw.meta.events.register("before-sign.s3.PutBucketLifecycleConfiguration", strip)
    with pytest.raises(ClientError) as e:
        raw.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
            {"ID": "r", "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 1}}]})
    assert _error(e) == (400, "InvalidRequest")


# --- headers --------------------------------------------------------------------------------------------------------

def _expected_expiry(last_modified: datetime, days: int) -> datetime:
    t = last_modified.timestamp() + days * 86400
    return datetime.fromtimestamp(math.ceil(t / 86400) * 86400, UTC)


def _parse_expiration(value: str) -> tuple[datetime, str]:
    date = value.split('expiry-date="', 1)[1].split('"', 1)[0]
    rule = value.split('rule-id="', 1)[1].split('"', 1)[0]
    return parsedate_to_datetime(date), rule


def test_expiration_and_abort_headers(s3) -> None:
    b = _bucket(s3)
    _put_rules(s3, b,
               {"ID": "late", "Prefix": "d/", "Status": "Enabled", "Expiration": {"Days": 300}},
               {"ID": "early", "Prefix": "d/", "Status": "Enabled", "Expiration": {"Days": 300 - 1}},
               {"ID": "tagged", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Status": "Enabled",
                "Expiration": {"Days": 100}},
               {"ID": "dated", "Prefix": "fixed/", "Status": "Enabled",
                "Expiration": {"Date": datetime(2041, 3, 4, tzinfo=UTC)}},
               {"ID": "mpu", "Prefix": "d/", "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 300}},
               {"ID": "off", "Prefix": "", "Status": "Disabled", "Expiration": {"Days": 300}})
    put = s3.put_object(Bucket=b, Key="d/one", Body=b"x")
    head = s3.head_object(Bucket=b, Key="d/one")
    get = s3.get_object(Bucket=b, Key="d/one")
    expected = _expected_expiry(head["LastModified"], 299)
    for r in (put, head, get):
        value = r["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
        assert _parse_expiration(value) == (expected, "early")
    assert expected.hour == expected.minute == expected.second == 0
    # A tag filter: the header follows the object's tags.
    s3.put_object(Bucket=b, Key="t", Body=b"x")
    assert "x-amz-expiration" not in s3.head_object(Bucket=b, Key="t")["ResponseMetadata"]["HTTPHeaders"]
    s3.put_object_tagging(Bucket=b, Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    value = s3.head_object(Bucket=b, Key="t")["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
    assert _parse_expiration(value)[1] == "tagged"
    put = s3.put_object(Bucket=b, Key="t2", Body=b"x", Tagging="k=v")
    assert _parse_expiration(put["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"])[1] == "tagged"
    # A Date rule: that date.
    s3.put_object(Bucket=b, Key="fixed/a", Body=b"x")
    value = s3.head_object(Bucket=b, Key="fixed/a")["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
    assert _parse_expiration(value) == (datetime(2041, 3, 4, tzinfo=UTC), "dated")
    # No rule: no header.
    s3.put_object(Bucket=b, Key="other", Body=b"x")
    assert "x-amz-expiration" not in s3.head_object(Bucket=b, Key="other")["ResponseMetadata"]["HTTPHeaders"]
    # Multipart uploads: x-amz-abort-date and x-amz-abort-rule-id.
    before = datetime.now(UTC)
    up = s3.create_multipart_upload(Bucket=b, Key="d/big")
    abort = up["AbortDate"]
    assert up["AbortRuleId"] == "mpu"
    assert (abort.hour, abort.minute, abort.second) == (0, 0, 0)
    assert timedelta(days=300) <= abort - before <= timedelta(days=301)
    part = s3.upload_part(Bucket=b, Key="d/big", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
    hdrs = part["ResponseMetadata"]["HTTPHeaders"]
    assert parsedate_to_datetime(hdrs["x-amz-abort-date"]) == abort and hdrs["x-amz-abort-rule-id"] == "mpu"
    parts = s3.list_parts(Bucket=b, Key="d/big", UploadId=up["UploadId"])
    assert parts["AbortDate"] == abort and parts["AbortRuleId"] == "mpu"
    plain = s3.create_multipart_upload(Bucket=b, Key="elsewhere")
    assert "AbortDate" not in plain
    # CopyObject and CompleteMultipartUpload: the new version's expiration.
    copied = s3.copy_object(Bucket=b, Key="d/copy", CopySource={"Bucket": b, "Key": "other"})
    assert _parse_expiration(copied["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"])[1] == "early"
    done = s3.complete_multipart_upload(Bucket=b, Key="d/big", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    value = done["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
    assert _parse_expiration(value) == (_expected_expiry(s3.head_object(Bucket=b, Key="d/big")["LastModified"],
                                                         299), "early")


# --- the worker -----------------------------------------------------------------------------------------------------

def test_expires_current_versions_unversioned(s3) -> None:
    b = _bucket(s3)
    for key in ("exp/a", "exp/b", "keep/a", "off/a"):
        s3.put_object(Bucket=b, Key=key, Body=b"data")
    _put_rules(s3, b, {"ID": "exp", "Prefix": "exp/", "Status": "Enabled", "Expiration": {"Days": 1}},
               {"ID": "off", "Prefix": "off/", "Status": "Disabled", "Expiration": {"Days": 1}})
    _wait("exp/ expired", lambda: _keys(s3, b) == ["keep/a", "off/a"])
    assert _versions(s3, b)[1] == []  # unversioned: deleted, no marker
    # The Disabled rule's object was due as early as the others and is still here after the pass.


def test_expires_current_versions_versioned_and_noncurrent_keeping_newer(s3) -> None:
    b = _bucket(s3, versioned=True)
    for i in range(6):
        s3.put_object(Bucket=b, Key="n/k", Body=f"v{i}".encode())
    s3.put_object(Bucket=b, Key="cur/k", Body=b"x")
    _put_rules(s3, b,
               {"ID": "nc", "Filter": {"Prefix": "n/"}, "Status": "Enabled",
                "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 2}},
               {"ID": "cur", "Filter": {"Prefix": "cur/"}, "Status": "Enabled", "Expiration": {"Days": 1}})

    def state() -> bool:
        versions, markers = _versions(s3, b)
        n = [v for v in versions if v["Key"] == "n/k"]
        cur = [m for m in markers if m["Key"] == "cur/k"]
        return len(n) == 3 and len(cur) == 1
    _wait("3 versions of n/k and a delete marker on cur/k", state)
    versions, markers = _versions(s3, b)
    n = [v for v in versions if v["Key"] == "n/k"]
    bodies = [s3.get_object(Bucket=b, Key="n/k", VersionId=v["VersionId"])["Body"].read() for v in n]
    assert bodies == [b"v5", b"v4", b"v3"]  # the current one and the 2 newest noncurrent
    assert [m["IsLatest"] for m in markers if m["Key"] == "cur/k"] == [True]
    assert [v["Key"] for v in versions if v["Key"] == "cur/k"] == ["cur/k"]  # kept, noncurrent
    assert "cur/k" not in _keys(s3, b)


def test_removes_expired_delete_markers(s3) -> None:
    b = _bucket(s3, versioned=True)
    s3.put_object(Bucket=b, Key="dm/a", Body=b"x")
    s3.delete_object(Bucket=b, Key="dm/a")
    s3.put_object(Bucket=b, Key="dm/b", Body=b"x")
    s3.put_object(Bucket=b, Key="dm/b", Body=b"y")  # current, not a marker: stays
    _put_rules(s3, b, {"ID": "r", "Prefix": "dm/", "Status": "Enabled",
                       "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                       "Expiration": {"ExpiredObjectDeleteMarker": True}})

    def done() -> bool:
        versions, markers = _versions(s3, b)
        return not markers and [v["Key"] for v in versions] == ["dm/b"]
    _wait("dm/a's version and then its marker removed, dm/b down to its current version", done)


def test_aborts_incomplete_uploads(s3) -> None:
    b = _bucket(s3)
    old = s3.create_multipart_upload(Bucket=b, Key="mp/a")["UploadId"]
    s3.upload_part(Bucket=b, Key="mp/a", UploadId=old, PartNumber=1, Body=b"p" * 1024)
    other = s3.create_multipart_upload(Bucket=b, Key="keep/b")["UploadId"]
    _put_rules(s3, b, {"ID": "mp", "Prefix": "mp/", "Status": "Enabled",
                       "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}})

    def ids() -> list[str]:
        return [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=b).get("Uploads", [])]
    _wait("mp/a aborted", lambda: ids() == [other])
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=b, Key="mp/a", UploadId=old)
    assert _error(e) == (404, "NoSuchUpload")


def test_tag_and_size_filters(s3) -> None:
    b = _bucket(s3)
    s3.put_object(Bucket=b, Key="tagged", Body=b"x", Tagging="team=a&tmp=yes")
    s3.put_object(Bucket=b, Key="tagged-other", Body=b"x", Tagging="team=b&tmp=yes")
    s3.put_object(Bucket=b, Key="untagged", Body=b"x")
    s3.put_object(Bucket=b, Key="size/small", Body=b"s" * 100)
    s3.put_object(Bucket=b, Key="size/mid", Body=b"m" * 1000)
    s3.put_object(Bucket=b, Key="size/big", Body=b"b" * 5000)
    _put_rules(s3, b,
               {"ID": "tags", "Filter": {"And": {"Prefix": "tag", "Tags": [{"Key": "team", "Value": "a"},
                                                                           {"Key": "tmp", "Value": "yes"}]}},
                "Status": "Enabled", "Expiration": {"Days": 1}},
               {"ID": "size", "Filter": {"And": {"Prefix": "size/", "ObjectSizeGreaterThan": 500,
                                                 "ObjectSizeLessThan": 2000}},
                "Status": "Enabled", "Expiration": {"Days": 1}})
    _wait("tagged and size/mid expired",
          lambda: _keys(s3, b) == ["size/big", "size/small", "tagged-other", "untagged"])


def test_transitions_change_the_storage_class(s3) -> None:
    b = _bucket(s3, versioned=True)
    s3.put_object(Bucket=b, Key="t/a", Body=b"1")
    s3.put_object(Bucket=b, Key="t/a", Body=b"2")
    _put_rules(s3, b, {"ID": "tier", "Prefix": "t/", "Status": "Enabled",
                       "Transitions": [{"Days": 1, "StorageClass": "STANDARD_IA"}],
                       "NoncurrentVersionTransitions": [{"NoncurrentDays": 1, "StorageClass": "GLACIER"}]})

    def classes() -> list[str]:
        return [v["StorageClass"] for v in _versions(s3, b)[0]]
    _wait("current STANDARD_IA, noncurrent GLACIER", lambda: classes() == ["STANDARD_IA", "GLACIER"])
    assert s3.head_object(Bucket=b, Key="t/a")["StorageClass"] == "STANDARD_IA"
    assert s3.get_object(Bucket=b, Key="t/a")["Body"].read() == b"2"  # the data is where it was


def test_locked_versions_survive(s3) -> None:
    b = _bucket(s3, lock=True)
    locked = s3.put_object(Bucket=b, Key="l/locked", Body=b"1", ObjectLockLegalHoldStatus="ON")["VersionId"]
    s3.put_object(Bucket=b, Key="l/locked", Body=b"2")
    s3.put_object(Bucket=b, Key="l/free", Body=b"1")
    s3.put_object(Bucket=b, Key="l/free", Body=b"2")
    _put_rules(s3, b, {"ID": "nc", "Prefix": "l/", "Status": "Enabled",
                       "NoncurrentVersionExpiration": {"NoncurrentDays": 1}})
    _wait("l/free's noncurrent version expired",
          lambda: [v["Key"] for v in _versions(s3, b)[0]] == ["l/free", "l/locked", "l/locked"])
    # The locked version was due in the same pass that removed the free one.
    assert locked in [v["VersionId"] for v in _versions(s3, b)[0]]
    # Once the hold is lifted, the next pass removes it.
    s3.put_object_legal_hold(Bucket=b, Key="l/locked", VersionId=locked, LegalHold={"Status": "OFF"})
    _wait("the released version expired", lambda: locked not in [v["VersionId"] for v in _versions(s3, b)[0]])


# --- the lease ------------------------------------------------------------------------------------------------------

def test_the_lease_has_one_holder(tmp_path: Path) -> None:
    """Two stores on one database (two processes, or two gateways): only one
    holds the lease, and it passes on when the holder closes."""
    from pails.storage.engine import Settings, open_meta

    async def run(url: str | None) -> None:
        settings = Settings(str(tmp_path), meta_url=url)
        a, b = open_meta(settings), open_meta(settings)
        await a.open()
        await b.open()
        try:
            assert await a.try_lease("lifecycle")
            assert await a.try_lease("lifecycle")  # kept
            assert not await b.try_lease("lifecycle")
            assert await b.try_lease("other")
            await a.close()
            assert await b.try_lease("lifecycle")
        finally:
            await b.close()

    run_on_test_store(run)


# --- a pass, in-process ---------------------------------------------------------------------------------------------

def test_a_pass_spans_pages_and_repeats_harmlessly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys whose versions span listing pages (pages of 3 here) are decided
    whole, and a second pass finds nothing left to do."""
    from pails.jobs import lifecycle as job_module
    from pails.storage import lifecycle_rules as lr
    from pails.storage.engine import Engine, Settings
    from pails.storage.records import Bucket, ObjectVersion

    monkeypatch.setattr(job_module, "PAGE", 3)

    async def run(url: str | None) -> None:
        engine = Engine(Settings(str(tmp_path / "data"), fsync=False, meta_url=url))
        await engine.open()
        try:
            _, b = await engine.meta.create_bucket(Bucket(0, "pages", "owner", time.time(), "us-east-1", "{}",
                                                          None, "{}"))
            await engine.meta.update_bucket(b.id, versioning="Enabled")
            t0 = time.time() - 100
            for key in ("a", "b", "c"):
                for i in range(4):
                    await engine.commit_object(ObjectVersion(
                        b.id, key, "null", 1, '"e"', t0 + i, "{}", "{}", "owner", "STANDARD", b"x", None, None,
                        None), None)
            await engine.meta.set_bucket_prop(b.id, lr.BUCKET_PROP, {"rules": [
                {"id": "n", "status": "Enabled", "prefix": "", "ncexp": {"days": 1, "newer": 1}}]})
            job = job_module.LifecycleJob(engine, lr.Clock(1.0))
            stats = await job.run_pass(time.time())
            assert stats.removed == 6  # each key: 3 noncurrent versions, the newest kept
            rows = await engine.meta.list_versions(b.id, "", "", True, 100)
            assert [(r.key, r.is_latest) for r in rows] == [(k, latest) for k in "abc" for latest in (1, 0)]
            again = await job.run_pass(time.time())
            assert (again.removed, again.expired, again.skipped) == (0, 0, 0)
        finally:
            await engine.close()

    run_on_test_store(run)
