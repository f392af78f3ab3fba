"""The AWS CLI's ``aws iam`` and ``aws sts`` commands (v1, from the test
virtualenv) against a real Pails server: an account root makes a user, its
key and policy, a role, assumes it, trades an OIDC ID token for it, lists
and deletes them; the credentials they give work with ``aws s3`` as the
policies say."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.behaviour.test_awscli import AWS
from tests.behaviour.test_sts_web_identity import CLIENT_ID, Provider
from tests.conftest import client
from tests.pails_server import Server


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Cli:
    def __init__(self, server: Server, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update(AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp / "no-such-config"),
                        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-such-credentials"), AWS_PAGER="")

    def run(self, creds: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"])
        if creds.get("SessionToken"):
            env["AWS_SESSION_TOKEN"] = creds["SessionToken"]
        proc = subprocess.run([AWS, "--endpoint-url", self.server.endpoint, "--output", "json", *args], env=env,
                              capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, creds: dict[str, str], *args: str) -> Any:
        out = self.run(creds, *args).stdout
        return json.loads(out) if out.strip() else None

    def file(self, document: dict[str, Any]) -> str:
        """A document for ``--policy-document file://...``."""
        return f"file://{self.path(document)}"

    def path(self, document: dict[str, Any]) -> str:
        path = self.tmp / f"{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(document))
        return str(path)


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path)


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.close()


def _statement(effect: str, action: Any, resource: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": resource}]}


def test_aws_iam_and_sts_commands(server: Server, cli: Cli, provider: Provider) -> None:
    account = server.add_user(_name("cli"), f"{_name('e')}@example.com")
    root = {"AccessKeyId": account["access_key"], "SecretAccessKey": account["secret_key"]}
    bucket = _name("cli-iam-")
    client(server, account["access_key"], account["secret_key"]).create_bucket(Bucket=bucket)
    cli.run(root, "s3", "cp", cli.path({"hello": 1}), f"s3://{bucket}/doc.json")

    # A user, its key and an inline policy.
    user = cli.json(root, "iam", "create-user", "--user-name", "alice", "--tags", "Key=team,Value=data")["User"]
    assert user["Arn"] == f"arn:aws:iam::{account['account_id']}:user/alice"
    key = cli.json(root, "iam", "create-access-key", "--user-name", "alice")["AccessKey"]
    alice = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    cli.run(root, "iam", "put-user-policy", "--user-name", "alice", "--policy-name", "read",
            "--policy-document", cli.file({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    assert "alice" in [u["UserName"] for u in cli.json(root, "iam", "list-users")["Users"]]
    assert [k["AccessKeyId"] for k in cli.json(root, "iam", "list-access-keys", "--user-name", "alice")[
        "AccessKeyMetadata"]] == [key["AccessKeyId"]]
    assert cli.json(root, "iam", "list-user-policies", "--user-name", "alice")["PolicyNames"] == ["read"]
    assert cli.json(root, "iam", "list-user-tags", "--user-name", "alice")["Tags"] == [
        {"Key": "team", "Value": "data"}]
    me = cli.json(alice, "sts", "get-caller-identity")
    assert me["Arn"] == user["Arn"] and me["Account"] == account["account_id"]
    assert "doc.json" in cli.run(alice, "s3", "ls", f"s3://{bucket}").stdout
    denied = cli.run(alice, "s3", "cp", cli.path({}), f"s3://{bucket}/no.json", check=False)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr

    # A role, assumed by the root and, through an OIDC provider, by a web identity.
    provider_arn = cli.json(root, "iam", "create-open-id-connect-provider", "--url", provider.issuer,
                            "--client-id-list", CLIENT_ID, "--thumbprint-list", "c" * 40)["OpenIDConnectProviderArn"]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account['account_id']}:root"},
         "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity"}]}
    role = cli.json(root, "iam", "create-role", "--role-name", "writer", "--assume-role-policy-document",
                    cli.file(trust))["Role"]
    cli.run(root, "iam", "put-role-policy", "--role-name", "writer", "--policy-name", "write",
            "--policy-document", cli.file(_statement("Allow", "s3:PutObject", f"arn:aws:s3:::{bucket}/*")))
    assert "writer" in [r["RoleName"] for r in cli.json(root, "iam", "list-roles")["Roles"]]
    assert cli.json(root, "iam", "list-role-policies", "--role-name", "writer")["PolicyNames"] == ["write"]
    session = cli.json(root, "sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "cli")
    cli.run(session["Credentials"], "s3", "cp", cli.path({"x": 1}), f"s3://{bucket}/by-role.json")
    web = cli.json(root, "sts", "assume-role-with-web-identity", "--role-arn", role["Arn"],
                   "--role-session-name", "web", "--web-identity-token", provider.token())
    assert web["SubjectFromWebIdentityToken"] == "alice"
    cli.run(web["Credentials"], "s3", "cp", cli.path({"x": 2}), f"s3://{bucket}/by-web.json")

    # Deleting it all again.
    cli.run(root, "iam", "delete-user-policy", "--user-name", "alice", "--policy-name", "read")
    cli.run(root, "iam", "delete-access-key", "--user-name", "alice", "--access-key-id", key["AccessKeyId"])
    cli.run(root, "iam", "delete-user", "--user-name", "alice")
    cli.run(root, "iam", "delete-role-policy", "--role-name", "writer", "--policy-name", "write")
    cli.run(root, "iam", "delete-role", "--role-name", "writer")
    cli.run(root, "iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", provider_arn)
    assert cli.json(root, "iam", "list-users")["Users"] == []
    assert cli.json(root, "iam", "list-roles")["Roles"] == []
    gone = cli.run(session["Credentials"], "s3", "cp", cli.path({}), f"s3://{bucket}/late.json", check=False)
    assert gone.returncode != 0
