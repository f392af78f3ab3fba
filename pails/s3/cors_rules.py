"""Bucket CORS configurations: parse (with AWS's validation), render, and
decide which rule, if any, allows a cross-origin request.  Pure: no I/O.

A configuration is stored in the bucket's properties (``props["cors"]``) in
the record form below; ``rules_of`` turns the properties text into compiled
rules once per text (the bucket record is cached, so the text is too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import Element

from pails.errors import S3Error
from pails.protocol import xml

BUCKET_PROP = "cors"
MARK = '"cors"'  # in a bucket's props text whenever it has a configuration: a test that spares the JSON parse
MAX_RULES = 100
MAX_ID = 255
MAX_AGE = 2**31 - 1
METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
               "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
               "whitelisted by the resource's CORS spec.")
NO_ORIGIN = "Insufficient information. Origin request header needed."

_VALUES = ("AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader")
_SINGLE = ("ID", "MaxAgeSeconds")
# record key of each repeated element
_KEYS = {"AllowedOrigin": "origins", "AllowedMethod": "methods", "AllowedHeader": "headers",
         "ExposeHeader": "expose"}

Record = dict[str, Any]


# --- parsing (pure) -------------------------------------------------------------------------------------------------

def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def _value(el: Element) -> str:
    """An element holding text only (whitespace kept, as AWS keeps it)."""
    if len(el):
        raise S3Error("MalformedXML")
    return el.text or ""


def _max_age(text: str) -> int:
    raw = text.strip()
    if not raw.isdigit() or not raw.isascii():
        raise S3Error("MalformedXML")
    value = int(raw)
    if value > MAX_AGE:
        raise S3Error("MalformedXML")
    return value


def _rule(el: Element) -> Record:
    if not _blank(el.text):
        raise S3Error("MalformedXML")
    rule: Record = {}
    for child in el:
        if not _blank(child.tail):
            raise S3Error("MalformedXML")
        tag = child.tag
        if tag in _VALUES:
            rule.setdefault(_KEYS[tag], []).append(_value(child))
        elif tag in _SINGLE:
            key = "id" if tag == "ID" else "max_age"
            if key in rule:
                raise S3Error("MalformedXML")
            text = _value(child)
            if tag == "ID":
                if len(text) > MAX_ID:
                    raise S3Error("MalformedXML")
                rule["id"] = text
            else:
                rule["max_age"] = _max_age(text)
        else:
            raise S3Error("MalformedXML")
    if not rule.get("origins") or not rule.get("methods"):
        raise S3Error("MalformedXML")
    return rule


def _check_values(rule: Record) -> None:
    """AWS's InvalidRequest checks, in its order: methods, origins, allowed headers, exposed headers."""
    for method in rule["methods"]:
        if method not in METHODS:
            raise S3Error("InvalidRequest", f"Found unsupported HTTP method in CORS config. Unsupported method is "
                                            f"{method}")
    for origin in rule["origins"]:
        if origin.count("*") > 1:
            raise S3Error("InvalidRequest", f'AllowedOrigin "{origin}" can not have more than one wildcard.')
    for header in rule.get("headers", ()):
        if header.count("*") > 1:
            raise S3Error("InvalidRequest", f'AllowedHeader "{header}" can not have more than one wildcard.')
    for header in rule.get("expose", ()):
        if "*" in header:
            raise S3Error("InvalidRequest", f'ExposeHeader "{header}" contains wildcard. We currently do not '
                                            f'support wildcard for ExposeHeader.')


def parse_configuration(body: bytes) -> list[Record]:
    """A PutBucketCors body as records.  The document's structure is checked
    whole first (MalformedXML), then each rule's values (InvalidRequest)."""
    root = xml.parse(body)
    if root.tag != "CORSConfiguration" or not _blank(root.text):
        raise S3Error("MalformedXML")
    rules = []
    for child in root:
        if child.tag != "CORSRule" or not _blank(child.tail):
            raise S3Error("MalformedXML")
        rules.append(_rule(child))
    if not 1 <= len(rules) <= MAX_RULES:
        raise S3Error("MalformedXML")
    for rule in rules:
        _check_values(rule)
    return rules


def render_configuration(rules: list[Record]) -> bytes:
    """GetBucketCors: each rule's elements in the order AWS returns them."""
    parts = []
    for rule in rules:
        inner = [xml.element("ID", rule["id"])] if "id" in rule else []
        inner += [xml.element("AllowedMethod", m) for m in rule["methods"]]
        inner += [xml.element("AllowedOrigin", o) for o in rule["origins"]]
        inner += [xml.element("AllowedHeader", h) for h in rule.get("headers", ())]
        if "max_age" in rule:
            inner.append(xml.element("MaxAgeSeconds", rule["max_age"]))
        inner += [xml.element("ExposeHeader", h) for h in rule.get("expose", ())]
        parts.append("<CORSRule>" + "".join(inner) + "</CORSRule>")
    return xml.document_of("CORSConfiguration", parts)


# --- matching (pure) ------------------------------------------------------------------------------------------------

class _Pattern:
    """An AllowedOrigin or AllowedHeader: exact, or with one ``*`` standing
    for any text (the text around it never overlaps in the value)."""

    __slots__ = ("exact", "prefix", "suffix")

    def __init__(self, text: str) -> None:
        star = text.find("*")
        self.exact: str | None = text if star < 0 else None
        self.prefix = text[:star] if star >= 0 else ""
        self.suffix = text[star + 1:] if star >= 0 else ""

    def matches(self, value: str) -> bool:
        if self.exact is not None:
            return value == self.exact
        return (len(value) >= len(self.prefix) + len(self.suffix) and value.startswith(self.prefix)
                and value.endswith(self.suffix))


@dataclass(frozen=True, slots=True)
class Rule:
    origins: tuple[_Pattern, ...]
    any_origin: bool  # one AllowedOrigin is "*": the response allows "*", without credentials
    methods: frozenset[str]
    headers: tuple[_Pattern, ...]  # lower-cased: header names compare without case
    # the response headers this rule adds to every answer it allows (after the origin)
    allow_methods: str
    extra: tuple[tuple[str, str], ...]  # Access-Control-Expose-Headers, -Max-Age

    def allows(self, origin: str, method: str, request_headers: list[str] | None) -> bool:
        if method not in self.methods:
            return False
        if not self.any_origin and not any(p.matches(origin) for p in self.origins):
            return False
        if request_headers:
            return all(any(p.matches(h) for p in self.headers) for h in request_headers)
        return True

    def headers_for(self, origin: str) -> list[tuple[str, str]]:
        out = [("Access-Control-Allow-Origin", "*" if self.any_origin else origin),
               ("Access-Control-Allow-Methods", self.allow_methods)]
        out += self.extra
        if not self.any_origin:
            out.append(("Access-Control-Allow-Credentials", "true"))
        out.append(("Vary", VARY))
        return out


def compile_rules(records: list[Record]) -> tuple[Rule, ...]:
    rules = []
    for r in records:
        extra = []
        if r.get("expose"):
            extra.append(("Access-Control-Expose-Headers", ", ".join(r["expose"])))
        if "max_age" in r:
            extra.append(("Access-Control-Max-Age", str(r["max_age"])))
        rules.append(Rule(
            origins=tuple(_Pattern(o) for o in r["origins"]), any_origin="*" in r["origins"],
            methods=frozenset(r["methods"]), headers=tuple(_Pattern(h.strip().lower()) for h in r.get("headers", ())),
            allow_methods=", ".join(r["methods"]), extra=tuple(extra)))
    return tuple(rules)


def match(rules: tuple[Rule, ...], origin: str, method: str, request_headers: list[str] | None = None) -> Rule | None:
    """The first rule that allows the origin, the method and (a preflight) every requested header."""
    for rule in rules:
        if rule.allows(origin, method, request_headers):
            return rule
    return None


def requested_headers(value: str | None) -> list[str]:
    """Access-Control-Request-Headers as lower-case names."""
    if not value:
        return []
    return [h for h in (part.strip().lower() for part in value.split(",")) if h]


def preflight_headers(rules: tuple[Rule, ...] | None, origin: str | None, method: str | None,
                      request_headers: str | None, resource_type: str) -> list[tuple[str, str]]:
    """The answer to an OPTIONS preflight, or the S3Error AWS gives instead.
    ``rules`` is None for a bucket without a configuration."""
    if not origin:
        raise S3Error("BadRequest", NO_ORIGIN)
    if method not in METHODS:
        raise S3Error("BadRequest", f"Invalid Access-Control-Request-Method: {'null' if method is None else method}")
    if rules is None:
        raise S3Error("AccessForbidden", NOT_ENABLED, Method=method, ResourceType=resource_type)
    names = requested_headers(request_headers)
    rule = match(rules, origin, method, names)
    if rule is None:
        raise S3Error("AccessForbidden", NOT_ALLOWED, Method=method, ResourceType=resource_type)
    out = rule.headers_for(origin)
    if names:
        out.insert(2, ("Access-Control-Allow-Headers", ", ".join(names)))
    return out


def response_headers(rules: tuple[Rule, ...], origin: str, method: str) -> list[tuple[str, str]]:
    """The CORS headers of an actual (not preflight) response: those of the
    first rule that allows the origin and the method; none otherwise."""
    rule = match(rules, origin, method)
    return rule.headers_for(origin) if rule is not None else []


@lru_cache(maxsize=1024)
def rules_of(props: str) -> tuple[Rule, ...] | None:
    """A bucket's compiled rules from its properties text (None: no configuration)."""
    records = json.loads(props).get(BUCKET_PROP)
    return compile_rules(records) if records else None
