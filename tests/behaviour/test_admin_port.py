"""The admin port (``pails server --admin-address``): a process of its own
beside the S3 workers, answering JSON, signed by the operator or an account root."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import psutil
import pytest

from tests.admin_client import admin_call
from tests.conftest import client
from tests.pails_server import Server, wait_for


def test_health_live_needs_no_signature(server: Server) -> None:
    assert admin_call(server.admin_endpoint, "GET", "/health/live", None, None) == (200, {"status": "live"})


@pytest.mark.parametrize("service", ["admin", "s3"])
def test_operator_gets_server_info(server: Server, service: str) -> None:
    status, info = admin_call(server.admin_endpoint, "GET", "/admin/v1/info", server.access_key, server.secret_key,
                              service=service)
    assert status == 200, info
    assert info["caller"]["operator"] is True
    assert info["store"] in ("sqlite", "postgresql")
    assert info["uptime_seconds"] >= 0


def test_account_root_is_not_the_operator(server: Server, alt_user: dict[str, str]) -> None:
    status, info = admin_call(server.admin_endpoint, "GET", "/admin/v1/info", alt_user["access_key"],
                              alt_user["secret_key"])
    assert status == 200, info
    assert info["caller"] == {"arn": alt_user["arn"], "account_id": alt_user["account_id"], "operator": False}


def test_unsigned_wrong_secret_and_iam_users_are_refused(server: Server, alt_user: dict[str, str]) -> None:
    endpoint = server.admin_endpoint
    assert admin_call(endpoint, "GET", "/admin/v1/info", None, None)[0] == 403
    status, err = admin_call(endpoint, "GET", "/admin/v1/info", server.access_key, "not-the-secret")
    assert (status, err["error"]["code"]) == (403, "SignatureDoesNotMatch")
    status, err = admin_call(endpoint, "GET", "/admin/v1/info", "AKIANOSUCHKEY0000000", "x")
    assert (status, err["error"]["code"]) == (403, "InvalidAccessKeyId")
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=alt_user["access_key"], aws_secret_access_key=alt_user["secret_key"])
    name = f"admin-test-{os.getpid()}-{time.monotonic_ns()}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    try:
        status, err = admin_call(endpoint, "GET", "/admin/v1/info", key["AccessKeyId"], key["SecretAccessKey"])
        assert (status, err["error"]["code"]) == (403, "AccessDenied")
    finally:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName=name)


def test_unknown_paths_and_methods(server: Server) -> None:
    status, err = admin_call(server.admin_endpoint, "GET", "/admin/v1/nothing-here", None, None)
    assert (status, err["error"]["code"]) == (404, "NotFound")
    status, err = admin_call(server.admin_endpoint, "DELETE", "/health/live", None, None)
    assert (status, err["error"]["code"]) == (405, "MethodNotAllowed")


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", extra_args=["--workers", "2"]).start()
    yield srv
    srv.stop()


def test_a_dead_admin_server_is_replaced_and_s3_keeps_serving(own_server: Server) -> None:
    s3 = client(own_server)
    s3.create_bucket(Bucket="admin-respawn")
    old = [psutil.Process(pid) for pid in own_server.admin_pids()]
    main = min(old, key=lambda p: p.create_time())  # the admin server's main process (its worker is its child)
    os.kill(main.pid, signal.SIGKILL)
    s3.put_object(Bucket="admin-respawn", Key="k", Body=b"still serving")
    # Its worker ends with it (it would go on answering on the port beside the replacement).
    wait_for(lambda: not any(_running(p) for p in old), what="the old admin processes to end")
    wait_for(lambda: _live(own_server), timeout=60, what="a new admin server")
    assert s3.get_object(Bucket="admin-respawn", Key="k")["Body"].read() == b"still serving"


def _live(server: Server) -> bool:
    try:
        return admin_call(server.admin_endpoint, "GET", "/health/live", None, None)[0] == 200
    except OSError:  # nothing listens yet
        return False


def _running(process: psutil.Process) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for an init that may never reap it)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_admin_server_stops_with_the_server(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data").start()
    admin = [psutil.Process(pid) for pid in srv.admin_pids()]
    assert admin
    assert srv.proc is not None
    srv.proc.send_signal(signal.SIGKILL)  # the main process only: its admin server follows it
    srv.proc.wait()
    wait_for(lambda: not any(_running(p) for p in admin), what="the admin processes to end")
    srv.stop()


def test_an_admin_address_in_use_is_refused_at_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = Server(tmp_path / "data", admin_port=port)
        with pytest.raises(RuntimeError, match=f"cannot serve the admin API: 127.0.0.1:{port} is in use"):
            srv.start()
        srv.stop()
