"""S3 Select record readers: records come out the same whatever the chunk
boundaries, and a reader keeps no more than one partial record."""

from __future__ import annotations

import bz2
import gzip
import json

import pytest

from pails.errors import S3Error
from pails.s3.select.config import CsvInput
from pails.s3.select.readers import MAX_RECORD, CsvRecords, Decompressor, JsonDocument, JsonLines, RangeCut


def feed_all(reader, text: str, size: int) -> list:
    out: list = []
    for i in range(0, len(text), size):
        out.extend(reader.feed(text[i:i + size]))
    out.extend(reader.feed("", last=True))
    return out


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_csv_records_across_chunks(size):
    text = 'a,b,c\n1,"x,y",3\n\n4,"say ""hi""",6\r\n7,8'
    rows = feed_all(CsvRecords(CsvInput()), text, size)
    assert rows == [["a", "b", "c"], ["1", "x,y", "3"], ["4", 'say "hi"', "6"], ["7", "8"]]


def test_csv_header_comments_and_custom_delimiters():
    r = CsvRecords(CsvInput(header="USE", comments="#"))
    assert feed_all(r, "#note\nx,y\n1,2\n#skip\n3,4\n", 2) == [["1", "2"], ["3", "4"]]
    assert r.header == ["x", "y"]
    r = CsvRecords(CsvInput(header="IGNORE", field_delimiter="|", record_delimiter="\t"))
    assert feed_all(r, "h|h\t1|2\t3|4\t", 4) == [["1", "2"], ["3", "4"]]
    assert r.header is None
    r = CsvRecords(CsvInput(quote="'", escape="\\"))
    assert feed_all(r, "'a,b',c\\,d\n", 5) == [["a,b", "c,d"]]


def test_csv_quoted_record_delimiter():
    r = CsvRecords(CsvInput(quoted_record_delimiter=True))
    assert feed_all(r, 'a,"line1\nline2",b\nc,d,e\n', 4) == [["a", "line1\nline2", "b"], ["c", "d", "e"]]


def test_csv_record_delimiter_inside_quotes_ends_the_record_by_default():
    r = CsvRecords(CsvInput())
    assert feed_all(r, 'a,"open\nb,c\n', 100) == [["a", "open"], ["b", "c"]]


def test_csv_record_too_large():
    r = CsvRecords(CsvInput())
    with pytest.raises(S3Error) as exc:
        list(r.feed("x" * (MAX_RECORD + 1)))
    assert exc.value.code == "OverMaxRecordSize"


@pytest.mark.parametrize("size", [1, 5, 10000])
def test_json_lines(size):
    text = '{"a": 1}\n\n{"a": [1, 2]}\n"s"\n7'
    assert feed_all(JsonLines(), text, size) == [{"a": 1}, {"a": [1, 2]}, "s", 7]
    with pytest.raises(S3Error) as exc:
        feed_all(JsonLines(), "{bad\n", size)
    assert exc.value.code == "JSONParsingError"


DOC = {"meta": {"skip": [1, 2, {"deep": "x"}]}, "root": [{"c1": 1}, {"c1": 2, "n": {"x": [10, 20]}}, {"c1": 3}],
       "n": 12345}


@pytest.mark.parametrize("size", [1, 2, 7, 100000])
def test_json_document_paths(size):
    text = json.dumps(DOC, indent=1)
    assert feed_all(JsonDocument([]), text, size) == [DOC]
    assert feed_all(JsonDocument(["*"]), text + " " + text, size) == [DOC, DOC]
    assert feed_all(JsonDocument(["*", "root"]), text, size) == DOC["root"]
    assert feed_all(JsonDocument(["*", "root", "*"]), text, size) == DOC["root"]
    assert feed_all(JsonDocument(["root", 1, "n", "x"]), text, size) == [10, 20]
    assert feed_all(JsonDocument(["n"]), text, size) == [12345]  # a number at a chunk edge read whole
    assert feed_all(JsonDocument(["nosuch"]), text, size) == []


def test_json_document_errors():
    with pytest.raises(S3Error) as exc:
        feed_all(JsonDocument(["root"]), '{"root": [1, 2', 3)
    assert exc.value.code == "JSONParsingError"
    with pytest.raises(S3Error) as exc:
        feed_all(JsonDocument(["root"]), '{"root": ["' + "x" * (MAX_RECORD + 10) + '"]}', 65536)
    assert exc.value.code == "OverMaxRecordSize"


@pytest.mark.parametrize("kind", ["GZIP", "BZIP2"])
def test_decompressor_streams_concatenated_members(kind):
    pack = gzip.compress if kind == "GZIP" else bz2.compress
    data = pack(b"hello ") + pack(b"world\n" * 1000)
    d = Decompressor(kind)
    out = b"".join(b"".join(d.feed(data[i:i + 3])) for i in range(0, len(data), 3))
    d.finish()
    assert out == b"hello " + b"world\n" * 1000
    d = Decompressor(kind)
    with pytest.raises(S3Error) as exc:
        list(d.feed(b"not compressed at all"))
    assert exc.value.code == "InvalidCompressionFormat"
    d = Decompressor(kind)
    list(d.feed(data[:10]))
    with pytest.raises(S3Error):
        d.finish()


@pytest.mark.parametrize("kind", ["GZIP", "BZIP2"])
def test_decompressor_bounds_each_piece(kind):
    """A small chunk of a highly compressed object comes out in bounded pieces."""
    plain = b"\0" * (10 * Decompressor.PIECE + 5)
    data = (gzip.compress if kind == "GZIP" else bz2.compress)(plain) * 2
    d = Decompressor(kind)
    pieces = list(d.feed(data))
    d.finish()
    assert max(len(p) for p in pieces) <= Decompressor.PIECE
    assert b"".join(pieces) == plain * 2


@pytest.mark.parametrize(("start", "end", "expected"), [
    (0, None, b"aa\nbb\ncc\ndd\n"), (0, 0, b"aa\n"), (1, 4, b"bb\n"), (3, 3, b"bb\n"), (3, 6, b"bb\ncc\n"),
    (4, 100, b"cc\ndd\n"), (11, None, b""),
])
def test_range_cut(start, end, expected):
    data = b"aa\nbb\ncc\ndd\n"
    for size in (1, 2, 100):
        cut = RangeCut(start, end, b"\n")
        part = data[cut.first_read:]
        out = b"".join(cut.feed(part[i:i + size]) for i in range(0, len(part), size))
        assert out == expected, size


def test_csv_output_keeps_a_record_of_one_empty_field() -> None:
    from pails.s3.select.config import CsvOutput
    from pails.s3.select.writers import csv_writer

    row = csv_writer(CsvOutput())
    assert row([""]) == '""\n'
    assert row([None]) == '""\n'
    assert row(["", ""]) == ",\n"
    assert row(["a", None]) == "a,\n"
    assert row(['x"y']) == '"x""y"\n'
