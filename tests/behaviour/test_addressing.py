"""Virtual-host and path-style addressing on one server started with ``--domain``.

There is no DNS for ``*.s3.example.test`` here, so requests go to 127.0.0.1
with the Host header set by hand and signed by botocore's own signers.
"""

from __future__ import annotations

import http.client
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
from botocore.auth import HmacV1Auth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import client
from tests.pails_server import Server

DOMAIN = "s3.example.test"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@pytest.fixture(scope="module")
def vserver(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("pails-vhost") / "data", extra_args=["--domain", DOMAIN]).start()
    yield srv
    srv.stop()


class Resp:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)


def send(srv: Server, method: str, host: str, path: str, query: str = "", body: bytes = b"",
         headers: dict[str, str] | None = None, sigv2: bool = False, auth_path: str | None = None) -> Resp:
    """Sign (SigV4 by default, SigV2 with ``sigv2``) and send a request with the given Host header.
    ``path`` is sent as-is (already percent-encoded)."""
    target = path + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=f"http://{host}{target}", data=body, headers=dict(headers or {}))
    req.headers["Host"] = host
    creds = Credentials(srv.access_key, srv.secret_key)
    if sigv2:
        req.auth_path = auth_path or path
        HmacV1Auth(creds).add_auth(req)
    else:
        S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in req.headers.items():
            conn.putheader(k, v)
        if body or method in ("PUT", "POST"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return Resp(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def vhost(srv: Server, bucket: str) -> str:
    return f"{bucket}.{DOMAIN}:{srv.port}"


def plain(srv: Server) -> str:
    return f"127.0.0.1:{srv.port}"


def _name() -> str:
    return f"vh-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def vbucket(vserver):
    name = _name()
    r = send(vserver, "PUT", vhost(vserver, name), "/")
    assert r.status == 200, r.body
    yield name
    s3 = client(vserver)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for o in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=o["Key"])
    s3.delete_bucket(Bucket=name)


def test_create_bucket_virtual_host(vserver):
    name = _name()
    r = send(vserver, "PUT", vhost(vserver, name), "/")
    assert r.status == 200, r.body
    try:
        s3 = client(vserver)  # path-style view of the same bucket
        s3.head_bucket(Bucket=name)
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert send(vserver, "HEAD", vhost(vserver, name), "/").status == 200
    finally:
        assert send(vserver, "DELETE", vhost(vserver, name), "/").status == 204
    assert send(vserver, "HEAD", vhost(vserver, name), "/").status == 404


def test_create_bucket_with_location_virtual_host(vserver):
    name = _name()
    body = (b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<LocationConstraint>eu-central-1</LocationConstraint></CreateBucketConfiguration>")
    assert send(vserver, "PUT", vhost(vserver, name), "/", body=body).status == 200
    try:
        r = send(vserver, "GET", vhost(vserver, name), "/", "location")
        assert r.status == 200
        assert r.xml().text == "eu-central-1"
    finally:
        send(vserver, "DELETE", vhost(vserver, name), "/")


def test_put_get_virtual_and_path_style(vserver, vbucket):
    r = send(vserver, "PUT", vhost(vserver, vbucket), "/dir/hello.txt", body=b"virtual hello",
             headers={"Content-Type": "text/plain"})
    assert r.status == 200, r.body
    r = send(vserver, "GET", vhost(vserver, vbucket), "/dir/hello.txt")
    assert r.status == 200 and r.body == b"virtual hello"
    assert r.headers["Content-Type"] == "text/plain"
    # path-style on the same server, raw and via boto3
    r = send(vserver, "GET", plain(vserver), f"/{vbucket}/dir/hello.txt")
    assert r.status == 200 and r.body == b"virtual hello"
    assert client(vserver).get_object(Bucket=vbucket, Key="dir/hello.txt")["Body"].read() == b"virtual hello"
    # written path-style, read virtual-host style
    client(vserver).put_object(Bucket=vbucket, Key="from-path", Body=b"path body")
    r = send(vserver, "GET", vhost(vserver, vbucket), "/from-path")
    assert r.status == 200 and r.body == b"path body"


def test_awkward_key_virtual_host(vserver, vbucket):
    key = "a b/ü+%/x~y"
    path = "/" + quote(key, safe="/~")
    assert send(vserver, "PUT", vhost(vserver, vbucket), path, body=b"odd").status == 200
    assert send(vserver, "GET", vhost(vserver, vbucket), path).body == b"odd"
    assert client(vserver).get_object(Bucket=vbucket, Key=key)["Body"].read() == b"odd"


def test_list_virtual_host(vserver, vbucket):
    for k in ("a/1", "a/2", "b"):
        assert send(vserver, "PUT", vhost(vserver, vbucket), f"/{k}", body=b"x").status == 200
    r = send(vserver, "GET", vhost(vserver, vbucket), "/")
    assert r.status == 200
    root = r.xml()
    assert root.tag == NS + "ListBucketResult"
    assert root.findtext(NS + "Name") == vbucket
    assert [c.findtext(NS + "Key") for c in root.findall(NS + "Contents")] == ["a/1", "a/2", "b"]
    r = send(vserver, "GET", vhost(vserver, vbucket), "/", "delimiter=%2F&list-type=2&prefix=")
    root = r.xml()
    assert [c.findtext(NS + "Key") for c in root.findall(NS + "Contents")] == ["b"]
    assert [c.findtext(NS + "Prefix") for c in root.findall(NS + "CommonPrefixes")] == ["a/"]


def test_delete_object_virtual_host(vserver, vbucket):
    send(vserver, "PUT", vhost(vserver, vbucket), "/gone", body=b"x")
    assert send(vserver, "DELETE", vhost(vserver, vbucket), "/gone").status == 204
    r = send(vserver, "GET", vhost(vserver, vbucket), "/gone")
    assert r.status == 404
    err = r.xml()
    assert err.findtext("Code") == "NoSuchKey"
    assert err.findtext("Key") == "gone"


def test_list_buckets_on_bare_domain(vserver, vbucket):
    r = send(vserver, "GET", f"{DOMAIN}:{vserver.port}", "/")
    assert r.status == 200
    root = r.xml()
    assert root.tag == NS + "ListAllMyBucketsResult"
    assert vbucket in [b.findtext(NS + "Name") for b in root.iter(NS + "Bucket")]


def test_dotted_bucket_virtual_host(vserver):
    name = f"dotted.{uuid.uuid4().hex[:8]}.name"
    assert send(vserver, "PUT", vhost(vserver, name), "/").status == 200
    try:
        assert send(vserver, "PUT", vhost(vserver, name), "/k", body=b"dots").status == 200
        assert client(vserver).get_object(Bucket=name, Key="k")["Body"].read() == b"dots"
        assert send(vserver, "DELETE", vhost(vserver, name), "/k").status == 204
    finally:
        assert send(vserver, "DELETE", vhost(vserver, name), "/").status == 204


def test_virtual_host_is_case_insensitive_and_port_optional(vserver, vbucket):
    send(vserver, "PUT", vhost(vserver, vbucket), "/k", body=b"case")
    r = send(vserver, "GET", f"{vbucket}.S3.Example.TEST:{vserver.port}", "/k")
    assert r.status == 200 and r.body == b"case"
    r = send(vserver, "GET", f"{vbucket}.{DOMAIN}", "/k")
    assert r.status == 200 and r.body == b"case"


def test_missing_bucket_virtual_host(vserver):
    name = _name()
    r = send(vserver, "GET", vhost(vserver, name), "/k")
    assert r.status == 404
    assert r.xml().findtext("Code") == "NoSuchBucket"
    assert r.xml().findtext("BucketName") == name


def test_other_host_is_path_style(vserver, vbucket):
    send(vserver, "PUT", vhost(vserver, vbucket), "/k", body=b"other")
    r = send(vserver, "GET", f"unrelated.example.org:{vserver.port}", f"/{vbucket}/k")
    assert r.status == 200 and r.body == b"other"


def test_sigv2_virtual_host(vserver, vbucket):
    r = send(vserver, "PUT", vhost(vserver, vbucket), "/v2key", body=b"signed v2", sigv2=True,
             auth_path=f"/{vbucket}/v2key")
    assert r.status == 200, r.body
    r = send(vserver, "GET", vhost(vserver, vbucket), "/v2key", sigv2=True, auth_path=f"/{vbucket}/v2key")
    assert r.status == 200 and r.body == b"signed v2"
    r = send(vserver, "GET", vhost(vserver, vbucket), "/", sigv2=True, auth_path=f"/{vbucket}/")
    assert r.status == 200 and b"v2key" in r.body


def test_sigv4_signature_covers_host(vserver, vbucket):
    """A request signed for one bucket's host cannot be replayed against another host."""
    send(vserver, "PUT", vhost(vserver, vbucket), "/k", body=b"x")
    req = AWSRequest(method="GET", url=f"http://{vhost(vserver, vbucket)}/k")
    req.headers["Host"] = vhost(vserver, vbucket)
    S3SigV4Auth(Credentials(vserver.access_key, vserver.secret_key), "s3", "us-east-1").add_auth(req)
    headers = dict(req.headers.items())
    headers["Host"] = f"other-{vbucket}.{DOMAIN}:{vserver.port}"
    conn = http.client.HTTPConnection("127.0.0.1", vserver.port, timeout=30)
    conn.request("GET", "/k", headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 403
    assert b"SignatureDoesNotMatch" in body


def test_path_style_still_works_with_domain(vserver):
    s3 = client(vserver)
    name = _name()
    s3.create_bucket(Bucket=name)
    try:
        s3.put_object(Bucket=name, Key="p", Body=b"path")
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]] == ["p"]
        r = send(vserver, "GET", vhost(vserver, name), "/p")
        assert r.status == 200 and r.body == b"path"
        s3.delete_object(Bucket=name, Key="p")
    finally:
        s3.delete_bucket(Bucket=name)


def test_presigned_virtual_host(vserver, vbucket):
    send(vserver, "PUT", vhost(vserver, vbucket), "/pre", body=b"presigned vhost")
    from botocore.auth import S3SigV4QueryAuth

    req = AWSRequest(method="GET", url=f"http://{vhost(vserver, vbucket)}/pre")
    req.headers["Host"] = vhost(vserver, vbucket)
    S3SigV4QueryAuth(Credentials(vserver.access_key, vserver.secret_key), "s3", "us-east-1",
                     expires=300).add_auth(req)
    target = req.url.split(vhost(vserver, vbucket), 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", vserver.port, timeout=30)
    conn.request("GET", target, headers={"Host": vhost(vserver, vbucket)})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b"presigned vhost"
    conn.close()
