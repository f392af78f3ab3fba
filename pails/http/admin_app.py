"""The admin port's ASGI application (``pails server --admin-address``):
the admin API (pails.admin), signed with AWS Signature Version 4 by the
operator or an account root, JSON in and out.

It runs in a process of its own beside the S3 workers (``admin_server``):
the admin port stays up while S3 workers are replaced, and an admin request
never waits behind S3 traffic.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from pails.access.authenticate import ADMIN_API, authenticate
from pails.access.request import SignedRequest
from pails.admin import routes
from pails.admin.api import AdminError, AdminRequest, AdminResponse
from pails.errors import S3Error
from pails.http.body import ClientDisconnected, receive_within
from pails.http.lifetime import die_with_parent
from pails.storage.engine import Engine, Settings
from pails.storage.records import User

log = logging.getLogger("pails")

_BODY_LIMIT = 1024 * 1024  # the largest admin API request body (JSON)
_BODY_TIMEOUT = 20.0  # seconds a request body may send nothing


class AdminApp:
    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self.engine: Engine | None = None
        self._prefix = secrets.token_hex(4).upper()
        self._served = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    die_with_parent()  # this worker ends with its admin server
                    try:
                        self.engine = Engine(self._settings or Settings.from_env())
                        await self.engine.open()
                    except Exception as exc:  # noqa: BLE001 - reported to the server, which stops
                        log.error("admin API cannot start: %s", exc)
                        await send({"type": "lifespan.startup.failed", "message": str(exc)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.engine is not None:
                        await self.engine.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self._served += 1
        request_id = f"{self._prefix}{self._served:08X}"
        method = scope["method"]
        try:
            engine = self.engine
            if engine is None:
                raise AdminError(503, "ServiceUnavailable", "the admin API is starting")
            streamed = routes.streamed_route(scope["path"])
            if streamed is not None:  # the console answers itself (cookies, streamed bodies)
                await streamed(engine, scope, receive, send)
                return
            response = await self._answer(engine, scope, receive, method, request_id)
        except AdminError as err:
            response = _error(err.status, err.code, err.message)
        except S3Error as err:  # from the signature check: the same codes as S3 gives
            response = _error(err.status, err.code, err.message)
        except ClientDisconnected:
            return
        except Exception:
            log.exception("internal error in admin %s %s", method, scope.get("path"))
            response = _error(500, "InternalError", "an internal error occurred; the server log has its details")
        headers = [(b"content-type", response.content_type.encode()),
                   (b"content-length", str(len(response.body)).encode()),
                   (b"x-request-id", request_id.encode()), (b"cache-control", b"no-store"),
                   (b"server", b"Pails")]
        headers += [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else response.body})

    async def _answer(self, engine: Engine, scope: dict[str, Any], receive: Any, method: str,
                      request_id: str) -> AdminResponse:
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        path = unquote(raw_path)
        route, params_or_other = routes.match(method, raw_path)  # each path parameter is unquoted once, there
        if route is None:
            if params_or_other:
                raise AdminError(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
            raise AdminError(404, "NotFound", f"no admin API operation at {path}")
        assert isinstance(params_or_other, dict) and route.handler is not None
        qs = scope.get("query_string", b"").decode("latin-1")
        try:
            query_list = parse_qsl(qs, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise AdminError(400, "InvalidRequest", "the query string is not valid") from None
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1").strip()
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        body = await _read_body(receive, headers)
        user: User | None = None
        if route.signed:
            user = await self._principal(engine, SignedRequest(method, path, raw_path, query_list, headers, None),
                                         body)
        query = {k: v for k, v in reversed(query_list) if k not in _SIGNATURE_PARAMS}
        client = scope.get("client")
        return await route.handler(engine, AdminRequest(method, path, params_or_other, query, body, user,
                                                        request_id, headers, client[0] if client else ""))

    async def _principal(self, engine: Engine, signed: SignedRequest, body: bytes) -> User:
        """The signer of an admin request (the signature checked as S3 checks it)."""
        now = datetime.now(UTC)
        body_sha256 = hashlib.sha256(body).hexdigest()

        def lookup(access_key: str) -> str | None:
            raise _Lookup(access_key)

        try:
            authenticate(signed, lookup, now, ADMIN_API, body_sha256)
            raise AdminError(403, "AccessDenied", "the request must be signed (AWS Signature Version 4)")
        except _Lookup as miss:
            access_key = miss.access_key
        token = signed.headers.get("x-amz-security-token")
        principal = await (engine.session_principal(access_key, token) if token else engine.principal(access_key))
        secret = principal.secret_key if principal is not None else None
        authenticate(signed, lambda key: secret if key == access_key else None, now, ADMIN_API, body_sha256)
        if principal is None:
            raise AdminError(403, "InvalidAccessKeyId", "the access key is not known")
        return principal


class _Lookup(Exception):
    def __init__(self, access_key: str) -> None:
        super().__init__(access_key)
        self.access_key = access_key


_SIGNATURE_PARAMS = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                               "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"})


async def _read_body(receive: Any, headers: dict[str, str]) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _BODY_LIMIT:
        raise AdminError(413, "EntityTooLarge", f"the body is larger than {_BODY_LIMIT} bytes")
    if not declared.isdigit() and "transfer-encoding" not in headers:
        return b""
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            message = await receive_within(receive, _BODY_TIMEOUT)
        except S3Error:
            raise AdminError(400, "RequestTimeout", "the request body sent nothing for too long") from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _BODY_LIMIT:
            raise AdminError(413, "EntityTooLarge", f"the body is larger than {_BODY_LIMIT} bytes")
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _error(status: int, code: str, message: str) -> AdminResponse:
    return AdminResponse.json({"error": {"code": code, "message": message}}, status)


app = AdminApp()
