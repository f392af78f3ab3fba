"""A lifecycle run killed half-way finishes correctly after a restart
(docs/reliability.md, "Lifecycle"): the whole server is SIGKILLed while its
lifecycle worker expires a few thousand keys, once in an unversioned bucket
and once in a versioned bucket under Object Lock.  In between, a server
whose lifecycle day is real (nothing due) shows the run was cut short; at
the end every object that should be expired is gone, no other object was
touched, no data file is left behind and no locked version was removed."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import ClientError

from tests.conftest import client
from tests.pails_server import Server

SMALL = 2000  # expiring inline objects in the unversioned bucket
BIG = 60  # expiring objects with a data file each
KEEP = 200  # objects no rule matches (KEEP_BIG of them with a data file)
KEEP_BIG = 20
VERSIONED = 600  # keys with one noncurrent version each in the locked bucket
LOCK_EVERY = 10  # every 10th noncurrent version is under GOVERNANCE retention
BIG_SIZE = 70 * 1024  # past the inline limit: a data file
DAY = {"PAILS_LIFECYCLE_DAY_SECONDS": "2"}
DEADLINE = 120.0


def _body(key: str, size: int = 100) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def _wait(what: str, cond: Callable[[], bool], deadline: float = DEADLINE, pause: float = 0.2) -> None:
    end = time.monotonic() + deadline
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline} s: {what}")
        time.sleep(pause)


def _gone(s3, bucket: str, key: str, version_id: str | None = None) -> bool:
    try:
        if version_id is None:
            s3.head_object(Bucket=bucket, Key=key)
        else:
            s3.head_object(Bucket=bucket, Key=key, VersionId=version_id)
        return False
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NoSuchVersion")


def _keys(s3, bucket: str, prefix: str = "") -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _versions(s3, bucket: str) -> tuple[dict[str, list[str]], int]:
    """key -> version ids (newest first), and the number of delete markers."""
    out: dict[str, list[str]] = {}
    markers = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            out.setdefault(v["Key"], []).append(v["VersionId"])
        markers += len(page.get("DeleteMarkers", []))
    return out, markers


def _data_files(server: Server) -> int:
    return sum(len(files) for _, _, files in os.walk(server.data_dir / "blobs"))


def test_a_killed_lifecycle_run_finishes_after_restart(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", extra_args=["--workers", "2"])
    server.start()
    try:
        s3 = client(server)
        plain, locked = f"a-plain-{uuid.uuid4().hex[:8]}", f"b-locked-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=plain)
        s3.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
        expiring = [f"exp/{i:05d}" for i in range(SMALL)] + [f"exp/big-{i:03d}" for i in range(BIG)]
        keep = [f"keep/{i:05d}" for i in range(KEEP - KEEP_BIG)] + [f"keep/big-{i:03d}" for i in range(KEEP_BIG)]
        retain = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)

        def put_plain(key: str) -> None:
            s3.put_object(Bucket=plain, Key=key, Body=_body(key, BIG_SIZE if "big" in key else 100))

        old_versions: dict[str, str] = {}
        current_versions: dict[str, str] = {}

        def put_versions(i: int) -> None:
            key = f"v/{i:05d}"
            extra = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": retain} if i % LOCK_EVERY == 0 else {}
            old_versions[key] = s3.put_object(Bucket=locked, Key=key, Body=_body(key), **extra)["VersionId"]
            current_versions[key] = s3.put_object(Bucket=locked, Key=key, Body=_body(key + "2"))["VersionId"]

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put_plain, expiring + keep))
            list(pool.map(put_versions, range(VERSIONED)))
        assert _data_files(server) == BIG + KEEP_BIG
        s3.put_bucket_lifecycle_configuration(Bucket=plain, LifecycleConfiguration={"Rules": [
            {"ID": "exp", "Status": "Enabled", "Filter": {"Prefix": "exp/"}, "Expiration": {"Days": 1}}]})
        s3.put_bucket_lifecycle_configuration(Bucket=locked, LifecycleConfiguration={"Rules": [
            {"ID": "nc", "Status": "Enabled", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
        server.stop()

        # Run 1, killed as soon as the first key is expired (keys go in order).
        server.env = DAY
        server.start()
        _wait("the run started", lambda: _gone(s3, plain, expiring[0]), pause=0.002)
        server.kill()
        server.env = {}  # a real day: nothing is due, the state after the kill stays put
        server.start()
        left = _keys(s3, plain, "exp/")
        assert 0 < len(left) < len(expiring), "the run was not cut short"
        assert left <= set(expiring)
        assert _keys(s3, plain, "keep/") == set(keep)
        big_left = sum(1 for k in left if "big" in k)
        assert _data_files(server) == big_left + KEEP_BIG  # the killed deletes' files were collected at start-up
        server.stop()

        # Run 2, killed once the locked bucket is being worked on.
        first_unlocked = next(k for i, k in enumerate(sorted(old_versions)) if i % LOCK_EVERY)
        server.env = DAY
        server.start()
        _wait("the locked bucket's run started",
              lambda: _gone(s3, locked, first_unlocked, old_versions[first_unlocked]), pause=0.002)
        server.kill()
        server.env = {}
        server.start()
        assert not _keys(s3, plain, "exp/")
        versions, _ = _versions(s3, locked)
        assert 1 < sum(len(v) for v in versions.values()) - VERSIONED, "the run was not cut short"
        server.stop()

        # Run 3 finishes.
        server.env = DAY
        server.start()

        def finished() -> bool:
            versions, _ = _versions(s3, locked)
            return sum(len(v) for v in versions.values()) == VERSIONED + VERSIONED // LOCK_EVERY

        _wait("the noncurrent versions expired", finished)
        assert not _keys(s3, plain, "exp/")
        assert _keys(s3, plain, "keep/") == set(keep)
        for key in keep[::20] + keep[-KEEP_BIG:]:
            body = s3.get_object(Bucket=plain, Key=key)["Body"].read()
            assert body == _body(key, BIG_SIZE if "big" in key else 100)
        versions, markers = _versions(s3, locked)
        assert markers == 0
        for i, (key, old) in enumerate(sorted(old_versions.items())):
            expected = [current_versions[key], old] if i % LOCK_EVERY == 0 else [current_versions[key]]
            assert versions[key] == expected, key
        _wait("no data file left behind", lambda: _data_files(server) == KEEP_BIG)
    finally:
        server.stop()
