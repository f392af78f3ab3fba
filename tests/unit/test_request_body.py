"""The request body as handlers read it (pails/http/body.py), fed by a
stand-in for the HTTP server's ASGI ``receive``."""

from __future__ import annotations

import asyncio
from typing import Any

from pails.access.request import AuthResult
from pails.http.body import RequestBody


def _body(chunks: list[bytes]) -> RequestBody:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    auth = AuthResult(None, "", False, None, None)
    return RequestBody(receive, {"content-length": str(sum(map(len, chunks)))}, auth)


def test_a_body_read_whole_is_kept_so_the_request_can_run_again() -> None:
    async def run() -> None:
        body = _body([b"<Delete>", b"</Delete>"])
        assert not body.consumed
        assert await body.read_all(1000) == b"<Delete></Delete>"
        assert not body.consumed and not body.unread  # kept: a second run of the handler reads it again
        assert await body.read_all(1000) == b"<Delete></Delete>"
        assert [bytes(c) async for c in body.chunks()] == [b"<Delete></Delete>"]

    asyncio.run(run())


def test_a_streamed_body_cannot_be_read_again() -> None:
    async def run() -> None:
        body = _body([b"a" * 10, b"b" * 10])
        assert [bytes(c) async for c in body.chunks()] == [b"a" * 10, b"b" * 10]
        assert body.consumed

    asyncio.run(run())
