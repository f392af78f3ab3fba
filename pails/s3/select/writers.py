"""Output records: a row of values to CSV or JSON text, as
OutputSerialization says."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pails.s3.select.config import CsvOutput
from pails.s3.select.functions import to_text

RowWriter = Callable[[list[Any]], str]


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if type(v) is str:
        return v
    if type(v) in (dict, list):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    return to_text(v) or ""


def csv_writer(o: CsvOutput) -> RowWriter:
    fd, rd, q, esc = o.field_delimiter, o.record_delimiter, o.quote, o.escape
    special = re.compile("[" + re.escape("".join({fd, q, "\n", "\r", *rd})) + "]").search
    quoted = esc + q

    def cell(v: Any) -> str:
        s = v if type(v) is str else _cell_text(v)
        if special(s) is None:
            return s
        return q + s.replace(q, quoted) + q

    def cell_always(v: Any) -> str:
        s = v if type(v) is str else _cell_text(v)
        return q + s.replace(q, quoted) + q

    if o.quote_fields == "ALWAYS":
        def row_always(values: list[Any]) -> str:
            return fd.join([cell_always(v) for v in values]) + rd
        return row_always
    row_special = re.compile("[" + re.escape("".join({q, "\n", "\r", *rd})) + "]").search
    # A record of one empty field is written quoted: as an empty line, CSV
    # readers would skip it and lose the record (Python's csv module does the same).
    lone_empty = q + q + rd

    def row(values: list[Any]) -> str:
        # The common case checked once per row: all strings, none needing quotes.
        try:
            line = fd.join(values)
        except TypeError:  # a value that is not a string
            line = fd.join([cell(v) for v in values])
            return line + rd if line else lone_empty
        if row_special(line) is None and line.count(fd) == len(values) - 1:
            return line + rd if line else lone_empty
        return fd.join([cell(v) for v in values]) + rd
    return row


def _json_value(v: Any) -> Any:
    return to_text(v)


def json_writer(names: list[str], delimiter: str, star: bool) -> RowWriter:
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_value).encode

    if star and not names:
        def whole(values: Any) -> str:
            if type(values) is list:  # a CSV record without header names
                return dumps({f"_{i + 1}": v for i, v in enumerate(values)}) + delimiter
            return dumps(values) + delimiter
        return whole
    keys = list(names)
    seen: set[str] = set()
    for i, k in enumerate(keys):  # duplicate names: later ones numbered, as AWS does
        if k in seen:
            keys[i] = f"_{i + 1}"
        seen.add(keys[i])

    def row(values: list[Any]) -> str:
        if len(values) > len(keys):
            return dumps({**dict(zip(keys, values, strict=False)),
                          **{f"_{i + 1}": v for i, v in enumerate(values) if i >= len(keys)}}) + delimiter
        return dumps(dict(zip(keys, values, strict=False))) + delimiter
    return row


def star_values(record: Any) -> list[Any]:
    """A JSON record's values for CSV output of SELECT *."""
    if type(record) is dict:
        return list(record.values())
    if type(record) is list:
        return record
    return [record]
