"""The website endpoint's built-in error pages: HTML as AWS writes them,
never XML.  Pure: no I/O."""

from __future__ import annotations

from html import escape
from http import HTTPStatus

from pails.errors import S3Error


def _items(err: S3Error) -> list[str]:
    items = [f"<li>Code: {escape(err.code)}</li>", f"<li>Message: {escape(err.message)}</li>"]
    items += [f"<li>{escape(name)}: {escape(value)}</li>" for name, value in err.extra.items()]
    return items


def error_page(err: S3Error, request_id: str, document_error: S3Error | None = None) -> bytes:
    """The page of an error; ``document_error``: why the bucket's own error
    document could not be served instead."""
    try:
        title = f"{err.status} {HTTPStatus(err.status).phrase}"
    except ValueError:
        title = str(err.status)
    lines = ["<html>", f"<head><title>{title}</title></head>", "<body>", f"<h1>{title}</h1>", "<ul>",
             *_items(err), f"<li>RequestId: {request_id}</li>", f"<li>HostId: {request_id}</li>", "</ul>"]
    if document_error is not None:
        lines += ["<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>", "<ul>",
                  *_items(document_error), "</ul>"]
    lines += ["<hr/>", "</body>", "</html>", ""]
    return "\n".join(lines).encode()


def error_headers(err: S3Error) -> list[tuple[str, str]]:
    """What a HEAD (no body) learns of an error, as AWS's website endpoints tell it."""
    headers = [("x-amz-error-code", err.code), ("x-amz-error-message", err.message)]
    headers += [(f"x-amz-error-detail-{name}", value) for name, value in err.extra.items()]
    return headers
