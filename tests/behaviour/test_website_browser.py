"""Static websites in a real browser: headless Chromium (driven by
Playwright) opens ``http://BUCKET.website.localhost:PORT/`` (Chromium
resolves every ``*.localhost`` to the loopback address) and follows what
Pails answers: index documents, the ``dir`` -> ``dir/`` redirect, the
custom error page, a routing rule and RedirectAllRequestsTo to another site.

Needs Debian's ``chromium`` and the ``playwright`` package (test extras);
skipped, with the reason, without them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.behaviour.test_cors_browser import browser  # noqa: F401 - the fixture
from tests.behaviour.test_website import DOMAIN, _public_policy, s3w, web_server  # noqa: F401 - fixtures
from tests.pails_server import Server

HOME = b"<!doctype html><html><head><title>Home</title></head><body><a id='docs' href='docs'>docs</a></body></html>"
DOCS = b"<!doctype html><html><head><title>Docs</title></head><body><a id='up' href='../'>home</a></body></html>"
ERROR = b"<!doctype html><html><head><title>Not here</title></head><body>custom 404</body></html>"
NEW = b"<!doctype html><html><head><title>New page</title></head><body>moved here</body></html>"


def _make_site(s3w, name: str, website: dict, pages: dict[str, bytes]) -> None:  # noqa: F811
    s3w.create_bucket(Bucket=name)
    s3w.put_bucket_policy(Bucket=name, Policy=_public_policy(name))
    for key, body in pages.items():
        s3w.put_object(Bucket=name, Key=key, Body=body, ContentType="text/html")
    s3w.put_bucket_website(Bucket=name, WebsiteConfiguration=website)


def _drop_site(s3w, name: str) -> None:  # noqa: F811
    for o in s3w.list_objects_v2(Bucket=name).get("Contents", []):
        s3w.delete_object(Bucket=name, Key=o["Key"])
    s3w.delete_bucket(Bucket=name)


@pytest.fixture
def sites(s3w) -> Iterator[tuple[str, str]]:  # noqa: F811
    main, other = f"web-{uuid.uuid4().hex[:10]}", f"old-{uuid.uuid4().hex[:10]}"
    _make_site(s3w, main, {
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"},
        "RoutingRules": [{"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "new/"}}],
    }, {"index.html": HOME, "docs/index.html": DOCS, "404.html": ERROR, "new/page.html": NEW})
    yield main, other
    _drop_site(s3w, main)
    try:
        _drop_site(s3w, other)
    except Exception:  # noqa: BLE001 - a test that failed before creating it
        pass


def test_site_in_chromium(browser, web_server: Server, s3w, sites: tuple[str, str]) -> None:  # noqa: F811
    main, other = sites
    base = f"http://{main}.{DOMAIN}:{web_server.port}"
    page = browser.new_page()
    try:
        response = page.goto(base + "/")
        assert response.status == 200 and page.title() == "Home"
        page.click("#docs")  # href="docs": the 302 to docs/, then docs/index.html
        page.wait_for_url(base + "/docs/")
        assert page.title() == "Docs"
        page.click("#up")
        page.wait_for_url(base + "/")
        assert page.title() == "Home"
        response = page.goto(base + "/no/such/page.html")
        assert response.status == 404 and page.title() == "Not here"
        response = page.goto(base + "/old/page.html")  # the routing rule's 301 to new/page.html
        assert response.status == 200 and page.url == base + "/new/page.html" and page.title() == "New page"
        # a site that redirects every request to the main one, keeping the path
        _make_site(s3w, other, {"RedirectAllRequestsTo": {"HostName": f"{main}.{DOMAIN}:{web_server.port}"}}, {})
        response = page.goto(f"http://{other}.{DOMAIN}:{web_server.port}/new/page.html")
        assert response.status == 200 and page.url == base + "/new/page.html"
        # the path-style form, without a virtual host
        response = page.goto(f"http://{DOMAIN}:{web_server.port}/{main}")
        assert response.status == 200 and page.url.endswith(f"/{main}/") and page.title() == "Home"
        # a built-in error page is HTML the browser shows, not XML
        response = page.goto(f"http://{DOMAIN}:{web_server.port}/no-such-site-bucket/")
        assert response.status == 404
        assert "NoSuchBucket" in page.inner_text("body")
    finally:
        page.close()
