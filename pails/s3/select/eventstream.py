"""AWS event-stream framing (application/vnd.amazon.eventstream) for the
SelectObjectContent response: each message is a prelude (total length,
headers length, CRC32 of those 8 bytes), string headers, the payload and a
CRC32 of everything before it."""

from __future__ import annotations

import struct
import zlib

_STRING = 7  # header value type: UTF-8 string


def _headers(pairs: tuple[tuple[str, str], ...]) -> bytes:
    out = bytearray()
    for name, value in pairs:
        n = name.encode()
        v = value.encode()
        out += struct.pack("!B", len(n)) + n + struct.pack("!BH", _STRING, len(v)) + v
    return bytes(out)


def message(pairs: tuple[tuple[str, str], ...], payload: bytes = b"") -> bytes:
    headers = _headers(pairs)
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack("!I", zlib.crc32(body))


def _event(kind: str, payload: bytes = b"", content_type: str | None = None) -> bytes:
    pairs: tuple[tuple[str, str], ...] = ((":event-type", kind),)
    if content_type is not None:
        pairs += ((":content-type", content_type),)
    pairs += ((":message-type", "event"),)
    return message(pairs, payload)


def records(payload: bytes) -> bytes:
    return _event("Records", payload, "application/octet-stream")


def _counts(root: str, scanned: int, processed: int, returned: int) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns=""><BytesScanned>{scanned}</BytesScanned>'
            f"<BytesProcessed>{processed}</BytesProcessed><BytesReturned>{returned}</BytesReturned></{root}>").encode()


def stats(scanned: int, processed: int, returned: int) -> bytes:
    return _event("Stats", _counts("Stats", scanned, processed, returned), "text/xml")


def progress(scanned: int, processed: int, returned: int) -> bytes:
    return _event("Progress", _counts("Progress", scanned, processed, returned), "text/xml")


def cont() -> bytes:
    """A keep-alive: sent while a long scan finds nothing to return."""
    return _event("Cont")


def end() -> bytes:
    return _event("End")


def error(code: str, text: str) -> bytes:
    """An error after the 200 status went out: the stream ends with it."""
    return message(((":error-code", code), (":error-message", text), (":message-type", "error")))
