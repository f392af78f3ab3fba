"""What an S3 handler receives and returns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pails.errors import S3Error
from pails.protocol import xml
from pails.storage.records import Bucket, User


class Body(Protocol):
    """The request body, already decoded (aws-chunked) and verified as it
    streams (x-amz-content-sha256, chunk signatures)."""

    declared_length: int | None  # payload length, when the client said it

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def read_all(self, limit: int) -> bytes: ...

    def trailers(self) -> dict[str, str]: ...


@dataclass(slots=True)
class S3Request:
    method: str
    bucket: str | None
    key: str | None
    query: dict[str, str]
    headers: dict[str, str]
    user: User | None  # None: the anonymous principal
    body: Body
    request_id: str
    signature_version: str = "anonymous"
    action: str = ""  # the IAM action a bucket policy sees, e.g. "s3:GetObject"
    client_ip: str = ""
    presigned: bool = False
    bucket_record: Bucket | None = None  # the addressed bucket, once a handler looked it up
    acl_required: bool = False  # an ACL grant, not ownership or a policy, allowed it (server access logs)
    logged_keys: list[tuple[str, str | None]] | None = None  # DeleteObjects: what it deleted (access logs)

    @property
    def principal_id(self) -> str | None:
        return self.user.canonical_id if self.user else None


@dataclass(slots=True)
class FileBody:
    """A response body read from data files: (blob_id, offset, length) pieces;
    an encrypted piece has a fourth element, a function returning the
    ``pails.storage.crypto.Opener`` that decrypts its slices.  ``check``: a
    checksum the whole body must have, as (algorithm, expected value) from
    ``pails.protocol.checksums.whole_object_check`` (checked as the body
    streams; not when the HTTP server sends a data file itself)."""

    pieces: list[tuple[Any, ...]]
    check: tuple[str, str] | None = None


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    file: FileBody | None = None
    content_length: int | None = None  # for HEAD and file bodies
    stream: AsyncIterator[bytes] | None = None  # a body made as it is sent (chunked; S3 Select's events)
    error_code: str | None = None  # an error response's S3 code (for the request log)

    @staticmethod
    def xml(body: bytes, status: int = 200) -> Response:
        return Response(status, [("Content-Type", "application/xml")], body)


def query_int(req: S3Request, name: str, default: int, message: str, range_message: str | None = None) -> int:
    """A non-negative 32-bit integer query parameter (max-keys, max-parts, ...);
    InvalidArgument when it is not one."""
    raw = req.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise S3Error("InvalidArgument", message, ArgumentName=name, ArgumentValue=raw) from None
    if not 0 <= value <= 2**31 - 1:
        raise S3Error("InvalidArgument", range_message or message, ArgumentName=name, ArgumentValue=raw)
    return value


def error_response(err: S3Error, resource: str, request_id: str, method: str) -> Response:
    """An S3 error answer: AWS's XML body (none for HEAD) and the error's headers."""
    headers = list(err.headers.items())
    if method == "HEAD":
        return Response(err.status, headers, error_code=err.code)
    extra = "".join(xml.element(k, v) for k, v in err.extra.items())
    body = (f"{xml.XML_DECL}<Error><Code>{err.code}</Code><Message>{xml.escape(err.message)}</Message>"
            f"{extra}<Resource>{xml.escape(err.resource or resource)}</Resource>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>").encode()
    headers.append(("Content-Type", "application/xml"))
    return Response(err.status, headers, body, error_code=err.code)
