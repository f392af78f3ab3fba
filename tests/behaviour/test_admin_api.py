"""The admin API's operations (docs/admin-api.md): accounts, root keys, IAM
access key expiry, buckets with usage and quotas, server information, and
who may call each (operator, the account's own root, another account's
root, an IAM user, nobody)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.admin_client import admin_call
from tests.conftest import client
from tests.pails_server import Server, wait_for


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def op(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A call signed by the operator."""
    return admin_call(server.admin_endpoint, method, path, server.access_key, server.secret_key, body)


def new_account(server: Server, **fields: str) -> dict[str, str]:
    status, account = op(server, "POST", "/admin/v1/accounts", {"name": unique("acct"), **fields})
    assert status == 201, account
    return account


def denies(s3: Any, call: Callable[[], Any]) -> str | None:
    """The error code of ``call``, None if it succeeds."""
    try:
        call()
    except ClientError as err:
        return str(err.response["Error"]["Code"])
    return None


# --- accounts ---------------------------------------------------------------------------------------------------


def test_create_get_list_delete_an_account(server: Server) -> None:
    name = unique("carol")
    status, created = op(server, "POST", "/admin/v1/accounts", {"name": name, "email": f"{name}@example.com"})
    assert status == 201, created
    assert set(created) == {"access_key", "secret_key", "canonical_id", "display_name", "email", "account_id", "arn"}
    assert created["display_name"] == name and created["arn"] == f"arn:aws:iam::{created['account_id']}:root"
    s3 = client(server, created["access_key"], created["secret_key"])
    assert s3.list_buckets()["Owner"]["ID"] == created["canonical_id"]

    status, got = op(server, "GET", f"/admin/v1/accounts/{created['account_id']}")
    assert status == 200
    assert "secret_key" not in got
    assert got["display_name"] == name and got["buckets"] == [] and got["operator"] is False
    assert op(server, "GET", f"/admin/v1/accounts/{name}")[1]["account_id"] == created["account_id"]

    status, listed = op(server, "GET", "/admin/v1/accounts")
    assert status == 200
    mine = [a for a in listed["accounts"] if a["account_id"] == created["account_id"]]
    assert len(mine) == 1 and "secret_key" not in mine[0]
    assert any(a["operator"] for a in listed["accounts"])

    status, err = op(server, "POST", "/admin/v1/accounts", {"name": name})
    assert (status, err["error"]["code"]) == (409, "AccountExists")

    status, deleted = op(server, "DELETE", f"/admin/v1/accounts/{name}")
    assert (status, deleted) == (200, {"deleted": name, "account_id": created["account_id"], "moved_buckets": 0})
    assert op(server, "GET", f"/admin/v1/accounts/{name}")[0] == 404
    assert op(server, "DELETE", f"/admin/v1/accounts/{name}")[0] == 404
    assert wait_for(lambda: denies(s3, s3.list_buckets) == "InvalidAccessKeyId", what="the key refused")


def test_create_account_with_given_keys(server: Server) -> None:
    key, secret = f"GIVEN{uuid.uuid4().hex[:15].upper()}", "given-secret"
    account = new_account(server, access_key=key, secret_key=secret)
    assert (account["access_key"], account["secret_key"]) == (key, secret)
    assert client(server, key, secret).list_buckets()["Buckets"] == []


@pytest.mark.parametrize("body, message", [
    ({}, "name is required"),
    ({"name": ""}, "name must be a non-empty string"),
    ({"name": 7}, "name must be a non-empty string"),
    ({"name": "x", "access_key": "ONLYKEY0000000000001"}, "access_key and secret_key go together"),
    ({"name": "x", "nickname": "y"}, "unknown field(s): nickname"),
    ({"name": "a\nb"}, "printable"),
])
def test_create_account_validation(server: Server, body: dict[str, Any], message: str) -> None:
    status, err = op(server, "POST", "/admin/v1/accounts", body)
    assert (status, err["error"]["code"]) == (400, "InvalidRequest")
    assert message in err["error"]["message"]


def test_a_body_that_is_not_a_json_object_is_refused(server: Server) -> None:
    status, err = op(server, "POST", "/admin/v1/accounts", ["name"])
    assert (status, err["error"]["code"]) == (400, "InvalidRequest")


def test_an_account_with_buckets_is_deleted_only_with_move_buckets_to(server: Server) -> None:
    leaving, staying = new_account(server), new_account(server)
    s3 = client(server, leaving["access_key"], leaving["secret_key"])
    bucket = unique("moving")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")

    status, err = op(server, "DELETE", f"/admin/v1/accounts/{leaving['account_id']}")
    assert (status, err["error"]["code"]) == (409, "AccountInUse")
    assert bucket in err["error"]["message"]
    status, err = op(server, "DELETE", f"/admin/v1/accounts/{leaving['account_id']}?move_buckets_to=nobody-here")
    assert (status, err["error"]["code"]) == (404, "NoSuchAccount")
    status, err = op(server, "DELETE",
                     f"/admin/v1/accounts/{leaving['account_id']}?move_buckets_to={leaving['account_id']}")
    assert status == 400

    status, deleted = op(server, "DELETE",
                         f"/admin/v1/accounts/{leaving['account_id']}?move_buckets_to={staying['display_name']}")
    assert status == 200 and deleted["moved_buckets"] == 1
    status, info = op(server, "GET", f"/admin/v1/buckets/{bucket}")
    assert info["owner_id"] == staying["canonical_id"]
    new_owner = client(server, staying["access_key"], staying["secret_key"])
    assert [o["Key"] for o in new_owner.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    new_owner.delete_object(Bucket=bucket, Key="k")
    new_owner.delete_bucket(Bucket=bucket)


def test_the_operators_account_is_not_deleted_nor_rotated(server: Server) -> None:
    status, err = op(server, "DELETE", f"/admin/v1/accounts/{server.access_key}")
    assert (status, err["error"]["code"]) == (409, "AccountInUse")
    status, err = op(server, "POST", f"/admin/v1/accounts/{server.access_key}/root-key")
    assert (status, err["error"]["code"]) == (409, "OperatorKeys")


@pytest.mark.parametrize("by", ["operator", "own root"])
def test_a_new_root_key_replaces_the_old_one(server: Server, by: str) -> None:
    account = new_account(server)
    old = client(server, account["access_key"], account["secret_key"])
    old.list_buckets()
    signer = (server.access_key, server.secret_key) if by == "operator" else (account["access_key"],
                                                                               account["secret_key"])
    status, fresh = admin_call(server.admin_endpoint, "POST", f"/admin/v1/accounts/{account['account_id']}/root-key",
                               *signer)
    assert status == 200, fresh
    assert fresh["account_id"] == account["account_id"] and fresh["canonical_id"] == account["canonical_id"]
    assert fresh["access_key"] != account["access_key"] and fresh["secret_key"] != account["secret_key"]
    assert client(server, fresh["access_key"], fresh["secret_key"]).list_buckets()["Owner"]["ID"] == \
        account["canonical_id"]
    assert wait_for(lambda: denies(old, old.list_buckets) == "InvalidAccessKeyId", what="the old key refused")


def test_unknown_accounts_are_404(server: Server) -> None:
    for method, path in [("GET", "/admin/v1/accounts/no-such-account"),
                         ("DELETE", "/admin/v1/accounts/no-such-account"),
                         ("POST", "/admin/v1/accounts/no-such-account/root-key"),
                         ("GET", "/admin/v1/access-keys?account=no-such-account")]:
        status, err = op(server, method, path)
        assert (status, err["error"]["code"]) == (404, "NoSuchAccount"), path


# --- IAM access keys ----------------------------------------------------------------------------------------------


def iam_key(server: Server, account: dict[str, str]) -> dict[str, str]:
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=account["access_key"], aws_secret_access_key=account["secret_key"])
    name = unique("user")
    iam.create_user(UserName=name)
    return {**iam.create_access_key(UserName=name)["AccessKey"], "UserName": name}


def test_an_iam_keys_expiry_is_set_and_cleared(server: Server) -> None:
    account = new_account(server)
    key = iam_key(server, account)
    key_id = key["AccessKeyId"]
    s3 = client(server, key_id, key["SecretAccessKey"])

    def known() -> bool:  # the key is taken (the user, with no policy, may do nothing: AccessDenied)
        return denies(s3, s3.list_buckets) == "AccessDenied"
    assert known()

    status, listed = op(server, "GET", f"/admin/v1/access-keys?account={account['account_id']}")
    assert status == 200
    assert [(k["access_key_id"], k["user"], k["expires"]) for k in listed["access_keys"]] == \
        [(key_id, key["UserName"], None)]

    status, got = op(server, "PUT", f"/admin/v1/access-keys/{key_id}/expiry", {"expires": "2099-01-31T12:00:00Z"})
    assert status == 200, got
    assert got["expires"] == "2099-01-31T12:00:00Z" and got["account_id"] == account["account_id"]
    assert op(server, "GET", f"/admin/v1/access-keys/{key_id}")[1]["expires"] == "2099-01-31T12:00:00Z"
    assert known()

    status, got = op(server, "PUT", f"/admin/v1/access-keys/{key_id}/expiry", {"expires": "2020-01-01T00:00:00"})
    assert status == 200 and got["expires"] == "2020-01-01T00:00:00Z"  # no zone: UTC
    assert wait_for(lambda: denies(s3, s3.list_buckets) == "InvalidAccessKeyId", what="the expired key refused")

    status, got = op(server, "DELETE", f"/admin/v1/access-keys/{key_id}/expiry")
    assert status == 200 and got["expires"] is None
    assert wait_for(known, what="the key accepted again")


@pytest.mark.parametrize("body", [{}, {"expires": "soon"}, {"expires": 12}, {"expires": "2099-01-01", "x": 1}])
def test_key_expiry_validation(server: Server, alt_user: dict[str, str], body: dict[str, Any]) -> None:
    key = iam_key(server, alt_user)
    status, err = op(server, "PUT", f"/admin/v1/access-keys/{key['AccessKeyId']}/expiry", body)
    assert (status, err["error"]["code"]) == (400, "InvalidRequest")


def test_unknown_keys_are_404(server: Server) -> None:
    for method, path, body in [("GET", "/admin/v1/access-keys/AKIANOSUCHKEY0000000", None),
                               ("PUT", "/admin/v1/access-keys/AKIANOSUCHKEY0000000/expiry",
                                {"expires": "2099-01-01T00:00:00Z"}),
                               ("DELETE", "/admin/v1/access-keys/AKIANOSUCHKEY0000000/expiry", None),
                               ("GET", f"/admin/v1/access-keys/{server.access_key}", None)]:
        status, err = op(server, method, path, body)
        assert (status, err["error"]["code"]) == (404, "NoSuchAccessKey"), path


# --- buckets --------------------------------------------------------------------------------------------------------


def test_buckets_with_owner_usage_and_quota(server: Server) -> None:
    account = new_account(server)
    s3 = client(server, account["access_key"], account["secret_key"])
    names = sorted(unique("listed") for _ in range(3))
    for name in names:
        s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=names[0], Key="a", Body=b"x" * 100)
    s3.put_object(Bucket=names[0], Key="b", Body=b"y" * 20)

    status, page = op(server, "GET", f"/admin/v1/buckets?owner={account['account_id']}")
    assert status == 200 and page["next_after"] is None
    assert [b["name"] for b in page["buckets"]] == names
    first = page["buckets"][0]
    assert first["owner"] == {"canonical_id": account["canonical_id"], "account_id": account["account_id"],
                              "display_name": account["display_name"]}
    assert (first["usage"]["objects"], first["usage"]["bytes"], first["usage"]["stored_bytes"]) == (2, 120, 120)
    assert first["quota"] is None and first["versioning"] == "Unversioned"

    # pages of the operator's list of every bucket
    status, page = op(server, "GET", f"/admin/v1/buckets?limit=1&after={names[0]}")
    assert status == 200 and len(page["buckets"]) == 1 and page["next_after"] == page["buckets"][0]["name"]
    assert page["buckets"][0]["name"] > names[0]
    assert op(server, "GET", "/admin/v1/buckets?limit=0")[0] == 400

    status, usage = op(server, "GET", f"/admin/v1/buckets/{names[0]}/usage")
    assert status == 200 and usage["stored_objects"] == 2 and usage["bytes"] == 120
    status, info = op(server, "GET", f"/admin/v1/buckets/{names[0]}")
    assert status == 200
    assert set(info) == {"bucket", "owner_id", "versioning", "usage", "quota", "veeam_sosapi"}
    assert info["usage"] == usage


def test_bucket_quota_set_merge_clear_and_enforced(server: Server, bucket: str, s3: Any) -> None:
    path = f"/admin/v1/buckets/{bucket}/quota"
    assert op(server, "GET", path) == (200, {"max_bytes": None, "max_objects": None})
    assert op(server, "PUT", path, {"max_bytes": 1000}) == (200, {"max_bytes": 1000, "max_objects": None})
    assert op(server, "PUT", path, {"max_objects": 5}) == (200, {"max_bytes": 1000, "max_objects": 5})
    assert op(server, "GET", path) == (200, {"max_bytes": 1000, "max_objects": 5})
    assert op(server, "GET", f"/admin/v1/buckets/{bucket}")[1]["quota"] == {"max_bytes": 1000, "max_objects": 5}
    s3.put_object(Bucket=bucket, Key="fits", Body=b"x" * 600)
    assert denies(s3, lambda: s3.put_object(Bucket=bucket, Key="too-big", Body=b"x" * 600)) == "QuotaExceeded"
    assert op(server, "PUT", path, {"max_bytes": None}) == (200, {"max_bytes": None, "max_objects": 5})
    s3.put_object(Bucket=bucket, Key="now-fits", Body=b"x" * 600)
    assert op(server, "DELETE", path) == (200, {"max_bytes": None, "max_objects": None})
    assert op(server, "GET", f"/admin/v1/buckets/{bucket}")[1]["quota"] is None


@pytest.mark.parametrize("body", [{}, {"max_bytes": -1}, {"max_bytes": "1G"}, {"max_objects": True},
                                  {"max_bytes": 1.5}, {"maxbytes": 1}])
def test_bucket_quota_validation(server: Server, bucket: str, body: dict[str, Any]) -> None:
    status, err = op(server, "PUT", f"/admin/v1/buckets/{bucket}/quota", body)
    assert (status, err["error"]["code"]) == (400, "InvalidRequest")


def test_unknown_buckets_are_404(server: Server) -> None:
    for method, path, body in [("GET", "/admin/v1/buckets/no-such-bucket-here", None),
                               ("GET", "/admin/v1/buckets/no-such-bucket-here/usage", None),
                               ("GET", "/admin/v1/buckets/no-such-bucket-here/quota", None),
                               ("PUT", "/admin/v1/buckets/no-such-bucket-here/quota", {"max_bytes": 1}),
                               ("DELETE", "/admin/v1/buckets/no-such-bucket-here/quota", None)]:
        status, err = op(server, method, path, body)
        assert (status, err["error"]["code"]) == (404, "NoSuchBucket"), path


# --- server information -----------------------------------------------------------------------------------------


def test_server_info_for_the_operator_and_for_a_root(server: Server, alt_user: dict[str, str]) -> None:
    status, info = op(server, "GET", "/admin/v1/info")
    assert status == 200
    assert info["workers"] >= 1 and info["region"] == "us-east-1"
    space = info["data_dir"]
    assert space["path"] == str(server.data_dir)
    assert 0 < space["free_bytes"] <= space["total_bytes"] and space["reserve_bytes"] >= 0
    assert space["below_reserve"] is False and space["writable"] is True
    status, info = admin_call(server.admin_endpoint, "GET", "/admin/v1/info", alt_user["access_key"],
                              alt_user["secret_key"])
    assert status == 200 and "data_dir" not in info and info["workers"] >= 1


# --- who may do what ----------------------------------------------------------------------------------------------


@dataclass
class World:
    own: dict[str, str]  # the account operated on
    other: dict[str, str]  # another account
    bucket: str  # owned by ``own``
    key: dict[str, str]  # an IAM key of ``own``
    callers: dict[str, tuple[str | None, str | None]]


@pytest.fixture(scope="module")
def world(server: Server) -> World:
    own, other = new_account(server), new_account(server)
    bucket = unique("matrix")
    client(server, own["access_key"], own["secret_key"]).create_bucket(Bucket=bucket)
    key = iam_key(server, own)
    return World(own, other, bucket, key, {
        "operator": (server.access_key, server.secret_key),
        "own root": (own["access_key"], own["secret_key"]),
        "other root": (other["access_key"], other["secret_key"]),
        "IAM user": (key["AccessKeyId"], key["SecretAccessKey"]),
        "unsigned": (None, None),
    })


CALLERS = ["operator", "own root", "other root", "IAM user", "unsigned"]
# (method, path with {account} {bucket} {key}, body, statuses for CALLERS in order)
MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("GET", "/admin/v1/info", None, (200, 200, 200, 403, 403)),
    ("GET", "/admin/v1/accounts", None, (200, 200, 200, 403, 403)),
    ("POST", "/admin/v1/accounts", "new", (201, 403, 403, 403, 403)),
    ("GET", "/admin/v1/accounts/{account}", None, (200, 200, 403, 403, 403)),
    ("DELETE", "/admin/v1/accounts/{account}", None, (409, 403, 403, 403, 403)),  # it owns a bucket
    ("GET", "/admin/v1/access-keys?account={account}", None, (200, 200, 403, 403, 403)),
    ("GET", "/admin/v1/access-keys", None, (200, 200, 200, 403, 403)),
    ("GET", "/admin/v1/access-keys/{key}", None, (200, 200, 403, 403, 403)),
    ("PUT", "/admin/v1/access-keys/{key}/expiry", {"expires": "2099-01-01T00:00:00Z"}, (200, 200, 403, 403, 403)),
    ("DELETE", "/admin/v1/access-keys/{key}/expiry", None, (200, 200, 403, 403, 403)),
    ("GET", "/admin/v1/buckets", None, (200, 200, 200, 403, 403)),
    ("GET", "/admin/v1/buckets?owner={account}", None, (200, 200, 403, 403, 403)),
    ("GET", "/admin/v1/buckets/{bucket}", None, (200, 200, 403, 403, 403)),
    ("GET", "/admin/v1/buckets/{bucket}/usage", None, (200, 200, 403, 403, 403)),
    ("GET", "/admin/v1/buckets/{bucket}/quota", None, (200, 200, 403, 403, 403)),
    ("PUT", "/admin/v1/buckets/{bucket}/quota", {"max_objects": 1000}, (200, 403, 403, 403, 403)),
    ("DELETE", "/admin/v1/buckets/{bucket}/quota", None, (200, 403, 403, 403, 403)),
]


@pytest.mark.parametrize("method, template, body, statuses", MATRIX,
                         ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_who_may_do_what(server: Server, world: World, method: str, template: str, body: Any,
                         statuses: tuple[int, ...]) -> None:
    path = template.format(account=world.own["account_id"], bucket=world.bucket, key=world.key["AccessKeyId"])
    got = {}
    for caller in CALLERS:
        sent = {"name": unique("matrix")} if body == "new" else body
        status, answer = admin_call(server.admin_endpoint, method, path, *world.callers[caller], sent)
        got[caller] = status
        if status == 403:
            assert answer["error"]["code"] == "AccessDenied", (caller, answer)
    assert got == dict(zip(CALLERS, statuses, strict=True))


def test_a_root_sees_only_its_own(server: Server, world: World) -> None:
    def call(path: str) -> Any:
        status, answer = admin_call(server.admin_endpoint, "GET", path, *world.callers["other root"])
        assert status == 200
        return answer

    assert [a["account_id"] for a in call("/admin/v1/accounts")["accounts"]] == [world.other["account_id"]]
    assert call("/admin/v1/buckets")["buckets"] == []
    assert call("/admin/v1/access-keys")["access_keys"] == []
    own = admin_call(server.admin_endpoint, "GET", "/admin/v1/buckets", *world.callers["own root"])[1]
    assert [b["name"] for b in own["buckets"]] == [world.bucket]


def test_root_key_rotation_is_for_the_operator_and_the_own_root(server: Server, world: World) -> None:
    path = f"/admin/v1/accounts/{world.own['account_id']}/root-key"
    for caller in ("other root", "IAM user", "unsigned"):
        assert admin_call(server.admin_endpoint, "POST", path, *world.callers[caller])[0] == 403, caller


def test_a_percent_in_a_name_is_decoded_once(server: Server) -> None:
    name = unique("pct%41")  # "%41" stays as it is: decoded twice it would become "A"
    status, created = op(server, "POST", "/admin/v1/accounts", {"name": name})
    assert status == 201, created
    try:
        status, got = admin_call(server.admin_endpoint, "GET", f"/admin/v1/accounts/{name.replace('%', '%25')}",
                                 server.access_key, server.secret_key, service="s3")
        assert (status, got.get("account_id")) == (200, created["account_id"]), got
    finally:
        op(server, "DELETE", f"/admin/v1/accounts/{created['account_id']}")
