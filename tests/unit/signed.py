"""Build SignedRequests for the signature unit tests."""

from __future__ import annotations

from urllib.parse import unquote

from pails.access.request import SignedRequest


def make(method: str, target: str, headers: dict[str, str], bucket: str | None = None) -> SignedRequest:
    """A SignedRequest as the HTTP edge would build it from a request line and headers."""
    raw, _, qs = target.partition("?")
    query = []
    if qs:
        for pair in qs.split("&"):
            name, _, value = pair.partition("=")
            query.append((unquote(name), unquote(value)))
    return SignedRequest(method, unquote(raw), raw, query, {k.lower(): v for k, v in headers.items()}, bucket)
