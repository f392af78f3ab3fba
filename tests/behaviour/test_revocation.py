"""Revocation within a second (docs/iam.md, "How fast changes apply"): a
deleted or deactivated access key, a deleted user, a deleted role, and
"revoke active sessions" (an inline Deny on ``aws:TokenIssueTime``) refuse
requests, and the session tokens made from them, in every worker of the
server and, on PostgreSQL, on every gateway.

Each check waits on the refusal with a deadline of one second from the
moment the change was acknowledged, then asks several more times on fresh
connections (so other workers answer too): every one must be refused."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.behaviour.test_iam import _policy, iam_client
from tests.behaviour.test_sts import s3_with, sts_client
from tests.conftest import client
from tests.pails_server import STORE, Server

DEADLINE = 1.0  # seconds
CONFIRMATIONS = 6


def _name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _refused(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)
    return False


def refused_within_a_second(fresh_call: Callable[[], Callable[[], Any]]) -> None:
    """``fresh_call()`` makes a call on a new client (a new connection, so any
    worker may answer): refused within DEADLINE, then refused every time."""
    deadline = time.monotonic() + DEADLINE
    while not _refused(fresh_call()):
        assert time.monotonic() < deadline, "still accepted a second after the change"
    for _ in range(CONFIRMATIONS):
        assert _refused(fresh_call()), "accepted again after a refusal"


@pytest.fixture(scope="module")
def account(server: Server) -> dict[str, str]:
    return server.add_user(_name("rv"), f"{_name()}@example.com")


@pytest.fixture(scope="module")
def root_iam(server: Server, account: dict[str, str]) -> Any:
    return iam_client(server, account["access_key"], account["secret_key"])


@pytest.fixture(scope="module")
def bucket(server: Server, account: dict[str, str]) -> str:
    name = _name("rv-")
    s3 = client(server, account["access_key"], account["secret_key"])
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="doc", Body=b"x")
    return name


def _reader(root_iam: Any, bucket: str) -> tuple[str, dict[str, str]]:
    name = _name()
    root_iam.create_user(UserName=name)
    root_iam.put_user_policy(UserName=name, PolicyName="read", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": ["s3:GetObject", "sts:*"], "Resource": "*"}))
    return name, root_iam.create_access_key(UserName=name)["AccessKey"]


def _get(server: Server, creds: dict[str, str], bucket: str) -> Callable[[], Callable[[], Any]]:
    def fresh() -> Callable[[], Any]:
        s3 = s3_with(server, creds, retries={"total_max_attempts": 1})
        return lambda: s3.get_object(Bucket=bucket, Key="doc")
    return fresh


def _key_creds(key: dict[str, str]) -> dict[str, str]:
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


@pytest.mark.parametrize("how", ["deactivate", "delete"])
def test_a_key_and_its_sessions_end(server: Server, root_iam: Any, bucket: str, how: str) -> None:
    name, key = _reader(root_iam, bucket)
    session = sts_client(server, key["AccessKeyId"], key["SecretAccessKey"]).get_session_token()["Credentials"]
    for creds in (_key_creds(key), session):
        _get(server, creds, bucket)()()  # accepted, and cached by the worker that answered
    if how == "deactivate":
        root_iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    else:
        root_iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    refused_within_a_second(_get(server, _key_creds(key), bucket))
    refused_within_a_second(_get(server, session, bucket))


def test_a_deleted_users_sessions_end(server: Server, root_iam: Any, bucket: str) -> None:
    name, key = _reader(root_iam, bucket)
    session = sts_client(server, key["AccessKeyId"], key["SecretAccessKey"]).get_session_token()["Credentials"]
    _get(server, session, bucket)()()
    root_iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    root_iam.delete_user_policy(UserName=name, PolicyName="read")
    root_iam.delete_user(UserName=name)
    refused_within_a_second(_get(server, session, bucket))


def _role(root_iam: Any, account: dict[str, str], bucket: str) -> tuple[str, str]:
    name = _name("r")
    arn = root_iam.create_role(RoleName=name, AssumeRolePolicyDocument=_policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account['account_id']}:root"},
         "Action": "sts:AssumeRole"}))["Role"]["Arn"]
    root_iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}))
    return name, arn


def test_a_deleted_roles_sessions_end(server: Server, account: dict[str, str], root_iam: Any, bucket: str) -> None:
    name, arn = _role(root_iam, account, bucket)
    session = sts_client(server, account["access_key"], account["secret_key"]).assume_role(
        RoleArn=arn, RoleSessionName="doomed")["Credentials"]
    _get(server, session, bucket)()()
    root_iam.delete_role_policy(RoleName=name, PolicyName="read")
    root_iam.delete_role(RoleName=name)
    refused_within_a_second(_get(server, session, bucket))


def revoke_older_sessions(iam: Any, role: str) -> None:
    """What the AWS console's "Revoke active sessions" does: a Deny of
    everything to sessions issued before now (rounded up to the second)."""
    cutoff = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    iam.put_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions", PolicyDocument=_policy(
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}))


def test_revoke_active_sessions(server: Server, account: dict[str, str], root_iam: Any, bucket: str) -> None:
    name, arn = _role(root_iam, account, bucket)
    sts = sts_client(server, account["access_key"], account["secret_key"])
    old = sts.assume_role(RoleArn=arn, RoleSessionName="old")["Credentials"]
    _get(server, old, bucket)()()
    revoke_older_sessions(root_iam, name)
    refused_within_a_second(_get(server, old, bucket))
    # Sessions issued after the cut-off work (wait for the clock to pass it: at most 2 s).
    deadline = time.monotonic() + 3
    while True:
        new = sts.assume_role(RoleArn=arn, RoleSessionName="new")["Credentials"]
        if not _refused(_get(server, new, bucket)()):
            break
        assert time.monotonic() < deadline, "a session issued after the revocation is refused"


# --- across gateways (PostgreSQL) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    if STORE != "postgresql":
        pytest.skip("several gateways need the PostgreSQL store")
    from tests.pg import create_database, drop_database

    root: Path = tmp_path_factory.mktemp("revocation")
    url = create_database()
    servers = []
    for i in range(2):
        host = root / f"host{i}"
        host.mkdir()
        servers.append(Server(root / "data", meta_url=url, log_name=f"gw{i}", env={"TMPDIR": str(host)},
                              extra_args=["--workers", "2"]).start())
    yield servers
    for s in servers:
        s.stop()
    drop_database(url)


def test_revocation_reaches_every_gateway(gateways: list[Server]) -> None:
    one, other = gateways
    account = one.add_user(_name("gw"), f"{_name()}@example.com")
    iam = iam_client(one, account["access_key"], account["secret_key"])
    bucket = _name("gw-")
    client(one, account["access_key"], account["secret_key"]).create_bucket(Bucket=bucket)
    client(one, account["access_key"], account["secret_key"]).put_object(Bucket=bucket, Key="doc", Body=b"x")
    name, key = _reader(iam, bucket)
    role, arn = _role(iam, account, bucket)
    session = sts_client(other, account["access_key"], account["secret_key"]).assume_role(
        RoleArn=arn, RoleSessionName="far")["Credentials"]
    for _ in range(CONFIRMATIONS):  # cached by the other gateway's workers
        _get(other, _key_creds(key), bucket)()()
        _get(other, session, bucket)()()
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    refused_within_a_second(_get(other, _key_creds(key), bucket))
    revoke_older_sessions(iam, role)
    refused_within_a_second(_get(other, session, bucket))
