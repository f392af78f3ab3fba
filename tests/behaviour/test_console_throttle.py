"""Failed console logins slow down the next tries (pails/console/throttle.py),
against a server of its own (the throttle would slow the other console tests)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message

import boto3
import pytest

from tests.behaviour.test_console import _call, _opener
from tests.pails_server import Server, wait_for


@pytest.fixture
def own_server(tmp_path) -> Iterator[Server]:
    srv = Server(tmp_path / "data").start()
    try:
        yield srv
    finally:
        srv.stop()


def _login(server: Server, access_key: str, secret_key: str) -> tuple[int, dict, Message]:
    req = urllib.request.Request(server.admin_endpoint + "/console/api/login", method="POST",
                                 data=json.dumps({"access_key": access_key, "secret_key": secret_key}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with _opener().open(req) as resp:
            return resp.status, json.loads(resp.read()), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers


def test_failed_logins_are_throttled(own_server: Server) -> None:
    server = own_server
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key)
    iam.create_user(UserName="other")
    other = iam.create_access_key(UserName="other")["AccessKey"]

    for _ in range(5):  # the free tries: refused as wrong, each checked
        status, body, _ = _login(server, server.access_key, "not-the-secret")
        assert status == 403 and body["error"]["code"] == "LoginRefused"
    # Now the key waits: even the right secret is refused unchecked, and says for how long.
    status, body, headers = _login(server, server.access_key, server.secret_key)
    assert status == 429 and body["error"]["code"] == "TooManyAttempts"
    assert int(headers["Retry-After"]) >= 1
    # Another key from the same address is not held back by it.
    assert _login(server, other["AccessKeyId"], other["SecretAccessKey"])[0] == 200
    # Once the wait is over, the right secret logs in (and clears the key's count).
    started = time.monotonic()
    wait_for(lambda: _login(server, server.access_key, server.secret_key)[0] == 200, timeout=10,
             what="the throttled key to log in again")
    assert time.monotonic() - started < 5
    assert _login(server, server.access_key, "wrong-again")[0] == 403  # counting from zero again
    assert _login(server, server.access_key, server.secret_key)[0] == 200
    assert _call(_opener(), "GET", server.admin_endpoint + "/console/api/session")[0] == 401
