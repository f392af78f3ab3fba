"""Object Lock against a real Pails server: the lock matrix (every path that
removes or weakens a locked version, for GOVERNANCE, COMPLIANCE and legal
hold, with and without the bypass header and the s3:BypassGovernanceRetention
permission), the Veeam pattern, default retention, GET/HEAD headers, and the
errors of lock features on a bucket without lock."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client

PROTECTED = "Access Denied because object protected by object lock."
MISSING = "Bucket is missing Object Lock Configuration"
# A COMPLIANCE version cannot be removed before its date by anyone: the
# matrix's last that long, and the module's clean-up waits for the latest.
COMPLIANCE_SECONDS = 10


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


def _in(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _name() -> str:
    return f"lock-{uuid.uuid4().hex[:16]}"


def _all_versions(s3, bucket: str) -> list[dict[str, str]]:
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            out.append({"Key": v["Key"], "VersionId": v["VersionId"]})
    return out


def _empty_and_delete(s3, bucket: str, deadline: float) -> None:
    """Remove every version (legal holds off, GOVERNANCE bypassed), waiting
    for COMPLIANCE retention to run out, then the bucket."""
    while True:
        versions = _all_versions(s3, bucket)
        for v in versions:
            try:
                s3.put_object_legal_hold(Bucket=bucket, LegalHold={"Status": "OFF"}, **v)
            except ClientError:
                pass  # a delete marker
        if versions:
            result = s3.delete_objects(Bucket=bucket, Delete={"Objects": versions, "Quiet": True},
                                       BypassGovernanceRetention=True)
            if result.get("Errors"):
                assert time.time() < deadline, result["Errors"]
                time.sleep(0.5)  # COMPLIANCE retention still running: its date is the condition
                continue
        s3.delete_bucket(Bucket=bucket)
        return


def _lock_bucket(s3) -> str:
    name = _name()
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture
def locked(s3) -> Iterator[str]:
    name = _lock_bucket(s3)
    yield name
    _empty_and_delete(s3, name, time.time() + COMPLIANCE_SECONDS + 30)


# --- the lock matrix --------------------------------------------------------------------------------------------------
# One bucket for the module; who may bypass is decided by the bucket policy per key prefix:
#   owner/     the bucket owner, no policy statement about it: may bypass
#   ownerdeny/ the bucket owner, a Deny of s3:BypassGovernanceRetention: may not
#   alt/       a second user allowed s3:* (bypass included): may
#   altdeny/   the second user allowed s3:* but denied s3:BypassGovernanceRetention: may not
WHO = {"owner": True, "ownerdeny": False, "alt": True, "altdeny": False}


@pytest.fixture(scope="module")
def matrix(server, alt_user) -> Iterator[tuple[str, dict[str, object]]]:
    s3 = client(server)
    alt = client(server, alt_user["access_key"], alt_user["secret_key"])
    name = _lock_bucket(s3)
    owner_id = s3.list_buckets()["Owner"]["ID"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"CanonicalUser": alt_user["canonical_id"]}, "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]},
        {"Effect": "Deny", "Principal": {"CanonicalUser": owner_id}, "Action": "s3:BypassGovernanceRetention",
         "Resource": f"arn:aws:s3:::{name}/ownerdeny/*"},
        {"Effect": "Deny", "Principal": {"CanonicalUser": alt_user["canonical_id"]},
         "Action": "s3:BypassGovernanceRetention", "Resource": f"arn:aws:s3:::{name}/altdeny/*"},
    ]}
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    yield name, {"owner": s3, "ownerdeny": s3, "alt": alt, "altdeny": alt}
    s3.delete_bucket_policy(Bucket=name)
    _empty_and_delete(s3, name, time.time() + COMPLIANCE_SECONDS + 60)


def _locked_version(s3, bucket: str, key: str, kind: str, seconds: float = 3600) -> str:
    """A version under GOVERNANCE or COMPLIANCE retention, or a legal hold."""
    if kind == "HOLD":
        return s3.put_object(Bucket=bucket, Key=key, Body=b"data", ObjectLockLegalHoldStatus="ON")["VersionId"]
    if kind == "COMPLIANCE":
        seconds = COMPLIANCE_SECONDS
    return s3.put_object(Bucket=bucket, Key=key, Body=b"data", ObjectLockMode=kind,
                         ObjectLockRetainUntilDate=_in(seconds))["VersionId"]


def _exists(s3, bucket: str, key: str, version_id: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key, VersionId=version_id)
        return True
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return False


KINDS = ("GOVERNANCE", "COMPLIANCE", "HOLD")


def _removable(kind: str, who: str, bypass: bool) -> bool:
    return kind == "GOVERNANCE" and bypass and WHO[who]


@pytest.mark.parametrize("who", list(WHO))
@pytest.mark.parametrize("bypass", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_delete_version(s3, matrix, kind: str, bypass: bool, who: str) -> None:
    bucket, clients = matrix
    key = f"{who}/delete-{kind}-{bypass}"
    vid = _locked_version(s3, bucket, key, kind)
    c = clients[who]
    if _removable(kind, who, bypass):
        r = c.delete_object(Bucket=bucket, Key=key, VersionId=vid, BypassGovernanceRetention=True)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert not _exists(s3, bucket, key, vid)
    else:
        extra = {"BypassGovernanceRetention": True} if bypass else {}
        with pytest.raises(ClientError) as exc:
            c.delete_object(Bucket=bucket, Key=key, VersionId=vid, **extra)
        assert _error(exc) == (403, "AccessDenied", PROTECTED)
        assert _exists(s3, bucket, key, vid)
    # A delete without a version id only adds a delete marker, locked or not.
    r = c.delete_object(Bucket=bucket, Key=key)
    assert r["DeleteMarker"] is True and r["VersionId"] != vid


@pytest.mark.parametrize("who", list(WHO))
@pytest.mark.parametrize("bypass", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_delete_objects_with_versions(s3, matrix, kind: str, bypass: bool, who: str) -> None:
    bucket, clients = matrix
    key, free = f"{who}/multi-{kind}-{bypass}", f"{who}/multi-free-{kind}-{bypass}"
    vid = _locked_version(s3, bucket, key, kind)
    free_vid = s3.put_object(Bucket=bucket, Key=free, Body=b"free")["VersionId"]
    extra = {"BypassGovernanceRetention": True} if bypass else {}
    r = clients[who].delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": key, "VersionId": vid}, {"Key": free, "VersionId": free_vid}]}, **extra)
    deleted = {(d["Key"], d["VersionId"]) for d in r.get("Deleted", [])}
    assert (free, free_vid) in deleted  # an unlocked version goes in any case
    if _removable(kind, who, bypass):
        assert (key, vid) in deleted and not r.get("Errors")
        assert not _exists(s3, bucket, key, vid)
    else:
        assert [(e["Key"], e["VersionId"], e["Code"], e["Message"]) for e in r["Errors"]] == \
            [(key, vid, "AccessDenied", PROTECTED)]
        assert _exists(s3, bucket, key, vid)


# PutObjectRetention: what each change asks of the current retention.
CHANGES = {
    "shorten": lambda mode, until: {"Mode": mode, "RetainUntilDate": until - timedelta(seconds=5)},
    "to-other-mode": lambda mode, until: {"Mode": "COMPLIANCE" if mode == "GOVERNANCE" else "GOVERNANCE",
                                          "RetainUntilDate": until},
    "remove": lambda mode, until: {},
    "lengthen": lambda mode, until: {"Mode": mode, "RetainUntilDate": until + timedelta(seconds=5)},
}


def _retention_allowed(change: str, mode: str, who: str, bypass: bool) -> bool:
    if change == "lengthen":
        return True
    if mode == "COMPLIANCE":
        return False
    return bypass and WHO[who]


@pytest.mark.parametrize("who", list(WHO))
@pytest.mark.parametrize("bypass", [False, True])
@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_put_object_retention_change(s3, matrix, change: str, mode: str, bypass: bool, who: str) -> None:
    bucket, clients = matrix
    key = f"{who}/retention-{change}-{mode}-{bypass}"
    vid = _locked_version(s3, bucket, key, mode, COMPLIANCE_SECONDS)  # it may become COMPLIANCE
    before = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=vid)["Retention"]
    retention = CHANGES[change](mode, before["RetainUntilDate"])
    extra = {"BypassGovernanceRetention": True} if bypass else {}
    c = clients[who]
    if _retention_allowed(change, mode, who, bypass):
        c.put_object_retention(Bucket=bucket, Key=key, VersionId=vid, Retention=retention, **extra)
        after = s3.head_object(Bucket=bucket, Key=key, VersionId=vid)
        if retention:
            assert (after["ObjectLockMode"], after["ObjectLockRetainUntilDate"]) == \
                (retention["Mode"], retention["RetainUntilDate"])
        else:
            assert "ObjectLockMode" not in after and "ObjectLockRetainUntilDate" not in after
    else:
        with pytest.raises(ClientError) as exc:
            c.put_object_retention(Bucket=bucket, Key=key, VersionId=vid, Retention=retention, **extra)
        assert _error(exc)[:2] == (403, "AccessDenied")
        assert s3.get_object_retention(Bucket=bucket, Key=key, VersionId=vid)["Retention"] == before


@pytest.mark.parametrize("who", list(WHO))
def test_legal_hold_off_then_delete(s3, matrix, who: str) -> None:
    bucket, clients = matrix
    key = f"{who}/hold-off"
    vid = _locked_version(s3, bucket, key, "HOLD")
    c = clients[who]
    with pytest.raises(ClientError) as exc:
        c.delete_object(Bucket=bucket, Key=key, VersionId=vid, BypassGovernanceRetention=True)
    assert _error(exc) == (403, "AccessDenied", PROTECTED)
    assert c.get_object_legal_hold(Bucket=bucket, Key=key, VersionId=vid)["LegalHold"] == {"Status": "ON"}
    c.put_object_legal_hold(Bucket=bucket, Key=key, VersionId=vid, LegalHold={"Status": "OFF"})
    assert c.get_object_legal_hold(Bucket=bucket, Key=key, VersionId=vid)["LegalHold"] == {"Status": "OFF"}
    assert c.delete_object(Bucket=bucket, Key=key, VersionId=vid)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_legal_hold_and_governance_together(s3, locked) -> None:
    r = s3.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=_in(3600), ObjectLockLegalHoldStatus="ON")
    vid = r["VersionId"]
    with pytest.raises(ClientError) as exc:  # the hold blocks even a bypass
        s3.delete_object(Bucket=locked, Key="k", VersionId=vid, BypassGovernanceRetention=True)
    assert _error(exc)[:2] == (403, "AccessDenied")
    s3.put_object_legal_hold(Bucket=locked, Key="k", VersionId=vid, LegalHold={"Status": "OFF"})
    with pytest.raises(ClientError) as exc:  # the retention still does without one
        s3.delete_object(Bucket=locked, Key="k", VersionId=vid)
    assert _error(exc)[:2] == (403, "AccessDenied")
    s3.delete_object(Bucket=locked, Key="k", VersionId=vid, BypassGovernanceRetention=True)


def _race(s3, bucket: str, key: str, vid: str) -> dict[str, object]:
    """At once: make the version COMPLIANCE (with bypass), and delete it (with bypass)."""
    outcome: dict[str, object] = {}

    def retain() -> None:
        try:
            s3.put_object_retention(Bucket=bucket, Key=key, VersionId=vid, BypassGovernanceRetention=True,
                                    Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _in(2)})
            outcome["retain"] = True
        except ClientError as exc:
            outcome["retain"] = exc.response["Error"]["Code"]

    def delete() -> None:
        try:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=vid, BypassGovernanceRetention=True)
            outcome["delete"] = True
        except ClientError as exc:
            outcome["delete"] = exc.response["Error"]["Code"]
    threads = [threading.Thread(target=retain), threading.Thread(target=delete)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome


def test_retention_and_delete_race(s3, locked) -> None:
    """A delete with bypass racing a PutObjectRetention that makes the version
    COMPLIANCE: one of them wins, never both (the store decides both under
    the key's write lock)."""
    for i in range(8):
        key = f"race-{i}"
        vid = s3.put_object(Bucket=locked, Key=key, Body=b"x", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=_in(3600))["VersionId"]
        outcome = _race(s3, locked, key, vid)
        assert outcome in ({"retain": True, "delete": "AccessDenied"}, {"retain": "NoSuchVersion", "delete": True},
                           {"retain": "NoSuchKey", "delete": True}), outcome
        assert _exists(s3, locked, key, vid) == (outcome["retain"] is True)


# --- the Veeam pattern ------------------------------------------------------------------------------------------------

def test_veeam_pattern(s3) -> None:
    """A bucket created with lock; each backup block written with its own
    COMPLIANCE retention a few seconds ahead; version-aware DeleteObjects is
    refused until the retention has passed, then allowed."""
    bucket = _lock_bucket(s3)
    until = _in(3).replace(microsecond=0)  # clients send the header's date to the second
    keys = [f"Veeam/Backup/blocks/{i:04d}" for i in range(6)]
    for key in keys:
        body = key.encode() * 10
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=base64.b64encode(hashlib.md5(body).digest())
                      .decode(), ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    listed = s3.list_object_versions(Bucket=bucket)
    versions = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed["Versions"]]
    assert sorted(v["Key"] for v in versions) == keys
    for v in versions:
        r = s3.get_object_retention(Bucket=bucket, **v)["Retention"]
        assert r == {"Mode": "COMPLIANCE", "RetainUntilDate": until}
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": versions}, BypassGovernanceRetention=True)
    assert not r.get("Deleted")
    assert sorted((e["Key"], e["Code"]) for e in r["Errors"]) == [(k, "AccessDenied") for k in keys]
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)
    assert _error(exc)[:2] == (409, "BucketNotEmpty")
    while datetime.now(UTC) <= until:  # the condition is the retention date itself
        time.sleep(0.05)
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": versions})
    assert not r.get("Errors")
    assert sorted(d["Key"] for d in r["Deleted"]) == keys
    assert s3.list_object_versions(Bucket=bucket).get("Versions") is None
    s3.delete_bucket(Bucket=bucket)


def test_bucket_with_locked_versions_cannot_be_deleted(s3, locked) -> None:
    s3.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=_in(60))
    s3.delete_object(Bucket=locked, Key="k")  # only a delete marker on top
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=locked)
    assert _error(exc)[:2] == (409, "BucketNotEmpty")


# --- configuration ----------------------------------------------------------------------------------------------------

def test_create_bucket_with_lock(s3, locked) -> None:
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == \
        {"ObjectLockEnabled": "Enabled"}
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"})
    assert _error(exc)[:2] == (409, "InvalidBucketState")
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Enabled"})
    # Asking again for a bucket you own that has lock: as for any bucket of yours.
    s3.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)


def test_create_existing_bucket_with_lock_is_not_a_silent_success(s3, bucket) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    assert _error(exc)[:2] == (409, "BucketAlreadyOwnedByYou")
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert _error(exc)[:2] == (404, "ObjectLockConfigurationNotFoundError")


def test_enable_lock_on_existing_bucket(s3, bucket) -> None:
    conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert _error(exc)[:2] == (404, "ObjectLockConfigurationNotFoundError")
    for status in (None, "Suspended"):
        if status:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
        with pytest.raises(ClientError) as exc:
            s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=conf)
        assert _error(exc)[:2] == (409, "InvalidBucketState")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=conf)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == conf
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert _error(exc)[:2] == (409, "InvalidBucketState")
    vid = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    assert s3.get_object_retention(Bucket=bucket, Key="k")["Retention"]["Mode"] == "GOVERNANCE"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=vid, BypassGovernanceRetention=True)
    # a rule can be dropped again; lock itself stays
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == \
        {"ObjectLockEnabled": "Enabled"}


@pytest.mark.parametrize(("retention", "code"), [
    ({"Mode": "GOVERNANCE", "Days": 1, "Years": 1}, "MalformedXML"),
    ({"Mode": "GOVERNANCE", "Days": 0}, "InvalidRetentionPeriod"),
    ({"Mode": "COMPLIANCE", "Years": -1}, "InvalidRetentionPeriod"),
    ({"Mode": "governance", "Days": 1}, "MalformedXML"),
    ({"Mode": "GOVERNANCE"}, "MalformedXML"),
])
def test_configuration_errors(s3, locked, retention: dict[str, object], code: str) -> None:
    conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": retention}}
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=conf)
    assert _error(exc)[:2] == (400, code)
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={"ObjectLockEnabled": "Disabled"})
    assert _error(exc)[:2] == (400, "MalformedXML")


def test_configuration_needs_the_owner(s3, alt_s3, locked) -> None:
    for call in (lambda c: c.get_object_lock_configuration(Bucket=locked),
                 lambda c: c.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
                     "ObjectLockEnabled": "Enabled"})):
        with pytest.raises(ClientError) as exc:
            call(alt_s3)
        assert _error(exc)[:2] == (403, "AccessDenied")


# --- default retention and what reads return --------------------------------------------------------------------------

def test_default_retention_applies_to_new_versions(s3, locked) -> None:
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}})
    start = datetime.now(UTC)
    s3.put_object(Bucket=locked, Key="put", Body=b"x")
    s3.copy_object(Bucket=locked, Key="copy", CopySource={"Bucket": locked, "Key": "put"})
    up = s3.create_multipart_upload(Bucket=locked, Key="mpu")
    etag = s3.upload_part(Bucket=locked, Key="mpu", UploadId=up["UploadId"], PartNumber=1, Body=b"y")["ETag"]
    s3.complete_multipart_upload(Bucket=locked, Key="mpu", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})
    end = datetime.now(UTC)
    for key in ("put", "copy", "mpu"):
        head = s3.head_object(Bucket=locked, Key=key)
        assert head["ObjectLockMode"] == "GOVERNANCE"
        until = head["ObjectLockRetainUntilDate"]
        assert start + timedelta(days=2) - timedelta(seconds=1) <= until <= end + timedelta(days=2)
        assert "ObjectLockLegalHoldStatus" not in head
    # explicit headers win over the default; a legal hold alone keeps the default retention
    s3.put_object(Bucket=locked, Key="explicit", Body=b"x", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=_in(2))
    assert s3.head_object(Bucket=locked, Key="explicit")["ObjectLockMode"] == "COMPLIANCE"
    s3.put_object(Bucket=locked, Key="hold", Body=b"x", ObjectLockLegalHoldStatus="ON")
    head = s3.head_object(Bucket=locked, Key="hold")
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "ON")


def test_copy_takes_no_lock_from_its_source(s3, locked) -> None:
    s3.put_object(Bucket=locked, Key="src", Body=b"x", ObjectLockMode="GOVERNANCE",
                  ObjectLockRetainUntilDate=_in(3600), ObjectLockLegalHoldStatus="ON")
    s3.copy_object(Bucket=locked, Key="plain", CopySource={"Bucket": locked, "Key": "src"})
    head = s3.head_object(Bucket=locked, Key="plain")
    assert not {"ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus"} & set(head)
    until = _in(7200).replace(microsecond=0)
    s3.copy_object(Bucket=locked, Key="own", CopySource={"Bucket": locked, "Key": "src"},
                   ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="OFF")
    head = s3.head_object(Bucket=locked, Key="own")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"], head["ObjectLockLegalHoldStatus"]) == \
        ("GOVERNANCE", until, "OFF")


def test_multipart_upload_with_lock(s3, locked) -> None:
    until = _in(3600)
    up = s3.create_multipart_upload(Bucket=locked, Key="k", ObjectLockMode="GOVERNANCE",
                                    ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    etag = s3.upload_part(Bucket=locked, Key="k", UploadId=up["UploadId"], PartNumber=1, Body=b"abc")["ETag"]
    vid = s3.complete_multipart_upload(Bucket=locked, Key="k", UploadId=up["UploadId"],
                                       MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})["VersionId"]
    assert s3.get_object_legal_hold(Bucket=locked, Key="k")["LegalHold"] == {"Status": "ON"}
    assert s3.get_object_retention(Bucket=locked, Key="k", VersionId=vid)["Retention"]["Mode"] == "GOVERNANCE"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=locked, Key="k", VersionId=vid, BypassGovernanceRetention=True)
    assert _error(exc)[:2] == (403, "AccessDenied")


def test_get_and_head_return_the_lock(s3, locked) -> None:
    s3.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                  ObjectLockRetainUntilDate=datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC), ObjectLockLegalHoldStatus="ON")
    for r in (s3.head_object(Bucket=locked, Key="k"), s3.get_object(Bucket=locked, Key="k")):
        raw = r["ResponseMetadata"]["HTTPHeaders"]
        assert raw["x-amz-object-lock-mode"] == "GOVERNANCE"
        assert raw["x-amz-object-lock-retain-until-date"] == "2099-01-02T03:04:05.000Z"
        assert raw["x-amz-object-lock-legal-hold"] == "ON"
        assert r["ObjectLockRetainUntilDate"] == datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC)
    plain = s3.put_object(Bucket=locked, Key="plain", Body=b"x")["VersionId"]
    head = s3.head_object(Bucket=locked, Key="plain")
    assert not {"ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus"} & set(head)
    for call in (s3.get_object_retention, s3.get_object_legal_hold):
        with pytest.raises(ClientError) as exc:
            call(Bucket=locked, Key="plain", VersionId=plain)
        assert _error(exc)[:2] == (404, "NoSuchObjectLockConfiguration")
    # An unlocked version goes without any bypass.
    s3.delete_object(Bucket=locked, Key="plain", VersionId=plain)


def test_get_and_head_show_the_lock_only_to_those_allowed_to_read_it(s3, alt_s3, alt_user, locked) -> None:
    alt = {"CanonicalUser": alt_user["canonical_id"]}
    s3.put_bucket_policy(Bucket=locked, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": alt, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{locked}/*"},
        {"Effect": "Allow", "Principal": alt, "Action": "s3:GetObjectRetention",
         "Resource": f"arn:aws:s3:::{locked}/retention"}]}))
    for key in ("retention", "none"):
        s3.put_object(Bucket=locked, Key=key, Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=_in(3600), ObjectLockLegalHoldStatus="ON")
        assert {"ObjectLockMode", "ObjectLockLegalHoldStatus"} <= set(s3.head_object(Bucket=locked, Key=key))
    seen = {k for k in alt_s3.head_object(Bucket=locked, Key="retention") if k.startswith("ObjectLock")}
    assert seen == {"ObjectLockMode", "ObjectLockRetainUntilDate"}
    got = alt_s3.get_object(Bucket=locked, Key="none")
    assert got["Body"].read() == b"x" and not [k for k in got if k.startswith("ObjectLock")]


def test_retention_of_a_noncurrent_version(s3, locked) -> None:
    old = s3.put_object(Bucket=locked, Key="k", Body=b"1")["VersionId"]
    s3.put_object(Bucket=locked, Key="k", Body=b"2")
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=old,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": _in(3600)})
    assert "ObjectLockMode" not in s3.head_object(Bucket=locked, Key="k")
    assert s3.head_object(Bucket=locked, Key="k", VersionId=old)["ObjectLockMode"] == "GOVERNANCE"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=locked, Key="k", VersionId=old)
    assert _error(exc)[:2] == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(Bucket=locked, Key="k", VersionId="0" * 32,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": _in(3600)})
    assert _error(exc)[:2] == (404, "NoSuchVersion")


def test_write_header_errors(s3, locked) -> None:
    cases = [
        ({"ObjectLockMode": "GOVERNANCE"}, "InvalidArgument"),
        ({"ObjectLockRetainUntilDate": _in(60)}, "InvalidArgument"),
        ({"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": _in(-60)}, "InvalidArgument"),
        ({"ObjectLockLegalHoldStatus": "MAYBE"}, "InvalidArgument"),
    ]
    for params, code in cases:
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=locked, Key="k", Body=b"x", **params)
        assert _error(exc)[:2] == (400, code), params
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(Bucket=locked, Key="k", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": _in(60)})
    assert _error(exc)[:2] == (404, "NoSuchKey")


def test_put_with_lock_headers_needs_an_integrity_header(server, locked) -> None:
    bare = client(server, request_checksum_calculation="when_required")
    with pytest.raises(ClientError) as exc:
        bare.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockLegalHoldStatus="OFF")
    status, code, message = _error(exc)
    assert (status, code) == (400, "InvalidRequest") and "Content-MD5 OR x-amz-checksum-" in message
    bare.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockLegalHoldStatus="OFF",
                    ContentMD5=base64.b64encode(hashlib.md5(b"x").digest()).decode())
    bare.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockLegalHoldStatus="OFF", ChecksumAlgorithm="SHA256")
    bare.put_object(Bucket=locked, Key="plain", Body=b"x")  # without lock headers, none is needed


def test_post_object_with_lock_fields(server, s3) -> None:
    from tests.behaviour.test_post_object import form_body, post

    locked = _lock_bucket(s3)
    plain = _name()
    s3.create_bucket(Bucket=plain)
    try:
        until = _in(3600).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        fields = {"x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": until,
                  "x-amz-object-lock-legal-hold": "ON"}
        for name, expected in ((locked, 204), (plain, 400)):
            form = s3.generate_presigned_post(name, "k", Fields=fields,
                                              Conditions=[{k: v} for k, v in fields.items()])
            r = post(server, name, form_body(list(form["fields"].items())))
            assert r.status == expected, r.body
            if expected == 400:
                assert r.code() == "InvalidRequest" and MISSING.encode() in r.body
        head = s3.head_object(Bucket=locked, Key="k")
        assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "ON")
        with pytest.raises(ClientError):
            s3.head_object(Bucket=plain, Key="k")
    finally:
        _empty_and_delete(s3, locked, time.time() + 30)
        s3.delete_bucket(Bucket=plain)


# --- lock features on a bucket without lock ---------------------------------------------------------------------------

def test_lock_features_on_a_bucket_without_lock(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    lock_headers = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": _in(60)}
    calls = [
        lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"x", **lock_headers),
        lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"x", ObjectLockLegalHoldStatus="OFF"),
        lambda: s3.copy_object(Bucket=bucket, Key="new", CopySource={"Bucket": bucket, "Key": "k"}, **lock_headers),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="new", ObjectLockLegalHoldStatus="ON"),
        lambda: s3.put_object_retention(Bucket=bucket, Key="k", Retention={"Mode": "GOVERNANCE",
                                                                           "RetainUntilDate": _in(60)}),
        lambda: s3.get_object_retention(Bucket=bucket, Key="k"),
        lambda: s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"}),
        lambda: s3.get_object_legal_hold(Bucket=bucket, Key="k"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == (400, "InvalidRequest", MISSING)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads") is None
    # The bypass header asks for nothing a bucket without lock lacks.
    s3.delete_object(Bucket=bucket, Key="k", BypassGovernanceRetention=True)


def _without_integrity(server, *operations: str):
    """A client that sends no Content-MD5 and no checksum, even where boto3 must."""
    bare = client(server, request_checksum_calculation="when_required")

    def strip(request, **_: object) -> None:
        for name in list(request.headers):
            lower = name.lower()
            if lower == "content-md5" or lower.startswith("x-amz-checksum-") or lower == "x-amz-sdk-checksum-algorithm":
                del request.headers[name]

    for op in operations:
        bare.meta.events.register(f"before-sign.s3.{op}", strip)
    return bare


def test_put_into_a_bucket_with_default_retention_needs_an_integrity_header(server, s3, locked) -> None:
    """A default retention is a retention period: AWS asks for Content-MD5 or
    a checksum on PutObject as with lock headers (not without a default)."""
    bare = client(server, request_checksum_calculation="when_required")
    bare.put_object(Bucket=locked, Key="before", Body=b"x")
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    with pytest.raises(ClientError) as exc:
        bare.put_object(Bucket=locked, Key="k", Body=b"x")
    status, code, message = _error(exc)
    assert (status, code) == (400, "InvalidRequest") and "Content-MD5 OR x-amz-checksum-" in message
    md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    r = bare.put_object(Bucket=locked, Key="k", Body=b"x", ContentMD5=md5)
    retention = s3.get_object_retention(Bucket=locked, Key="k", VersionId=r["VersionId"])["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    s3.put_object(Bucket=locked, Key="k", Body=b"x")  # boto3's default CRC32


def test_lock_configuration_retention_and_legal_hold_need_an_integrity_header(server, s3, locked) -> None:
    """PutObjectLockConfiguration, PutObjectRetention and PutObjectLegalHold
    are refused without Content-MD5 or a checksum (AWS's API marks them
    checksum-required), and a digest that does not match is BadDigest."""
    version = s3.put_object(Bucket=locked, Key="k", Body=b"x")["VersionId"]
    bare = _without_integrity(server, "PutObjectLockConfiguration", "PutObjectRetention", "PutObjectLegalHold")
    # BadDigest is retried by boto3 (as a transfer error): once is enough here.
    plain = client(server, request_checksum_calculation="when_required", retries={"max_attempts": 1})
    calls = [
        lambda c, **kw: c.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}, **kw),
        lambda c, **kw: c.put_object_retention(Bucket=locked, Key="k", VersionId=version, Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": _in(60)}, **kw),
        lambda c, **kw: c.put_object_legal_hold(Bucket=locked, Key="k", VersionId=version,
                                                LegalHold={"Status": "ON"}, **kw),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call(bare)
        status, code, message = _error(exc)
        assert (status, code) == (400, "InvalidRequest") and "Content-MD5 OR x-amz-checksum-" in message
        with pytest.raises(ClientError) as exc:
            call(plain, ContentMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode())
        assert _error(exc)[:2] == (400, "BadDigest")
    assert "Rule" not in s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    head = s3.head_object(Bucket=locked, Key="k", VersionId=version)
    assert "ObjectLockMode" not in head and "ObjectLockLegalHoldStatus" not in head
