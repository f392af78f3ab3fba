"""A streaming multipart/form-data parser (RFC 7578 / RFC 2046), sans-IO.

Feed it the request body in pieces of any size; it returns events: a
:class:`Part` when a part's headers are complete, :class:`Data` for its
content (never buffered beyond one delimiter's length), :class:`PartEnd`,
and :class:`End` at the closing delimiter.  Everything after that (the
epilogue) is ignored.  Malformed input raises ``S3Error`` and nothing else;
memory stays bounded by the input piece plus the configured header limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from pails.errors import S3Error

MAX_BOUNDARY = 200  # RFC 2046 says 70; be lenient with clients that exceed it
_BOUNDARY_PARAM = re.compile(r';\s*boundary\s*=\s*(?:"([^"]*)"|([^\s;]+))', re.IGNORECASE)
# A Content-Disposition parameter: name=token or name="quoted" (HTML5 style: no
# backslash escapes inside the quotes; browsers percent-encode '"' instead).
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*(?:"([^"]*)"|([^\s;]*))')
_LWSP = b" \t"


def malformed(detail: str | None = None) -> S3Error:
    message = "The body of your POST request is not well-formed multipart/form-data."
    return S3Error("MalformedPOSTRequest", f"{message} ({detail})" if detail else message)


@dataclass(slots=True)
class Part:
    """A part's headers are complete; its content follows as Data events."""

    name: str  # the form field name, as sent
    filename: str | None  # None when the part has no filename parameter
    headers: dict[str, str]  # lower-cased names
    data_offset: int  # offset in the body of the part's first content byte


@dataclass(slots=True)
class Data:
    data: bytes


@dataclass(slots=True)
class PartEnd:
    pass


@dataclass(slots=True)
class End:
    """The closing delimiter was seen; the rest of the body is epilogue."""


Event = Part | Data | PartEnd | End

_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _DATA, _EPILOGUE = range(5)


def boundary_from_content_type(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` Content-Type, or None when the
    type is something else.  A form-data type without a usable boundary is
    MalformedPOSTRequest."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "multipart/form-data":
        return None
    m = _BOUNDARY_PARAM.search(content_type)
    if m is None:
        raise malformed("no boundary")
    boundary = m.group(1) if m.group(1) is not None else m.group(2)
    return _check_boundary(boundary)


def _check_boundary(boundary: str | bytes) -> bytes:
    if isinstance(boundary, str):
        try:
            boundary = boundary.encode("ascii")
        except UnicodeEncodeError:
            raise malformed("boundary is not ASCII") from None
    if not 1 <= len(boundary) <= MAX_BOUNDARY or b"\r" in boundary or b"\n" in boundary:
        raise malformed("bad boundary")
    return boundary


class MultipartParser:
    """Incremental multipart/form-data parser.  ``feed`` pieces, then ``close``."""

    def __init__(self, boundary: bytes | str, *, max_header_bytes: int = 8192, max_preamble: int = 64 * 1024,
                 max_parts: int = 1000) -> None:
        self._delimiter = b"\r\n--" + _check_boundary(boundary)
        self._max_header_bytes = max_header_bytes
        self._max_preamble = max_preamble
        self._max_parts = max_parts
        self._parts = 0
        # The first delimiter may open the body without a CRLF before it:
        # pretend one was there (offsets start at -2 to make up for it).
        self._buf = b"\r\n"
        self._offset = -2  # body offset of self._buf[0]
        self._state = _PREAMBLE

    @property
    def finished(self) -> bool:
        return self._state == _EPILOGUE

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        if self._state == _EPILOGUE:
            return []
        buf = self._buf + bytes(data) if self._buf else bytes(data)
        events: list[Event] = []
        pos = self._step(buf, events)
        self._offset += pos
        self._buf = buf[pos:]
        return events

    def close(self) -> list[Event]:
        """The body ended: anything but a complete closing delimiter is malformed."""
        if self._state != _EPILOGUE:
            raise malformed("the body ends before the closing boundary")
        return []

    # --- the state machine ---------------------------------------------------------------------------------------
    def _step(self, buf: bytes, events: list[Event]) -> int:
        """Consume what can be consumed of ``buf``; return how far it got."""
        delim = self._delimiter
        dlen = len(delim)
        pos = 0
        end = len(buf)
        while True:
            state = self._state
            if state == _DATA:
                i = buf.find(delim, pos)
                if i < 0:
                    keep = max(pos, end - dlen + 1)
                    if keep > pos:
                        events.append(Data(buf[pos:keep]))
                    return keep
                if i > pos:
                    events.append(Data(buf[pos:i]))
                events.append(PartEnd())
                pos = i + dlen
                self._state = _AFTER_DELIMITER
            elif state == _AFTER_DELIMITER:
                if end - pos < 2:
                    return pos
                if buf[pos:pos + 2] == b"--":
                    events.append(End())
                    self._state = _EPILOGUE
                    return end
                k = buf.find(b"\r\n", pos)
                if k < 0:
                    if buf[pos:].strip(_LWSP):
                        raise malformed("garbage after a boundary")
                    if end - pos > 1024:
                        raise malformed("too much padding after a boundary")
                    return pos
                if buf[pos:k].strip(_LWSP):
                    raise malformed("garbage after a boundary")
                pos = k + 2
                self._state = _HEADERS
            elif state == _HEADERS:
                if end - pos < 2:
                    return pos
                if buf[pos:pos + 2] == b"\r\n":
                    raise malformed("a part without headers")
                limit = self._max_header_bytes
                k = buf.find(b"\r\n\r\n", pos, pos + limit + 4)
                if k < 0:
                    if end - pos >= limit + 4:
                        raise malformed("part headers are too large")
                    return pos
                self._parts += 1
                if self._parts > self._max_parts:
                    raise malformed("too many parts")
                name, filename, headers = _parse_part_headers(buf[pos:k])
                pos = k + 4
                events.append(Part(name, filename, headers, self._offset + pos))
                self._state = _DATA
            elif state == _PREAMBLE:
                i = buf.find(delim, pos)
                if i < 0:
                    keep = max(pos, end - dlen + 1)
                    if self._offset + keep > self._max_preamble:
                        raise malformed("no boundary where the body starts")
                    return keep
                if self._offset + i > self._max_preamble:
                    raise malformed("no boundary where the body starts")
                pos = i + dlen
                self._state = _AFTER_DELIMITER
            else:  # _EPILOGUE
                return end


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_part_headers(block: bytes) -> tuple[str, str | None, dict[str, str]]:
    headers: dict[str, str] = {}
    last: str | None = None
    for raw_line in block.split(b"\r\n"):
        if raw_line[:1] in (b" ", b"\t") and last is not None:  # obsolete line folding
            headers[last] += " " + _decode(raw_line).strip()
            continue
        name_b, sep, value_b = raw_line.partition(b":")
        name = _decode(name_b).strip().lower()
        if not sep or not name or any(c in name for c in " \t"):
            raise malformed("bad part header")
        value = _decode(value_b).strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
        last = name
    cd = headers.get("content-disposition")
    if cd is None:
        raise malformed("a part without Content-Disposition")
    kind, params = parse_content_disposition(cd)
    if kind != "form-data" or "name" not in params:
        raise malformed("a part that is not a named form-data field")
    filename = params.get("filename*") or params.get("filename")
    return params["name"], filename, headers


def parse_content_disposition(value: str) -> tuple[str, dict[str, str]]:
    """``form-data; name="a"; filename="b"`` -> ("form-data", {"name": "a", "filename": "b"}).

    Parameter names are lower-cased; ``filename*`` (RFC 5987) is decoded."""
    kind, sep, rest = value.partition(";")
    params: dict[str, str] = {}
    pos = 0
    rest = sep + rest
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None:
            if rest[pos:].strip(" \t;"):
                raise malformed("bad Content-Disposition")
            break
        pname = m.group(1).lower()
        pvalue = m.group(2) if m.group(2) is not None else m.group(3)
        if pname.endswith("*"):
            pvalue = _rfc5987(pvalue)
        params.setdefault(pname, pvalue)
        pos = m.end()
    return kind.strip().lower(), params


def _rfc5987(value: str) -> str:
    charset, sep, rest = value.partition("'")
    if not sep:
        return value
    _lang, sep, encoded = rest.partition("'")
    if not sep:
        return value
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, ValueError):  # ValueError: a charset with a NUL in it, or undecodable bytes
        raise malformed("bad filename* parameter") from None
