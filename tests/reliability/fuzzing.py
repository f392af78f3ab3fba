"""Seeded mutation of valid inputs, shared by the parser and server fuzzers:
a random generator makes byte-level edits (flip, insert, delete, duplicate,
truncate, splice in a hostile token) to a known-good seed, so most inputs get
deep into a parser before they go wrong."""

from __future__ import annotations

import random

# Tokens that break parsers: separators, escapes, encodings, huge numbers, controls.
TOKENS: tuple[bytes, ...] = (
    b"\r\n", b"\n", b"\r", b"\x00", b"\x7f", b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"%", b"%ZZ", b"%00", b"%FF",
    b"%C3%28", b"&", b";", b",", b"=", b"/", b"\\", b"..", b"?", b"#", b"*", b" ", b"\t", b'"', b"'", b"<", b">",
    b"<!DOCTYPE x [<!ENTITY e 'e'>]>", b"&e;", b"&#0;", b"&#xD800;", b"]]>", b"<?xml version='1.0' encoding='bogus'?>",
    b"-1", b"0", b"00000000000000000000001", b"99999999999999999999999999", b"1e9", b"NaN", b"0x10", b"\xef\xbb\xbf",
    b"\xe2\x80\x8f", b"bytes=", b"aws-chunked", b"STREAMING-", b"chunk-signature=", b"AWS4-HMAC-SHA256",
    b"x-amz-", b"{", b"}", b"[", b"]", b'{"a":', b"null", b"\\u0000", b"A" * 300, b"[" * 3000, b"<a>" * 100,
    b"0 NOV 3000000000 0:0 GMT", b"Sun, 06 Nov 0000 08:49:37 GMT",
)


def mutate(rng: random.Random, data: bytes, edits: int | None = None) -> bytes:
    """``data`` with 1 to 4 (or ``edits``) random edits."""
    out = bytearray(data)
    for _ in range(edits if edits is not None else rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randint(0, len(out))
        if op == 0 and out:  # flip a byte
            i = min(pos, len(out) - 1)
            out[i] = rng.randrange(256)
        elif op == 1:  # insert a hostile token
            out[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and out:  # delete a run
            del out[pos:pos + rng.randint(1, 16)]
        elif op == 3 and out:  # duplicate a run
            run = out[pos:pos + rng.randint(1, 64)]
            out[pos:pos] = run
        elif op == 4:  # truncate
            del out[pos:]
        elif op == 5:  # random bytes
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:  # replace a run with a token
            out[pos:pos + rng.randint(1, 8)] = rng.choice(TOKENS)
    return bytes(out)


def mutate_text(rng: random.Random, text: str) -> str:
    """``mutate`` for text: the edited bytes read back as Latin-1 (every byte
    is a character, as HTTP header values arrive)."""
    return mutate(rng, text.encode("utf-8")).decode("latin-1")
