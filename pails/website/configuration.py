"""Bucket website configurations: parse (with AWS's validation) and render.
Pure: no I/O.

A configuration is stored in the bucket's properties (``props["website"]``)
in this record form::

    {"index": "index.html", "error": "error.html",             # IndexDocument Suffix, ErrorDocument Key
     "redirect_all": {"host": "example.com", "protocol": "https"},   # RedirectAllRequestsTo
     "rules": [{"prefix": "docs/", "code": 404,                 # Condition (either may be absent)
                "redirect": {"host": ..., "protocol": ..., "code": 301,
                             "replace_prefix": ..., "replace_key": ...}}]}

Absent elements are absent keys; an empty ``ReplaceKeyPrefixWith`` is kept
as "" (it removes the matched prefix), unlike an absent one.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

from pails.errors import S3Error
from pails.protocol import xml

BUCKET_PROP = "website"
MARK = '"website"'  # in a bucket's props text whenever it has a configuration
MAX_RULES = 50  # AWS: "up to 50 routing rules"
PROTOCOLS = ("http", "https")

Record = dict[str, Any]

_TOP = ("IndexDocument", "ErrorDocument", "RedirectAllRequestsTo", "RoutingRules")
_REDIRECT_FIELDS = {"HostName": "host", "Protocol": "protocol", "HttpRedirectCode": "code",
                    "ReplaceKeyPrefixWith": "replace_prefix", "ReplaceKeyWith": "replace_key"}
_CONDITION_FIELDS = {"KeyPrefixEquals": "prefix", "HttpErrorCodeReturnedEquals": "code"}


def _children(el: Element, allowed: tuple[str, ...] | dict[str, str]) -> dict[str, Element]:
    """The element's children by name: each known one at most once, nothing else."""
    out: dict[str, Element] = {}
    for child in el:
        if child.tag not in allowed or child.tag in out:
            raise S3Error("MalformedXML")
        out[child.tag] = child
    return out


def _text(el: Element) -> str:
    if len(el):
        raise S3Error("MalformedXML")
    return (el.text or "").strip()


def _invalid_request(message: str) -> S3Error:
    return S3Error("InvalidRequest", message)


def _protocol(text: str) -> str:
    if text not in PROTOCOLS:
        raise S3Error("InvalidRequest", "Invalid protocol, protocol can be http or https. If not defined the "
                                        "protocol will be selected automatically.")
    return text


def _index(el: Element) -> str:
    parts = _children(el, ("Suffix",))
    if "Suffix" not in parts:
        raise S3Error("MalformedXML")
    suffix = _text(parts["Suffix"])
    if not suffix or "/" in suffix:
        raise S3Error("InvalidArgument", "The IndexDocument Suffix is not well formed",
                      ArgumentName="IndexDocument", ArgumentValue=suffix)
    return suffix


def _error_document(el: Element) -> str:
    parts = _children(el, ("Key",))
    if "Key" not in parts:
        raise S3Error("MalformedXML")
    key = _text(parts["Key"])
    if not key:
        raise S3Error("InvalidArgument", "The ErrorDocument Key is not well formed",
                      ArgumentName="ErrorDocument", ArgumentValue=key)
    return key


def _redirect_all(el: Element) -> Record:
    parts = _children(el, ("HostName", "Protocol"))
    if "HostName" not in parts or not _text(parts["HostName"]):
        raise S3Error("MalformedXML")
    out: Record = {"host": _text(parts["HostName"])}
    if "Protocol" in parts:
        out["protocol"] = _protocol(_text(parts["Protocol"]))
    return out


def _code(text: str, redirect: bool) -> int:
    value = int(text) if text.isdigit() and text.isascii() and len(text) == 3 else -1
    if redirect and not (300 < value < 400):
        raise _invalid_request(f"The provided HTTP redirect code ({text}) is not valid. Valid codes are 3XX "
                               "except 300.")
    if not redirect and not (400 <= value < 600):
        raise _invalid_request(f"The provided HTTP error code ({text}) is not valid. Valid codes are 4XX or 5XX.")
    return value


def _rule(el: Element) -> Record:
    parts = _children(el, ("Condition", "Redirect"))
    if "Redirect" not in parts:
        raise S3Error("MalformedXML")
    rule: Record = {}
    if "Condition" in parts:
        cond = _children(parts["Condition"], _CONDITION_FIELDS)
        if not cond:
            raise _invalid_request("Condition cannot be empty. To redirect all requests without a condition, the "
                                   "condition element shouldn't be present.")
        if "KeyPrefixEquals" in cond:
            rule["prefix"] = _text(cond["KeyPrefixEquals"])
        if "HttpErrorCodeReturnedEquals" in cond:
            rule["code"] = _code(_text(cond["HttpErrorCodeReturnedEquals"]), redirect=False)
    fields = _children(parts["Redirect"], _REDIRECT_FIELDS)
    if not fields:
        raise _invalid_request("Redirect cannot be empty. It must contain at least one of the following: "
                               "HostName, Protocol, HttpRedirectCode, ReplaceKeyPrefixWith, ReplaceKeyWith.")
    if "ReplaceKeyPrefixWith" in fields and "ReplaceKeyWith" in fields:
        raise _invalid_request("You can only define ReplaceKeyPrefix or ReplaceKey but not both.")
    redirect: Record = {}
    for name, child in fields.items():
        value: Any = _text(child)
        if name == "Protocol":
            value = _protocol(value)
        elif name == "HttpRedirectCode":
            value = _code(value, redirect=True)
        elif name == "HostName" and not value:
            raise _invalid_request("The HostName of a Redirect cannot be empty.")
        redirect[_REDIRECT_FIELDS[name]] = value
    rule["redirect"] = redirect
    return rule


def parse_configuration(body: bytes) -> Record:
    """The record form of a ``WebsiteConfiguration`` document; S3Error
    MalformedXML / InvalidArgument / InvalidRequest as AWS answers."""
    root = xml.parse(body)
    if root.tag != "WebsiteConfiguration":
        raise S3Error("MalformedXML")
    parts = _children(root, _TOP)
    if "RedirectAllRequestsTo" in parts:
        if len(parts) > 1:
            raise S3Error("InvalidArgument", "RedirectAllRequestsTo cannot be provided in conjunction with other "
                                             "Routing Rules.", ArgumentName="RedirectAllRequestsTo",
                          ArgumentValue="not null")
        return {"redirect_all": _redirect_all(parts["RedirectAllRequestsTo"])}
    if "IndexDocument" not in parts:
        raise S3Error("InvalidArgument", "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo "
                                         "is empty", ArgumentName="IndexDocument", ArgumentValue="null")
    config: Record = {"index": _index(parts["IndexDocument"])}
    if "ErrorDocument" in parts:
        config["error"] = _error_document(parts["ErrorDocument"])
    if "RoutingRules" in parts:
        rules = list(parts["RoutingRules"])
        if not rules or any(r.tag != "RoutingRule" for r in rules):
            raise S3Error("MalformedXML")
        if len(rules) > MAX_RULES:
            raise _invalid_request(f"The number of routing rules must not exceed {MAX_RULES}.")
        config["rules"] = [_rule(r) for r in rules]
    return config


def render_configuration(config: Record) -> bytes:
    """GetBucketWebsite's document for a stored configuration."""
    parts: list[str] = []
    if "redirect_all" in config:
        r = config["redirect_all"]
        parts.append("<RedirectAllRequestsTo>" + xml.element("HostName", r["host"])
                     + xml.element("Protocol", r.get("protocol")) + "</RedirectAllRequestsTo>")
    if "index" in config:
        parts.append("<IndexDocument>" + xml.element("Suffix", config["index"]) + "</IndexDocument>")
    if "error" in config:
        parts.append("<ErrorDocument>" + xml.element("Key", config["error"]) + "</ErrorDocument>")
    if config.get("rules"):
        parts.append("<RoutingRules>")
        for rule in config["rules"]:
            parts.append("<RoutingRule>")
            if "prefix" in rule or "code" in rule:
                parts.append("<Condition>" + xml.element("HttpErrorCodeReturnedEquals", rule.get("code"))
                             + xml.element("KeyPrefixEquals", rule.get("prefix")) + "</Condition>")
            red = rule["redirect"]
            parts.append("<Redirect>" + xml.element("HostName", red.get("host"))
                         + xml.element("HttpRedirectCode", red.get("code"))
                         + xml.element("Protocol", red.get("protocol"))
                         + xml.element("ReplaceKeyPrefixWith", red.get("replace_prefix"))
                         + xml.element("ReplaceKeyWith", red.get("replace_key")) + "</Redirect>")
            parts.append("</RoutingRule>")
        parts.append("</RoutingRules>")
    return xml.document_of("WebsiteConfiguration", parts)
