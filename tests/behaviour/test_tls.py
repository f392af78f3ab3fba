"""HTTPS (``pails server --tls-cert/--tls-key``) on the S3 and admin ports,
with a self-signed certificate made here: boto3 and the AWS CLI trust it
through their CA bundle options; a client that does not trust it is refused;
SIGHUP reads a new certificate."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import SSLError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.metrics_text import parse, scrape, value
from tests.pails_server import Server

AWS = str(Path(sys.executable).with_name("aws"))


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, Path]]:
    base = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(base, "first")
    srv = Server(base / "data", extra_args=["--tls-cert", str(cert), "--tls-key", str(key),
                                            "--metrics-token", "t"]).start()
    yield srv, cert, key
    srv.stop()


def https(srv: Server) -> str:
    return f"https://127.0.0.1:{srv.port}"


def served_certificate(port: int) -> bytes:
    """The DER certificate the port presents (not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        return der


def test_boto3_over_https(tls_server: tuple[Server, Path, Path]) -> None:
    srv, cert, _ = tls_server
    s3 = boto3.client("s3", endpoint_url=https(srv), region_name="us-east-1", verify=str(cert),
                      aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key)
    s3.create_bucket(Bucket="tls-boto3")
    body = os.urandom(3 * 1024 * 1024 + 5)
    s3.put_object(Bucket="tls-boto3", Key="big", Body=body)
    assert s3.get_object(Bucket="tls-boto3", Key="big")["Body"].read() == body
    untrusting = boto3.client("s3", endpoint_url=https(srv), region_name="us-east-1",
                              aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key,
                              config=boto3.session.Config(retries={"max_attempts": 1}))
    with pytest.raises(SSLError):
        untrusting.list_buckets()


def test_aws_cli_over_https(tls_server: tuple[Server, Path, Path], tmp_path: Path) -> None:
    srv, cert, _ = tls_server
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=srv.access_key, AWS_SECRET_ACCESS_KEY=srv.secret_key, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_PAGER="")
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024))  # multipart with the CLI's 8 MiB threshold

    def aws(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([AWS, "--endpoint-url", https(srv), "--ca-bundle", str(cert), *args], env=env,
                              capture_output=True, text=True, timeout=120)
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    aws("s3", "mb", "s3://tls-cli")
    aws("s3", "cp", str(src), "s3://tls-cli/up.bin")
    aws("s3", "cp", "s3://tls-cli/up.bin", str(tmp_path / "down.bin"))
    assert hashlib.sha256((tmp_path / "down.bin").read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    assert "up.bin" in aws("s3", "ls", "s3://tls-cli").stdout
    refused = subprocess.run([AWS, "--endpoint-url", https(srv), "s3", "ls"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode != 0 and "SSL" in refused.stderr


def test_admin_port_over_https(tls_server: tuple[Server, Path, Path]) -> None:
    srv, cert, _ = tls_server
    context = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"https://127.0.0.1:{srv.admin_port}/health/ready", context=context,
                                timeout=10) as r:
        assert r.status == 200
    request = urllib.request.Request(f"https://127.0.0.1:{srv.admin_port}/metrics",
                                     headers={"Authorization": "Bearer t"})
    with urllib.request.urlopen(request, context=context, timeout=10) as r:
        assert b"pails_s3_requests_total" in r.read()


def test_sighup_reads_a_new_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "before")
    srv = Server(tmp_path / "data", extra_args=["--tls-cert", str(cert), "--tls-key", str(key),
                                                "--metrics-token", "t"]).start()
    try:
        assert served_certificate(srv.port) == _der(cert)
        new_cert, new_key = self_signed(tmp_path, "after")
        os.replace(new_key, key)
        os.replace(new_cert, cert)
        assert srv.proc is not None
        os.kill(srv.proc.pid, signal.SIGHUP)
        # A reload keeps the old workers a second beside the new ones (graceful): wait until every
        # handshake of several in a row presents the new certificate, on each port.
        deadline = time.monotonic() + 30
        for port, name in ((srv.port, "S3"), (srv.admin_port, "admin")):
            while not all(served_certificate(port) == _der(cert) for _ in range(5)):
                assert time.monotonic() < deadline, f"the {name} port still serves the old certificate"
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=https(srv), region_name="us-east-1", verify=str(cert),
                          aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key)
        s3.list_buckets()
        status, _, text = scrape(f"https://127.0.0.1:{srv.admin_port}", "t",
                                 ssl.create_default_context(cafile=str(cert)))
        assert status == 200
        assert value(parse(text), "pails_worker_restarts_total") == 0  # a reload is not a restart
    finally:
        srv.stop()


def _der(cert: Path) -> bytes:
    return x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)


def test_a_key_that_does_not_match_is_refused_at_start(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path, "one")
    _, other_key = self_signed(tmp_path, "two")
    result = subprocess.run([sys.executable, "-m", "pails", "server", str(tmp_path / "data"),
                             "--tls-cert", str(cert), "--tls-key", str(other_key)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--tls-cert/--tls-key" in result.stderr
