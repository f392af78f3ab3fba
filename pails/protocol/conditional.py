"""Conditional request headers (RFC 7232 as S3 applies them)."""

from __future__ import annotations

from collections.abc import Mapping

from pails.protocol.dates import parse_http_date


def _etag_matches(header: str, etag: str) -> bool:
    bare = etag.strip('"')
    for candidate in header.split(","):
        c = candidate.strip()
        if c == "*" or c.strip('"') == bare or c.removeprefix("W/").strip('"') == bare:
            return True
    return False


def evaluate_read(headers: Mapping[str, str], etag: str, last_modified: float) -> int | None:
    """For GET/HEAD: 412, 304, or None to proceed."""
    lm = int(last_modified)
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _etag_matches(if_match, etag):
            return 412
    else:
        ius = headers.get("if-unmodified-since")
        if ius is not None:
            t = parse_http_date(ius)
            if t is not None and lm > t:
                return 412
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag):
            return 304
    else:
        ims = headers.get("if-modified-since")
        if ims is not None:
            t = parse_http_date(ims)
            if t is not None and lm <= t:
                return 304
    return None
