"""Website configurations (parse, validate, render) and request routing:
pure functions, no server."""

from __future__ import annotations

import pytest

from pails.errors import S3Error
from pails.website import configuration, routing
from pails.website.pages import error_page

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def _doc(inner: str) -> bytes:
    return f"<WebsiteConfiguration {NS}>{inner}</WebsiteConfiguration>".encode()


def _code(inner: str) -> str:
    with pytest.raises(S3Error) as exc:
        configuration.parse_configuration(_doc(inner))
    return exc.value.code


def test_parse_full_configuration() -> None:
    config = configuration.parse_configuration(_doc(
        "<IndexDocument><Suffix>index.html</Suffix></IndexDocument><ErrorDocument><Key>err.html</Key></ErrorDocument>"
        "<RoutingRules><RoutingRule><Condition><KeyPrefixEquals>a/</KeyPrefixEquals>"
        "<HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals></Condition>"
        "<Redirect><HostName>h</HostName><HttpRedirectCode>307</HttpRedirectCode><Protocol>https</Protocol>"
        "<ReplaceKeyPrefixWith></ReplaceKeyPrefixWith></Redirect></RoutingRule></RoutingRules>"))
    assert config == {"index": "index.html", "error": "err.html", "rules": [
        {"prefix": "a/", "code": 404,
         "redirect": {"host": "h", "code": 307, "protocol": "https", "replace_prefix": ""}}]}
    again = configuration.parse_configuration(configuration.render_configuration(config))
    assert again == config


def test_parse_redirect_all() -> None:
    config = configuration.parse_configuration(_doc(
        "<RedirectAllRequestsTo><HostName>example.com</HostName></RedirectAllRequestsTo>"))
    assert config == {"redirect_all": {"host": "example.com"}}
    assert configuration.parse_configuration(configuration.render_configuration(config)) == config


@pytest.mark.parametrize(("inner", "code"), [
    ("", "InvalidArgument"),
    ("<IndexDocument><Suffix></Suffix></IndexDocument>", "InvalidArgument"),
    ("<IndexDocument><Suffix>a/b</Suffix></IndexDocument>", "InvalidArgument"),
    ("<IndexDocument></IndexDocument>", "MalformedXML"),
    ("<IndexDocument><Suffix>i</Suffix></IndexDocument><IndexDocument><Suffix>i</Suffix></IndexDocument>",
     "MalformedXML"),
    ("<IndexDocument><Suffix>i</Suffix></IndexDocument><Bogus/>", "MalformedXML"),
    ("<IndexDocument><Suffix>i</Suffix></IndexDocument><ErrorDocument></ErrorDocument>", "MalformedXML"),
    ("<RedirectAllRequestsTo><Protocol>http</Protocol></RedirectAllRequestsTo>", "MalformedXML"),
    ("<RedirectAllRequestsTo><HostName>h</HostName><Protocol>ftp</Protocol></RedirectAllRequestsTo>",
     "InvalidRequest"),
    ("<RedirectAllRequestsTo><HostName>h</HostName></RedirectAllRequestsTo>"
     "<IndexDocument><Suffix>i</Suffix></IndexDocument>", "InvalidArgument"),
    ("<IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules></RoutingRules>", "MalformedXML"),
    ("<IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Condition>"
     "<KeyPrefixEquals>a</KeyPrefixEquals></Condition></RoutingRule></RoutingRules>", "MalformedXML"),
    ("<IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Redirect></Redirect>"
     "</RoutingRule></RoutingRules>", "InvalidRequest"),
    ("<IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Condition></Condition>"
     "<Redirect><HostName>h</HostName></Redirect></RoutingRule></RoutingRules>", "InvalidRequest"),
    ("<IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Redirect>"
     "<ReplaceKeyWith>a</ReplaceKeyWith><ReplaceKeyPrefixWith>b</ReplaceKeyPrefixWith></Redirect>"
     "</RoutingRule></RoutingRules>", "InvalidRequest"),
    ("<IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Redirect>"
     "<HttpRedirectCode>300</HttpRedirectCode></Redirect></RoutingRule></RoutingRules>", "InvalidRequest"),
    ("<IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Condition>"
     "<HttpErrorCodeReturnedEquals>200</HttpErrorCodeReturnedEquals></Condition><Redirect><HostName>h</HostName>"
     "</Redirect></RoutingRule></RoutingRules>", "InvalidRequest"),
])
def test_refused_configurations(inner: str, code: str) -> None:
    assert _code(inner) == code


def test_too_many_rules() -> None:
    rule = "<RoutingRule><Redirect><HostName>h</HostName></Redirect></RoutingRule>"
    inner = "<IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules>{}</RoutingRules>"
    assert len(configuration.parse_configuration(_doc(inner.format(rule * 50)))["rules"]) == 50
    assert _code(inner.format(rule * 51)) == "InvalidRequest"


def test_address_by_host() -> None:
    d = "website.localhost"
    assert routing.address("b.website.localhost:9000", "/a/b.html", d) == routing.Site(
        "b", "a/b.html", "http", "b.website.localhost:9000")
    assert routing.address("B.Website.Localhost", "/", d, "https") == routing.Site(
        "b", "", "https", "B.Website.Localhost")
    assert routing.address("website.localhost:9000", "/b/x", d) == routing.Site(
        "b", "x", "http", "website.localhost:9000", "/b")
    assert routing.address("website.localhost", "/b", d) == routing.Redirect(302, "/b/")
    assert routing.address("website.localhost", "/", d) == routing.Site("", "", "http", "website.localhost")
    assert routing.address("localhost:9000", "/b/x", d) is None
    assert routing.address("xwebsite.localhost", "/b/x", d) is None
    assert routing.address("127.0.0.1:9000", "/", d) is None


def test_index_key() -> None:
    config = {"index": "index.html"}
    assert routing.index_key(config, "") == "index.html"
    assert routing.index_key(config, "a/") == "a/index.html"
    assert routing.index_key(config, "a") == "a"


SITE = routing.Site("b", "docs/a b.html", "http", "b.web:9000")


def test_redirect_all() -> None:
    assert routing.redirect_all({"index": "i"}, SITE) is None
    assert routing.redirect_all({"redirect_all": {"host": "x.com"}}, SITE) == routing.Redirect(
        301, "http://x.com/docs/a%20b.html")
    assert routing.redirect_all({"redirect_all": {"host": "x.com", "protocol": "https"}}, SITE).location == \
        "https://x.com/docs/a%20b.html"


def test_rules_match_in_order() -> None:
    rules = [{"prefix": "docs/", "code": 404, "redirect": {"host": "a"}},
             {"prefix": "doc", "redirect": {"host": "b"}},
             {"prefix": "docs/", "redirect": {"host": "c"}},
             {"code": 403, "redirect": {"host": "d"}}]
    config = {"index": "i", "rules": rules}
    assert routing.matching_rule(config, "docs/x", None) is rules[1]  # first without an error code
    assert routing.matching_rule(config, "docs/x", 404) is rules[0]
    assert routing.matching_rule(config, "other", 403) is rules[3]
    assert routing.matching_rule(config, "other", None) is None
    assert routing.matching_rule(config, "other", 404) is None


def test_rule_redirects() -> None:
    def loc(rule: dict, site: routing.Site = SITE) -> routing.Redirect:
        return routing.rule_redirect(rule, site)

    assert loc({"prefix": "docs/", "redirect": {"replace_prefix": "documents/"}}) == routing.Redirect(
        301, "http://b.web:9000/documents/a%20b.html")
    assert loc({"prefix": "docs/", "redirect": {"replace_prefix": ""}}).location == "http://b.web:9000/a%20b.html"
    assert loc({"redirect": {"replace_prefix": "x/"}}).location == "http://b.web:9000/x/docs/a%20b.html"
    assert loc({"redirect": {"replace_key": "err.html", "code": 302}}) == routing.Redirect(
        302, "http://b.web:9000/err.html")
    assert loc({"redirect": {"host": "h.example", "protocol": "https"}}).location == \
        "https://h.example/docs/a%20b.html"
    path_style = routing.Site("b", "docs/x", "http", "web:9000", "/b")
    assert loc({"redirect": {"protocol": "https"}}, path_style).location == "https://web:9000/b/docs/x"
    assert loc({"redirect": {"host": "h"}}, path_style).location == "http://h/docs/x"
    assert routing.directory_redirect(path_style) == routing.Redirect(302, "/b/docs/x/")


def test_error_page_is_html() -> None:
    page = error_page(S3Error("NoSuchKey", Key="<a>"), "RID", S3Error("AccessDenied")).decode()
    assert page.startswith("<html>") and "<title>404 Not Found</title>" in page
    assert "<li>Key: &lt;a&gt;</li>" in page and "<li>RequestId: RID</li>" in page
    assert "Custom Error Document" in page and "<li>Code: AccessDenied</li>" in page
