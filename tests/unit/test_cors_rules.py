"""The bucket CORS configuration parser, renderer and matcher (pails.s3.cors_rules),
with the examples of AWS's documentation (PutBucketCors, "Elements of a CORS
configuration") and the behaviour ceph/s3-tests checks."""

from __future__ import annotations

import pytest

from pails.errors import S3Error
from pails.s3 import cors_rules as cr

# The PutBucketCors example of the Amazon S3 API reference.
AWS_EXAMPLE = b"""<CORSConfiguration>
 <CORSRule>
   <AllowedOrigin>http://www.example.com</AllowedOrigin>

   <AllowedMethod>PUT</AllowedMethod>
   <AllowedMethod>POST</AllowedMethod>
   <AllowedMethod>DELETE</AllowedMethod>

   <AllowedHeader>*</AllowedHeader>

  <MaxAgeSeconds>3000</MaxAgeSeconds>
  <ExposeHeader>x-amz-server-side-encryption</ExposeHeader>
  <ExposeHeader>x-amz-request-id</ExposeHeader>
  <ExposeHeader>x-amz-id-2</ExposeHeader>
 </CORSRule>
 <CORSRule>
   <AllowedOrigin>*</AllowedOrigin>
   <AllowedMethod>GET</AllowedMethod>
 </CORSRule>
</CORSConfiguration>"""

# The user guide's example: one rule per site, then everyone may GET.
GUIDE_EXAMPLE = b"""<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
 <CORSRule>
   <AllowedOrigin>http://www.example1.com</AllowedOrigin>
   <AllowedMethod>PUT</AllowedMethod>
   <AllowedMethod>POST</AllowedMethod>
   <AllowedMethod>DELETE</AllowedMethod>
   <AllowedHeader>*</AllowedHeader>
 </CORSRule>
 <CORSRule>
   <AllowedOrigin>http://www.example2.com</AllowedOrigin>
   <AllowedMethod>PUT</AllowedMethod>
   <AllowedMethod>POST</AllowedMethod>
   <AllowedMethod>DELETE</AllowedMethod>
   <AllowedHeader>*</AllowedHeader>
 </CORSRule>
 <CORSRule>
   <AllowedOrigin>*</AllowedOrigin>
   <AllowedMethod>GET</AllowedMethod>
 </CORSRule>
</CORSConfiguration>"""

ORIGIN = "<AllowedOrigin>https://example.com</AllowedOrigin>"
METHOD = "<AllowedMethod>GET</AllowedMethod>"
MINIMAL = ORIGIN + METHOD


def _doc(*rules: str) -> bytes:
    return ("<CORSConfiguration>" + "".join(f"<CORSRule>{r}</CORSRule>" for r in rules)
            + "</CORSConfiguration>").encode()


def _error(body: bytes) -> S3Error:
    with pytest.raises(S3Error) as e:
        cr.parse_configuration(body)
    return e.value


def _rules(body: bytes) -> tuple[cr.Rule, ...]:
    return cr.compile_rules(cr.parse_configuration(body))


# --- parsing ----------------------------------------------------------------------------------------------------------

def test_aws_example_parses() -> None:
    assert cr.parse_configuration(AWS_EXAMPLE) == [
        {"origins": ["http://www.example.com"], "methods": ["PUT", "POST", "DELETE"], "headers": ["*"],
         "max_age": 3000, "expose": ["x-amz-server-side-encryption", "x-amz-request-id", "x-amz-id-2"]},
        {"origins": ["*"], "methods": ["GET"]},
    ]


def test_render_in_aws_order_and_round_trip() -> None:
    records = cr.parse_configuration(_doc("<MaxAgeSeconds>5</MaxAgeSeconds><ExposeHeader>ETag</ExposeHeader>"
                                          "<AllowedHeader>x-amz-*</AllowedHeader>" + ORIGIN + METHOD
                                          + "<ID>r&amp;1</ID>"))
    body = cr.render_configuration(records)
    assert body.endswith(
        b'<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule><ID>r&amp;1</ID>'
        b"<AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://example.com</AllowedOrigin>"
        b"<AllowedHeader>x-amz-*</AllowedHeader><MaxAgeSeconds>5</MaxAgeSeconds>"
        b"<ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>")
    assert cr.parse_configuration(body) == records
    assert cr.parse_configuration(cr.render_configuration(cr.parse_configuration(GUIDE_EXAMPLE))) == \
        cr.parse_configuration(GUIDE_EXAMPLE)


@pytest.mark.parametrize("rule", [
    MINIMAL + "<MaxAgeSeconds>0</MaxAgeSeconds>",
    MINIMAL + "<MaxAgeSeconds>2147483647</MaxAgeSeconds>",
    MINIMAL + "<ID>" + "a" * 255 + "</ID>",
    MINIMAL + "<ID/>",
    "<AllowedOrigin>*</AllowedOrigin><AllowedOrigin>https://*.example.com</AllowedOrigin>" + METHOD,
    MINIMAL + "<AllowedHeader>*</AllowedHeader><AllowedHeader>x-*-id</AllowedHeader>",
    "<AllowedMethod>HEAD</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedMethod>DELETE</AllowedMethod>"
    + ORIGIN,
])
def test_accepted(rule: str) -> None:
    assert len(cr.parse_configuration(_doc(rule))) == 1


def test_hundred_rules_accepted_hundred_and_one_refused() -> None:
    assert len(cr.parse_configuration(_doc(*[MINIMAL] * 100))) == 100
    assert _error(_doc(*[MINIMAL] * 101)).code == "MalformedXML"


@pytest.mark.parametrize("body", [
    b"", b"not xml", b"<CORSConfiguration/>", _doc(),
    b"<corsconfiguration><CORSRule>" + MINIMAL.encode() + b"</CORSRule></corsconfiguration>",
    b"<CORSConfiguration><Rule>" + MINIMAL.encode() + b"</Rule></CORSConfiguration>",
    b"<CORSConfiguration>" + MINIMAL.encode() + b"</CORSConfiguration>",
    b"<CORSConfiguration>text<CORSRule>" + MINIMAL.encode() + b"</CORSRule></CORSConfiguration>",
    _doc(""), _doc(METHOD), _doc(ORIGIN), _doc(MINIMAL, METHOD),
    _doc(MINIMAL + "text"), _doc(MINIMAL + "<AllowedHeaders>*</AllowedHeaders>"),
    _doc("<AllowedOrigin><Origin>*</Origin></AllowedOrigin>" + METHOD),
    _doc(MINIMAL + "<MaxAgeSeconds></MaxAgeSeconds>"), _doc(MINIMAL + "<MaxAgeSeconds>-1</MaxAgeSeconds>"),
    _doc(MINIMAL + "<MaxAgeSeconds>1.5</MaxAgeSeconds>"), _doc(MINIMAL + "<MaxAgeSeconds>2147483648</MaxAgeSeconds>"),
    _doc(MINIMAL + "<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>1</MaxAgeSeconds>"),
    _doc(MINIMAL + "<ID>" + "a" * 256 + "</ID>"), _doc(MINIMAL + "<ID>a</ID><ID>b</ID>"),
    b"<!DOCTYPE CORSConfiguration>" + _doc(MINIMAL),
])
def test_malformed(body: bytes) -> None:
    assert _error(body).code == "MalformedXML"


@pytest.mark.parametrize("rule,message", [
    (ORIGIN + "<AllowedMethod>PATCH</AllowedMethod>",
     "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
    (ORIGIN + "<AllowedMethod>get</AllowedMethod>",
     "Found unsupported HTTP method in CORS config. Unsupported method is get"),
    (ORIGIN + "<AllowedMethod>OPTIONS</AllowedMethod>",
     "Found unsupported HTTP method in CORS config. Unsupported method is OPTIONS"),
    ("<AllowedOrigin>https://*.example.*</AllowedOrigin>" + METHOD,
     'AllowedOrigin "https://*.example.*" can not have more than one wildcard.'),
    (MINIMAL + "<AllowedHeader>x-*-meta-*</AllowedHeader>",
     'AllowedHeader "x-*-meta-*" can not have more than one wildcard.'),
    (MINIMAL + "<ExposeHeader>x-amz-*</ExposeHeader>",
     'ExposeHeader "x-amz-*" contains wildcard. We currently do not support wildcard for ExposeHeader.'),
    # methods are checked before origins, origins before headers
    ("<AllowedOrigin>*.*</AllowedOrigin><AllowedMethod>PUTS</AllowedMethod><AllowedHeader>**</AllowedHeader>",
     "Found unsupported HTTP method in CORS config. Unsupported method is PUTS"),
    ("<AllowedOrigin>*.*</AllowedOrigin>" + METHOD + "<AllowedHeader>**</AllowedHeader>",
     'AllowedOrigin "*.*" can not have more than one wildcard.'),
])
def test_invalid_request(rule: str, message: str) -> None:
    err = _error(_doc(MINIMAL, rule))
    assert (err.code, err.status, err.message) == ("InvalidRequest", 400, message)


def test_structure_is_checked_before_values() -> None:
    assert _error(_doc(ORIGIN + "<AllowedMethod>PATCH</AllowedMethod>", ORIGIN)).code == "MalformedXML"


# --- matching ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern,origin,matches", [
    ("*", "https://example.com", True),
    ("https://example.com", "https://example.com", True),
    ("https://example.com", "http://example.com", False),
    ("https://example.com", "https://EXAMPLE.com", False),
    ("https://*.example.com", "https://www.example.com", True),
    ("https://*.example.com", "https://example.com", False),
    ("http://localhost:*", "http://localhost:5173", True),
    # ceph/s3-tests test_cors_origin_response
    ("*suffix", "foo.suffix", True), ("*suffix", "foo.suffix.get", False),
    ("start*end", "startend", True), ("start*end", "start12end", True), ("start*end", "0start12end", False),
    ("prefix*", "prefix", True), ("prefix*", "prefix.suffix", True), ("prefix*", "bla.prefix", False),
    ("a*a", "a", False), ("a*a", "aa", True),
])
def test_origin_patterns(pattern: str, origin: str, matches: bool) -> None:
    rules = _rules(_doc(f"<AllowedOrigin>{pattern}</AllowedOrigin>" + METHOD))
    assert (cr.match(rules, origin, "GET") is not None) == matches


@pytest.mark.parametrize("allowed,requested,matches", [
    ([], [], True),
    ([], ["content-type"], False),
    (["Content-Type"], ["content-type"], True),
    (["content-type"], ["content-type", "x-amz-date"], False),
    (["x-amz-*"], ["x-amz-date", "x-amz-content-sha256"], True),
    (["x-amz-*"], ["x-amzn-trace-id"], False),
    (["*"], ["content-type", "authorization", "x-custom"], True),
])
def test_allowed_headers(allowed: list[str], requested: list[str], matches: bool) -> None:
    rules = _rules(_doc(MINIMAL + "".join(f"<AllowedHeader>{h}</AllowedHeader>" for h in allowed)))
    assert (cr.match(rules, "https://example.com", "GET", requested) is not None) == matches


def test_first_matching_rule_wins_aws_guide() -> None:
    rules = _rules(GUIDE_EXAMPLE)
    assert cr.response_headers(rules, "http://www.example2.com", "PUT") == [
        ("Access-Control-Allow-Origin", "http://www.example2.com"),
        ("Access-Control-Allow-Methods", "PUT, POST, DELETE"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Vary", cr.VARY)]
    # the example2 site's GET falls through to the last rule: anyone may GET
    assert cr.response_headers(rules, "http://www.example2.com", "GET") == [
        ("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Methods", "GET"), ("Vary", cr.VARY)]
    assert cr.response_headers(rules, "http://www.example3.com", "PUT") == []


def test_preflight_headers_aws_example() -> None:
    rules = _rules(AWS_EXAMPLE)
    assert cr.preflight_headers(rules, "http://www.example.com", "PUT", "Content-Type, X-Amz-Date", "OBJECT") == [
        ("Access-Control-Allow-Origin", "http://www.example.com"),
        ("Access-Control-Allow-Methods", "PUT, POST, DELETE"),
        ("Access-Control-Allow-Headers", "content-type, x-amz-date"),
        ("Access-Control-Expose-Headers", "x-amz-server-side-encryption, x-amz-request-id, x-amz-id-2"),
        ("Access-Control-Max-Age", "3000"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Vary", cr.VARY)]
    # a header the matching "*" rule does not allow: refused
    with pytest.raises(S3Error) as e:
        cr.preflight_headers(rules, "http://other.example", "GET", "x-amz-date", "BUCKET")
    assert (e.value.code, e.value.status, e.value.message) == ("AccessForbidden", 403, cr.NOT_ALLOWED)
    assert e.value.extra == {"Method": "GET", "ResourceType": "BUCKET"}


@pytest.mark.parametrize("origin,method,message", [
    (None, "GET", cr.NO_ORIGIN), ("", "GET", cr.NO_ORIGIN), (None, None, cr.NO_ORIGIN),
    ("https://example.com", None, "Invalid Access-Control-Request-Method: null"),
    ("https://example.com", "PATCH", "Invalid Access-Control-Request-Method: PATCH"),
    ("https://example.com", "get", "Invalid Access-Control-Request-Method: get"),
])
def test_preflight_bad_request(origin: str | None, method: str | None, message: str) -> None:
    with pytest.raises(S3Error) as e:
        cr.preflight_headers(_rules(AWS_EXAMPLE), origin, method, None, "OBJECT")
    assert (e.value.code, e.value.status, e.value.message) == ("BadRequest", 400, message)


def test_preflight_without_configuration() -> None:
    with pytest.raises(S3Error) as e:
        cr.preflight_headers(None, "https://example.com", "GET", None, "OBJECT")
    assert (e.value.code, e.value.message) == ("AccessForbidden", cr.NOT_ENABLED)


def test_rules_of_bucket_props() -> None:
    assert cr.rules_of('{"policy": "{}"}') is None
    props = '{"cors": [{"origins": ["*"], "methods": ["GET"]}]}'
    assert cr.MARK in props
    rules = cr.rules_of(props)
    assert rules is not None and cr.rules_of(props) is rules  # compiled once per properties text
