"""What a website request means: which bucket and key it addresses (by the
Host header), which redirect applies (RedirectAllRequestsTo, routing rules
in order, index documents of "directories").  Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

Record = dict[str, Any]
_SAFE = "/!$&'()*+,;=:@~"  # kept as they are in a Location's path


@dataclass(frozen=True, slots=True)
class Site:
    """Where a website request came in: ``prefix`` is what precedes the key
    in its path ("" on a virtual host ``BUCKET.DOMAIN``, "/BUCKET" on the
    path-style form ``DOMAIN/BUCKET/KEY``)."""

    bucket: str
    key: str  # the request's key, "" for the site's root
    scheme: str
    host: str  # the Host header as sent (with its port)
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class Redirect:
    status: int
    location: str


def address(host: str, path: str, domain: str, scheme: str = "http") -> Site | Redirect | None:
    """The website request a Host header and (decoded) path make under the
    website domain, or None when the host is not the website's.
    ``BUCKET.DOMAIN/KEY`` is the virtual-host form, ``DOMAIN/BUCKET/KEY`` the
    path-style one (``DOMAIN/BUCKET`` redirects to ``DOMAIN/BUCKET/``: a
    page's relative links need the slash)."""
    hostname = host.lower()
    if not hostname.endswith("]"):
        hostname = hostname.rsplit(":", 1)[0]
    domain = domain.lower()
    if hostname.endswith("." + domain) and len(hostname) > len(domain) + 1:
        return Site(hostname[: -len(domain) - 1], path[1:], scheme, host)
    if hostname != domain:
        return None
    bucket, slash, key = path[1:].partition("/")
    if not bucket:
        return Site("", "", scheme, host)  # no bucket named: answered NoSuchBucket
    if not slash:
        return Redirect(302, f"/{quote(bucket, safe=_SAFE)}/")
    return Site(bucket, key, scheme, host, "/" + bucket)


def index_key(config: Record, key: str) -> str:
    """The object a key names: a "directory" (the root, or a key ending in
    "/") names its index document."""
    if key == "" or key.endswith("/"):
        return key + config["index"]
    return key


def redirect_all(config: Record, site: Site) -> Redirect | None:
    """RedirectAllRequestsTo: every request, to the same key on another host (301)."""
    target = config.get("redirect_all")
    if target is None:
        return None
    scheme = target.get("protocol") or site.scheme
    return Redirect(301, f"{scheme}://{target['host']}/{quote(site.key, safe=_SAFE)}")


def matching_rule(config: Record, key: str, error_code: int | None) -> Record | None:
    """The first routing rule whose condition holds: before the object is
    read (``error_code`` None), rules without an error-code condition; after
    an error, the rules whose error code is that error's."""
    for rule in config.get("rules", ()):
        prefix = rule.get("prefix")
        if prefix is not None and not key.startswith(prefix):
            continue
        if rule.get("code") != error_code:
            continue
        return rule
    return None


def rule_redirect(rule: Record, site: Site) -> Redirect:
    """Where a routing rule sends a request: its HostName (else the same
    host and, path-style, the same bucket), its Protocol (else the request's),
    the key replaced whole (ReplaceKeyWith) or its matched prefix replaced
    (ReplaceKeyPrefixWith), with its HttpRedirectCode (else 301)."""
    red = rule["redirect"]
    key = site.key
    if "replace_key" in red:
        key = red["replace_key"]
    elif "replace_prefix" in red:
        key = red["replace_prefix"] + key[len(rule.get("prefix") or ""):]
    scheme = red.get("protocol") or site.scheme
    if "host" in red:
        base = f"{scheme}://{red['host']}"
    else:
        base = f"{scheme}://{site.host}{site.prefix}"
    return Redirect(int(red.get("code") or 301), f"{base}/{quote(key, safe=_SAFE)}")


def directory_redirect(site: Site) -> Redirect:
    """``dir`` that is no object but has ``dir/INDEX``: 302 to ``dir/``."""
    return Redirect(302, f"{site.prefix}/{quote(site.key, safe=_SAFE)}/")
