"""What is particular to the PostgreSQL store: the schema it creates and
checks, and the `pails` commands against it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import client
from tests.pails_server import STORE, Server
from tests.pg import create_database, drop_database, throwaway_database

pytestmark = pytest.mark.skipif(STORE != "postgresql", reason="runs in the PostgreSQL pass of make test")


def _pails(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pails", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def _schema_version(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT version FROM pails_schema").fetchone()[0])


def test_commands_create_the_schema_and_share_one_database(tmp_path: Path) -> None:
    from pails.storage.postgres.schema import SCHEMA_VERSION

    with throwaway_database() as url:
        added = _pails("user", "add", "erin", "--data", str(tmp_path), "--meta", url, "--json")
        assert added.returncode == 0, added.stderr
        user = json.loads(added.stdout)
        assert _schema_version(url) == SCHEMA_VERSION
        listed = _pails("user", "list", "--data", str(tmp_path), "--meta", url, "--json")
        assert [u["display_name"] for u in json.loads(listed.stdout)] == ["erin"]
        # PAILS_META_URL stands for --meta
        env = {**__import__("os").environ, "PAILS_META_URL": url}
        assert "erin" in _pails("user", "list", "--data", str(tmp_path), env=env).stdout
        srv = Server(tmp_path / "data", meta_url=url).start()
        try:
            s3 = client(srv, user["access_key"], user["secret_key"])
            s3.create_bucket(Bucket="erins")
            assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["erins"]
            refused = _pails("user", "remove", "erin", "--data", str(tmp_path), "--meta", url)
            assert refused.returncode != 0 and "owns 1 bucket(s) (erins)" in refused.stderr
            s3.delete_bucket(Bucket="erins")
        finally:
            srv.stop()
        assert _pails("user", "remove", "erin", "--data", str(tmp_path), "--meta", url).returncode == 0


def _to_version_1(url: str) -> None:
    """Back to what schema version 1 made: no usage counters (version 2), flat users without accounts and
    no IAM tables (version 3)."""
    with psycopg.connect(url) as conn:
        for table in ("objects", "object_versions", "multipart_uploads", "multipart_parts"):
            for op in ("insert", "delete", "update"):
                conn.execute(f"DROP TRIGGER {table}_usage_{op} ON {table}")
        conn.execute("DROP TABLE bucket_usage, bucket_quota")
        for fn in ("usage_objects", "usage_versions", "usage_uploads", "usage_parts", "quota_check"):
            conn.execute(f"DROP FUNCTION pails_{fn}()")
        conn.execute("ALTER TABLE multipart_parts DROP COLUMN bucket_id")
        for statement in ("DROP TABLE iam_entities", "DROP TABLE iam_keys", "DROP INDEX users_by_account",
                          "ALTER TABLE users DROP COLUMN account_id", "ALTER TABLE users DROP COLUMN operator",
                          "DROP TABLE event_targets, event_outbox, event_counters"):  # schema 4 (notifications)
            conn.execute(statement)
        conn.execute("UPDATE pails_schema SET version = 1")


def test_users_of_schema_1_become_accounts(tmp_path: Path) -> None:
    """Schema 3 (docs/iam.md): a database of version 1 migrates in place; each
    user's key, canonical id and buckets work unchanged, with an account id."""
    with throwaway_database() as url:
        user = json.loads(_pails("user", "add", "frank", "--data", str(tmp_path), "--meta", url, "--json").stdout)
        srv = Server(tmp_path / "data", meta_url=url).start()
        try:
            client(srv, user["access_key"], user["secret_key"]).create_bucket(Bucket="franks")
        finally:
            srv.stop()
        _to_version_1(url)
        srv = Server(tmp_path / "data", meta_url=url).start()
        try:
            s3 = client(srv, user["access_key"], user["secret_key"])
            assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["franks"]
            assert s3.get_bucket_acl(Bucket="franks")["Owner"]["ID"] == user["canonical_id"]
            s3.delete_bucket(Bucket="franks")
        finally:
            srv.stop()
        from pails.storage.postgres.schema import SCHEMA_VERSION

        assert _schema_version(url) == SCHEMA_VERSION
        listed = {u["display_name"]: u for u in json.loads(
            _pails("user", "list", "--data", str(tmp_path), "--meta", url, "--json").stdout)}
        assert listed["frank"]["canonical_id"] == user["canonical_id"]
        assert len(listed["frank"]["account_id"]) == 12
        assert listed["frank"]["account_id"] != listed["root"]["account_id"]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    with throwaway_database() as url:
        assert _pails("user", "add", "x", "--data", str(tmp_path), "--meta", url).returncode == 0
        with psycopg.connect(url) as conn:
            conn.execute("UPDATE pails_schema SET version = version + 1")
        out = _pails("user", "list", "--data", str(tmp_path), "--meta", url)
        assert out.returncode != 0 and "newer than this Pails knows" in out.stderr
        out = _pails("server", str(tmp_path / "data"), "--meta", url, "--address", "127.0.0.1:1", "--no-admin")
        assert out.returncode != 0 and "downgrades are refused" in out.stderr


def test_keys_must_be_c_collated(tmp_path: Path) -> None:
    with throwaway_database() as url:
        assert _pails("user", "list", "--data", str(tmp_path), "--meta", url).returncode == 0
        with psycopg.connect(url) as conn:  # what a hand-made or restored schema could look like
            conn.execute('ALTER TABLE objects ALTER COLUMN key TYPE text COLLATE "C.utf8"')
        out = _pails("user", "list", "--data", str(tmp_path), "--meta", url)
        assert out.returncode != 0 and '"C" collation' in out.stderr and "objects" in out.stderr


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    url = create_database()
    drop_database(url)
    out = _pails("user", "list", "--data", str(tmp_path), "--meta", url)
    assert out.returncode != 0 and "cannot connect to the metadata database" in out.stderr


def test_version_1_migrates_with_exact_usage_counters(tmp_path: Path) -> None:
    from tests.behaviour.test_quota import bucket_info, listed_usage

    with throwaway_database() as url:
        srv = Server(tmp_path / "data", meta_url=url).start()
        try:
            s3 = client(srv)
            s3.create_bucket(Bucket="versioned")
            s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
            for size in (10, 70_000, 300):
                s3.put_object(Bucket="versioned", Key="k", Body=b"v" * size)
            s3.delete_object(Bucket="versioned", Key="k")
            upload = s3.create_multipart_upload(Bucket="versioned", Key="mp")["UploadId"]
            s3.upload_part(Bucket="versioned", Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * 5000)
        finally:
            srv.stop()
        _to_version_1(url)
        srv = Server(tmp_path / "data", meta_url=url).start()
        try:
            s3 = client(srv)
            expected = listed_usage(s3, "versioned")
            assert expected == {"objects": 0, "bytes": 0, "noncurrent_objects": 3, "noncurrent_bytes": 70_310,
                                "delete_markers": 1, "uploads": 1, "parts": 1, "part_bytes": 5000}
            assert {k: v for k, v in bucket_info(srv, "versioned")["usage"].items() if k in expected} == expected
            s3.abort_multipart_upload(Bucket="versioned", Key="mp", UploadId=upload)
            s3.put_object(Bucket="versioned", Key="k", Body=b"back")
            expected = listed_usage(s3, "versioned")
            assert {k: v for k, v in bucket_info(srv, "versioned")["usage"].items() if k in expected} == expected
        finally:
            srv.stop()
