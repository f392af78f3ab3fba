"""Raw HTTP for the server fuzzer: a request as parts (method, path, query,
headers, body), signed over exactly the bytes that go out (SigV4 header,
SigV4 presigned, SigV2 header, aws-chunked with chunk signatures), written to
a socket, and the response read back and checked as HTTP."""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from pails.access import sigv2
from pails.access.request import SignedRequest

REGION = "us-east-1"
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def q(text: str) -> str:
    return quote(text, safe="-_.~")


@dataclass
class Request:
    method: str
    path: str  # decoded: "/bucket/key"
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw_target: bytes | None = None  # sent as is instead of path and query (then not signable)

    def target(self) -> bytes:
        if self.raw_target is not None:
            return self.raw_target
        path = quote(self.path, safe="/-_.~")
        qs = "&".join(f"{q(k)}={q(v)}" if v != "" else q(k) for k, v in self.query)
        return (path + (f"?{qs}" if qs else "")).encode("latin-1", "replace")


def _signing_key(secret: str, day: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (day, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _canonical(req: Request, headers: dict[str, str], signed: list[str], payload: str,
               query: list[tuple[str, str]]) -> str:
    canonical_headers = "".join(f"{k}:{' '.join(headers[k].split())}\n" for k in signed)
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted((q(k), q(v)) for k, v in query))
    return "\n".join([req.method, quote(req.path, safe="/-_.~"), canonical_query, canonical_headers,
                      ";".join(signed), payload])


def sign_v4(req: Request, access_key: str, secret: str, payload: str, now: datetime | None = None) -> str:
    """Sign every header of ``req`` (SigV4, Authorization header); returns the
    request's signature (the seed of aws-chunked chunk signatures)."""
    now = now or datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    req.headers["x-amz-date"] = amz_date
    req.headers["x-amz-content-sha256"] = payload
    headers = {k.lower(): v for k, v in req.headers.items()}
    signed = sorted(headers)
    scope = f"{day}/{REGION}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(_canonical(req, headers, signed, payload, req.query).encode()).hexdigest()])
    sig = hmac.new(_signing_key(secret, day), sts.encode(), hashlib.sha256).hexdigest()
    req.headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                    f"SignedHeaders={';'.join(signed)}, Signature={sig}")
    return sig


def presign_v4(req: Request, access_key: str, secret: str, expires: int = 600) -> None:
    now = datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/{REGION}/s3/aws4_request"
    headers = {k.lower(): v for k, v in req.headers.items()}
    signed = sorted(headers)
    req.query += [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", f"{access_key}/{scope}"),
                  ("X-Amz-Date", amz_date), ("X-Amz-Expires", str(expires)), ("X-Amz-SignedHeaders", ";".join(signed))]
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(_canonical(req, headers, signed, UNSIGNED, req.query).encode()).hexdigest()])
    req.query.append(("X-Amz-Signature", hmac.new(_signing_key(secret, day), sts.encode(),
                                                   hashlib.sha256).hexdigest()))


def sign_v2(req: Request, access_key: str, secret: str) -> None:
    """SigV2 over the string Pails builds (its own subresource rules): good
    enough to get a mutated request past authentication."""
    req.headers["date"] = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    raw = quote(req.path, safe="/-_.~")
    signed = SignedRequest(req.method, req.path, raw, list(req.query), {k.lower(): v for k, v in req.headers.items()})
    sts = next(sigv2.strings_to_sign(signed))
    req.headers["authorization"] = f"AWS {access_key}:{sigv2.sign(secret, sts)}"


def chunked_signed(payload: bytes, seed: str, secret: str, amz_date: str, chunk: int = 8192) -> bytes:
    """aws-chunked framing with chained chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""
    day = amz_date[:8]
    key = _signing_key(secret, day)
    scope = f"{day}/{REGION}/s3/aws4_request"
    prev, out = seed, []
    pieces = [payload[i:i + chunk] for i in range(0, len(payload), chunk)] + [b""]
    for piece in pieces:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY_SHA256,
                         hashlib.sha256(piece).hexdigest()])
        prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out.append(f"{len(piece):x};chunk-signature={prev}\r\n".encode() + piece + b"\r\n")
    return b"".join(out)


def chunked_unsigned(payload: bytes, trailer: str, chunk: int = 8192) -> bytes:
    out = [f"{len(payload[i:i + chunk]):x}\r\n".encode() + payload[i:i + chunk] + b"\r\n"
           for i in range(0, len(payload), chunk)]
    return b"".join(out) + b"0\r\n" + trailer.encode() + b"\r\n\r\n"


def serialize(req: Request, host: str) -> bytes:
    headers = dict(req.headers)
    headers.setdefault("host", host)
    if req.body or req.method in ("PUT", "POST"):
        headers.setdefault("content-length", str(len(req.body)))
    head = req.method.encode("latin-1", "replace") + b" " + req.target() + b" HTTP/1.1\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode("latin-1", "replace") for k, v in headers.items())
    return head + b"\r\n" + req.body


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Malformed(Exception):
    """The server's answer is not a well-formed HTTP response."""


_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})(?: [^\r\n]*)?")


def exchange(port: int, data: bytes, *, head: bool, timeout: float, half_close: bool = False) -> Reply | None:
    """Send ``data`` on a new connection and read one response (None if the
    server closed without answering)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # broken pipe, reset, not connected
            pass  # the server answered (and closed) before taking everything: read its answer
        buf = b""
        while True:
            try:
                reply, buf = _read_one(sock, buf, head)
            except ConnectionResetError:
                return None
            if reply is None:
                return None
            if reply.status >= 200:
                return reply
            # 1xx (100 Continue): the final response follows


def _recv(sock: socket.socket, buf: bytes) -> bytes | None:
    chunk = sock.recv(65536)
    return buf + chunk if chunk else None


def _read_one(sock: socket.socket, buf: bytes, head: bool) -> tuple[Reply | None, bytes]:
    while b"\r\n\r\n" not in buf:
        more = _recv(sock, buf)
        if more is None:
            if buf:
                raise Malformed(f"connection closed inside the response head: {buf[:200]!r}")
            return None, b""
        buf = more
    head_bytes, _, rest = buf.partition(b"\r\n\r\n")
    lines = head_bytes.split(b"\r\n")
    m = _STATUS.fullmatch(lines[0])
    if m is None:
        raise Malformed(f"bad status line: {lines[0][:200]!r}")
    status = int(m.group(1))
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise Malformed(f"bad header line: {line[:200]!r}")
        headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
    if status < 200 or status in (204, 304) or head:
        return Reply(status, headers, b""), rest
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            more = _recv(sock, rest)
            if more is None:
                raise Malformed(f"body shorter than its content-length ({len(rest)} < {length})")
            rest = more
        return Reply(status, headers, rest[:length]), rest[length:]
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                more = _recv(sock, rest)
                if more is None:
                    raise Malformed("chunked body cut short")
                rest = more
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                more = _recv(sock, rest)
                if more is None:
                    raise Malformed("chunked body cut short")
                rest = more
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                return Reply(status, headers, body), rest
    raise Malformed(f"a {status} response without content-length or chunked framing")
