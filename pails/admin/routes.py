"""The admin API's routing table: every operation once, with its method,
path pattern (``{name}`` matches one path segment) and handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pails.admin import accounts, buckets, health, info, keys, metrics
from pails.admin.api import AdminRequest, AdminResponse
from pails.console import app as console
from pails.storage.engine import Engine

Handler = Callable[[Engine, AdminRequest], Awaitable[AdminResponse]]
# A route that answers the ASGI request itself (streamed bodies, cookies): the console.
Streamed = Callable[[Engine, dict[str, Any], Any, Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AdminRoute:
    name: str
    method: str
    pattern: str
    handler: Handler | None
    signed: bool = True  # False: answered without a signature (health checks)
    streamed: Streamed | None = None  # set: answers at pattern and (but "/") under it, itself

    def match(self, path: str) -> dict[str, str] | None:
        if self.streamed is not None:
            under = self.pattern != "/" and path.startswith(self.pattern + "/")
            return {} if path == self.pattern or under else None
        want = self.pattern.strip("/").split("/")
        got = path.strip("/").split("/")
        if len(want) != len(got):
            return None
        params: dict[str, str] = {}
        for pattern_part, part in zip(want, got, strict=True):
            if pattern_part.startswith("{") and pattern_part.endswith("}"):
                if not part:
                    return None
                params[pattern_part[1:-1]] = unquote(part)
            elif pattern_part != part:
                return None
        return params


ROUTES: tuple[AdminRoute, ...] = (
    AdminRoute("Console", "*", "/console", None, signed=False, streamed=console.serve),  # docs/console.md
    AdminRoute("ConsoleRoot", "*", "/", None, signed=False, streamed=console.serve),  # redirects to /console/
    AdminRoute("HealthLive", "GET", "/health/live", info.live, signed=False),
    AdminRoute("HealthReady", "GET", "/health/ready", health.ready, signed=False),
    AdminRoute("Metrics", "GET", "/metrics", metrics.scrape, signed=False),  # its own access rule
    AdminRoute("ServerInfo", "GET", "/admin/v1/info", info.server_info),
    AdminRoute("ListAccounts", "GET", "/admin/v1/accounts", accounts.list_accounts),
    AdminRoute("CreateAccount", "POST", "/admin/v1/accounts", accounts.create_account),
    AdminRoute("GetAccount", "GET", "/admin/v1/accounts/{account}", accounts.get_account),
    AdminRoute("DeleteAccount", "DELETE", "/admin/v1/accounts/{account}", accounts.delete_account),
    AdminRoute("NewRootKey", "POST", "/admin/v1/accounts/{account}/root-key", accounts.new_root_key),
    AdminRoute("ListAccessKeys", "GET", "/admin/v1/access-keys", keys.list_keys),
    AdminRoute("GetAccessKey", "GET", "/admin/v1/access-keys/{key}", keys.get_key),
    AdminRoute("SetAccessKeyExpiry", "PUT", "/admin/v1/access-keys/{key}/expiry", keys.set_expiry),
    AdminRoute("ClearAccessKeyExpiry", "DELETE", "/admin/v1/access-keys/{key}/expiry", keys.clear_expiry),
    AdminRoute("ListBuckets", "GET", "/admin/v1/buckets", buckets.list_buckets),
    AdminRoute("GetBucket", "GET", "/admin/v1/buckets/{bucket}", buckets.get_bucket),
    AdminRoute("GetBucketUsage", "GET", "/admin/v1/buckets/{bucket}/usage", buckets.get_usage),
    AdminRoute("GetBucketQuota", "GET", "/admin/v1/buckets/{bucket}/quota", buckets.get_quota),
    AdminRoute("PutBucketQuota", "PUT", "/admin/v1/buckets/{bucket}/quota", buckets.put_quota),
    AdminRoute("DeleteBucketQuota", "DELETE", "/admin/v1/buckets/{bucket}/quota", buckets.delete_quota),
)


def match(method: str, path: str) -> tuple[AdminRoute, dict[str, str]] | tuple[None, bool]:
    """The route and its path parameters; or (None, whether the path exists with another method)."""
    other_method = False
    for route in ROUTES:
        params = route.match(path)
        if params is None:
            continue
        if route.method in (method, "*") or (method == "HEAD" and route.method == "GET"):
            return route, params
        other_method = True
    return None, other_method


def streamed_route(path: str) -> Streamed | None:
    """The handler of a route that answers its requests itself, if ``path`` is one's."""
    for route in ROUTES:
        if route.streamed is not None and route.match(path) is not None:
            return route.streamed
    return None
