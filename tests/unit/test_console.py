"""The console's pure parts (pails.console.session, the signer in
pails.console.upstream, the dashboard's rates) and its static files."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest

from pails.access.authenticate import authenticate
from pails.access.request import SignedRequest
from pails.admin import routes
from pails.console import app, session, upstream
from pails.errors import S3Error

KEY = session.session_key(b"k" * 32)
STATIC = Path(app.STATIC_DIR)


def _session(expires: float | None = None) -> session.Session:
    return session.Session.new("ASIAEXAMPLE", "temp-secret", "token", expires or time.time() + 600,
                               "arn:aws:iam::123456789012:root")


def test_seal_round_trip_and_refusals() -> None:
    s = _session()
    sealed = session.seal(KEY, s)
    assert session.unseal(KEY, sealed) == s
    assert "temp-secret" not in sealed and "ASIAEXAMPLE" not in sealed  # encrypted, not only signed
    assert session.unseal(session.session_key(b"j" * 32), sealed) is None  # another server's key
    flipped = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    assert session.unseal(KEY, flipped) is None  # tampered
    assert session.unseal(KEY, "garbage!") is None
    assert session.unseal(KEY, "") is None
    assert session.unseal(KEY, sealed, now=s.expires) is None  # expired


def test_session_key_is_not_the_master_key() -> None:
    assert session.session_key(b"k" * 32) != b"k" * 32 and len(KEY) == 32


def test_session_lasts_at_most_max_session() -> None:
    now = time.time()
    s = session.Session.new("a", "b", "c", now + 10 * 86400, "arn", now=now)
    assert s.expires == now + session.MAX_SESSION
    assert len(s.csrf) >= 24 and s.csrf != _session().csrf


def test_csrf_check() -> None:
    s = _session()
    assert session.csrf_ok(s, "GET", {})
    assert session.csrf_ok(s, "HEAD", {"sec-fetch-site": "same-origin"})
    assert not session.csrf_ok(s, "PUT", {})
    assert not session.csrf_ok(s, "POST", {session.CSRF_HEADER: "wrong"})
    assert session.csrf_ok(s, "DELETE", {session.CSRF_HEADER: s.csrf})
    for site in ("cross-site", "same-site"):  # another origin, even with the token (it cannot read it anyway)
        assert not session.csrf_ok(s, "PUT", {session.CSRF_HEADER: s.csrf, "sec-fetch-site": site})
        assert not session.csrf_ok(s, "GET", {"sec-fetch-site": site})


def test_cookie_parsing_and_attributes() -> None:
    assert session.cookie_value({"cookie": "a=1; pails_console=xyz; b=2"}) == "xyz"
    assert session.cookie_value({"cookie": "pails_consolex=1"}) is None
    assert session.cookie_value({}) is None
    header = session.set_cookie("v", 60, secure=True)
    assert header.startswith("pails_console=v;")
    for attr in ("HttpOnly", "SameSite=Strict", "Secure", "Max-Age=60"):
        assert attr in header
    assert "Path=" not in header  # the login URL's directory: works under any proxy prefix
    assert "Secure" not in session.set_cookie("v", 60, secure=False)
    assert "Max-Age=0" in session.set_cookie("", -5, secure=False)


def test_root_redirects_are_relative() -> None:
    assert session.root_redirect("/") == "console/"  # /prefix/ -> /prefix/console/
    assert session.root_redirect("/console") == "console/"  # /prefix/console -> /prefix/console/
    assert session.root_redirect("/console/") is None


def test_console_routes_in_the_one_table() -> None:
    assert routes.streamed_route("/") is app.serve
    assert routes.streamed_route("/console") is app.serve
    assert routes.streamed_route("/console/static/app.js") is app.serve
    assert routes.streamed_route("/consoles") is None
    assert routes.streamed_route("/health/live") is None
    assert routes.match("GET", "/health/live")[0].name == "HealthLive"  # type: ignore[union-attr]


def login_page_files() -> set[str]:
    """The static files one load of the login page fetches: index.html and
    what it names, and their static imports, transitively (modules that are
    only ``import()``ed, lazily, are not among them)."""
    seen: set[str] = set()
    todo = ["index.html"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = (STATIC / name).read_text()
        refs = re.findall(r"""(?:href|src)=["']static/([^"']+)|\bfrom ["']\./([^"']+)""", text)
        todo += [a or b for a, b in refs]
    return seen


def test_static_files_use_only_relative_urls_and_stay_small() -> None:
    files = sorted(STATIC.iterdir())
    eager = login_page_files()
    assert {"index.html", "app.js", "app.css", "pages.js"} <= eager
    total = sum((STATIC / name).stat().st_size for name in eager)
    assert total < 40_000, total  # one full load of the login page
    for f in files:  # a lazily loaded module is fetched whole too
        assert f.stat().st_size < 40_000, f.name
    for f in files:
        text = f.read_text()
        for url in re.findall(r"""(?:href|src)=["']([^"']+)|fetch\(["'`]([^"'`]+)|from ["']([^"']+)"""
                              r"""|import\(["']([^"']+)""", text):
            target = next(u for u in url if u)
            assert not target.startswith(("/", "http:", "https:", "//")), (f.name, target)
        assert "localStorage" not in text and "sessionStorage" not in text
        assert "innerHTML" not in text and "eval(" not in text  # keys and names are user data
        assert not re.search(r"https?://", text), f.name  # no external asset, no telemetry


def test_signer_is_accepted_by_the_server_check() -> None:
    creds = upstream.Credentials("ASIAEXAMPLE", "temp-secret", "the-token")
    now = datetime.now(UTC)
    target, headers = upstream.sign("PUT", "127.0.0.1:9000", "/bucket/a b+c/ü.txt", [("x-id", "1"), ("b", "")],
                                    {"content-type": "text/plain"}, "UNSIGNED-PAYLOAD", creds, "us-east-1", "s3",
                                    now)
    path, _, query = target.partition("?")
    assert path == "/bucket/a%20b%2Bc/%C3%BC.txt" and query == "b=&x-id=1"
    req = SignedRequest("PUT", unquote(path), path, [("x-id", "1"), ("b", "")], headers)
    result = authenticate(req, lambda key: "temp-secret" if key == "ASIAEXAMPLE" else None, now)
    assert result.access_key == "ASIAEXAMPLE"
    assert headers["x-amz-security-token"] == "the-token"
    bad = SignedRequest("PUT", unquote(path), path, [("x-id", "2"), ("b", "")], headers)
    with pytest.raises(S3Error):
        authenticate(bad, lambda key: "temp-secret", now)


def test_request_counts_and_rates() -> None:
    series = {("pails_s3_requests_total", ("GetObject", "200")): 90.0,
              ("pails_s3_requests_total", ("GetObject", "404")): 6.0,
              ("pails_s3_requests_total", ("PutObject", "503")): 4.0,
              ("pails_s3_errors_total", ("NoSuchKey",)): 6.0}
    assert app.request_counts(series) == (100.0, 6.0, 4.0)
    now = 1000.0
    assert app.rates([(now, 100.0, 6.0, 4.0)], now) is None  # one sample: no rate yet
    got = app.rates([(now - 400, 0.0, 0.0, 0.0), (now - 10, 100.0, 6.0, 4.0), (now, 200.0, 8.0, 4.0)], now)
    assert got == {"seconds": 10.0, "requests_per_second": 10.0, "client_error_ratio": 0.02,
                   "server_error_ratio": 0.0}  # the sample older than the window is left out


def test_presigned_share_link_is_accepted_by_the_server_check() -> None:
    creds = upstream.Credentials("ASIAEXAMPLE", "temp-secret", "the-token")
    now = datetime.now(UTC)
    target = upstream.presign_get("localhost:9000", "/bucket/dir/a b.txt", [("versionId", "v1")], creds,
                                  "us-east-1", 600, now)
    path, _, query = target.partition("?")
    params = [(k, unquote(v)) for k, _, v in (p.partition("=") for p in query.split("&"))]
    assert ("X-Amz-Security-Token", "the-token") in params and ("X-Amz-Expires", "600") in params
    req = SignedRequest("GET", unquote(path), path, params, {"host": "localhost:9000"})
    assert authenticate(req, lambda key: "temp-secret", now).access_key == "ASIAEXAMPLE"
    moved = SignedRequest("GET", unquote(path), path, params, {"host": "elsewhere:9000"})
    with pytest.raises(S3Error):
        authenticate(moved, lambda key: "temp-secret", now)


def test_share_host() -> None:
    assert app.share_host("example.com:9001", 9000) == "example.com:9000"
    assert app.share_host("example.com", 9000) == "example.com:9000"
    assert app.share_host("[::1]:9001", 9000) == "[::1]:9000"
    assert app.share_host("", 9000) == "127.0.0.1:9000"


def test_proxy_forwards_only_the_s3_headers_the_pages_need() -> None:
    sent = {"cookie": "pails_console=x", "x-pails-csrf": "t", "content-type": "application/xml",
            "x-amz-bucket-object-lock-enabled": "true", "x-amz-checksum-crc32": "AAAAAA==",
            "x-amz-meta-colour": "blue", "authorization": "AWS4-HMAC-SHA256 forged", "x-amz-security-token": "t",
            "x-amz-date": "20260101T000000Z", "host": "elsewhere"}
    assert app.forwarded(sent) == {"content-type": "application/xml", "x-amz-bucket-object-lock-enabled": "true",
                                   "x-amz-checksum-crc32": "AAAAAA==", "x-amz-meta-colour": "blue"}


def test_proxy_forwards_the_object_pages_headers_and_no_others() -> None:
    sent = {"content-type": "text/plain", "x-amz-meta-owner": "bob", "x-amz-copy-source": "b/k%20x?versionId=1",
            "x-amz-metadata-directive": "REPLACE", "x-amz-tagging-directive": "COPY", "x-amz-storage-class": "STANDARD",
            "x-amz-server-side-encryption": "AES256", "x-amz-bypass-governance-retention": "true",
            "x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-mode": "ENABLED",
            "cookie": "pails_console=secret", "x-pails-csrf": "token", "authorization": "AWS4 forged",
            "x-amz-security-token": "forged", "x-amz-date": "20990101T000000Z", "host": "evil", "origin": "x"}
    got = app.forwarded(sent)
    assert set(got) == {k for k in sent if k.startswith(("content-", "x-amz-meta-", "x-amz-copy", "x-amz-metadata",
                                                          "x-amz-tagging", "x-amz-storage", "x-amz-server-side",
                                                          "x-amz-bypass", "x-amz-checksum"))}
    assert got["x-amz-copy-source"] == sent["x-amz-copy-source"]  # values pass unchanged


def test_proxy_returns_heads_facts_to_the_page() -> None:
    """The S3 port's response headers reach the page (the object page reads HEAD's), hop-by-hop ones aside."""
    head = [("etag", '"abc"'), ("x-amz-version-id", "v1"), ("x-amz-meta-owner", "bob"),
            ("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-object-lock-mode", "GOVERNANCE"),
            ("x-amz-object-lock-legal-hold", "ON"), ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-storage-class", "STANDARD_IA"), ("cache-control", "max-age=60"), ("x-amz-tagging-count", "2"),
            ("connection", "close"), ("transfer-encoding", "chunked"), ("content-length", "17")]
    response = upstream.Response(200, head, 0, False, None, None)  # type: ignore[arg-type] - never read
    assert response.forwardable_headers() == head[:10]


def test_iam_signer_is_accepted_for_the_iam_service() -> None:
    """api/iam signs a form for the service ``iam``: the S3 port's check reads it as an IAM call."""
    from pails.access.authenticate import QUERY_APIS

    creds = upstream.Credentials("ASIAEXAMPLE", "temp-secret", "the-token")
    now = datetime.now(UTC)
    form = b"Action=ListUsers&Version=2010-05-08"
    target, headers = upstream.sign("POST", "127.0.0.1:9000", "/", [],
                                    {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
                                    upstream.body_hash(form), creds, "us-east-1", "iam", now)
    assert target == "/" and "/iam/aws4_request" in headers["authorization"]
    req = SignedRequest("POST", "/", "/", [], headers)
    result = authenticate(req, lambda key: "temp-secret", now, QUERY_APIS, upstream.body_hash(form))
    assert result.service == "iam" and result.access_key == "ASIAEXAMPLE"
    with pytest.raises(S3Error):  # the body is signed: another form is refused
        authenticate(req, lambda key: "temp-secret", now, QUERY_APIS, upstream.body_hash(form + b"&UserName=x"))


def test_admin_api_takes_a_root_session_but_no_other() -> None:
    from pails.admin.api import AdminError, AdminRequest, require_root
    from pails.storage.records import User

    def caller(**fields: object) -> AdminRequest:
        user = User("ASIAEXAMPLE", "s", "c" * 64, "carol", None, 0.0, "123456789012", **fields)  # type: ignore[arg-type]
        return AdminRequest("GET", "/admin/v1/info", {}, {}, b"", user, "r")

    assert require_root(caller()).display_name == "carol"  # a long-term root key
    assert require_root(caller(session_token="t")).session_token == "t"  # its GetSessionToken session
    for other in ({"session_token": "t", "iam_user": "alice"}, {"iam_user": "alice"},
                  {"session_token": "t", "iam_user": "ci", "role_session": "job"},
                  {"session_token": "t", "session_policy": "{}"}):
        with pytest.raises(AdminError):
            require_root(caller(**other))
