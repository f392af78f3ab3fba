"""One record per S3-port request, handed to the sinks that want it.

The HTTP edge fills a ``RequestRecord`` as the request goes (who, what,
how it ended, bytes and times) and, once the response is written, hands it to
every registered sink: the metrics, the JSON access log, bucket server access
logging.  A sink runs on the request's event loop after the response went
out: it must be quick (count, or append to a buffer a background task
flushes) and must not raise.  With no sink registered nothing is recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pails.access.request import AuthResult
from pails.s3.request import S3Request
from pails.storage.records import User

log = logging.getLogger("pails")


@dataclass(slots=True)
class RequestRecord:
    start: float  # time.time() when the request arrived
    request_id: str
    remote_ip: str
    method: str
    uri: str  # the request target as sent: raw path and query string
    request_headers: list[tuple[bytes, bytes]]  # as the server gave them (read only by the sinks that want them)
    operation: str = ""  # the route's name (GetObject, PutBucketCors, ...), "IAM"/"STS" for their Query APIs
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None  # the versionId the request named
    principal: User | None = None  # None: anonymous (or not authenticated)
    signature_version: str = ""  # "SigV4", "SigV2", "" (anonymous)
    auth_type: str = ""  # "AuthHeader", "QueryString" (presigned), "" (anonymous)
    status: int = 0
    error_code: str | None = None  # the S3 error code of an error response
    bytes_in: int = 0  # request body bytes read
    bytes_out: int = 0  # response body bytes sent
    object_size: int | None = None  # the object's size, for an object read or written
    turnaround: float = 0.0  # seconds from arrival until the response started
    duration: float = 0.0  # seconds from arrival until the last byte went out (or the response was given up)
    complete: bool = True  # False: the response was given up (client gone, stalled, damaged data)
    response_headers: list[tuple[str, str]] | None = None  # the response's (its ETag, its x-amz-version-id)
    acl_required: bool = False  # an ACL grant (not ownership or a policy) let the request through
    keys: list[tuple[str, str | None]] | None = None  # DeleteObjects: (key, version id) of each object deleted
    bucket_logging: Any = None  # bucket access logging's setup for the request (None: not looked at yet)

    # Read from the headers when a sink asks (most requests are only counted).
    def _request_header(self, name: bytes) -> str:
        for key, value in self.request_headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return ""

    def _response_header(self, name: str) -> str | None:
        for key, value in self.response_headers or ():
            if key.lower() == name:
                return value
        return None

    @property
    def host(self) -> str:
        return self._request_header(b"host")

    @property
    def user_agent(self) -> str:
        return self._request_header(b"user-agent")

    @property
    def referer(self) -> str:
        return self._request_header(b"referer")

    @property
    def etag(self) -> str | None:
        """The response's ETag (a write's or a read's)."""
        return self._response_header("etag")

    @property
    def version_created(self) -> str | None:
        """The response's x-amz-version-id (the version a write made)."""
        return self._response_header("x-amz-version-id")


Sink = Callable[[RequestRecord], None]
_sinks: list[Sink] = []
# A guard runs once the request is routed and authenticated, before its
# handler: it may look things up for its sink, or refuse the request (an
# S3Error, answered as usual).  Bucket access logging refuses a Journal write
# its target bucket would not accept.
Guard = Callable[[RequestRecord], Awaitable[None]]
_guards: list[Guard] = []


def add_sink(sink: Sink) -> None:
    """Hand every later request's record to ``sink`` (in this process)."""
    _sinks.append(sink)


def remove_sink(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def add_guard(guard: Guard) -> None:
    _guards.append(guard)


def remove_guard(guard: Guard) -> None:
    if guard in _guards:
        _guards.remove(guard)


async def check(record: RequestRecord) -> None:
    """Run the guards (the handler runs only if none raises)."""
    for guard in _guards:
        await guard(record)


def handled(record: RequestRecord, req: S3Request) -> None:
    """What the handler noted on the request for the logs."""
    record.acl_required = req.acl_required
    record.keys = req.logged_keys


def answered(record: RequestRecord, headers: list[tuple[str, str]]) -> None:
    """The response's headers, for the logs."""
    record.response_headers = headers


def wanted() -> bool:
    """Whether any sink wants records (the edge records nothing otherwise)."""
    return bool(_sinks)


def new_record(scope: dict[str, Any], request_id: str) -> RequestRecord:
    client = scope.get("client")
    raw_path = (scope.get("raw_path") or scope.get("path", "/").encode()).decode("latin-1")
    qs = scope.get("query_string", b"").decode("latin-1")
    return RequestRecord(time.time(), request_id, client[0] if client else "", scope["method"],
                         f"{raw_path}?{qs}" if qs and "?" not in raw_path else raw_path, scope["headers"])


def describe(record: RequestRecord, operation: str, bucket: str | None, key: str | None,
             query: dict[str, str], user: User | None, auth: AuthResult) -> None:
    """What the request is and who sent it, once it is routed and authenticated."""
    record.operation = operation
    record.bucket, record.key = bucket, key
    record.version_id = query.get("versionId") if query else None
    record.principal = user
    if auth.access_key:
        record.signature_version = auth.signature_version
        record.auth_type = "QueryString" if auth.presigned else "AuthHeader"


def emit(record: RequestRecord) -> None:
    for sink in _sinks:
        try:
            sink(record)
        except Exception:  # noqa: BLE001 - a sink's fault must not fail the request (its answer went out)
            log.exception("request log sink %r failed", sink)
