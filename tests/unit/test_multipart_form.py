"""The sans-IO multipart/form-data parser: every split point, boundary look-alikes
in data, and hostile input (S3Error only, never another exception)."""

from __future__ import annotations

import random

import pytest

from pails.errors import S3Error
from pails.protocol.multipart_form import (
    Data,
    End,
    MultipartParser,
    Part,
    PartEnd,
    boundary_from_content_type,
    parse_content_disposition,
)

B = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"


def form(fields: list[tuple[str, bytes]], file: tuple[str, bytes] | None = None, boundary: bytes = B,
         epilogue: bytes = b"") -> bytes:
    out = b""
    for name, value in fields:
        out += b"--" + boundary + b"\r\n"
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
    if file is not None:
        out += b"--" + boundary + b"\r\n"
        out += f'Content-Disposition: form-data; name="file"; filename="{file[0]}"\r\n'.encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n" + file[1] + b"\r\n"
    return out + b"--" + boundary + b"--\r\n" + epilogue


def collect(pieces: list[bytes], boundary: bytes = B) -> list[tuple]:
    """Run the parser over ``pieces``; return parts as (name, filename, content) plus an 'end' marker."""
    parser = MultipartParser(boundary)
    events = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    events.extend(parser.close())
    out: list[tuple] = []
    current: list | None = None
    for ev in events:
        if isinstance(ev, Part):
            assert current is None
            current = [ev.name, ev.filename, b""]
        elif isinstance(ev, Data):
            assert current is not None and ev.data
            current[2] += ev.data
        elif isinstance(ev, PartEnd):
            assert current is not None
            out.append(tuple(current))
            current = None
        elif isinstance(ev, End):
            assert current is None
            out.append(("end",))
    return out


TRICKY = [
    b"",
    b"plain",
    b"\r\n",
    b"\r\n--",
    b"--" + B,  # the boundary without the CRLF before it is data
    b"\r\n--" + B[:-1],  # a proper prefix of the delimiter
    b"x\r\n--" + B[:-1] + b"y",
    b"\r\r\n\r\n-\r\n--",
    b"\x00\xff" * 50,
    bytes(range(256)),
]


@pytest.mark.parametrize("content", TRICKY)
def test_every_split_point(content: bytes) -> None:
    body = form([("key", b"a/b.txt"), ("acl", b"private")], ("f.bin", content), epilogue=b"ignored")
    expected = [("key", None, b"a/b.txt"), ("acl", None, b"private"), ("file", "f.bin", content), ("end",)]
    assert collect([body]) == expected
    for i in range(len(body) + 1):
        assert collect([body[:i], body[i:]]) == expected, i
    assert collect([body[i:i + 1] for i in range(len(body))]) == expected


def test_random_splits_of_a_large_file() -> None:
    rng = random.Random(7)
    content = rng.randbytes(300_000) + b"\r\n--" + B[:10] + rng.randbytes(1000)
    body = form([("key", b"k")], ("big", content))
    for _ in range(5):
        cuts = sorted(rng.sample(range(len(body)), 40))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        assert collect(pieces)[1] == ("file", "big", content)


def test_data_is_streamed_not_buffered() -> None:
    parser = MultipartParser(B)
    head = form([], None)[:0] + b"--" + B + b'\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
    events = parser.feed(head)
    assert isinstance(events[0], Part) and events[0].data_offset == len(head)
    emitted = 0
    for _ in range(100):
        for ev in parser.feed(b"x" * 65536):
            emitted += len(ev.data)
    assert emitted >= 100 * 65536 - len(B) - 4
    assert len(parser._buf) < len(B) + 8


def test_preamble_padding_and_epilogue() -> None:
    body = (b"preamble text\r\n--" + B + b"  \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--"
            + B + b"--garbage after the end")
    assert collect([body]) == [("a", None, b"1"), ("end",)]


def test_data_offset_counts_from_the_body_start() -> None:
    body = form([("key", b"v")])
    parser = MultipartParser(B)
    part = parser.feed(body)[0]
    assert isinstance(part, Part)
    assert body[part.data_offset:part.data_offset + 1] == b"v"


def test_headers_and_filenames() -> None:
    body = (b"--" + B + b"\r\ncontent-disposition: FORM-DATA; filename=\"a;b \xc3\xa9.txt\"; name=\"File\"\r\n"
            b"X-Extra: one\r\n two\r\n\r\nd\r\n--" + B + b"--")
    parser = MultipartParser(B)
    part = parser.feed(body)[0]
    assert isinstance(part, Part)
    assert (part.name, part.filename) == ("File", "a;b \xe9.txt")
    assert part.headers["x-extra"] == "one two"
    assert parse_content_disposition("form-data; name=\"f\"; filename*=UTF-8''%E2%82%AC.txt; filename=\"x\"") == (
        "form-data", {"name": "f", "filename*": "\u20ac.txt", "filename": "x"})
    assert parse_content_disposition('form-data; name="a\\"; filename="C:\\dir\\f"')[1] == {
        "name": "a\\", "filename": "C:\\dir\\f"}


@pytest.mark.parametrize("ctype, expected", [
    ("multipart/form-data; boundary=abc", b"abc"),
    ('Multipart/Form-Data; charset=utf-8; boundary="a b:c"', b"a b:c"),
    ("application/x-www-form-urlencoded", None),
    ("", None),
])
def test_boundary_from_content_type(ctype: str, expected: bytes | None) -> None:
    assert boundary_from_content_type(ctype) == expected


@pytest.mark.parametrize("ctype", ["multipart/form-data", "multipart/form-data; boundary=",
                                   "multipart/form-data; boundary=" + "x" * 300,
                                   "multipart/form-data; boundary=\u00e9"])
def test_bad_boundaries(ctype: str) -> None:
    with pytest.raises(S3Error) as e:
        boundary_from_content_type(ctype)
    assert e.value.code == "MalformedPOSTRequest"


HOSTILE = [
    b"",  # no boundary at all
    b"--" + B,  # ends right after the boundary
    b"--" + B + b"\r\n",  # no headers
    b"--" + B + b"\r\n\r\n\r\n--" + B + b"--",  # a part without headers
    b"--" + B + b"garbage\r\n",
    b"--" + B + b"\r\nNo colon here\r\n\r\n",
    b"--" + B + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + B + b"--",  # no Content-Disposition
    b"--" + B + b"\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--" + B + b"--",
    b"--" + B + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n--" + B + b"--",  # no name
    b"--" + B + b"\r\nContent-Disposition: form-data; name=a; ===\r\n\r\nx\r\n--" + B + b"--",
    b"--" + B + b"\r\nContent-Disposition: form-data; name=a; filename*=bogus-charset''x\r\n\r\nx\r\n--" + B,
    b"--" + B + b"\r\nContent-Disposition: form-data; name=a\r\n\r\nunterminated data",
    b"--" + B + b"\r\nX: " + b"h" * 10000 + b"\r\n\r\n",  # huge headers
    b"x" * 100_000,  # a preamble that never ends
    b"--" + B + b" " * 2000,  # endless padding
    b"--" + B + b"\r\n" + b"\xff\xfe: \x00\r\nContent-Disposition: form-data; name=\xff\r\n\r\n",
]


@pytest.mark.parametrize("body", HOSTILE)
def test_hostile_input_is_s3error(body: bytes) -> None:
    for pieces in ([body], [body[i:i + 1] for i in range(min(len(body), 3000))] if len(body) < 3000 else [body]):
        parser = MultipartParser(B)
        with pytest.raises(S3Error) as e:
            for piece in pieces:
                parser.feed(piece)
            parser.close()
        assert e.value.code == "MalformedPOSTRequest"


def test_random_garbage_never_raises_anything_but_s3error() -> None:
    rng = random.Random(1)
    alphabet = [b"--", B, b"\r\n", b"\r", b"\n", b"Content-Disposition: form-data; name=", b'"', b";", b"x",
                b"\xff", b" ", b"filename=", b"--" + B + b"--", b":", b"\r\n\r\n"]
    for _ in range(2000):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30)))
        parser = MultipartParser(B)
        try:
            for i in range(0, len(body), rng.randrange(1, 8)):
                parser.feed(body[i:i + rng.randrange(1, 8)])
            parser.close()
        except S3Error:
            pass


def test_too_many_parts() -> None:
    parser = MultipartParser(B, max_parts=3)
    body = form([(f"f{i}", b"v") for i in range(5)])
    with pytest.raises(S3Error):
        parser.feed(body)


def test_nothing_after_the_end() -> None:
    parser = MultipartParser(B)
    parser.feed(form([("a", b"1")]))
    assert parser.finished
    assert parser.feed(b"--" + B + b"\r\nanything at all") == []
    assert parser.close() == []
