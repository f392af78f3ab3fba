"""pails.protocol.header_values: what may go out as a response header."""

from __future__ import annotations

import pytest

from pails.errors import S3Error
from pails.protocol import header_values


@pytest.mark.parametrize("value", ["text/plain", "attachment; filename=\"\u00e9.txt\"", "a\tb", "", "\u00ff"])
def test_sendable(value: str) -> None:
    header_values.check("response-content-type", value)


@pytest.mark.parametrize("value,message", [
    ("a\r\nX-Injected: 1", "control character"), ("a\x00", "control character"), ("\x7f", "control character"),
    ("\x1b[31m", "control character"), ("\u2019", "ISO-8859-1"), ("\U0001f600", "ISO-8859-1"),
])
def test_unsendable(value: str, message: str) -> None:
    with pytest.raises(S3Error) as err:
        header_values.check("response-content-type", value)
    assert err.value.code == "InvalidArgument" and message in err.value.message
    assert err.value.extra["ArgumentName"] == "response-content-type"


def test_stored_values_beyond_latin1_are_not_refused() -> None:
    header_values.check("x-amz-meta-a", "\u20ac", latin1=False)  # goes out as "?", as it always has
    with pytest.raises(S3Error):
        header_values.check("x-amz-meta-a", "\u20ac\n", latin1=False)


@pytest.mark.parametrize("name,ok", [("x-amz-meta-color", True), ("x-amz-meta-a_b.c~", True),
                                     ("x-amz-meta-a b", False), ("x-amz-meta-a:b", False), ("x-amz-meta-\u00e9", False),
                                     ("x-amz-meta-\x00", False), ("", False)])
def test_header_names(name: str, ok: bool) -> None:
    if ok:
        header_values.check_name(name)
    else:
        with pytest.raises(S3Error):
            header_values.check_name(name)
