"""STS AssumeRoleWithWebIdentity (docs/iam.md): an OpenID Connect provider
(a small HTTP server in the test, serving its discovery document and JWKS)
issues ID tokens; boto3 trades them, unsigned as on AWS, for a role's
credentials.  Checked: the signature (RS256, ES256), the issuer registered
in the role's account, the audience among its client ids, exp/nbf, the
trust policy's Federated principal and its conditions on ``<provider>:sub``."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.behaviour.test_iam import _code, _policy, iam_client
from tests.behaviour.test_sts import s3_with
from tests.pails_server import Server

CLIENT_ID = "pails-test-client"


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int, size: int | None = None) -> str:
    return _b64(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


class Provider:
    """An OIDC issuer: an RSA and an EC signing key, published as a JWKS."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.requests = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                provider.requests += 1
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": provider.issuer + "/keys"}
                elif self.path == "/keys":
                    body = {"keys": provider.jwks()}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def jwks(self) -> list[dict[str, str]]:
        n = self.rsa.public_key().public_numbers()
        p = self.ec.public_key().public_numbers()
        return [{"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256", "n": _uint(n.n), "e": _uint(n.e)},
                {"kty": "EC", "kid": "ec1", "use": "sig", "crv": "P-256", "x": _uint(p.x, 32), "y": _uint(p.y, 32)}]

    def token(self, sub: str = "alice", aud: str = CLIENT_ID, alg: str = "RS256", lifetime: int = 300,
              issuer: str | None = None, kid: str | None = None, key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        header = {"alg": alg, "typ": "JWT", "kid": kid or ("rsa1" if alg == "RS256" else "ec1")}
        body = {"iss": issuer or self.issuer, "sub": sub, "aud": aud, "iat": now, "exp": now + lifetime, **claims}
        signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}".encode()
        if alg == "RS256":
            signature = (key or self.rsa).sign(signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature((key or self.ec).sign(signed, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signed.decode()}.{_b64(signature)}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.close()


@pytest.fixture(scope="module")
def account(server: Server) -> dict[str, str]:
    return server.add_user(_name("wi"), f"{_name('e')}@example.com")


@pytest.fixture(scope="module")
def root_iam(server: Server, account: dict[str, str]) -> Any:
    return iam_client(server, account["access_key"], account["secret_key"])


@pytest.fixture(scope="module")
def provider_arn(root_iam: Any, provider: Provider) -> str:
    return str(root_iam.create_open_id_connect_provider(Url=provider.issuer, ClientIDList=[CLIENT_ID],
                                                        ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"])


@pytest.fixture(scope="module")
def bucket(server: Server, account: dict[str, str]) -> str:
    name = _name("wi-")
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=account["access_key"], aws_secret_access_key=account["secret_key"])
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="doc.txt", Body=b"hello")
    return name


@pytest.fixture(scope="module")
def role_arn(root_iam: Any, provider: Provider, provider_arn: str, bucket: str) -> str:
    host = provider.issuer.split("://", 1)[1]
    trust = _policy({"Effect": "Allow", "Principal": {"Federated": provider_arn},
                     "Action": "sts:AssumeRoleWithWebIdentity",
                     "Condition": {"StringEquals": {f"{host}:aud": CLIENT_ID},
                                   "StringLike": {f"{host}:sub": "ali*"}}})
    name = _name("web")
    arn = str(root_iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])
    root_iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}))
    return arn


def unsigned_sts(server: Server) -> Any:
    # One attempt: botocore retries IDPCommunicationError, which a test expects.
    return boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}))


def test_an_id_token_buys_the_roles_credentials(server: Server, provider: Provider, role_arn: str,
                                                bucket: str, account: dict[str, str]) -> None:
    out = unsigned_sts(server).assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="job1",
                                                             WebIdentityToken=provider.token())
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert out["SubjectFromWebIdentityToken"] == "alice" and out["Audience"] == CLIENT_ID
    assert out["Provider"] == provider.issuer
    role_name = role_arn.rsplit("/", 1)[1]
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account['account_id']}:assumed-role/{role_name}/job1"
    s3 = s3_with(server, creds)
    assert s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"
    assert _code(lambda: s3.put_object(Bucket=bucket, Key="x", Body=b"x")) == (403, "AccessDenied")
    sts = boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"])
    assert sts.get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]


def test_es256_tokens_are_verified_too(server: Server, provider: Provider, role_arn: str) -> None:
    out = unsigned_sts(server).assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="job2",
                                                             WebIdentityToken=provider.token(alg="ES256"),
                                                             DurationSeconds=900)
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_a_client_with_credentials_configured_sends_it_unsigned(server: Server, provider: Provider,
                                                                role_arn: str) -> None:
    sts = boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIANOTAKEY000000000", aws_secret_access_key="x" * 40)
    out = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="job3",
                                            WebIdentityToken=provider.token(sub="alina"))
    assert out["SubjectFromWebIdentityToken"] == "alina"


@pytest.mark.parametrize("case, code", [
    ("audience", (400, "InvalidIdentityToken")),
    ("expired", (400, "ExpiredTokenException")),
    ("forged", (400, "InvalidIdentityToken")),
    ("unknown-kid", (400, "InvalidIdentityToken")),
    ("issuer", (400, "InvalidIdentityToken")),
    ("not-yet", (400, "InvalidIdentityToken")),
    ("garbage", (400, "InvalidIdentityToken")),
    ("subject", (403, "AccessDenied")),
])
def test_bad_tokens_are_refused(server: Server, provider: Provider, role_arn: str, case: str,
                                code: tuple[int, str]) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = {
        "audience": lambda: provider.token(aud="someone-else"),
        "expired": lambda: provider.token(lifetime=-10),
        "forged": lambda: provider.token(key=other),
        "unknown-kid": lambda: provider.token(kid="nope", key=other),
        "issuer": lambda: provider.token(issuer="https://issuer.invalid"),
        "not-yet": lambda: provider.token(nbf=int(time.time()) + 3600),
        "garbage": lambda: "a.b.c",
        "subject": lambda: provider.token(sub="mallory"),
    }[case]()
    sts = unsigned_sts(server)
    assert _code(lambda: sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="bad",
                                                           WebIdentityToken=token)) == code


def test_a_role_that_does_not_trust_the_provider_refuses(server: Server, provider: Provider, root_iam: Any,
                                                         provider_arn: str) -> None:
    name = _name("nowi")
    arn = root_iam.create_role(RoleName=name, AssumeRolePolicyDocument=_policy(
        {"Effect": "Allow", "Principal": {"Federated": provider_arn.replace("127.0.0.1", "127.0.0.2")},
         "Action": "sts:AssumeRoleWithWebIdentity"}))["Role"]["Arn"]
    sts = unsigned_sts(server)
    assert _code(lambda: sts.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="s1",
                                                           WebIdentityToken=provider.token())) == (403, "AccessDenied")
    # Trusting it for sts:AssumeRole only is not trusting it for web identities.
    root_iam.update_assume_role_policy(RoleName=name, PolicyDocument=_policy(
        {"Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRole"}))
    assert _code(lambda: sts.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="s1",
                                                           WebIdentityToken=provider.token())) == (403, "AccessDenied")


def test_a_provider_that_cannot_be_reached(server: Server, root_iam: Any) -> None:
    """A registered issuer whose discovery document cannot be read: IDPCommunicationError."""
    dead = Provider()
    dead.close()
    arn = root_iam.create_open_id_connect_provider(Url=dead.issuer, ClientIDList=[CLIENT_ID],
                                                   ThumbprintList=["b" * 40])["OpenIDConnectProviderArn"]
    role = root_iam.create_role(RoleName=_name("dead"), AssumeRolePolicyDocument=_policy(
        {"Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity"}))
    sts = unsigned_sts(server)
    assert _code(lambda: sts.assume_role_with_web_identity(
        RoleArn=role["Role"]["Arn"], RoleSessionName="s1", WebIdentityToken=dead.token())) == \
        (400, "IDPCommunicationError")


def test_session_tags_from_the_token(server: Server, provider: Provider, root_iam: Any, provider_arn: str,
                                     bucket: str) -> None:
    """The claim https://aws.amazon.com/tags gives the session principal tags,
    if the trust policy allows sts:TagSession too (as on AWS)."""
    name = _name("tags")
    arn = root_iam.create_role(RoleName=name, AssumeRolePolicyDocument=_policy(
        {"Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity"},
    ), Tags=[{"Key": "project", "Value": "from-role"}])["Role"]["Arn"]
    root_iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/project": "from-token"}}}))
    token = provider.token(**{"https://aws.amazon.com/tags": {"principal_tags": {"project": ["from-token"]}}})
    sts = unsigned_sts(server)
    assert _code(lambda: sts.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="t1",
                                                           WebIdentityToken=token)) == (403, "AccessDenied")
    root_iam.update_assume_role_policy(RoleName=name, PolicyDocument=_policy(
        {"Effect": "Allow", "Principal": {"Federated": provider_arn},
         "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
         "Condition": {"StringEquals": {"aws:RequestTag/project": "from-token"}}}))
    creds = sts.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="t1",
                                              WebIdentityToken=token)["Credentials"]
    assert s3_with(server, creds).get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"hello"
    # Without the token's tag, the role's own tag applies: the policy's condition does not hold.
    plain = provider.token()
    assert _code(lambda: sts.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="t2",
                                                           WebIdentityToken=plain)) == (403, "AccessDenied")
