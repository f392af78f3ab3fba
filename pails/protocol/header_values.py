"""Values a response header may carry.  HTTP forbids control characters in
a header value (CR and LF would split the response: header injection), and
values go out as ISO-8859-1.  Request headers arrive already checked by the
HTTP server; values from a query string (``response-content-type``...) or a
POST form field do not, and must be refused before they are stored or sent."""

from __future__ import annotations

import re

from pails.errors import S3Error

# Tab is allowed; every other C0 control and DEL is not.  Latin-1 above 0x7F
# is obs-text, which HTTP carries.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_UNSENDABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def check_name(name: str) -> None:
    """InvalidArgument unless ``name`` is an HTTP token (a POST form's
    ``x-amz-meta-*`` field names become header names)."""
    if _TOKEN.fullmatch(name) is None:
        raise S3Error("InvalidArgument", "Header name is not a valid HTTP token.", ArgumentName=name[:256])


def check(name: str, value: str, *, latin1: bool = True) -> None:
    """InvalidArgument (as AWS answers a response override it cannot send)
    unless ``value`` can be a header value.  With ``latin1`` False, only
    control characters are refused (stored values beyond Latin-1 go out with
    "?" in their place, as they always have)."""
    bad = (_UNSENDABLE if latin1 else _CONTROL).search(value)
    if bad is None:
        return
    message = ("Header value cannot be represented using ISO-8859-1." if ord(bad.group()) > 0xFF
               else "Header value contains a control character.")
    raise S3Error("InvalidArgument", message, ArgumentName=name, ArgumentValue=value[:256])
