"""The console's identity pages (docs/console.md) and its two server-side
paths to identity: ``api/iam`` (the IAM Query API on the S3 port, signed for
``iam`` with the session's credentials) and ``api/admin/`` (the admin API's
handlers as the session's principal), and the admin API's acceptance of an
account root's GetSessionToken session (docs/admin-api.md) while IAM users'
and roles' sessions stay refused.  Headless Chromium with Playwright against
a real server; effects checked with boto3 and the admin API."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
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
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        config=Config(retries={"max_attempts": 1}))


def _session(server: Server, access_key: str, secret_key: str) -> dict[str, str]:
    return _sts(server, access_key, secret_key).get_session_token(DurationSeconds=900)["Credentials"]


def _as(server: Server, creds: dict[str, str], method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return admin_call(server.admin_endpoint, method, path, creds["AccessKeyId"], creds["SecretAccessKey"], body,
                      token=creds["SessionToken"])


def _works(server: Server, access_key: str, secret_key: str) -> str | None:
    """None if the key is accepted (STS GetCallerIdentity, which needs no permission), else the error code."""
    try:
        _sts(server, access_key, secret_key).get_caller_identity()
    except ClientError as err:  # refused by the signature check: an S3 error document botocore's STS parser skips
        return str(err.response.get("Error", {}).get("Code") or err.response["ResponseMetadata"]["HTTPStatusCode"])
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


# --- the pages, in Chromium --------------------------------------------------------------------------------------

_READ_PHOTOS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                        "Resource": "arn:aws:s3:::photos/*"}]}


def _type_policy(pg: Any, document: Any) -> None:
    pg.fill("#policy-text", document if isinstance(document, str) else json.dumps(document, indent=2))


def _key_works(server: Server, key_id: str, secret: str, works: bool) -> None:
    wait_for(lambda: (_works(server, key_id, secret) is None) == works,
             what=f"the key {key_id} {'accepted' if works else 'refused'}")


def test_users_keys_and_policy_editor(page, server, shots) -> None:  # noqa: F811 - fixtures
    iam = _iam(server)
    name = _unique("alice")
    group = _unique("team")
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() answers yes
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _login(page, server, server.access_key, server.secret_key)
    page.wait_for_selector("#buckets")
    page.click("nav >> text=Users")
    page.fill("#create-user input", name)
    page.click("#create-user button")
    page.wait_for_selector(f"h1:text('User {name}')")
    assert iam.get_user(UserName=name)["User"]["UserName"] == name

    # A key: the secret shown once, in the dialog, and then nowhere.
    page.click("#create-key")
    page.wait_for_selector("#secret-dialog")
    key_id, secret = page.input_value("#new-key-id"), page.input_value("#new-key-secret")
    page.click("#copy-secret")
    page.wait_for_selector("#status:text('secret copied')")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    _shoot(page, shots, "access-key")
    page.click("#secret-done")
    page.wait_for_selector(f"#keys >> text={key_id}")
    assert secret not in page.content()
    _key_works(server, key_id, secret, True)

    # Rotate: a new key, then the old one deactivated once the user confirms.
    page.click(f"#keys tr:has-text('{key_id}') >> text=Rotate")
    page.wait_for_selector("#secret-dialog")
    new_id, new_secret = page.input_value("#new-key-id"), page.input_value("#new-key-secret")
    page.click("#secret-done")
    page.wait_for_selector(f"#keys tr:has-text('{key_id}') >> text=\"Inactive\"")
    page.wait_for_selector(f"#keys tr:has-text('{new_id}') >> text=\"Active\"")
    _key_works(server, key_id, secret, False)
    _key_works(server, new_id, new_secret, True)
    page.click(f"#keys tr:has-text('{new_id}') >> text=Deactivate")
    page.wait_for_selector(f"#keys tr:has-text('{new_id}') >> text=\"Inactive\"")
    _key_works(server, new_id, new_secret, False)
    page.click(f"#keys tr:has-text('{new_id}') >> text=Activate")
    page.wait_for_selector(f"#keys tr:has-text('{new_id}') >> text=\"Active\"")
    _key_works(server, new_id, new_secret, True)

    # The policy editor refuses what is not a policy; Save stays off and nothing is saved.
    page.click("#add-inline")
    page.fill("#policy-name", "read-photos")
    _type_policy(page, '{"Version": "2012-10-17", "Statement": [')
    assert "Not valid JSON" in page.inner_text("#policy-problems")
    assert page.is_disabled("#policy-save")
    _type_policy(page, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                                 "Principal": "*"}]})
    problems = page.inner_text("#policy-problems")
    assert "names no Principal" in problems and "Resource (or NotResource) is missing" in problems
    assert page.is_disabled("#policy-save")
    _type_policy(page, {"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Action": "s3:GetObject",
                                                                 "Resource": "*"}]})
    assert "Effect" in page.inner_text("#policy-problems") and page.is_disabled("#policy-save")
    _shoot(page, shots, "policy-editor")
    page.click("#policy-save", force=True)  # a disabled button does nothing
    # One the editor lets through and the server refuses: its MalformedPolicyDocument is shown.
    _type_policy(page, {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"StringEqualz": {"aws:username": "x"}}}]})
    assert page.inner_text("#policy-problems") == "" and page.is_enabled("#policy-save")
    page.click("#policy-save")
    page.wait_for_selector("#policy-problems li.server")
    assert "MalformedPolicyDocument" in page.inner_text("#policy-problems")
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
    with pytest.raises(ClientError) as refused:  # as boto3 sees it
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=page.input_value("#policy-text"))
    assert refused.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    _type_policy(page, _READ_PHOTOS)
    page.click("#policy-save")
    page.wait_for_selector("#inline-policies >> text=read-photos")
    assert iam.get_user_policy(UserName=name, PolicyName="read-photos")["PolicyDocument"] == _READ_PHOTOS

    # Managed policies and groups, from the user's page.
    iam.create_group(GroupName=group)
    try:
        page.reload()
        page.wait_for_selector("#attach-choice")
        page.select_option("#attach-choice", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        page.click("#attach")
        page.wait_for_selector("#attached-policies >> text=AmazonS3ReadOnlyAccess")
        page.select_option("#group-choice", group)
        page.click("#add-group")
        page.wait_for_selector(f"#user-groups >> text={group}")
        assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]] == [group]
        _shoot(page, shots, "user")

        # The users page says what blocks a deletion.
        page.click("nav >> text=Users")
        page.click(f"#users tr:has-text('{name}') >> text=Delete")
        page.wait_for_selector("#status.error")
        status = page.inner_text("#status")
        assert "delete its 2 access keys" in status and "1 inline policy" in status and "1 managed policy" in status
        _shoot(page, shots, "users")
        assert iam.get_user(UserName=name)

        page.click(f"#users >> text={name}")
        page.wait_for_selector("#keys")
        for key in (key_id, new_id):
            page.click(f"#keys tr:has-text('{key}') >> text=Delete")
            page.wait_for_selector(f"#keys >> text={key}", state="detached")
        page.click("#inline-policies tr:has-text('read-photos') >> text=Delete")
        page.wait_for_selector("#inline-policies >> text=read-photos", state="detached")
        page.click("#attached-policies tr:has-text('AmazonS3ReadOnlyAccess') >> text=Detach")
        page.wait_for_selector("#attached-policies >> text=AmazonS3ReadOnlyAccess", state="detached")
        page.click("nav >> text=Users")
        page.click(f"#users tr:has-text('{name}') >> text=Delete")
        page.wait_for_selector(f"#users >> text={name}", state="detached")
        with pytest.raises(ClientError):
            iam.get_user(UserName=name)
    finally:
        iam.delete_group(GroupName=group)


def test_groups_roles_and_managed_policies(page, server, shots) -> None:  # noqa: F811 - fixtures
    iam = _iam(server)
    group, role, policy, member = _unique("readers"), _unique("ci"), _unique("read-photos"), _unique("bob")
    iam.create_user(UserName=member)
    page.on("dialog", lambda dialog: dialog.accept())
    _login(page, server, server.access_key, server.secret_key)
    page.wait_for_selector("#buckets")
    try:
        page.click("nav >> text=Groups")
        page.fill("#create-group input", group)
        page.click("#create-group button")
        page.wait_for_selector(f"h1:text('Group {group}')")
        page.select_option("#member-choice", member)
        page.click("#add-member")
        page.wait_for_selector(f"#members >> text={member}")
        page.select_option("#attach-choice", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        page.click("#attach")
        page.wait_for_selector("#attached-policies >> text=AmazonS3ReadOnlyAccess")
        assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [member]
        assert [p["PolicyName"] for p in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]] \
            == ["AmazonS3ReadOnlyAccess"]
        _shoot(page, shots, "group")
        page.click("nav >> text=Groups")
        page.click(f"#groups tr:has-text('{group}') >> text=Delete")
        page.wait_for_selector("#status.error")
        assert "remove its 1 member" in page.inner_text("#status")
        _shoot(page, shots, "groups")

        page.click("nav >> text=Roles")
        page.click("#create-role")
        page.fill("#policy-name", role)
        trust = json.loads(page.input_value("#policy-text"))
        _type_policy(page, {**trust, "Statement": [{**trust["Statement"][0], "Resource": "*"}]})
        assert "no Resource" in page.inner_text("#policy-problems") and page.is_disabled("#policy-save")
        _type_policy(page, trust)
        page.click("#policy-save")
        page.wait_for_selector(f"#roles >> text={role}")
        assert iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Action"] \
            == "sts:AssumeRole"
        _shoot(page, shots, "roles")
        page.click(f"#roles >> text={role}")
        page.wait_for_selector("#trust")
        page.select_option("#attach-choice", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        page.click("#attach")
        page.wait_for_selector("#attached-policies >> text=AmazonS3ReadOnlyAccess")
        _shoot(page, shots, "role")

        page.click("nav >> text=Policies")
        page.click("#create-policy")
        page.fill("#policy-name", policy)
        _type_policy(page, _READ_PHOTOS)
        page.click("#policy-save")
        page.wait_for_selector(f"#policies >> text={policy}")
        _shoot(page, shots, "policies")
        page.click(f"#policies >> text={policy}")
        page.wait_for_selector("#versions")
        changed = {**_READ_PHOTOS, "Statement": [{**_READ_PHOTOS["Statement"][0], "Action": "s3:Get*"}]}
        _type_policy(page, changed)
        page.click("#policy-save")
        page.wait_for_selector("#versions >> text=v2")
        arn = f"arn:aws:iam::{_sts(server, server.access_key, server.secret_key).get_caller_identity()['Account']}" \
              f":policy/{policy}"
        got = iam.get_policy(PolicyArn=arn)["Policy"]
        assert got["DefaultVersionId"] == "v2"
        assert iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"] == changed
        _shoot(page, shots, "policy")
        page.click("nav >> text=Policies")
        page.click(f"#policies tr:has-text('{policy}') >> text=Delete")
        page.wait_for_selector(f"#policies >> text={policy}", state="detached")
        with pytest.raises(ClientError):
            iam.get_policy(PolicyArn=arn)
    finally:
        for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] if _exists(iam, role) else []:
            iam.detach_role_policy(RoleName=role, PolicyArn=p["PolicyArn"])
        if _exists(iam, role):
            iam.delete_role(RoleName=role)
        try:
            iam.detach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
            iam.remove_user_from_group(GroupName=group, UserName=member)
            iam.delete_group(GroupName=group)
        except ClientError:
            pass
        iam.delete_user(UserName=member)


def _exists(iam: Any, role: str) -> bool:
    try:
        iam.get_role(RoleName=role)
    except ClientError:
        return False
    return True


def test_accounts_and_quota(page, server, s3, shots) -> None:  # noqa: F811 - fixtures
    name, bucket = _unique("carol"), _unique("quota")
    page.on("dialog", lambda dialog: dialog.accept())
    _login(page, server, server.access_key, server.secret_key)
    page.wait_for_selector("#buckets")
    page.click("nav >> text=Accounts")
    page.fill("#create-account input[name=name]", name)
    page.click("#create-account button")
    page.wait_for_selector("#secret-dialog")
    access_key, secret = page.input_value("#new-key-id"), page.input_value("#new-key-secret")
    page.click("#secret-done")
    page.wait_for_selector(f"#accounts >> text={name}")
    _shoot(page, shots, "accounts")
    assert _works(server, access_key, secret) is None

    s3.create_bucket(Bucket=bucket)
    try:
        page.goto(server.admin_endpoint + f"/console/#/bucket/{bucket}")
        page.fill("#quota input[name=bytes]", "1 MiB")
        page.fill("#quota input[name=objects]", "10")
        page.click("#quota button:text('Set quota')")
        page.wait_for_selector("#status:text('quota set')")
        endpoint = server.admin_endpoint
        assert admin_call(endpoint, "GET", f"/admin/v1/buckets/{bucket}/quota", server.access_key,
                          server.secret_key) == (200, {"max_bytes": 1048576, "max_objects": 10})
        page.wait_for_selector("#quota input[name=objects][value='10']")
        _shoot(page, shots, "bucket-quota")
        page.click("#quota-clear")
        page.wait_for_selector("#status:text('quota removed')")
        assert admin_call(endpoint, "GET", f"/admin/v1/buckets/{bucket}/quota", server.access_key,
                          server.secret_key) == (200, {"max_bytes": None, "max_objects": None})

        # The account's own root: its bucket's quota is the operator's to set.
        own = f"{bucket}-own"
        boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=access_key,
                     aws_secret_access_key=secret).create_bucket(Bucket=own)
        page.click("#logout")
        _login(page, server, access_key, secret)
        page.wait_for_selector("#buckets")
        page.click("nav >> text=Users")  # IAM in its own account, through api/iam
        page.fill("#create-user input", "dave")
        page.click("#create-user button")
        page.wait_for_selector("h1:text('User dave')")
        assert "user/dave" in _iam(server, access_key, secret).get_user(UserName="dave")["User"]["Arn"]
        assert "dave" not in [u["UserName"] for u in _iam(server).list_users()["Users"]]  # not the operator's
        page.goto(server.admin_endpoint + f"/console/#/bucket/{own}")
        page.fill("#quota input[name=objects]", "10")
        page.click("#quota button:text('Set quota')")
        page.wait_for_selector("#status.error")
        assert "only the operator" in page.inner_text("#status")
        boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=access_key,
                     aws_secret_access_key=secret).delete_bucket(Bucket=own)

        # Back as the operator: a new root key (shown once), then the account deleted.
        page.click("#logout")
        _login(page, server, server.access_key, server.secret_key)
        page.wait_for_selector("#buckets")
        page.click("nav >> text=Accounts")
        page.click(f"#accounts tr:has-text('{name}') >> text=New root key")
        page.wait_for_selector("#secret-dialog")
        new_key, new_secret = page.input_value("#new-key-id"), page.input_value("#new-key-secret")
        page.click("#secret-done")
        wait_for(lambda: _works(server, access_key, secret) is not None, what="the old root key refused")
        assert _works(server, new_key, new_secret) is None
        page.click(f"#accounts tr:has-text('{name}') >> text=Delete")
        page.wait_for_selector(f"#accounts >> text={name}", state="detached")
        assert admin_call(endpoint, "GET", f"/admin/v1/accounts/{name}", server.access_key,
                          server.secret_key)[0] == 404
    finally:
        s3.delete_bucket(Bucket=bucket)


def test_iam_user_without_iam_rights_sees_access_denied(page, server, shots, iam_user) -> None:  # noqa: F811
    _, key = iam_user
    _login(page, server, key["AccessKeyId"], key["SecretAccessKey"])
    page.wait_for_selector("text=server figures are for account roots")
    for link in ("Users", "Groups", "Roles", "Policies", "Accounts"):
        page.click(f"nav >> text={link}")
        page.wait_for_selector(f"h1:text('{link}')")
        assert "AccessDenied" in page.inner_text("#denied"), link
        if link == "Users":
            _shoot(page, shots, "identity-denied")


def test_a_refused_key_is_answered_at_once(server: Server) -> None:
    """A Query API call whose signature is refused is answered without waiting for more of a body already read
    (it waited for the body timeout, 20 s: every wrong console login, every refused key above)."""
    started = time.monotonic()
    assert _works(server, "AKIANOTAKEY000000000", "x" * 40) is not None
    status, _ = _call(_opener(), "POST", server.admin_endpoint + "/console/api/login",
                      json.dumps({"access_key": server.access_key, "secret_key": "wrong"}).encode(),
                      {"Content-Type": "application/json"})
    assert status == 403
    assert time.monotonic() - started < 5
