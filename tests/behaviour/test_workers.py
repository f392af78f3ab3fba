"""Several server processes over one data directory (``--workers``): every
worker caches bucket records, and a change acknowledged by one worker must be
what the next request sees, whichever worker answers it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.pails_server import Server


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(Path(tmp_path_factory.mktemp("workers")) / "data", extra_args=["--workers", "2"]).start()
    yield srv
    srv.stop()


def _on_every_worker(server: Server, check: Callable[[object], str]) -> None:
    """Run ``check`` on fresh connections until both workers have answered
    (request ids start with a per-worker prefix); ``check`` returns the id."""
    seen: set[str] = set()
    for _ in range(80):
        seen.add(check(client(server))[:8])
        if len(seen) == 2:
            return
    pytest.fail(f"only worker(s) {seen} answered 80 new connections")


def test_bucket_changes_reach_every_worker(two_workers: Server) -> None:
    s3 = client(two_workers)
    s3.create_bucket(Bucket="shared")

    def unversioned(c) -> str:  # type: ignore[no-untyped-def]
        r = c.get_bucket_versioning(Bucket="shared")
        assert "Status" not in r
        return r["ResponseMetadata"]["RequestId"]

    _on_every_worker(two_workers, unversioned)  # both workers now hold the record
    s3.put_bucket_versioning(Bucket="shared", VersioningConfiguration={"Status": "Enabled"})

    def versioned(c) -> str:  # type: ignore[no-untyped-def]
        r = c.get_bucket_versioning(Bucket="shared")
        assert r["Status"] == "Enabled"
        return r["ResponseMetadata"]["RequestId"]

    _on_every_worker(two_workers, versioned)
    s3.put_bucket_acl(Bucket="shared", ACL="public-read")

    def public(c) -> str:  # type: ignore[no-untyped-def]
        r = c.get_bucket_acl(Bucket="shared")
        assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in r["Grants"])
        return r["ResponseMetadata"]["RequestId"]

    _on_every_worker(two_workers, public)
    s3.delete_bucket(Bucket="shared")

    def gone(c) -> str:  # type: ignore[no-untyped-def]
        with pytest.raises(ClientError) as e:
            c.head_bucket(Bucket="shared")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return e.value.response["ResponseMetadata"]["RequestId"] or e.value.response["ResponseMetadata"][
            "HTTPHeaders"]["x-amz-request-id"]

    _on_every_worker(two_workers, gone)


def test_writes_from_both_workers_commit(two_workers: Server) -> None:
    """Both workers' committers take turns on the one database."""
    s3 = client(two_workers)
    s3.create_bucket(Bucket="both")
    ids = set()
    for i in range(60):
        r = client(two_workers).put_object(Bucket="both", Key=f"k{i}", Body=b"x" * i)
        ids.add(r["ResponseMetadata"]["RequestId"][:8])
    assert len(ids) == 2
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="both")["Contents"]]
    assert sorted(keys) == sorted(f"k{i}" for i in range(60))
