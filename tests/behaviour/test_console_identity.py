"""The console's identity pages (docs/console.md) and its two server-side
paths to identity: ``api/iam`` (the IAM Query API on the S3 port, signed for
``iam`` with the session's credentials) and ``api/admin/`` (the admin API's
handlers as the session's principal), and the admin API's acceptance of an
account root's GetSessionToken session (docs/admin-api.md) while IAM users'
and roles' sessions stay refused.  Headless Chromium with Playwright against
a real server; effects checked with boto3 and the admin API."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.admin_client import admin_call
from tests.behaviour.test_console import _call, _http_login, _login, _opener, _shoot, page, shots  # noqa: F401
from tests.behaviour.test_cors_browser import browser  # noqa: F401 - the fixture
from tests.pails_server import Server, wait_for


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _iam(server: Server, access_key: str | None = None, secret_key: str | None = None) -> Any:
    return boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=access_key or server.access_key,
                        aws_secret_access_key=secret_key or server.secret_key)


def _sts(server: Server, access_key: str, secret_key: str) -> Any:
    return boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key)


def _session(server: Server, access_key: str, secret_key: str) -> dict[str, str]:
    return _sts(server, access_key, secret_key).get_session_token(DurationSeconds=900)["Credentials"]


def _as(server: Server, creds: dict[str, str], method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return admin_call(server.admin_endpoint, method, path, creds["AccessKeyId"], creds["SecretAccessKey"], body,
                      token=creds["SessionToken"])


def _works(server: Server, access_key: str, secret_key: str) -> str | None:
    """None if the key lists buckets, else the S3 error code."""
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=access_key, aws_secret_access_key=secret_key)
    try:
        s3.list_buckets()
    except ClientError as err:
        return str(err.response["Error"]["Code"])
    return None


@pytest.fixture
def iam_user(server: Server) -> Any:
    """An IAM user of the operator's account with a key and no IAM rights (S3 reads only)."""
    iam = _iam(server)
    name = _unique("nobody")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    yield name, key
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName=name, PolicyName="read")
    iam.delete_user(UserName=name)


# --- the admin API and temporary credentials ---------------------------------------------------------------------


def test_admin_api_accepts_a_root_session_and_refuses_others(server: Server, iam_user: Any) -> None:
    # The operator's session is the operator.
    status, info = _as(server, _session(server, server.access_key, server.secret_key), "GET", "/admin/v1/info")
    assert status == 200 and info["caller"]["operator"] is True, info

    # An account root's session is that root, bound by the same rules as its key.
    status, account = admin_call(server.admin_endpoint, "POST", "/admin/v1/accounts", server.access_key,
                                 server.secret_key, {"name": _unique("acct")})
    assert status == 201, account
    creds = _session(server, account["access_key"], account["secret_key"])
    status, listed = _as(server, creds, "GET", "/admin/v1/accounts")
    assert status == 200 and [a["account_id"] for a in listed["accounts"]] == [account["account_id"]]
    status, refused = _as(server, creds, "POST", "/admin/v1/accounts", {"name": _unique("nope")})
    assert status == 403 and refused["error"]["code"] == "AccessDenied"  # the operator's, as with the key
    # A session whose parent key is replaced ends with it.
    status, _ = admin_call(server.admin_endpoint, "POST", f"/admin/v1/accounts/{account['account_id']}/root-key",
                           server.access_key, server.secret_key)
    assert status == 200
    status, gone = wait_for(lambda: (r := _as(server, creds, "GET", "/admin/v1/info"))[0] != 200 and r,
                            what="the old root key's session refused")
    assert status == 403, gone

    # An IAM user's session and a role's session stay refused.
    name, key = iam_user
    status, refused = _as(server, _session(server, key["AccessKeyId"], key["SecretAccessKey"]), "GET",
                          "/admin/v1/info")
    assert status == 403 and refused["error"]["code"] == "AccessDenied", refused
    iam = _iam(server)
    role = _unique("admin-role")
    me = _sts(server, server.access_key, server.secret_key).get_caller_identity()["Account"]
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{me}:root"}}]}))
    try:
        assumed = _sts(server, server.access_key, server.secret_key).assume_role(
            RoleArn=f"arn:aws:iam::{me}:role/{role}", RoleSessionName="s1")["Credentials"]
        status, refused = _as(server, assumed, "GET", "/admin/v1/info")
        assert status == 403 and refused["error"]["code"] == "AccessDenied", refused
    finally:
        iam.delete_role(RoleName=role)
    admin_call(server.admin_endpoint, "DELETE", f"/admin/v1/accounts/{account['account_id']}", server.access_key,
               server.secret_key)


def test_console_iam_and_admin_routes(server: Server, iam_user: Any) -> None:
    api = server.admin_endpoint + "/console/api/"
    opener, csrf = _http_login(server, server.access_key, server.secret_key)
    form = urllib.parse.urlencode({"Action": "ListUsers", "Version": "2010-05-08"}).encode()
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    assert _call(opener, "POST", api + "iam", form, form_type)[0] == 403  # no CSRF token
    status, body = _call(opener, "POST", api + "iam", form, {**form_type, "X-Pails-CSRF": csrf})
    assert status == 200 and b"<ListUsersResponse" in body and iam_user[0].encode() in body
    name = _unique("via-console")
    create = urllib.parse.urlencode({"Action": "CreateUser", "Version": "2010-05-08", "UserName": name}).encode()
    assert _call(opener, "POST", api + "iam", create, {**form_type, "X-Pails-CSRF": csrf})[0] == 200
    assert _iam(server).get_user(UserName=name)["User"]["UserName"] == name
    _iam(server).delete_user(UserName=name)

    status, body = _call(opener, "GET", api + "admin/v1/info")
    assert status == 200 and json.loads(body)["caller"]["operator"] is True
    assert _call(opener, "PUT", api + "admin/v1/buckets/x/quota", b"{}")[0] == 403  # CSRF
    assert _call(opener, "GET", api + "admin/v1/nothing")[0] == 404
    assert _call(opener, "GET", api + "admin/../health/live")[0] == 404  # the admin API's operations only

    # An IAM user: the IAM API answers with its policies (none for IAM), the admin API refuses.
    _, key = iam_user
    user_opener, user_csrf = _http_login(server, key["AccessKeyId"], key["SecretAccessKey"])
    status, body = _call(user_opener, "POST", api + "iam", form, {**form_type, "X-Pails-CSRF": user_csrf})
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    status, body = _call(user_opener, "GET", api + "admin/v1/info")
    assert status == 403 and json.loads(body)["error"]["code"] == "AccessDenied"
    assert _call(_opener(), "GET", api + "admin/v1/info")[0] == 401  # no session
