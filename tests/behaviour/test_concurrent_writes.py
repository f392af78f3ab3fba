"""Many clients writing different keys at once: their writes share commits
(group commit; on PostgreSQL, set-based: one statement per kind of change for
the whole batch), and each key must still end exactly as its own sequence of
writes says, in every versioning state, with no data file left behind."""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.pails_server import Server

THREADS = 16
KEYS_PER_THREAD = 3
BIG = 70 * 1024  # above the inline limit: a data file, an intent and garbage


def _body(tag: str, big: bool) -> bytes:
    return (tag.encode() * (BIG // len(tag) + 1))[:BIG] if big else tag.encode()


def _status(fn, **kwargs: object) -> int:
    try:
        fn(**kwargs)
        return 200
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def _key(t: int, k: int) -> str:
    return f"t{t}/k{k}" + ' "q\\ü,{x}'[: k * 4]  # quotes, backslashes, braces: array literals must escape them


def _sequence(s3, bucket: str, key: str) -> list[str]:
    """The writes of one key; returns the bodies' tags of the versions it
    created, oldest first ("-" for a delete marker or a removal)."""
    tags: list[str] = []
    for n, big in enumerate((False, True, False)):
        tag = f"{key}-v{n}"
        etag = s3.put_object(Bucket=bucket, Key=key, Body=_body(tag, big))["ETag"]
        tags.append(tag)
    assert _status(s3.put_object, Bucket=bucket, Key=key, Body=b"no", IfNoneMatch="*") == 412
    assert _status(s3.put_object, Bucket=bucket, Key=key, Body=b"no", IfMatch='"0123"') == 412
    s3.put_object(Bucket=bucket, Key=key, Body=_body(f"{key}-cas", True), IfMatch=etag)
    tags.append(f"{key}-cas")
    s3.delete_object(Bucket=bucket, Key=key)
    tags.append("-")
    s3.put_object(Bucket=bucket, Key=key, Body=_body(f"{key}-last", True))
    tags.append(f"{key}-last")
    return tags


def _run(s3, bucket: str) -> dict[str, list[str]]:
    keys = [_key(t, k) for t in range(THREADS) for k in range(KEYS_PER_THREAD)]

    def thread(t: int) -> dict[str, list[str]]:
        return {key: _sequence(s3, bucket, key) for key in keys if key.startswith(f"t{t}/")}

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(thread, range(THREADS)))
    return {k: v for r in results for k, v in r.items()}


def _body_tag(body: bytes, key: str) -> str:
    for tag in (f"{key}-v0", f"{key}-v1", f"{key}-v2", f"{key}-cas", f"{key}-last"):
        if body.startswith(tag.encode()):
            return tag
    raise AssertionError(f"unexpected body for {key}: {body[:40]!r}")


def _versions(s3, bucket: str) -> dict[str, list[tuple[str, bool]]]:
    """key -> [(version id, is delete marker)], newest first."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            out.setdefault(v["Key"], []).append((v["VersionId"], False, v["LastModified"]))
        for m in page.get("DeleteMarkers", []):
            out.setdefault(m["Key"], []).append((m["VersionId"], True, m["LastModified"]))
    return out


def _empty(s3, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if items:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": items, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def _data_files(server: Server) -> list[str]:
    return [name for _, _, names in os.walk(server.data_dir / "blobs") for name in names]


@pytest.fixture(scope="module")
def writes_server(tmp_path_factory: pytest.TempPathFactory):
    srv = Server(tmp_path_factory.mktemp("concurrent") / "data").start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("versioning", [None, "Enabled", "Suspended"])
def test_concurrent_writes_of_many_keys_end_as_each_key_says(writes_server: Server, versioning: str | None) -> None:
    s3 = client(writes_server, max_pool_connections=THREADS)
    bucket = f"conc-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    if versioning:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        if versioning == "Suspended":  # a versioned v(-1) below every key, then suspended
            for t in range(THREADS):
                for k in range(KEYS_PER_THREAD):
                    s3.put_object(Bucket=bucket, Key=_key(t, k), Body=f"{_key(t, k)}-v0 old".encode())
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    expected = _run(s3, bucket)
    versions = _versions(s3, bucket)
    for key, tags in expected.items():
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert _body_tag(body, key) == tags[-1]
        mine = versions.get(key, [])
        if versioning is None:
            assert [v[0] for v in mine] == ["null"]
        elif versioning == "Enabled":
            assert len(mine) == len(tags) and len({v[0] for v in mine}) == len(tags)
            bodies = [_body_tag(s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read(), key)
                      for version_id, marker, _ in mine if not marker]  # newest first
            assert bodies == [t for t in reversed(tags) if t != "-"]
            assert sum(marker for _, marker, _ in mine) == tags.count("-")
        else:  # one null version (the last write) over the version made while enabled
            assert len(mine) == 2 and mine[0][0] == "null" and not mine[0][1] and mine[1][0] != "null"
            old = s3.get_object(Bucket=bucket, Key=key, VersionId=mine[1][0])["Body"].read()
            assert old == f"{key}-v0 old".encode()
    _empty(s3, bucket)
    deadline = time.monotonic() + 30
    while _data_files(writes_server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _data_files(writes_server) == []
