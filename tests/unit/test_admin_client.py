"""The admin client's pieces: its SigV4 signer (against botocore's, and
against Pails' own verifier), the server's announcement in the data
directory, and the admin API's field parsers."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from pails.access.authenticate import ADMIN_API, authenticate
from pails.access.request import SignedRequest
from pails.admin import discovery, fields
from pails.admin.api import AdminError
from pails.admin.client import path, sign

KEY, SECRET = "PAILSTESTKEY00000001", "test/secret+key"


@pytest.mark.parametrize("method, url, body", [
    ("GET", "http://127.0.0.1:9001/admin/v1/info", b""),
    ("POST", "http://127.0.0.1:9001/admin/v1/accounts", b'{"name": "carol"}'),
    ("DELETE", "http://localhost:19001/admin/v1/accounts/carol%20smith?move_buckets_to=root%2Fa", b""),
    ("GET", "http://[::1]:9001/admin/v1/buckets?owner=a&after=b&limit=10", b""),
])
def test_signature_is_botocores(method: str, url: str, body: bytes) -> None:
    request = botocore.awsrequest.AWSRequest(method, url, data=body,
                                             headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    # S3's variant: the path encoded once, as the admin API checks it (botocore's generic one encodes it twice)
    botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(KEY, SECRET), "admin", "eu-west-3").add_auth(request)
    when = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours = sign(method, url, body, KEY, SECRET, "eu-west-3", when)
    assert ours["Authorization"] == request.headers["Authorization"]


def test_pails_accepts_the_signature() -> None:
    body = b'{"max_bytes": 1}'
    raw_path = "/admin/v1/buckets/my-bucket/quota"
    headers = {k.lower(): v for k, v in sign("PUT", f"http://127.0.0.1:9001{raw_path}", body, KEY, SECRET,
                                             "us-east-1").items()}
    signed = SignedRequest("PUT", raw_path, raw_path, [], headers, None)
    now = datetime.now(UTC)
    sha = hashlib.sha256(body).hexdigest()
    authenticate(signed, lambda key: SECRET if key == KEY else None, now, ADMIN_API, sha)  # raises if wrong
    with pytest.raises(Exception, match="SignatureDoesNotMatch|signature"):
        authenticate(signed, lambda key: "another secret", now, ADMIN_API, sha)


def test_path_segments_are_encoded_once() -> None:
    assert path("accounts", "carol smith", "root-key") == "/admin/v1/accounts/carol%20smith/root-key"
    assert path("buckets", "a/b") == "/admin/v1/buckets/a%2Fb"


def test_announcement_written_found_and_withdrawn(tmp_path) -> None:
    data = str(tmp_path)
    assert discovery.find(data) is None
    discovery.announce(data, "0.0.0.0", 9101, "eu-west-1")
    assert oct(os.stat(discovery.path_of(data)).st_mode & 0o777) == "0o600"
    found = discovery.find(data)
    assert found is not None
    assert (found.endpoint, found.pid, found.region) == ("http://127.0.0.1:9101", os.getpid(), "eu-west-1")
    discovery.withdraw(data)
    assert not os.path.exists(discovery.path_of(data))


def test_an_announcement_of_a_dead_server_or_unreadable_is_ignored(tmp_path) -> None:
    data = str(tmp_path)
    os.makedirs(os.path.dirname(discovery.path_of(data)))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with open(discovery.path_of(data), "w") as f:
        json.dump({"address": "127.0.0.1:9001", "pid": gone.pid, "hostname": socket.gethostname()}, f)
    assert discovery.find(data) is None
    with open(discovery.path_of(data), "w") as f:  # another host's server: its pid cannot be checked here
        json.dump({"address": "[::]:9001", "pid": gone.pid, "hostname": "elsewhere"}, f)
    found = discovery.find(data)
    assert found is not None and found.endpoint == "http://[::1]:9001"
    discovery.withdraw(data)  # not this process's: it stays
    assert os.path.exists(discovery.path_of(data))
    with open(discovery.path_of(data), "w") as f:
        f.write("{not json")
    assert discovery.find(data) is None


def test_field_parsers() -> None:
    assert fields.limit(0, "n") == 0 and fields.limit(None, "n") is None
    for bad in (-1, True, 1.0, "5", 2**63):
        with pytest.raises(AdminError):
            fields.limit(bad, "n")
    assert fields.iso(fields.timestamp("2027-01-31T01:02:03+01:00", "t")) == "2027-01-31T00:02:03Z"
    assert fields.iso(fields.timestamp("2027-01-31", "t")) == "2027-01-31T00:00:00Z"
    for bad_time in ("tomorrow", 5, None):
        with pytest.raises(AdminError):
            fields.timestamp(bad_time, "t")
    with pytest.raises(AdminError, match="unknown field"):
        fields.known_fields({"a": 1, "b": 2}, {"a"})
