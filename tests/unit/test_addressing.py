"""The HTTP edge's reading of headers and addressing (pails/http/addressing.py)."""

from __future__ import annotations

import pytest

from pails.errors import S3Error
from pails.http.addressing import BAD_ESCAPE, MAX_HEADER_BYTES, address, announces_body, header_map, host_of


@pytest.mark.parametrize("path, host, domain, expected", [
    ("/", "localhost:9000", None, (None, None, False)),
    ("/b", "localhost:9000", None, ("b", None, False)),
    ("/b/", "localhost:9000", None, ("b", None, False)),
    ("/b/k/x", "localhost:9000", None, ("b", "k/x", False)),
    ("/k", "b.s3.example.com:9000", "s3.example.com", ("b", "k", True)),
    ("/", "B.S3.Example.com", "s3.example.com", ("b", None, True)),
    ("/b/k", "s3.example.com", "s3.example.com", ("b", "k", False)),  # the domain itself: path style
    ("/b/k", "[::1]:9000", "s3.example.com", ("b", "k", False)),
])
def test_address(path: str, host: str, domain: str | None, expected: tuple[object, ...]) -> None:
    assert address(path, host, domain) == expected


def test_header_map_joins_repeats_and_bounds_the_section() -> None:
    assert header_map([(b"X-A", b" 1 "), (b"x-a", b"2"), (b"Host", b"h")]) == {"x-a": "1,2", "host": "h"}
    with pytest.raises(S3Error) as err:
        header_map([(b"x-big", b"v" * MAX_HEADER_BYTES)])
    assert err.value.code == "RequestHeaderSectionTooLarge"


def test_host_body_and_escapes() -> None:
    assert host_of({"headers": [(b"HOST", b"example.com")]}) == "example.com"
    assert host_of({"headers": []}) == ""
    assert announces_body([(b"Content-Length", b"5")]) and announces_body([(b"transfer-encoding", b"chunked")])
    assert not announces_body([(b"content-length", b"0")])
    assert BAD_ESCAPE.search("/b/%zz") and not BAD_ESCAPE.search("/b/%41")
