"""The request body as handlers see it: streamed from ASGI ``receive``,
aws-chunked decoded, and verified against what the signature promised."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pails.access.aws_chunked import AwsChunkedDecoder
from pails.access.request import AuthResult
from pails.errors import S3Error

Receive = Callable[[], Awaitable[dict[str, Any]]]
_STREAMING = "STREAMING-"
DEFAULT_BODY_TIMEOUT = 20.0  # seconds a request body may make no progress (``pails server --body-timeout``)


class ClientDisconnected(Exception):
    """The client went away mid-body; nothing is committed."""


async def receive_within(receive: Receive, timeout: float) -> dict[str, Any]:
    """The next ASGI message, or ``RequestTimeout`` once the client has sent
    nothing for ``timeout`` seconds (Granian waits for a stalled body
    forever).  One timer per message: no task is created."""
    try:
        async with asyncio.timeout(timeout):
            return await receive()
    except TimeoutError:
        raise S3Error("RequestTimeout") from None


class RequestBody:
    __slots__ = ("_receive", "_timeout", "declared_length", "_content_length", "_decoder", "_sha256",
                 "_expected_sha256", "_trailers", "_consumed", "_finished", "_has_body", "_whole", "received")

    def __init__(self, receive: Receive, headers: dict[str, str], auth: AuthResult,
                 timeout: float = DEFAULT_BODY_TIMEOUT) -> None:
        self._receive = receive
        self._timeout = timeout
        self._trailers: dict[str, str] = {}
        self._consumed = False
        self._finished = False
        self._whole: bytes | None = None  # what read_all returned: given again if the request runs again
        self.received = 0  # bytes of the body (as sent, before aws-chunked decoding) read so far
        cl = headers.get("content-length")
        try:
            self._content_length = int(cl) if cl is not None else None
        except ValueError:
            raise S3Error("InvalidArgument", "Invalid Content-Length", ArgumentName="Content-Length") from None
        if self._content_length is not None and self._content_length < 0:
            raise S3Error("InvalidArgument", "Invalid Content-Length", ArgumentName="Content-Length")
        self._has_body = bool(self._content_length) or "transfer-encoding" in headers
        sha = auth.content_sha256
        self._decoder: AwsChunkedDecoder | None = None
        self._sha256 = None
        self._expected_sha256: str | None = None
        # Only the signed payload mode says a body is aws-chunked: a
        # Content-Encoding of aws-chunked alone is just a stored header.
        if sha is not None and sha.startswith(_STREAMING):
            self._decoder = AwsChunkedDecoder(
                signing=auth.chunk_signing,
                expect_trailer="x-amz-trailer" in headers,
                signed_trailer=sha is not None and sha.endswith("-TRAILER") and auth.chunk_signing is not None,
            )
            decoded = headers.get("x-amz-decoded-content-length")
            try:
                self.declared_length = int(decoded) if decoded is not None else None
            except ValueError:
                raise S3Error("InvalidArgument", "Invalid x-amz-decoded-content-length") from None
        else:
            self.declared_length = self._content_length
            if sha is not None and len(sha) == 64:
                self._expected_sha256 = sha.lower()
                self._sha256 = hashlib.sha256()

    async def _messages(self) -> AsyncIterator[bytes]:
        if self._consumed:
            return
        self._consumed = True
        receive, timeout = self._receive, self._timeout
        while True:
            message = await receive_within(receive, timeout)
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            data = message.get("body", b"")
            if data:
                self.received += len(data)
                yield data
            if not message.get("more_body", False):
                self._finished = True
                return

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._whole is not None:
            yield self._whole
            return
        received = 0
        decoder = self._decoder
        sha = self._sha256
        async for data in self._messages():
            received += len(data)
            if decoder is not None:
                for piece in decoder.feed(data):
                    yield piece  # type: ignore[misc] - memoryviews of immutable input: no copy
            else:
                if sha is not None:
                    sha.update(data)
                yield data
        if self._content_length is not None and received < self._content_length:
            raise S3Error("IncompleteBody")
        if decoder is not None:
            self._trailers = decoder.finish()
            if self.declared_length is not None and decoder.decoded_bytes != self.declared_length:
                raise S3Error("IncompleteBody")
        elif sha is not None and self._expected_sha256 is not None:
            if not hmac.compare_digest(sha.hexdigest(), self._expected_sha256):
                raise S3Error("XAmzContentSHA256Mismatch", ClientComputedContentSHA256=self._expected_sha256,
                              S3ComputedContentSHA256=sha.hexdigest())

    async def read_all(self, limit: int) -> bytes:
        if self._whole is not None:
            if len(self._whole) > limit:
                raise S3Error("MaxMessageLengthExceeded")
            return self._whole
        if self.declared_length is not None and self.declared_length > limit:
            raise S3Error("MaxMessageLengthExceeded")
        parts = []
        size = 0
        async for piece in self.chunks():
            size += len(piece)
            if size > limit:
                raise S3Error("MaxMessageLengthExceeded")
            parts.append(piece)
        self._whole = b"".join(parts)  # the handler holds it anyway: keeping it costs no copy
        return self._whole

    def trailers(self) -> dict[str, str]:
        return self._trailers

    async def drain(self, limit: int) -> bool:
        """Read and discard what is left of the body, up to ``limit`` bytes;
        True when the body was read to its end."""
        if self._consumed:
            return self._finished
        seen = 0
        try:
            async for data in self._messages():
                seen += len(data)
                if seen > limit:
                    return False
        except (ClientDisconnected, S3Error):  # gone, or stalled (RequestTimeout)
            return False
        return True

    @property
    def consumed(self) -> bool:
        """Reading has begun and the body was not kept: the request cannot be
        handled again.  A body read whole (``read_all``: XML and JSON
        documents) is kept, so a request that read it and then found its
        bucket record changed runs again on the new one instead of failing."""
        return self._consumed and self._whole is None

    @property
    def unread(self) -> bool:
        """A body was announced and not read to its end: the connection must
        close after the response, or its bytes (or, after a refused
        ``Expect: 100-continue``, the client's next request) would be parsed
        as the next request."""
        return self._has_body and not self._finished


FORM_LIMIT = 1024 * 1024  # the largest IAM / STS Query API form


async def drain_messages(receive: Any, limit: int, timeout: float) -> bool:
    """Read and discard a body nobody read (no RequestBody made), up to
    ``limit`` bytes; True when it was read to its end."""
    seen = 0
    while True:
        try:
            message = await receive_within(receive, timeout)
        except S3Error:  # stalled
            return False
        if message["type"] == "http.disconnect":
            return False
        seen += len(message.get("body", b""))
        if seen > limit:
            return False
        if not message.get("more_body", False):
            return True


async def read_form(receive: Any, headers: dict[str, str], timeout: float) -> bytes:
    """A Query API form, whole (it is signed by its hash)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_LIMIT:
        raise S3Error("EntityTooLarge")
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive_within(receive, timeout)
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > FORM_LIMIT:
            raise S3Error("EntityTooLarge")
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)
