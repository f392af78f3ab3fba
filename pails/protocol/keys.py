"""Key ordering helpers.  S3 orders keys by their UTF-8 bytes, which for
valid strings is the same as ordering by code point."""

from __future__ import annotations

_MAX_CODEPOINT = 0x10FFFF


def prefix_successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with
    ``prefix``; None when no such string exists (prefix of only U+10FFFF)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < _MAX_CODEPOINT:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot appear in UTF-8
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None
