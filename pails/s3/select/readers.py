"""Records from an object's bytes, fed a chunk at a time (bounded memory: a
reader keeps at most one partial record between chunks).

``Decompressor`` undoes GZIP/BZIP2 (concatenated members too), ``RangeCut``
keeps the records a ScanRange covers, ``CsvRecords`` / ``JsonLines`` /
``JsonDocument`` turn text into records."""

from __future__ import annotations

import bz2
import csv
import json
import re
import zlib
from collections.abc import Generator, Iterator
from typing import Any

from pails.errors import S3Error
from pails.s3.select.config import CsvInput

MAX_RECORD = 1024 * 1024  # AWS: a record is at most 1 MB


def too_large() -> S3Error:
    return S3Error("OverMaxRecordSize", f"A record in the object is larger than {MAX_RECORD} bytes.")


class Decompressor:
    """GZIP or BZIP2 undone as the bytes stream, in pieces of at most
    ``PIECE`` bytes (a small chunk of a highly compressed object does not
    become a large buffer); several members in a row (as ``cat a.gz b.gz``)
    read as one stream, as gzip(1) reads them."""

    PIECE = 1024 * 1024

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._new()

    def _new(self) -> None:
        self.d: Any = zlib.decompressobj(wbits=31) if self.kind == "GZIP" else bz2.BZ2Decompressor()
        self.fed = False  # this member has begun

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while True:
                if data:
                    self.fed = True
                out = self.d.decompress(data, self.PIECE)
                data = self.d.unconsumed_tail if self.kind == "GZIP" else b""
                if out:
                    yield out
                if self.d.eof:
                    rest = self.d.unused_data  # all input past the member (zlib may repeat it as unconsumed_tail)
                    self._new()
                    if not rest:
                        return
                    data = rest
                elif self.kind == "GZIP":
                    if not data and len(out) < self.PIECE:
                        return
                elif self.d.needs_input:
                    return
        except (zlib.error, OSError, EOFError, ValueError):
            raise S3Error("InvalidCompressionFormat", f"The object is not valid {self.kind} data.") from None

    def finish(self) -> None:
        if self.fed and not self.d.eof:
            raise S3Error("InvalidCompressionFormat", f"The {self.kind} data ends early.")


class RangeCut:
    """ScanRange: the records whose first byte lies in [start, end].  Reading
    starts at ``first_read`` (start - 1, to see whether a record starts at
    ``start``); bytes through the first record delimiter are dropped, then
    everything passes until the first delimiter at or after ``end``."""

    def __init__(self, start: int, end: int | None, delimiter: bytes) -> None:
        self.first_read = max(start - 1, 0)
        self.dropping = start > 0
        self.end = end
        self.delim = delimiter[-1:]
        self.offset = self.first_read
        self.done = False

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        base = self.offset
        self.offset += len(data)
        lo = 0
        if self.dropping:
            i = data.find(self.delim)
            if i < 0:
                return b""
            self.dropping = False
            lo = i + 1
        if self.end is None or self.offset <= self.end:
            return data[lo:]
        i = data.find(self.delim, max(self.end - base, lo))
        if i < 0:
            return data[lo:]
        self.done = True
        return data[lo:i + 1]


class CsvRecords:
    """CSV text to records (lists of field strings), per chunk."""

    def __init__(self, c: CsvInput) -> None:
        self.c = c
        self.tail = ""
        self.header_pending = c.header in ("USE", "IGNORE")
        self.header: list[str] | None = None
        self.delim = c.record_delimiter
        self.newline = self.delim in ("\n", "\r\n")
        params: dict[str, Any] = {"delimiter": c.field_delimiter, "quotechar": c.quote, "strict": False}
        if c.escape is not None and c.escape != c.quote:
            params["escapechar"] = c.escape
            params["doublequote"] = True
        self.params = params

    def feed(self, text: str, last: bool = False) -> Iterator[list[str]]:
        buf = self.tail + text
        if self.newline:
            lines = buf.split("\n")
        else:
            lines = buf.split(self.delim)
        self.tail = "" if last else lines.pop()
        if self.c.quoted_record_delimiter and not last and self.newline:
            # a quoted field running past the chunk's last complete line waits for the next chunk
            q = self.c.quote
            odd = sum(line.count(q) for line in lines) % 2
            while odd and lines:
                line = lines.pop()
                self.tail = line + "\n" + self.tail
                odd = (odd + line.count(q)) % 2
        if len(self.tail) > MAX_RECORD:
            raise too_large()
        if self.c.comments is not None:
            mark = self.c.comments
            lines = [line for line in lines if not line.startswith(mark)]
        if self.delim == "\r\n" or (self.newline and buf.find("\r") >= 0):
            lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        if self.newline and self.c.quoted_record_delimiter:
            lines = [line + "\n" for line in lines]
        elif self.c.quote in buf:
            # AllowQuotedRecordDelimiter FALSE: a record ends at its delimiter even inside quotes (as AWS);
            # the csv module would run on into the next line, so an open quote is closed where the line ends.
            q = self.c.quote
            lines = [line + q if line.count(q) % 2 else line for line in lines]
        try:
            rows = csv.reader(lines, **self.params)
            if self.header_pending:
                for row in rows:
                    if not row:
                        continue
                    self.header_pending = False
                    self.header = [f.strip() for f in row] if self.c.header == "USE" else None
                    break
            for row in rows:
                if row:
                    yield row
        except csv.Error as exc:
            raise S3Error("CSVParsingError", f"The CSV could not be read: {exc}.") from None


class JsonLines:
    """JSON LINES text to records: one JSON value per line."""

    def __init__(self) -> None:
        self.tail = ""

    def feed(self, text: str, last: bool = False) -> Iterator[Any]:
        lines = (self.tail + text).split("\n")
        self.tail = "" if last else lines.pop()
        if len(self.tail) > MAX_RECORD:
            raise too_large()
        loads = json.loads
        try:
            for line in lines:
                if line and not line.isspace():
                    yield loads(line)
        except (ValueError, RecursionError) as exc:
            raise S3Error("JSONParsingError", f"The JSON could not be read: {exc}.") from None


_NEED = object()  # the parser's signal: feed me more text
_WS = re.compile(r"[ \t\n\r]*")


class JsonDocument:
    """JSON DOCUMENT text to the records at a FROM path, streamed: the parser
    walks the document without building it, decoding only the values at the
    path (and, whole, the values it skips).  Steps: names, ints for [n], "*"
    for [*]; an array at the end of the path is unnested (Ceph's and AWS's
    S3Object[*].path reading)."""

    def __init__(self, path: list[Any]) -> None:
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.path = path[1:] if path and path[0] == "*" else path
        self.decoder = json.JSONDecoder()
        self.gen = self._documents()
        self.finished = False

    def feed(self, text: str, last: bool = False) -> Iterator[Any]:
        if self.pos:
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += text
        self.eof = last
        if self.finished:
            return
        for item in self.gen:
            if item is _NEED:
                return
            yield item
        self.finished = True

    # --- the parser, a generator that yields records and _NEED -------------------------------------------------
    def _error(self, why: str) -> S3Error:
        return S3Error("JSONParsingError", f"The JSON document could not be read: {why}.")

    def _peek(self) -> Generator[Any, None, str | None]:
        while True:
            m = _WS.match(self.buf, self.pos)
            self.pos = m.end() if m else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return None
            yield _NEED

    def _decode(self) -> Generator[Any, None, Any]:
        yield from self._peek()  # past whitespace: raw_decode does not skip it
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
                if end < len(self.buf) or self.eof:
                    if end - self.pos > MAX_RECORD:
                        raise too_large()
                    self.pos = end
                    return value
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self._error(str(exc)) from None
            except RecursionError:
                raise self._error("nested too deeply") from None
            if len(self.buf) - self.pos > MAX_RECORD:
                raise too_large()
            yield _NEED

    def _documents(self) -> Generator[Any, None, None]:
        while True:
            c = yield from self._peek()
            if c is None:
                return
            yield from self._select(self.path, False)

    def _select(self, steps: list[Any], unnest: bool) -> Generator[Any, None, None]:
        c = yield from self._peek()
        if c is None:
            raise self._error("unexpected end")
        if not steps:
            if unnest and c == "[":
                self.pos += 1
                yield from self._each("]", [], False, None, False)
            else:
                value = yield from self._decode()
                yield value
            return
        step, rest = steps[0], steps[1:]
        if step == "*" and c in "[{":
            self.pos += 1
            yield from self._each("]" if c == "[" else "}", rest, False, None, False)
        elif isinstance(step, int) and c == "[":
            self.pos += 1
            yield from self._each("]", rest, True, step, True)
        elif isinstance(step, str) and step != "*" and c == "{":
            self.pos += 1
            yield from self._each("}", rest, True, step, True)
        else:
            yield from self._decode()  # not there: skipped

    def _each(self, close: str, rest: list[Any], filtered: bool, wanted: Any,
              leaf_unnest: bool) -> Generator[Any, None, None]:
        """The elements (or members) of the container just entered: those
        wanted are selected further, the others skipped."""
        c = yield from self._peek()
        if c == close:
            self.pos += 1
            return
        index = 0
        while True:
            if close == "}":
                key = yield from self._decode()
                if not isinstance(key, str):
                    raise self._error("expected a member name")
                c = yield from self._peek()
                if c != ":":
                    raise self._error("expected ':'")
                self.pos += 1
                match = not filtered or key == wanted
            else:
                match = not filtered or index == wanted
            if match:
                yield from self._select(rest, leaf_unnest and not rest)
            else:
                yield from self._decode()
            index += 1
            c = yield from self._peek()
            if c == ",":
                self.pos += 1
            elif c == close:
                self.pos += 1
                return
            else:
                raise self._error(f"expected ',' or {close!r}")
