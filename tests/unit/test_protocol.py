"""Unit tests for the pure wire-format helpers."""

from __future__ import annotations

import pytest

from pails.errors import S3Error
from pails.protocol import xml
from pails.protocol.conditional import evaluate_read
from pails.protocol.dates import http_date, iso8601, parse_http_date
from pails.protocol.keys import prefix_successor
from pails.protocol.names import check_key, valid_bucket_name
from pails.protocol.ranges import parse_range


@pytest.mark.parametrize("header,size,expected", [
    ("bytes=0-0", 10, (0, 0)),
    ("bytes=4-7", 11, (4, 7)),
    ("bytes=4-", 11, (4, 10)),
    ("bytes=-7", 11, (4, 10)),
    ("bytes=-70", 11, (0, 10)),
    ("bytes=3-100", 11, (3, 10)),
    ("bytes=5-3", 11, None),  # invalid: whole object
    ("bytes=0-1,4-5", 11, None),  # multiple ranges: whole object, as AWS
    ("items=0-1", 11, None),
    ("bytes=a-b", 11, None),
    (None, 11, None),
])
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header,size", [("bytes=11-", 11), ("bytes=40-50", 11), ("bytes=0-0", 0),
                                         ("bytes=-1", 0), ("bytes=-0", 5)])
def test_unsatisfiable_range(header, size):
    with pytest.raises(S3Error) as info:
        parse_range(header, size)
    assert info.value.code == "InvalidRange" and info.value.status == 416


ETAG = '"abc"'
LM = 1_700_000_000.5


@pytest.mark.parametrize("headers,expected", [
    ({}, None),
    ({"if-match": '"abc"'}, None),
    ({"if-match": "abc"}, None),
    ({"if-match": '"zzz"'}, 412),
    ({"if-match": "*"}, None),
    ({"if-none-match": '"abc"'}, 304),
    ({"if-none-match": '"zzz"'}, None),
    ({"if-modified-since": http_date(LM)}, 304),
    ({"if-modified-since": http_date(LM - 10)}, None),
    ({"if-unmodified-since": http_date(LM - 10)}, 412),
    ({"if-unmodified-since": http_date(LM + 10)}, None),
    # If-Match passing overrides a failing If-Unmodified-Since; If-None-Match decides over If-Modified-Since.
    ({"if-match": '"abc"', "if-unmodified-since": http_date(LM - 10)}, None),
    ({"if-none-match": '"zzz"', "if-modified-since": http_date(LM + 10)}, None),
    ({"if-modified-since": "not a date"}, None),
])
def test_evaluate_read(headers, expected):
    assert evaluate_read(headers, ETAG, LM) == expected


def test_dates():
    assert iso8601(0.123) == "1970-01-01T00:00:00.123Z"
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert parse_http_date("Thu, 01 Jan 1970 00:00:10 GMT") == 10
    assert parse_http_date("garbage") is None


def test_prefix_successor():
    assert prefix_successor("a/") == "a0"
    assert prefix_successor("abc") == "abd"
    assert prefix_successor("a\U0010ffff") == "b"
    assert prefix_successor("\U0010ffff") is None
    assert prefix_successor("a\ud7ff") == "a\ue000"
    for p in ("photos/", "x", "é/"):
        s = prefix_successor(p)
        assert s is not None and p < s and (p + "\U0010ffff" * 3) < s


@pytest.mark.parametrize("name,ok", [
    ("abc", True), ("my-bucket.1", True), ("a" * 63, True), ("ab", False), ("a" * 64, False),
    ("Upper", False), ("under_score", False), ("192.168.5.123", False), ("foo..bar", False),
    ("foo.-bar", False), ("foo-.bar", False), ("foo-", False), ("-foo", False), ("xn--abc", False),
])
def test_bucket_names(name, ok):
    assert valid_bucket_name(name) is ok


def test_keys():
    check_key("a" * 1024)
    check_key("é" * 512)
    for bad, code in (("a" * 1025, "KeyTooLongError"), ("é" * 513, "KeyTooLongError"), ("a\x00b", "InvalidArgument")):
        with pytest.raises(S3Error) as info:
            check_key(bad)
        assert info.value.code == code


def test_xml_escape_and_parse():
    assert xml.escape('<a & "b">') == "&lt;a &amp; &quot;b&quot;&gt;"
    assert xml.escape("plain") == "plain"
    assert "\x01" not in xml.escape("bad\x01key")
    root = xml.parse(b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>k</Key></Object></Delete>')
    assert root.tag == "Delete" and xml.child_text(root.find("Object"), "Key") == "k"  # type: ignore[arg-type]
    for bad in (b"", b"<a>", b'<!DOCTYPE x [<!ENTITY e "x">]><a>&e;</a>', b"not xml"):
        with pytest.raises(S3Error) as info:
            xml.parse(bad)
        assert info.value.code == "MalformedXML"
