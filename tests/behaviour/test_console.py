"""The web console (docs/console.md) in headless Chromium driven by Playwright
against a real server: log in, dashboard, buckets, versioning, drag-and-drop
upload, prefix browsing, download, delete, log out; and what it must refuse
(a wrong secret, an expired session, a request without the CSRF token or
from another origin, what the user's policy denies).

Screenshots of every page go to PAILS_TEST_ARTIFACTS/console (default: the
test's temporary directory), and to docs/console/ with
PAILS_CONSOLE_SCREENSHOTS=docs (how the committed ones were made).

Needs Debian's ``chromium`` and the ``playwright`` package; skipped, with
the reason, without them.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import http.server
import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from pails.console import app
from pails.console import session as sessions
from pails.storage.crypto import KeyRing
from tests.behaviour.test_cors_browser import browser, page_origin  # noqa: F401 - fixtures
from tests.pails_server import Server
from tests.unit.test_console import login_page_files

DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = os.environ.get("PAILS_TEST_ARTIFACTS")
    out = [Path(base) / "console" if base else tmp_path_factory.mktemp("console-screenshots")]
    if os.environ.get("PAILS_CONSOLE_SCREENSHOTS") == "docs":
        out.append(DOCS)
    for directory in out:
        directory.mkdir(parents=True, exist_ok=True)
    return out


def _shoot(page: Any, shots: list[Path], name: str) -> None:
    page.wait_for_load_state("networkidle")
    first = shots[0] / f"{name}.png"
    page.screenshot(path=str(first), type="png")
    for directory in shots[1:]:
        shutil.copyfile(first, directory / f"{name}.png")


@pytest.fixture
def page(browser) -> Iterator[Any]:  # noqa: F811 - the fixture imported above
    context = browser.new_context(viewport={"width": 900, "height": 640}, accept_downloads=True)
    pg = context.new_page()
    yield pg
    context.close()


def _login(page: Any, server: Server, access_key: str, secret_key: str) -> None:
    page.goto(server.admin_endpoint + "/")
    page.fill("input[name=access_key]", access_key)
    page.fill("input[name=secret_key]", secret_key)
    page.click("#login button")


def _drop(page: Any, name: str, content: str) -> None:
    """Drop a file on the drop zone as a user's drag and drop does (a DataTransfer with a File)."""
    data = page.evaluate_handle("([name, content]) => { const dt = new DataTransfer(); "
                                "dt.items.add(new File([content], name, {type: 'text/plain'})); return dt; }",
                                [name, content])
    page.dispatch_event("#drop", "dragover", {"dataTransfer": data})
    page.dispatch_event("#drop", "drop", {"dataTransfer": data})


def test_console_end_to_end(page, server, s3, shots) -> None:
    name = f"console-{uuid.uuid4().hex[:12]}"
    loaded: dict[str, int] = {}

    def count(response: Any) -> None:
        if "/console/" in response.url:
            loaded[response.url] = len(response.body())

    page.on("response", count)
    page.goto(server.admin_endpoint + "/")
    assert page.url == server.admin_endpoint + "/console/"  # / redirects to the console
    page.wait_for_selector("#login")
    page.wait_for_load_state("networkidle")
    static = Path(app.STATIC_DIR)
    files = {u: n for u, n in loaded.items() if "/api/" not in u}
    eager = login_page_files()  # each file once, all but the lazily imported modules
    assert sorted(files.values()) == sorted((static / n).stat().st_size for n in eager)
    assert "object.js" not in eager and "settings.js" not in eager  # imported on first use
    assert sum(loaded.values()) < 40_000  # one full load, the session check included (docs/console.md)
    page.remove_listener("response", count)
    _shoot(page, shots, "login")
    _login(page, server, server.access_key, server.secret_key)
    page.wait_for_selector("#buckets")  # the dashboard's bucket count
    assert page.url.endswith("#/dashboard")
    assert "root" in page.inner_text("#who")
    page.wait_for_selector("#requests")  # the operator sees the server's own request counts
    assert "null" not in page.inner_text("main")
    _shoot(page, shots, "dashboard")

    page.click("text=Buckets")
    page.fill("#create-bucket input", name)
    page.click("#create-bucket button")
    page.wait_for_selector(f"#buckets >> text={name}")
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    _shoot(page, shots, "buckets")

    page.click(f"#buckets tr:has-text('{name}') >> text=settings")
    page.wait_for_selector("#versioning-toggle")
    assert page.inner_text("#versioning") == "Unversioned"
    page.click("#versioning-toggle")
    page.wait_for_selector("#versioning:text('Enabled')")
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    _shoot(page, shots, "bucket")

    page.click("text=Browse objects")
    page.fill("#new-folder input", "docs")
    page.click("#new-folder button")
    page.click("#objects >> text=docs/")
    page.wait_for_selector(".crumbs >> text=docs")
    _drop(page, "hello.txt", "hello from the console")
    page.wait_for_selector("#objects >> text=hello.txt")
    assert s3.get_object(Bucket=name, Key="docs/hello.txt")["Body"].read() == b"hello from the console"
    assert page.inner_text("#status") == "uploaded 1 file"
    assert page.locator("#objects tr").count() == 2  # the heading and hello.txt (not the folder's marker)
    _shoot(page, shots, "objects")
    page.set_viewport_size({"width": 390, "height": 700})  # a phone
    _shoot(page, shots, "objects-phone")
    page.set_viewport_size({"width": 900, "height": 640})

    with page.expect_download() as download:
        page.click("#objects tr:has-text('hello.txt') >> text=Download")
    assert Path(download.value.path()).read_bytes() == b"hello from the console"

    big = 17 * 1024 * 1024  # above the part size: a multipart upload of two parts
    page.evaluate("""(size) => { const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(size).fill(7)], 'big.bin')); window.bigDrop = dt; }""", big)
    data = page.evaluate_handle("window.bigDrop")
    page.dispatch_event("#drop", "drop", {"dataTransfer": data})
    page.wait_for_selector("#objects >> text=big.bin")
    head = s3.head_object(Bucket=name, Key="docs/big.bin")
    assert head["ContentLength"] == big and head["ETag"].endswith('-2"')
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#objects tr:has-text('big.bin') >> button:has-text('Delete')")
    page.wait_for_selector("#objects >> text=big.bin", state="detached")

    page.click("#objects tr:has-text('hello.txt') >> text=Share")
    link = page.input_value("#share-url")
    assert link.startswith(server.endpoint + f"/{name}/docs/hello.txt?")  # the S3 port, presigned
    with urllib.request.urlopen(link) as shared:  # no credentials of its own: the link carries them
        assert shared.read() == b"hello from the console"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#objects tr:has-text('hello.txt') >> button:has-text('Delete')")
    page.wait_for_selector("#objects >> text=hello.txt", state="detached")
    assert "Contents" not in s3.list_objects_v2(Bucket=name, Prefix="docs/hello")  # a delete marker now

    page.click(".crumbs >> text=Versions")
    page.wait_for_selector("#versions tr.marker")
    assert page.locator("#versions tr:has-text('hello.txt')").count() == 2  # the marker and the version
    _shoot(page, shots, "versions")
    page.once("dialog", lambda dialog: dialog.accept())
    # Deleting the marker brings the object back.
    page.click("#versions tr.marker:has-text('hello.txt') >> button:has-text('Delete')")
    page.wait_for_selector("#versions tr.marker:has-text('hello.txt')", state="detached")
    assert s3.get_object(Bucket=name, Key="docs/hello.txt")["Body"].read() == b"hello from the console"

    page.click("#logout")
    page.wait_for_selector("#login")
    assert page.evaluate("fetch('api/session').then(r => r.status)") == 401
    page.reload()
    page.wait_for_selector("#login")  # the cookie is gone: the page asks again

    for v in s3.list_object_versions(Bucket=name).get("Versions", []) + \
            s3.list_object_versions(Bucket=name).get("DeleteMarkers", []):
        s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=name)


def test_wrong_secret_is_refused(page, server) -> None:
    _login(page, server, server.access_key, "not-the-secret")
    page.wait_for_selector("#status.error")
    assert "do not match" in page.inner_text("#status")
    assert page.context.cookies() == []
    assert page.evaluate("fetch('api/session').then(r => r.status)") == 401


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _call(opener: urllib.request.OpenerDirector, method: str, url: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(req) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _http_login(server: Server, access_key: str, secret_key: str) -> tuple[urllib.request.OpenerDirector, str]:
    opener = _opener()
    status, body = _call(opener, "POST", server.admin_endpoint + "/console/api/login",
                         json.dumps({"access_key": access_key, "secret_key": secret_key}).encode(),
                         {"Content-Type": "application/json"})
    assert status == 200, body
    return opener, json.loads(body)["csrf"]


def test_expired_session_is_refused(server) -> None:
    api = server.admin_endpoint + "/console/api/"
    key = sessions.session_key(KeyRing(str(server.data_dir)).master())
    opener, _ = _http_login(server, server.access_key, server.secret_key)
    cookie = next(c for c in opener.handlers if isinstance(c, urllib.request.HTTPCookieProcessor)).cookiejar
    live = sessions.unseal(key, next(iter(cookie)).value)
    assert live is not None and live.session_token  # temporary credentials, never the secret
    assert server.secret_key not in (live.access_key, live.secret_key, live.session_token)
    past = sessions.Session(live.access_key, live.secret_key, live.session_token, time.time() - 1, live.csrf,
                            live.principal)
    status, body = _call(_opener(), "GET", api + "s3/", headers={"Cookie": f"{sessions.COOKIE}="
                                                                           f"{sessions.seal(key, past)}"})
    assert status == 401 and json.loads(body)["error"]["code"] == "NotLoggedIn"
    status, _ = _call(_opener(), "GET", api + "s3/", headers={"Cookie": f"{sessions.COOKIE}=forged"})
    assert status == 401


def test_csrf_is_refused(server, s3, bucket, browser, page_origin) -> None:  # noqa: F811
    api = server.admin_endpoint + "/console/api/"
    opener, csrf = _http_login(server, server.access_key, server.secret_key)
    assert _call(opener, "PUT", api + f"s3/{bucket}/k", b"x")[0] == 403  # no token
    assert _call(opener, "PUT", api + f"s3/{bucket}/k", b"x", {"X-Pails-CSRF": "guess"})[0] == 403
    assert _call(opener, "PUT", api + f"s3/{bucket}/k", b"x",
                 {"X-Pails-CSRF": csrf, "Sec-Fetch-Site": "cross-site"})[0] == 403
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert _call(opener, "PUT", api + f"s3/{bucket}/k", b"x", {"X-Pails-CSRF": csrf})[0] == 200

    # A page of another origin, in a browser logged in to the console, tries to act with its cookie.
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(server.admin_endpoint + "/")
        page.fill("input[name=access_key]", server.access_key)
        page.fill("input[name=secret_key]", server.secret_key)
        page.click("#login button")
        page.wait_for_selector("#buckets")
        page.goto(page_origin + "/")
        outcome = page.evaluate("""async (url) => {
          const out = {};
          try { await fetch(url + 'forged', {method: 'POST', mode: 'no-cors', credentials: 'include',
                                              body: 'x'}); out.simple = 'sent'; }
          catch (e) { out.simple = String(e); }
          try { const r = await fetch(url + 'forged2', {method: 'PUT', credentials: 'include', body: 'x',
                                                        headers: {'X-Pails-CSRF': 'guess'}});
                out.put = r.status; }
          catch (e) { out.put = String(e); }
          return out;
        }""", api + f"s3/{bucket}/")
    finally:
        context.close()
    assert "Failed to fetch" in str(outcome["put"]), outcome  # no CORS: the preflight fails
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["k"], outcome  # neither forged request wrote anything
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_console_cannot_exceed_the_policy(page, server, s3, bucket) -> None:
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key)
    user = f"reader-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"],
                                                "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    try:
        _login(page, server, key["AccessKeyId"], key["SecretAccessKey"])
        page.wait_for_selector("text=server figures are for account roots")
        assert user in page.inner_text("#who")
        page.click("text=Buckets")
        page.wait_for_selector(f"#buckets >> text={bucket}")  # reading is allowed
        denied = f"denied-{uuid.uuid4().hex[:8]}"
        page.fill("#create-bucket input", denied)
        page.click("#create-bucket button")
        page.wait_for_selector("#status.error")
        assert "AccessDenied" in page.inner_text("#status")
        assert denied not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        # The admin-port reads answer account roots only.
        assert page.evaluate(f"fetch('api/usage/{bucket}').then(r => r.status)") == 403
    finally:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
        iam.delete_user_policy(UserName=user, PolicyName="read")
        iam.delete_user(UserName=user)


def test_login_with_temporary_credentials(server, s3, bucket) -> None:
    sts = boto3.client("sts", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key)
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    opener = _opener()
    status, body = _call(opener, "POST", server.admin_endpoint + "/console/api/login",
                         json.dumps({"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                                     "session_token": creds["SessionToken"]}).encode(),
                         {"Content-Type": "application/json"})
    assert status == 200, body
    csrf = json.loads(body)["csrf"]
    api = server.admin_endpoint + "/console/api/s3/"
    assert _call(opener, "PUT", api + f"{bucket}/t.txt", b"12345", {"X-Pails-CSRF": csrf})[0] == 200
    req = urllib.request.Request(api + f"{bucket}/t.txt", method="HEAD")
    with opener.open(req) as resp:  # HEAD keeps the object's length
        assert resp.status == 200 and resp.headers["Content-Length"] == "5"
    assert _call(opener, "GET", api + f"{bucket}/t.txt", headers={"Range": "bytes=1-2"}) == (206, b"23")
    # A session token that does not belong to the key is refused at login.
    status, _ = _call(_opener(), "POST", server.admin_endpoint + "/console/api/login",
                      json.dumps({"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                                  "session_token": "forged"}).encode(), {"Content-Type": "application/json"})
    assert status == 403


class _PrefixProxy(http.server.BaseHTTPRequestHandler):
    """A reverse proxy publishing the admin port under /storage/ (the prefix stripped, as nginx's
    ``location /storage/ { proxy_pass http://admin/; }`` does)."""

    upstream_port = 0

    def _forward(self) -> None:
        if not self.path.startswith("/storage/"):
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path[len("/storage"):], body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815 - the http.server API

    def log_message(self, *args: object) -> None:
        pass


def test_console_behind_a_path_prefix(page, server, s3) -> None:
    handler = type("Proxy", (_PrefixProxy,), {"upstream_port": server.admin_port})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/storage/"
    name = f"prefixed-{uuid.uuid4().hex[:8]}"
    try:
        page.goto(base)
        assert page.url == base + "console/"  # the relative redirect keeps the prefix
        page.fill("input[name=access_key]", server.access_key)
        page.fill("input[name=secret_key]", server.secret_key)
        page.click("#login button")
        page.wait_for_selector("#buckets")
        cookie = page.context.cookies()[0]
        assert cookie["path"] == "/storage/console/api" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        page.click("text=Buckets")
        page.fill("#create-bucket input", name)
        page.click("#create-bucket button")
        page.wait_for_selector(f"#buckets >> text={name}")
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        page.click("#logout")
        page.wait_for_selector("#login")
    finally:
        httpd.shutdown()
        httpd.server_close()
        s3.delete_bucket(Bucket=name)


def test_no_console(tmp_path) -> None:
    srv = Server(tmp_path / "data", extra_args=["--no-console"]).start()
    try:
        assert _call(_opener(), "GET", srv.admin_endpoint + "/console/")[0] == 404
        assert _call(_opener(), "GET", srv.admin_endpoint + "/health/live")[0] == 200
        assert "console:" not in srv.log_path.read_text()
    finally:
        srv.stop()
