"""STS (docs/iam.md): GetCallerIdentity, GetSessionToken, AssumeRole with
its trust policy and session policy; temporary credentials accepted with
their session token in SigV4 (header and presigned) and SigV2, refused
without it, tampered with, or once expired."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pails.storage.crypto import KeyRing, seal_secret
from tests.behaviour.test_iam import _code, _policy, iam_client
from tests.pails_server import Server


def _name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def sts_client(server: Server, access_key: str, secret_key: str, token: str | None = None) -> Any:
    return boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, aws_session_token=token)


def s3_with(server: Server, creds: dict[str, str], **config: Any) -> Any:
    return boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"), config=Config(**config) if config else None)


@pytest.fixture(scope="module")
def account(server: Server) -> dict[str, str]:
    return server.add_user(_name("sts"), f"{_name()}@example.com")


@pytest.fixture(scope="module")
def root_iam(server: Server, account: dict[str, str]) -> Any:
    return iam_client(server, account["access_key"], account["secret_key"])


@pytest.fixture(scope="module")
def bucket(server: Server, account: dict[str, str]) -> str:
    name = _name("sts-")
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=account["access_key"], aws_secret_access_key=account["secret_key"])
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="doc.txt", Body=b"hello")
    return name


@pytest.fixture
def user(root_iam: Any) -> tuple[str, dict[str, str]]:
    name = _name()
    root_iam.create_user(UserName=name)
    return name, root_iam.create_access_key(UserName=name)["AccessKey"]


def test_get_caller_identity(server: Server, account: dict[str, str], user: tuple[str, dict[str, str]]) -> None:
    me = sts_client(server, account["access_key"], account["secret_key"]).get_caller_identity()
    assert me["Arn"] == f"arn:aws:iam::{account['account_id']}:root" and me["Account"] == account["account_id"]
    name, key = user
    me = sts_client(server, key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
    assert me["Arn"].endswith(f":user/{name}") and me["UserId"].startswith("AIDA")


def test_session_token_carries_the_users_permissions(server: Server, root_iam: Any, bucket: str,
                                                     user: tuple[str, dict[str, str]]) -> None:
    name, key = user
    root_iam.put_user_policy(UserName=name, PolicyName="read", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}))
    creds = sts_client(server, key["AccessKeyId"], key["SecretAccessKey"]).get_session_token(
        DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    s3 = s3_with(server, creds)
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"
    assert _code(lambda: s3.put_object(Bucket=bucket, Key="x", Body=b"x")) == (403, "AccessDenied")
    v2 = s3_with(server, creds, signature_version="s3")  # SigV2 signs x-amz-security-token as any x-amz- header
    assert v2.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"
    for presigner, param in ((s3_with(server, creds, signature_version="s3v4"), "X-Amz-Security-Token"),
                             (v2, "x-amz-security-token")):
        url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "doc.txt"},
                                               ExpiresIn=60)
        assert param in url
        with urllib.request.urlopen(url, timeout=10) as got:
            assert got.read() == b"hello"
    me = sts_client(server, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]).get_caller_identity()
    assert me["Arn"].endswith(f":user/{name}")
    without_token = s3_with(server, {**creds, "SessionToken": None})
    assert _code(lambda: without_token.get_object(Bucket=bucket, Key="doc.txt")) == (403, "InvalidAccessKeyId")
    tampered = s3_with(server, {**creds, "SessionToken": creds["SessionToken"][:-6] + "AAAAAA"})
    assert _code(lambda: tampered.get_object(Bucket=bucket, Key="doc.txt")) == (400, "InvalidToken")


def test_assume_role_trust_and_session_policy(server: Server, account: dict[str, str], root_iam: Any,
                                              bucket: str, user: tuple[str, dict[str, str]]) -> None:
    name, key = user
    user_arn = root_iam.get_user(UserName=name)["User"]["Arn"]
    role, other_role = _name("R"), _name("R")
    trust = _policy({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"})
    role_arn = root_iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    root_iam.put_role_policy(RoleName=role, PolicyName="s3", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
    nobody = _policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account['account_id']}:user/x"},
                      "Action": "sts:AssumeRole"})
    other_arn = root_iam.create_role(RoleName=other_role, AssumeRolePolicyDocument=nobody)["Role"]["Arn"]
    sts = sts_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    assert _code(lambda: sts.assume_role(RoleArn=other_arn, RoleSessionName="s1")) == (403, "AccessDenied")

    got = sts.assume_role(RoleArn=role_arn, RoleSessionName="job-1", DurationSeconds=900)
    assert got["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account['account_id']}:assumed-role/{role}/job-1"
    s3 = s3_with(server, got["Credentials"])
    s3.put_object(Bucket=bucket, Key="by-role", Body=b"r")
    assert s3.get_object(Bucket=bucket, Key="by-role")["Body"].read() == b"r"

    narrowed = sts.assume_role(RoleArn=role_arn, RoleSessionName="job-2", Policy=_policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))["Credentials"]
    s3 = s3_with(server, narrowed)
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"
    assert _code(lambda: s3.put_object(Bucket=bucket, Key="nope", Body=b"x")) == (403, "AccessDenied")

    root_iam.delete_role_policy(RoleName=role, PolicyName="s3")  # the role's policies apply as they are now
    assert _code(lambda: s3_with(server, got["Credentials"]).get_object(Bucket=bucket, Key="doc.txt")) == \
        (403, "AccessDenied")


def test_expired_credentials_are_refused(server: Server, account: dict[str, str], bucket: str) -> None:
    """A session that ends two seconds from now (shorter than STS grants,
    made with the server's master key as STS makes them)."""
    access_key, secret = "ASIA" + uuid.uuid4().hex[:16].upper(), "s" * 40
    session = {"k": access_key, "s": secret, "e": time.time() + 2, "i": time.time(), "a": account["account_id"]}
    token = seal_secret(KeyRing(str(server.data_dir)).master(), json.dumps(session))
    s3 = s3_with(server, {"AccessKeyId": access_key, "SecretAccessKey": secret, "SessionToken": token})
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"
    deadline = time.monotonic() + 10
    while True:
        try:
            s3.get_object(Bucket=bucket, Key="doc.txt")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ExpiredToken" and time.time() >= session["e"]
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)


@pytest.mark.parametrize("service", ["sts", "iam"])
def test_a_bad_signature_is_answered_at_once_in_the_apis_error_format(server: Server, service: str) -> None:
    # Its form was read to check the signature: the answer must not wait for more body (it once waited 20 s).
    client = boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id=server.access_key, aws_secret_access_key="not-the-secret",
                          config=Config(read_timeout=5, retries={"max_attempts": 1}))
    call = client.get_caller_identity if service == "sts" else client.list_users
    with pytest.raises(ClientError) as info:
        call()
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("declared", ["other-form", "UNSIGNED-PAYLOAD"])
def test_the_signed_hash_must_be_the_forms(server: Server, declared: str) -> None:
    """A Query API call's signature covers the body's declared hash: a captured call must not carry another form."""
    import hashlib

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed_form = b"Action=GetCallerIdentity&Version=2011-06-15"
    sent_form = b"Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900"
    value = hashlib.sha256(signed_form).hexdigest() if declared == "other-form" else declared
    req = AWSRequest("POST", server.endpoint + "/", data=signed_form,
                     headers={"Content-Type": "application/x-www-form-urlencoded", "x-amz-content-sha256": value})
    SigV4Auth(Credentials(server.access_key, server.secret_key), "sts", "us-east-1").add_auth(req)
    headers = dict(req.headers.items())
    call = urllib.request.Request(server.endpoint + "/", data=sent_form, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(call) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    assert status == 400, body
    assert b"<ErrorResponse" in body and b"<Code>XAmzContentSHA256Mismatch</Code>" in body
