"""The `pails` command: generated root credentials and user management."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.pails_server import free_port, wait_for_port


def _pails(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pails", *args], capture_output=True, text=True)


def test_first_start_generates_root_credentials_once(tmp_path):
    data = tmp_path / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAILS_ROOT_")}
    log = tmp_path / "out.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pails", "server", str(data), "--address", f"127.0.0.1:{port}",
                                 "--admin-address", f"127.0.0.1:{free_port()}"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        creds_path = data / "root-credentials.json"
        assert stat.S_IMODE(creds_path.stat().st_mode) == 0o600
        creds = json.loads(creds_path.read_text())
        printed = log.read_text()
        assert f"http://127.0.0.1:{port}" in printed
        assert creds["access_key"] in printed and creds["secret_key"] in printed
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id=creds["access_key"], aws_secret_access_key=creds["secret_key"])
        s3.create_bucket(Bucket="root-bucket")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["root-bucket"]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    # A second start reuses the stored credentials and does not print the secret again.
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pails", "server", str(data), "--address", f"127.0.0.1:{port}",
                                 "--admin-address", f"127.0.0.1:{free_port()}"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        assert creds["secret_key"] not in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_user_add_list_remove_while_serving(server):
    added = json.loads(_pails("user", "add", "carol", "--data", str(server.data_dir), *server.meta_args,
                              "--email", "carol@example.com", "--json").stdout)
    assert set(added) >= {"access_key", "secret_key", "canonical_id", "display_name", "email"}
    assert len(added["canonical_id"]) == 64 and int(added["canonical_id"], 16) >= 0
    assert added["display_name"] == "carol" and added["email"] == "carol@example.com"
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=added["access_key"], aws_secret_access_key=added["secret_key"])
    assert s3.list_buckets()["Owner"]["ID"] == added["canonical_id"]
    listed = json.loads(_pails("user", "list", "--data", str(server.data_dir), *server.meta_args, "--json").stdout)
    assert "carol" in [u["display_name"] for u in listed]
    assert all("secret_key" not in u for u in listed)
    dup = _pails("user", "add", "carol", "--data", str(server.data_dir), *server.meta_args, "--json")
    assert dup.returncode != 0
    assert _pails("user", "remove", "carol", "--data", str(server.data_dir), *server.meta_args).returncode == 0
    import time

    time.sleep(2.5)  # the server caches a key for at most 2 s
    with pytest.raises(ClientError) as info:
        s3.list_buckets()
    assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_user_add_with_given_keys(server):
    out = _pails("user", "add", "dave", "--data", str(server.data_dir), *server.meta_args,
                 "--access-key", "DAVEKEY0000000000001", "--secret-key", "dave-secret", "--json")
    user = json.loads(out.stdout)
    assert user["access_key"] == "DAVEKEY0000000000001" and user["secret_key"] == "dave-secret"
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id="DAVEKEY0000000000001", aws_secret_access_key="dave-secret")
    assert s3.list_buckets()["Buckets"] == []
