"""Requests from the admin process to its server's S3 port, signed with
AWS Signature Version 4 (the console's temporary credentials, or the keys a
login proves), over a plain asyncio HTTP/1.1 connection: bodies stream both
ways, never held whole."""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from pails.access import sigv4

_CHUNK = 256 * 1024
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                         "proxy-authorization", "proxy-authenticate"})


@dataclass(slots=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str = ""


def s3_address() -> tuple[str, int, bool]:
    """The S3 port this admin process's server serves (PAILS_ADDRESS), as a
    connectable address, and whether it speaks TLS."""
    host, _, port = os.environ.get("PAILS_ADDRESS", "127.0.0.1:9000").rpartition(":")
    host = host.strip("[]")
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return host, int(port), bool(os.environ.get("PAILS_TLS_CERT"))


def sign(method: str, host: str, path: str, query: list[tuple[str, str]], headers: Mapping[str, str],
         payload_hash: str, creds: Credentials, region: str, service: str,
         now: datetime | None = None) -> tuple[str, dict[str, str]]:
    """(the request target, the headers to send): ``headers`` plus Host,
    X-Amz-Date, X-Amz-Content-SHA256 (for S3), the session token and Authorization.
    ``path`` is decoded; it is encoded here once, as S3 canonicalizes it."""
    when = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    out = {k.lower(): v for k, v in headers.items()}
    out.update({"host": host, "x-amz-date": when})
    if service == "s3":  # the IAM and STS Query APIs hash the form they read instead, binding it to the signature
        out["x-amz-content-sha256"] = payload_hash
    if creds.session_token:
        out["x-amz-security-token"] = creds.session_token
    uri = quote(path, safe="/-_.~") or "/"
    qs = sigv4.canonical_query(query)
    signed = sorted(k for k in out if k in ("host", "content-type", "content-md5", "range")
                    or k.startswith("x-amz-"))
    signed_str = ";".join(signed)
    creq = sigv4.canonical_request(method, uri, qs, out, signed, signed_str, payload_hash)
    scope = f"{when[:8]}/{region}/{service}/aws4_request"
    signature = sigv4.sign_hex(sigv4.signing_key(creds.secret_key, when[:8], region, service),
                               sigv4.string_to_sign(when, scope, creq))
    out["authorization"] = (f"{sigv4.ALGORITHM} Credential={creds.access_key}/{scope}, "
                            f"SignedHeaders={signed_str}, Signature={signature}")
    return uri + (f"?{qs}" if qs else ""), out


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    length: int | None  # Content-Length; None: chunked, or read to the end
    chunked: bool
    _reader: asyncio.StreamReader
    _writer: asyncio.StreamWriter
    _done: bool = field(default=False)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def forwardable_headers(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.headers if k not in _HOP_BY_HOP and k != "content-length"]

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            if self.chunked:
                while True:
                    size = int((await self._reader.readline()).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while (await self._reader.readline()).strip():
                            pass
                        break
                    yield await self._reader.readexactly(size)
                    await self._reader.readline()
            elif self.length is not None:
                left = self.length
                while left > 0:
                    data = await self._reader.read(min(left, _CHUNK))
                    if not data:
                        raise ConnectionError("the S3 port closed the connection early")
                    left -= len(data)
                    yield data
            else:
                while data := await self._reader.read(_CHUNK):
                    yield data
        finally:
            self.close()

    async def read(self, limit: int = 1024 * 1024) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise ValueError("the response is larger than expected")
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._writer.close()


async def request(method: str, target: str, headers: Mapping[str, str],
                  body: AsyncIterator[bytes] | bytes = b"", length: int | None = None) -> Response:
    """Send one request to the S3 port (a connection of its own, closed with
    the response) and read the response's head."""
    host, port, tls = s3_address()
    context = None
    if tls:  # our own server on this host: the link is encrypted, its certificate is the operator's
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(host, port, ssl=context, limit=64 * 1024)
    try:
        if isinstance(body, bytes):
            length = len(body)
        lines = [f"{method} {target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k not in ("content-length", "connection")]
        if length is not None:
            lines.append(f"content-length: {length}")
        elif method in ("PUT", "POST"):
            lines.append("content-length: 0")
        lines.append("connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if isinstance(body, bytes):
            writer.write(body)
        elif length:
            async for chunk in body:
                writer.write(chunk)
                await writer.drain()
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionError("the S3 port did not answer HTTP")
        response_headers: list[tuple[str, str]] = []
        while (line := await reader.readline()).strip():
            name, _, value = line.decode("latin-1").partition(":")
            response_headers.append((name.strip().lower(), value.strip()))
    except BaseException:
        writer.close()
        raise
    found = dict(response_headers)
    declared = found.get("content-length", "")
    chunked = "chunked" in found.get("transfer-encoding", "").lower()
    length_out = int(declared) if declared.isdigit() and not chunked else None
    if method == "HEAD" or parts[1] in ("204", "304"):
        length_out, chunked = 0, False
    return Response(int(parts[1]), response_headers, length_out, chunked, reader, writer)


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def presign_get(host: str, path: str, query: list[tuple[str, str]], creds: Credentials, region: str,
                expires_in: int, now: datetime | None = None) -> str:
    """The path and query of a presigned GET (SigV4 in the query string, the
    session token in it too) for ``host``: a share link, valid ``expires_in``
    seconds and no longer than the credentials behind it."""
    when = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{when[:8]}/{region}/s3/aws4_request"
    params = [*query, ("X-Amz-Algorithm", sigv4.ALGORITHM), ("X-Amz-Credential", f"{creds.access_key}/{scope}"),
              ("X-Amz-Date", when), ("X-Amz-Expires", str(expires_in)), ("X-Amz-SignedHeaders", "host")]
    if creds.session_token:
        params.append(("X-Amz-Security-Token", creds.session_token))
    uri = quote(path, safe="/-_.~") or "/"
    qs = sigv4.canonical_query(params)
    creq = sigv4.canonical_request("GET", uri, qs, {"host": host}, ["host"], "host", sigv4.UNSIGNED_PAYLOAD)
    signature = sigv4.sign_hex(sigv4.signing_key(creds.secret_key, when[:8], region, "s3"),
                               sigv4.string_to_sign(when, scope, creq))
    return f"{uri}?{qs}&X-Amz-Signature={signature}"
