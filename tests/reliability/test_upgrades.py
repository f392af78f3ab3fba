"""Safe upgrades of SQLite data directories (docs/reliability.md, "Upgrades"):
the previous layouts open and migrate, a migration is one transaction, and
a database marked newer than this Pails is refused.  (The PostgreSQL store's
refusal of a newer schema: tests/behaviour/test_pg_store.py.)"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from pails.storage.sqlite.schema import SCHEMA_VERSION
from tests.conftest import client
from tests.pails_server import STORE, Server

pytestmark = pytest.mark.skipif(STORE != "sqlite", reason="SQLite data directories (the SQLite pass)")

BODIES = {"a": b"first small body", "b": b"second small body", "c": b"x" * 3000}


def _pails(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pails", *args], capture_output=True, text=True, timeout=60)


def _make_data_dir(data: Path) -> None:
    """A data directory of today's layout with small objects, current and
    noncurrent (a versioned bucket), left unversioned (user_version 0)."""
    srv = Server(data).start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="plain")
        s3.create_bucket(Bucket="versioned")
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        for key, body in BODIES.items():
            s3.put_object(Bucket="plain", Key=key, Body=body)
            s3.put_object(Bucket="versioned", Key=key, Body=b"old " + body)
            s3.put_object(Bucket="versioned", Key=key, Body=body)
    finally:
        srv.stop()
    with sqlite3.connect(data / "meta.sqlite3") as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        c.execute("PRAGMA user_version=0")


def _to_inline_column_layout(db: Path) -> None:
    """Rewrite to the layout before inline_data: small bodies in an
    ``inline`` column of the version rows."""
    c = sqlite3.connect(db, isolation_level=None)
    try:
        for table in ("objects", "object_versions"):
            c.execute(f"ALTER TABLE {table} ADD COLUMN inline BLOB")
            c.execute(f"UPDATE {table} SET inline=(SELECT data FROM inline_data WHERE id=inline_id)")
            c.execute(f"ALTER TABLE {table} DROP COLUMN inline_id")
        c.execute("DELETE FROM inline_data")
        assert c.execute("SELECT count(*) FROM object_versions WHERE inline IS NOT NULL").fetchone()[0] == 3
    finally:
        c.close()


def _columns(db: Path, table: str) -> set[str]:
    with sqlite3.connect(db) as c:
        return {r[1] for r in c.execute(f"PRAGMA table_info({table})")}


def _user_version(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("PRAGMA user_version").fetchone()[0])


def _check_objects(data: Path) -> None:
    srv = Server(data).start()
    try:
        s3 = client(srv)
        for key, body in BODIES.items():
            assert s3.get_object(Bucket="plain", Key=key)["Body"].read() == body
            assert s3.get_object(Bucket="versioned", Key=key)["Body"].read() == body
            versions = s3.list_object_versions(Bucket="versioned", Prefix=key)["Versions"]
            old = [v["VersionId"] for v in versions if not v["IsLatest"]]
            assert len(old) == 1
            assert s3.get_object(Bucket="versioned", Key=key, VersionId=old[0])["Body"].read() == b"old " + body
        s3.put_object(Bucket="plain", Key="new", Body=b"written after the upgrade")
        assert s3.get_object(Bucket="plain", Key="new")["Body"].read() == b"written after the upgrade"
    finally:
        srv.stop()


@pytest.mark.parametrize("layout", ["inline-column", "unversioned"])
def test_previous_layouts_open_and_migrate(tmp_path: Path, layout: str) -> None:
    data = tmp_path / "data"
    _make_data_dir(data)
    db = data / "meta.sqlite3"
    if layout == "inline-column":
        _to_inline_column_layout(db)
    assert _user_version(db) == 0
    _check_objects(data)
    assert _user_version(db) == SCHEMA_VERSION
    assert "inline" not in _columns(db, "objects") and "inline_id" in _columns(db, "object_versions")


def test_a_failed_migration_leaves_the_old_schema(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _make_data_dir(data)
    db = data / "meta.sqlite3"
    _to_inline_column_layout(db)
    with sqlite3.connect(db) as c:  # the migration fails half-way through moving bodies (as a crash would stop it)
        c.execute("CREATE TRIGGER fail AFTER INSERT ON inline_data WHEN new.id > 4 "
                  "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    out = _pails("user", "list", "--data", str(data))
    assert out.returncode != 0 and "injected failure" in out.stderr
    assert _user_version(db) == 0
    assert "inline" in _columns(db, "objects") and "inline" in _columns(db, "object_versions")
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM inline_data").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM objects WHERE inline IS NOT NULL").fetchone()[0] == 6
        c.execute("DROP TRIGGER fail")
    _check_objects(data)
    assert _user_version(db) == SCHEMA_VERSION


def test_a_newer_data_directory_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _pails("user", "add", "x", "--data", str(tmp_path / "data")).returncode != 0  # no directory yet
    data.mkdir()
    assert _pails("user", "add", "x", "--data", str(data)).returncode == 0
    db = data / "meta.sqlite3"
    assert _user_version(db) == SCHEMA_VERSION
    with sqlite3.connect(db) as c:
        c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    message = f"schema version {SCHEMA_VERSION + 1}, newer than this Pails knows ({SCHEMA_VERSION})"
    out = _pails("user", "list", "--data", str(data))
    assert out.returncode != 0 and message in out.stderr and "downgrades are refused" in out.stderr
    out = _pails("server", str(data), "--address", "127.0.0.1:1", "--no-admin")
    assert out.returncode != 0 and message in out.stderr
    assert _user_version(db) == SCHEMA_VERSION + 1


def _to_version_1(db: Path) -> None:
    """Rewrite to schema version 1: no usage counters, parts without their bucket; users were flat key
    pairs (no accounts, no IAM tables)."""
    c = sqlite3.connect(db, isolation_level=None)
    try:
        for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND name LIKE 'usage_%'")\
                .fetchall():
            c.execute(f"DROP TRIGGER {name}")
        c.execute("DROP TABLE bucket_usage")
        c.execute("ALTER TABLE multipart_parts DROP COLUMN bucket_id")
        c.execute("DROP INDEX users_by_account")
        c.execute("ALTER TABLE users DROP COLUMN account_id")
        c.execute("ALTER TABLE users DROP COLUMN operator")
        c.execute("DROP TABLE iam_entities")
        c.execute("DROP TABLE iam_keys")
        _drop_event_tables(c)
        c.execute("PRAGMA user_version=1")
    finally:
        c.close()


def _drop_event_tables(c: sqlite3.Connection) -> None:
    """Schema 4 (bucket notifications) undone."""
    for table in ("event_targets", "event_outbox", "event_counters"):
        c.execute(f"DROP TABLE {table}")


def test_version_3_gains_the_notification_outbox(tmp_path: Path) -> None:
    """Schema 4 (docs/notifications.md): a data directory of version 3 keeps its
    objects and gains the targets and the outbox; notifications then work."""
    from tests.behaviour.test_notifications import add_target, queue_config, wait_for
    from tests.notify_peers import Webhook

    data = tmp_path / "data"
    _make_data_dir(data)
    db = data / "meta.sqlite3"
    c = sqlite3.connect(db, isolation_level=None)
    try:
        _drop_event_tables(c)
        c.execute("PRAGMA user_version=3")
    finally:
        c.close()
    assert "event_outbox" not in {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master")}
    _check_objects(data)
    assert _user_version(db) == SCHEMA_VERSION == 4
    hook = Webhook().start()
    srv = Server(data).start()
    try:
        arn = add_target(srv, "hook", "webhook", endpoint=hook.url)
        s3 = client(srv)
        s3.put_bucket_notification_configuration(Bucket="plain", NotificationConfiguration={
            "QueueConfigurations": [queue_config(arn, ["s3:ObjectCreated:*"])]})
        s3.put_object(Bucket="plain", Key="after", Body=b"x")
        wait_for(lambda: hook.records(), "the event")
        assert hook.records()[0]["s3"]["object"]["key"] == "after"
    finally:
        srv.stop()
        hook.stop()


def test_version_1_migrates_with_exact_usage_counters(tmp_path: Path) -> None:
    from tests.behaviour.test_quota import bucket_info, listed_usage

    data = tmp_path / "data"
    srv = Server(data).start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="versioned")
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        for key, body in BODIES.items():
            s3.put_object(Bucket="versioned", Key=key, Body=b"old " + body)
            s3.put_object(Bucket="versioned", Key=key, Body=body)
        s3.put_object(Bucket="versioned", Key="big", Body=b"B" * 100_000)
        s3.delete_object(Bucket="versioned", Key="a")
        upload = s3.create_multipart_upload(Bucket="versioned", Key="mp")["UploadId"]
        for n, size in ((1, 5000), (2, 70_000)):
            s3.upload_part(Bucket="versioned", Key="mp", UploadId=upload, PartNumber=n, Body=b"p" * size)
        s3.create_bucket(Bucket="empty")
    finally:
        srv.stop()
    db = data / "meta.sqlite3"
    _to_version_1(db)
    assert "bucket_id" not in _columns(db, "multipart_parts")
    srv = Server(data).start()
    try:
        s3 = client(srv)
        assert _user_version(db) == SCHEMA_VERSION
        expected = listed_usage(s3, "versioned")
        assert expected == {"objects": 3, "bytes": sum(map(len, BODIES.values())) - len(BODIES["a"]) + 100_000,
                            "noncurrent_objects": 4, "noncurrent_bytes": sum(len(b"old " + b) for b in BODIES.values())
                            + len(BODIES["a"]), "delete_markers": 1, "uploads": 1, "parts": 2, "part_bytes": 75_000}
        assert {k: v for k, v in bucket_info(srv, "versioned")["usage"].items() if k in expected} == expected
        assert bucket_info(srv, "empty")["usage"]["stored_bytes"] == 0
        # The counters go on from there.
        s3.abort_multipart_upload(Bucket="versioned", Key="mp", UploadId=upload)
        s3.put_object(Bucket="versioned", Key="b", Body=b"newest")
        expected = listed_usage(s3, "versioned")
        assert {k: v for k, v in bucket_info(srv, "versioned")["usage"].items() if k in expected} == expected
    finally:
        srv.stop()


def test_users_of_version_1_become_accounts(tmp_path: Path) -> None:
    """Schema 3 (accounts and IAM): every user becomes an account in place; its
    keys, canonical id and buckets work unchanged (docs/iam.md)."""
    data = tmp_path / "data"
    _make_data_dir(data)
    db = data / "meta.sqlite3"
    alice = json.loads(_pails("user", "add", "alice", "--data", str(data), "--json").stdout)
    srv = Server(data).start()
    try:
        client(srv, alice["access_key"], alice["secret_key"]).create_bucket(Bucket="alices")
    finally:
        srv.stop()
    _to_version_1(db)
    assert "account_id" not in _columns(db, "users")

    srv = Server(data).start()
    try:
        alice_s3 = client(srv, alice["access_key"], alice["secret_key"])
        assert [b["Name"] for b in alice_s3.list_buckets()["Buckets"]] == ["alices"]
        assert alice_s3.get_bucket_acl(Bucket="alices")["Owner"]["ID"] == alice["canonical_id"]
        assert client(srv).get_object(Bucket="plain", Key="a")["Body"].read() == BODIES["a"]
        iam = boto3.client("iam", endpoint_url=srv.endpoint, region_name="us-east-1",
                           aws_access_key_id=alice["access_key"], aws_secret_access_key=alice["secret_key"])
        account_arn = iam.get_user()["User"]["Arn"]
        iam.create_user(UserName="bob")
    finally:
        srv.stop()
    assert _user_version(db) == SCHEMA_VERSION
    accounts = {u["display_name"]: u for u in json.loads(_pails("user", "list", "--data", str(data), "--json").stdout)}
    assert accounts["alice"]["canonical_id"] == alice["canonical_id"]
    assert account_arn == f"arn:aws:iam::{accounts['alice']['account_id']}:root"
    assert accounts["alice"]["account_id"] != accounts["root"]["account_id"]
    assert all(len(a["account_id"]) == 12 and a["account_id"].isdigit() for a in accounts.values())


def test_removing_an_account_that_owns_buckets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    carol = json.loads(_pails("user", "add", "carol", "--data", str(data), "--json").stdout)
    (data / "dave.json").write_text(_pails("user", "add", "dave", "--data", str(data), "--json").stdout)
    srv = Server(data).start()
    try:
        client(srv, carol["access_key"], carol["secret_key"]).create_bucket(Bucket="carols")
    finally:
        srv.stop()
    out = _pails("user", "remove", "carol", "--data", str(data))
    assert out.returncode != 0 and "owns 1 bucket(s) (carols)" in out.stderr and "--move-buckets-to" in out.stderr
    out = _pails("user", "remove", "carol", "--data", str(data), "--move-buckets-to", "dave")
    assert out.returncode == 0, out.stderr
    srv = Server(data).start()
    try:
        dave = next(u for u in json.loads(_pails("user", "list", "--data", str(data), "--json").stdout)
                    if u["display_name"] == "dave")
        dave_s3 = client(srv, dave["access_key"], json.loads((data / "dave.json").read_text())["secret_key"])
        assert [b["Name"] for b in dave_s3.list_buckets()["Buckets"]] == ["carols"]
        assert dave_s3.get_bucket_acl(Bucket="carols")["Owner"]["ID"] == dave["canonical_id"]
        dave_s3.put_object(Bucket="carols", Key="k", Body=b"v")
        assert dave_s3.list_objects_v2(Bucket="carols")["KeyCount"] == 1
        assert client(srv).get_bucket_acl(Bucket="carols")["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        srv.stop()
