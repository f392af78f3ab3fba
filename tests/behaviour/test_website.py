"""Static website hosting: Put/Get/DeleteBucketWebsite over boto3, and the
website endpoint (``--website-domain website.localhost``) with plain HTTP
requests and curl: index documents, error pages, routing rules, redirects,
RedirectAllRequestsTo, anonymous access only.  A headless Chromium run is in
test_website_browser.py."""

from __future__ import annotations

import http.client
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.pails_server import Server

DOMAIN = "website.localhost"
INDEX = b"<html><body>home</body></html>"
DOCS_INDEX = b"<html><body>docs</body></html>"
ERROR_PAGE = b"<html><body>custom error</body></html>"


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("pails-web") / "data", extra_args=["--website-domain", DOMAIN]).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def s3w(web_server: Server):
    return client(web_server)


def fetch(server: Server, host: str, path: str, method: str = "GET",
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=b"x" if method in ("PUT", "POST") else None,
                     headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _public_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Allow", "Principal": "*", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject"],
         "Resource": f"arn:aws:s3:::{bucket}/private/*"}]})


@pytest.fixture
def site(s3w) -> Iterator[str]:
    """A public bucket with pages and a website configuration (index and error documents)."""
    name = f"site-{uuid.uuid4().hex[:12]}"
    s3w.create_bucket(Bucket=name)
    s3w.put_bucket_policy(Bucket=name, Policy=_public_policy(name))
    for key, body in (("index.html", INDEX), ("docs/index.html", DOCS_INDEX), ("error.html", ERROR_PAGE),
                      ("page.html", b"a page"), ("private/secret.html", b"secret")):
        s3w.put_object(Bucket=name, Key=key, Body=body, ContentType="text/html")
    s3w.put_bucket_website(Bucket=name, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"}})
    yield name
    for page in s3w.get_paginator("list_objects_v2").paginate(Bucket=name):
        for o in page.get("Contents", []):
            s3w.delete_object(Bucket=name, Key=o["Key"])
    s3w.delete_bucket(Bucket=name)


def _host(bucket: str) -> str:
    return f"{bucket}.{DOMAIN}"


# --- the configuration API -----------------------------------------------------------------------------------------

def test_website_configuration_round_trip(s3w, site: str) -> None:
    config = {
        "IndexDocument": {"Suffix": "index.html"},
        "ErrorDocument": {"Key": "error.html"},
        "RoutingRules": [
            {"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "new/"}},
            {"Condition": {"HttpErrorCodeReturnedEquals": "404"},
             "Redirect": {"HostName": "example.com", "HttpRedirectCode": "302", "Protocol": "https",
                          "ReplaceKeyWith": "missing.html"}},
        ],
    }
    s3w.put_bucket_website(Bucket=site, WebsiteConfiguration=config)
    got = s3w.get_bucket_website(Bucket=site)
    assert got["IndexDocument"] == {"Suffix": "index.html"}
    assert got["ErrorDocument"] == {"Key": "error.html"}
    assert got["RoutingRules"] == config["RoutingRules"]
    s3w.put_bucket_website(Bucket=site, WebsiteConfiguration={
        "RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "https"}})
    assert s3w.get_bucket_website(Bucket=site)["RedirectAllRequestsTo"] == {"HostName": "example.com",
                                                                           "Protocol": "https"}
    s3w.delete_bucket_website(Bucket=site)
    with pytest.raises(ClientError) as exc:
        s3w.get_bucket_website(Bucket=site)
    assert exc.value.response["Error"]["Code"] == "NoSuchWebsiteConfiguration"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize(("config", "code"), [
    ({}, "InvalidArgument"),  # neither IndexDocument nor RedirectAllRequestsTo
    ({"IndexDocument": {"Suffix": ""}}, "InvalidArgument"),
    ({"IndexDocument": {"Suffix": "a/index.html"}}, "InvalidArgument"),
    ({"IndexDocument": {"Suffix": "index.html"}, "RedirectAllRequestsTo": {"HostName": "example.com"}},
     "InvalidArgument"),
    ({"RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "ftp"}}, "InvalidRequest"),
    ({"IndexDocument": {"Suffix": "index.html"},
      "RoutingRules": [{"Redirect": {"ReplaceKeyWith": "a", "ReplaceKeyPrefixWith": "b"}}]}, "InvalidRequest"),
    ({"IndexDocument": {"Suffix": "index.html"},
      "RoutingRules": [{"Redirect": {"HttpRedirectCode": "200"}}]}, "InvalidRequest"),
    ({"IndexDocument": {"Suffix": "index.html"},
      "RoutingRules": [{"Condition": {"HttpErrorCodeReturnedEquals": "302"}, "Redirect": {"HostName": "a"}}]},
     "InvalidRequest"),
    ({"IndexDocument": {"Suffix": "index.html"}, "RoutingRules": [{"Condition": {}, "Redirect": {"HostName": "a"}}]},
     "InvalidRequest"),
])
def test_website_configuration_refused(s3w, site: str, config: dict, code: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3w.put_bucket_website(Bucket=site, WebsiteConfiguration=config)
    assert exc.value.response["Error"]["Code"] == code
    assert s3w.get_bucket_website(Bucket=site)["IndexDocument"] == {"Suffix": "index.html"}  # unchanged


def test_website_configuration_is_the_owners(web_server: Server, s3w, site: str) -> None:
    alt = web_server.add_user("webalt", "webalt@example.com")
    other = client(web_server, alt["access_key"], alt["secret_key"])
    with pytest.raises(ClientError) as exc:
        other.get_bucket_website(Bucket=site)
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


# --- the website endpoint ------------------------------------------------------------------------------------------

def test_index_document_and_pages(web_server: Server, site: str) -> None:
    status, headers, body = fetch(web_server, _host(site), "/")
    assert (status, body) == (200, INDEX)
    assert headers["content-type"] == "text/html"
    assert fetch(web_server, _host(site), "/docs/")[::2] == (200, DOCS_INDEX)
    assert fetch(web_server, _host(site), "/page.html")[::2] == (200, b"a page")
    status, headers, body = fetch(web_server, _host(site), "/page.html", "HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", "6")


def test_directory_without_slash_redirects(web_server: Server, site: str) -> None:
    status, headers, _ = fetch(web_server, _host(site), "/docs")
    assert status == 302
    assert headers["location"] == "/docs/"


def test_path_style_form(web_server: Server, site: str) -> None:
    assert fetch(web_server, DOMAIN, f"/{site}/")[::2] == (200, INDEX)
    assert fetch(web_server, f"{DOMAIN}:{web_server.port}", f"/{site}/docs/")[::2] == (200, DOCS_INDEX)
    status, headers, _ = fetch(web_server, DOMAIN, f"/{site}")
    assert (status, headers["location"]) == (302, f"/{site}/")
    status, headers, _ = fetch(web_server, DOMAIN, f"/{site}/docs")
    assert (status, headers["location"]) == (302, f"/{site}/docs/")


def test_error_document(web_server: Server, site: str) -> None:
    status, headers, body = fetch(web_server, _host(site), "/missing.html")
    assert (status, body) == (404, ERROR_PAGE)
    status, _, body = fetch(web_server, _host(site), "/private/secret.html")
    assert (status, body) == (403, ERROR_PAGE)


def test_builtin_error_pages(web_server: Server, s3w, site: str) -> None:
    s3w.put_bucket_website(Bucket=site, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    status, headers, body = fetch(web_server, _host(site), "/missing.html")
    assert status == 404
    assert headers["content-type"].startswith("text/html")
    assert headers["x-amz-error-code"] == "NoSuchKey"
    assert b"<h1>404 Not Found</h1>" in body and b"<li>Code: NoSuchKey</li>" in body and b"<?xml" not in body
    status, headers, body = fetch(web_server, _host(site), "/private/secret.html")
    assert (status, headers["x-amz-error-code"]) == (403, "AccessDenied")
    status, headers, body = fetch(web_server, _host(site), "/missing.html", "HEAD")
    assert (status, body, headers["x-amz-error-code"]) == (404, b"", "NoSuchKey")
    # an ErrorDocument that is missing itself: the built-in page says so
    s3w.put_bucket_website(Bucket=site, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"},
                                                              "ErrorDocument": {"Key": "nope.html"}})
    status, _, body = fetch(web_server, _host(site), "/missing.html")
    assert status == 404
    assert b"An Error Occurred While Attempting to Retrieve a Custom Error Document" in body


def test_only_get_and_head(web_server: Server, site: str) -> None:
    for method in ("PUT", "POST", "DELETE"):
        status, headers, body = fetch(web_server, _host(site), "/page.html", method)
        assert status == 405, method
        assert b"MethodNotAllowed" in body
    status, _, _ = fetch(web_server, _host(site), "/")
    assert status == 200


def test_anonymous_only(web_server: Server, s3w, site: str) -> None:
    """Credentials do not matter: the owner's own private object is 403 on the website."""
    s3w.put_object(Bucket=site, Key="private/owner.html", Body=b"mine")
    status, _, body = fetch(web_server, _host(site), "/private/owner.html",
                            headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    assert (status, body) == (403, ERROR_PAGE)


def test_no_bucket_and_no_configuration(web_server: Server, s3w) -> None:
    status, headers, body = fetch(web_server, _host("no-such-bucket-here"), "/")
    assert (status, headers["x-amz-error-code"]) == (404, "NoSuchBucket")
    assert b"<li>BucketName: no-such-bucket-here</li>" in body
    name = f"plain-{uuid.uuid4().hex[:12]}"
    s3w.create_bucket(Bucket=name)
    try:
        status, headers, _ = fetch(web_server, _host(name), "/")
        assert (status, headers["x-amz-error-code"]) == (404, "NoSuchWebsiteConfiguration")
    finally:
        s3w.delete_bucket(Bucket=name)


def test_routing_rules_in_order(web_server: Server, s3w, site: str) -> None:
    s3w.put_bucket_website(Bucket=site, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"},
        "RoutingRules": [
            {"Condition": {"KeyPrefixEquals": "docs/old/"}, "Redirect": {"ReplaceKeyWith": "docs/"}},
            {"Condition": {"KeyPrefixEquals": "docs/"}, "Redirect": {"ReplaceKeyPrefixWith": "documents/",
                                                                     "HttpRedirectCode": "302"}},
            {"Condition": {"HttpErrorCodeReturnedEquals": "404"},
             "Redirect": {"HostName": "example.com", "Protocol": "https", "ReplaceKeyPrefixWith": "report-404/"}},
            {"Condition": {"KeyPrefixEquals": "away/"},
             "Redirect": {"HostName": "other.example", "ReplaceKeyPrefixWith": ""}},
        ]})
    host = _host(site)
    status, headers, _ = fetch(web_server, host, "/docs/old/x.html")
    assert (status, headers["location"]) == (301, f"http://{host}/docs/")
    status, headers, _ = fetch(web_server, host, "/docs/a%20b.html")
    assert (status, headers["location"]) == (302, f"http://{host}/documents/a%20b.html")
    status, headers, _ = fetch(web_server, host, "/nothing/here.html")
    assert (status, headers["location"]) == (301, "https://example.com/report-404/nothing/here.html")
    status, headers, _ = fetch(web_server, host, "/away/y.html")
    assert (status, headers["location"]) == (301, "http://other.example/y.html")
    assert fetch(web_server, host, "/page.html")[::2] == (200, b"a page")  # no rule: served
    # path-style: the bucket stays in the path of a same-host redirect
    status, headers, _ = fetch(web_server, DOMAIN, f"/{site}/docs/z.html")
    assert (status, headers["location"]) == (302, f"http://{DOMAIN}/{site}/documents/z.html")


def test_redirect_all_requests(web_server: Server, s3w, site: str) -> None:
    s3w.put_bucket_website(Bucket=site, WebsiteConfiguration={
        "RedirectAllRequestsTo": {"HostName": "www.example.com", "Protocol": "https"}})
    status, headers, _ = fetch(web_server, _host(site), "/some/page.html")
    assert (status, headers["location"]) == (301, "https://www.example.com/some/page.html")
    s3w.put_bucket_website(Bucket=site, WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "x.example"}})
    status, headers, _ = fetch(web_server, _host(site), "/")
    assert (status, headers["location"]) == (301, "http://x.example/")


@pytest.mark.parametrize("how", ["put", "copy", "multipart"])
def test_object_redirect_location(web_server: Server, s3w, site: str, how: str) -> None:
    target = "/page.html"
    if how == "put":
        s3w.put_object(Bucket=site, Key="moved.html", Body=b"", WebsiteRedirectLocation=target)
    elif how == "copy":
        s3w.copy_object(Bucket=site, Key="moved.html", CopySource={"Bucket": site, "Key": "page.html"},
                        MetadataDirective="REPLACE", WebsiteRedirectLocation=target)
    else:
        upload = s3w.create_multipart_upload(Bucket=site, Key="moved.html", WebsiteRedirectLocation=target)
        part = s3w.upload_part(Bucket=site, Key="moved.html", UploadId=upload["UploadId"], PartNumber=1, Body=b"x")
        s3w.complete_multipart_upload(Bucket=site, Key="moved.html", UploadId=upload["UploadId"],
                                      MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert s3w.head_object(Bucket=site, Key="moved.html")["WebsiteRedirectLocation"] == target
    status, headers, _ = fetch(web_server, _host(site), "/moved.html")
    assert (status, headers["location"]) == (301, target)
    # the S3 endpoint serves the object itself
    assert s3w.get_object(Bucket=site, Key="moved.html")["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_s3_endpoint_unaffected(web_server: Server, s3w, site: str) -> None:
    """Requests to other hosts (the S3 endpoint) are S3 requests."""
    assert s3w.get_object(Bucket=site, Key="page.html")["Body"].read() == b"a page"
    status, _, body = fetch(web_server, f"127.0.0.1:{web_server.port}", f"/{site}/missing.html")
    assert status == 404 and b"<Error><Code>NoSuchKey</Code>" in body  # an anonymous S3 request: XML, as S3
    status, _, body = fetch(web_server, f"127.0.0.1:{web_server.port}", f"/{site}/page.html", "DELETE")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body


def test_with_curl(web_server: Server, site: str, tmp_path: Path) -> None:
    """curl resolves *.localhost to the loopback address by itself (no Host header needed)."""
    base = f"http://{site}.{DOMAIN}:{web_server.port}"
    out = subprocess.run(["curl", "-sS", "-o", str(tmp_path / "body"), "-w", "%{http_code}", base + "/"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == "200"
    assert (tmp_path / "body").read_bytes() == INDEX
    out = subprocess.run(["curl", "-sS", "-L", base + "/docs"], capture_output=True, timeout=60, check=True)
    assert out.stdout == DOCS_INDEX  # followed the 302 to /docs/
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", base + "/missing"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == "404"
    out = subprocess.run(["curl", "-sS", "-X", "DELETE", "-o", "/dev/null", "-w", "%{http_code}", base + "/"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == "405"


@pytest.mark.parametrize("location", ["page.html", "ftp://x/y", "/" + "a" * 2048])
def test_redirect_location_is_checked(s3w, site: str, location: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3w.put_object(Bucket=site, Key="r", Body=b"", WebsiteRedirectLocation=location)
    assert exc.value.response["Error"]["Code"] == "InvalidRedirectLocation"
    with pytest.raises(ClientError) as exc:
        s3w.copy_object(Bucket=site, Key="r", CopySource={"Bucket": site, "Key": "page.html"},
                        WebsiteRedirectLocation=location)
    assert exc.value.response["Error"]["Code"] == "InvalidRedirectLocation"


def test_beside_s3_virtual_hosts(tmp_path: Path) -> None:
    """With ``--domain localhost`` too: BUCKET.localhost is S3, BUCKET.website.localhost the website."""
    srv = Server(tmp_path / "data", extra_args=["--domain", "localhost", "--website-domain", DOMAIN]).start()
    try:
        s3 = client(srv)
        name = f"both-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=name)
        s3.put_bucket_policy(Bucket=name, Policy=_public_policy(name))
        s3.put_object(Bucket=name, Key="index.html", Body=INDEX, ContentType="text/html")
        s3.put_bucket_website(Bucket=name, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
        assert fetch(srv, f"{name}.{DOMAIN}", "/")[::2] == (200, INDEX)
        status, _, body = fetch(srv, f"{name}.localhost", "/")  # an anonymous S3 ListObjects, allowed by the policy
        assert status == 200 and b"<ListBucketResult" in body
        assert fetch(srv, f"{name}.localhost", "/index.html")[::2] == (200, INDEX)
    finally:
        srv.stop()
