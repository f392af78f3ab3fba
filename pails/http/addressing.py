"""The parts of a request the HTTP edge reads before anything else: its
headers (bounded), its Host, and the bucket and key it addresses (path
style, or virtual-host style under ``--domain``).  Pure."""

from __future__ import annotations

import re
from typing import Any

from pails.errors import S3Error

MAX_HEADER_BYTES = 8 * 1024
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")  # a % not followed by two hex digits: InvalidURI


def host_of(scope: dict[str, Any]) -> str:
    for name, value in scope["headers"]:
        if name.lower() == b"host":
            return str(value.decode("latin-1"))
    return ""


def announces_body(raw: list[tuple[bytes, bytes]]) -> bool:
    for name, value in raw:
        n = name.lower()
        if (n == b"content-length" and value.strip() not in (b"0", b"")) or n == b"transfer-encoding":
            return True
    return False


def header_map(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    total = 0
    for name_b, value_b in raw:
        total += len(name_b) + len(value_b)
        name = name_b.decode("latin-1").lower()
        value = value_b.decode("latin-1").strip()
        if name in out:
            out[name] = f"{out[name]},{value}"
        else:
            out[name] = value
    if total > MAX_HEADER_BYTES:
        raise S3Error("RequestHeaderSectionTooLarge", MaxSizeAllowed=str(MAX_HEADER_BYTES))
    return out


def address(path: str, host: str, domain: str | None) -> tuple[str | None, str | None, bool]:
    """(bucket, key, virtual-host style?) from the Host header and path."""
    if domain:
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        hostname = hostname.lower()
        if hostname.endswith("." + domain) and len(hostname) > len(domain) + 1:
            bucket = hostname[: -len(domain) - 1]
            key = path[1:] if len(path) > 1 else None
            return bucket, key, True
    if path in ("", "/"):
        return None, None, False
    bucket, sep, key = path[1:].partition("/")
    if not sep or key == "":
        return bucket, None, False
    return bucket, key, False
