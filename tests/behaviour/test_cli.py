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


# --- the commands through the running server's admin API, and directly ---------------------------------------------


def _pails_as_operator(server, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PAILS_ROOT_ACCESS_KEY=server.access_key, PAILS_ROOT_SECRET_KEY=server.secret_key)
    return subprocess.run([sys.executable, "-m", "pails", *args, "--data", str(server.data_dir), *server.meta_args],
                          capture_output=True, text=True, env=env)


def _json(done: subprocess.CompletedProcess[str]):
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


READS = [("user", "list", "--json"), ("user", "show", "erin", "--json"), ("bucket", "info", "erins-bucket", "--json"),
         ("bucket", "list", "--json"), ("key", "list", "--json")]


def test_commands_through_the_admin_api_and_directly_agree(tmp_path):
    from tests.pails_server import Server

    server = Server(tmp_path / "data").start()
    try:
        announced = json.loads((tmp_path / "data" / "run" / "admin.json").read_text())
        assert announced["address"] == f"127.0.0.1:{server.admin_port}"
        assert stat.S_IMODE(os.stat(tmp_path / "data" / "run" / "admin.json").st_mode) == 0o600
        erin = _json(_pails_as_operator(server, "user", "add", "erin", "--email", "erin@example.com", "--json",
                                        "--api"))
        s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id=erin["access_key"], aws_secret_access_key=erin["secret_key"])
        s3.create_bucket(Bucket="erins-bucket")
        s3.put_object(Bucket="erins-bucket", Key="k", Body=b"12345")
        iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                           aws_access_key_id=erin["access_key"], aws_secret_access_key=erin["secret_key"])
        iam.create_user(UserName="erins-user")
        key_id = iam.create_access_key(UserName="erins-user")["AccessKey"]["AccessKeyId"]

        quota = _json(_pails_as_operator(server, "bucket", "quota", "erins-bucket", "--max-bytes", "1M", "--json",
                                         "--api"))
        assert quota["quota"] == {"max_bytes": 1000000, "max_objects": None}
        expired = _json(_pails_as_operator(server, "key", "expire", key_id, "--at", "2099-01-31", "--json", "--api"))
        assert expired["expires"] == "2099-01-31T00:00:00Z" and expired["user"] == "erins-user"
        refused = _pails_as_operator(server, "user", "remove", "erin", "--api")
        assert refused.returncode == 1 and "owns 1 bucket(s) (erins-bucket)" in refused.stderr
        info = _json(_pails_as_operator(server, "info", "--json"))
        assert info["caller"]["operator"] is True and info["data_dir"]["path"] == str(server.data_dir)
        through_api = {read: _json(_pails_as_operator(server, *read, "--api")) for read in READS}
        # Without --api the running server's admin API is used too: a database that cannot be
        # reached is then no obstacle (directly, the command would fail on it).
        env = dict(os.environ, PAILS_ROOT_ACCESS_KEY=server.access_key, PAILS_ROOT_SECRET_KEY=server.secret_key)
        unreachable = ["--data", str(server.data_dir), "--meta", "postgresql://nobody@127.0.0.1:1/none"]
        auto = subprocess.run([sys.executable, "-m", "pails", "user", "list", "--json", *unreachable],
                              capture_output=True, text=True, env=env)
        assert _json(auto) == through_api[("user", "list", "--json")]
        direct = subprocess.run([sys.executable, "-m", "pails", "user", "list", "--direct", *unreachable],
                                capture_output=True, text=True, env=env)
        assert direct.returncode == 1
        assert through_api[("bucket", "info", "erins-bucket", "--json")]["usage"]["bytes"] == 5
        assert [k["access_key_id"] for k in through_api[("key", "list", "--json")]] == [key_id]
    finally:
        server.stop()

    assert not (tmp_path / "data" / "run" / "admin.json").exists()  # withdrawn at a clean stop
    assert _pails_as_operator(server, "user", "list", "--api").returncode == 1
    for way in ((), ("--direct",)):
        assert {read: _json(_pails_as_operator(server, *read, *way)) for read in READS} == through_api
    refused_directly = _pails_as_operator(server, "user", "remove", "erin")
    assert (refused_directly.returncode, refused_directly.stderr) == (1, refused.stderr)
    assert _pails_as_operator(server, "info").returncode == 1  # only a running server says what it is

    # changes made directly, seen by the server once it runs again
    quota = _json(_pails_as_operator(server, "bucket", "quota", "erins-bucket", "--max-objects", "7", "--json"))
    assert quota["quota"] == {"max_bytes": 1000000, "max_objects": 7}
    assert _json(_pails_as_operator(server, "key", "expire", key_id, "--never", "--json"))["expires"] is None
    rotated = _json(_pails_as_operator(server, "user", "rotate-key", "erin", "--json"))
    server.start()
    try:
        s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id=rotated["access_key"], aws_secret_access_key=rotated["secret_key"])
        assert s3.get_object(Bucket="erins-bucket", Key="k")["Body"].read() == b"12345"
        assert _json(_pails_as_operator(server, "bucket", "info", "erins-bucket", "--json", "--api"))["quota"] == \
            {"max_bytes": 1000000, "max_objects": 7}
        moved = _pails_as_operator(server, "user", "remove", "erin", "--move-buckets-to", "root", "--api")
        assert moved.returncode == 0 and moved.stdout == "removed erin\n"
        listed = _json(_pails_as_operator(server, "bucket", "list", "--json", "--api"))
        assert [(b["name"], b["owner"]["display_name"]) for b in listed] == [("erins-bucket", "root")]
    finally:
        server.stop()


def test_a_stale_announcement_falls_back_to_the_data_directory(tmp_path, server):
    other_server = server
    import socket

    from tests.pails_server import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, Server

    server = Server(tmp_path / "data")
    server.access_key, server.secret_key = ROOT_ACCESS_KEY, ROOT_SECRET_KEY
    if os.environ.get("PAILS_TEST_STORE") == "postgresql":
        server.start()
        server.stop()
    else:
        (tmp_path / "data").mkdir()
    assert _json(_pails_as_operator(server, "user", "add", "frank", "--json"))["display_name"] == "frank"
    run_dir = tmp_path / "data" / "run"
    run_dir.mkdir(exist_ok=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for pid, port, why in [(gone.pid, free_port(), "no running server announces"),  # its server died
                           (os.getpid(), free_port(), "does not answer"),  # alive, but no admin API there
                           (os.getpid(), other_server.admin_port, "serves another data directory")]:
        (run_dir / "admin.json").write_text(json.dumps({"address": f"127.0.0.1:{port}", "pid": pid,
                                                        "hostname": socket.gethostname(), "region": "us-east-1"}))
        listed = _json(_pails_as_operator(server, "user", "list", "--json"))
        assert "frank" in [u["display_name"] for u in listed]
        only_api = _pails_as_operator(server, "user", "list", "--api")
        assert only_api.returncode == 1 and why in only_api.stderr
