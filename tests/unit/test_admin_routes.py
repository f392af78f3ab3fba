"""The admin API's routing table: one route per (method, path), and the
paths the operations document reach the operations named."""

from __future__ import annotations

import pytest

from pails.admin import routes


def test_each_method_and_pattern_once() -> None:
    pairs = [(r.method, r.pattern) for r in routes.ROUTES]
    assert len(pairs) == len(set(pairs))
    assert len({r.name for r in routes.ROUTES}) == len(routes.ROUTES)


@pytest.mark.parametrize("method, path, name, params", [
    ("GET", "/admin/v1/accounts", "ListAccounts", {}),
    ("POST", "/admin/v1/accounts", "CreateAccount", {}),
    ("GET", "/admin/v1/accounts/carol smith", "GetAccount", {"account": "carol smith"}),
    ("DELETE", "/admin/v1/accounts/123456789012", "DeleteAccount", {"account": "123456789012"}),
    ("POST", "/admin/v1/accounts/carol/root-key", "NewRootKey", {"account": "carol"}),
    ("GET", "/admin/v1/access-keys", "ListAccessKeys", {}),
    ("GET", "/admin/v1/access-keys/AKIA1", "GetAccessKey", {"key": "AKIA1"}),
    ("PUT", "/admin/v1/access-keys/AKIA1/expiry", "SetAccessKeyExpiry", {"key": "AKIA1"}),
    ("DELETE", "/admin/v1/access-keys/AKIA1/expiry", "ClearAccessKeyExpiry", {"key": "AKIA1"}),
    ("GET", "/admin/v1/buckets", "ListBuckets", {}),
    ("HEAD", "/admin/v1/buckets/photos", "GetBucket", {"bucket": "photos"}),
    ("GET", "/admin/v1/buckets/photos/usage", "GetBucketUsage", {"bucket": "photos"}),
    ("GET", "/admin/v1/buckets/photos/quota", "GetBucketQuota", {"bucket": "photos"}),
    ("PUT", "/admin/v1/buckets/photos/quota", "PutBucketQuota", {"bucket": "photos"}),
    ("DELETE", "/admin/v1/buckets/photos/quota", "DeleteBucketQuota", {"bucket": "photos"}),
])
def test_operations_are_reached(method: str, path: str, name: str, params: dict[str, str]) -> None:
    route, found = routes.match(method, path)
    assert route is not None and route.name == name and found == params


def test_other_methods_and_paths() -> None:
    assert routes.match("PATCH", "/admin/v1/buckets/photos/quota") == (None, True)
    assert routes.match("GET", "/admin/v1/buckets/photos/nothing") == (None, False)
    assert routes.match("GET", "/admin/v1/accounts//root-key") == (None, False)
