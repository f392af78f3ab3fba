"""One query over one object's bytes: decompress, decode, read records, run
the compiled plan, write output text.  Synchronous and fed a chunk at a
time (the handler runs each step in a worker thread)."""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from typing import Any

from pails.errors import S3Error
from pails.s3.select import writers
from pails.s3.select.compiler import Plan, compile_query
from pails.s3.select.config import Settings
from pails.s3.select.readers import CsvRecords, Decompressor, JsonDocument, JsonLines
from pails.s3.select.sql import Query


class Scanner:
    def __init__(self, settings: Settings, query: Query) -> None:
        self.settings = settings
        self.query = query
        self.decompressor = Decompressor(settings.compression) if settings.compression != "NONE" else None
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.reader: Any = None
        if settings.input_format == "csv":
            self.reader = CsvRecords(settings.csv)
            self.kind = "csv"
        else:
            self.kind = "json"  # JSON and Parquet records are values (dicts)
            if settings.input_format == "json":
                self.reader = JsonLines() if settings.json_type == "LINES" else JsonDocument(query.source)
        self.plan: Plan | None = None
        self.write: writers.RowWriter | None = None
        if self.kind == "json" or settings.csv.header != "USE":
            self._compile(None)
        self.scanned = 0  # bytes read from the object
        self.processed = 0  # bytes after decompression
        self.remaining = query.limit
        self.done = False  # LIMIT reached: nothing more to read

    def _compile(self, header: list[str] | None) -> None:
        plan = compile_query(self.query, self.kind, header)
        s = self.settings
        if s.output_format == "csv":
            write = writers.csv_writer(s.csv_out)
            if plan.star and self.kind == "json":
                project = plan.project
                assert project is not None
                star = writers.star_values
                plan.project = lambda r: star(project(r))
        else:
            write = writers.json_writer(plan.names, s.json_record_delimiter, plan.star)
        self.plan, self.write = plan, write

    def feed(self, raw: bytes, last: bool = False) -> str:
        """Output text for the next chunk of the object (``last``: the end)."""
        return "".join(self.outputs(raw, last))

    def outputs(self, raw: bytes, last: bool, scanned: int | None = None) -> Iterator[str]:
        """Output text for the next chunk, a piece at a time (a compressed
        chunk is decompressed a piece at a time).  ``scanned``: the bytes of
        the object this chunk stands for, when not ``len(raw)``."""
        self.scanned += len(raw) if scanned is None else scanned
        pieces: Iterable[bytes] = self.decompressor.feed(raw) if self.decompressor is not None else (raw,)
        for data in pieces:
            self.processed += len(data)
            yield self.run(self.reader.feed(self._decode(data, False), False), False)
            if self.done:
                return
        if last:
            if self.decompressor is not None:
                self.decompressor.finish()
            yield self.run(self.reader.feed(self._decode(b"", True), True), True)

    def _decode(self, data: bytes, last: bool) -> str:
        try:
            return self.decoder.decode(data, final=last)
        except UnicodeDecodeError:
            raise S3Error("InvalidTextEncoding", "The object is not UTF-8 text.") from None

    def run(self, records: Iterable[Any], last: bool) -> str:
        """Output text for these records (``last``: then the aggregate row)."""
        if self.done:
            return ""
        if self.plan is None:
            records = iter(records)
            first = next(records, None)
            if first is None and self.reader.header_pending:
                if not last:
                    return ""
            self._compile(self.reader.header or [])
            if first is not None:
                records = _chain(first, records)
        plan, write = self.plan, self.write
        assert plan is not None and write is not None
        where = plan.where
        if plan.result is not None:
            accumulators = plan.accumulators
            if where is None and len(accumulators) == 1:
                update = accumulators[0].update
                for r in records:
                    update(r)
            else:
                for r in records:
                    if where is None or where(r) is True:
                        for acc in accumulators:
                            acc.update(r)
            return write(plan.result()) if last else ""
        project = plan.project
        assert project is not None
        if self.remaining is None:
            if where is None:
                return "".join([write(project(r)) for r in records])
            return "".join([write(project(r)) for r in records if where(r) is True])
        out = []
        for r in records:
            if self.remaining <= 0:
                break
            if where is None or where(r) is True:
                out.append(write(project(r)))
                self.remaining -= 1
        if self.remaining <= 0:
            self.done = True
        return "".join(out)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
