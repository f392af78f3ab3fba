"""The ASGI application: no framework, one function per request.

Parse the request line and headers, authenticate (before any body byte is
read, so ``Expect: 100-continue`` is answered only for authenticated
requests), route, run the handler, write the response.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from pails import jobs
from pails.access.authenticate import ANONYMOUS, QUERY_APIS, S3_ONLY, authenticate, claimed_service
from pails.access.request import AuthResult, SignedRequest
from pails.errors import S3Error
from pails.http import access_log, lifetime, request_log, request_metrics, routes
from pails.http.addressing import BAD_ESCAPE, address, announces_body, header_map, host_of
from pails.http.body import DEFAULT_BODY_TIMEOUT, ClientDisconnected, RequestBody, drain_messages, read_form
from pails.http.request_log import RequestRecord
from pails.http.sockets import ConnectionOptions
from pails.iam import query_api
from pails.protocol.checksums import WholeCheck, read_check
from pails.s3 import bucket_logging, cors
from pails.s3.request import FileBody, Response, S3Request, error_response
from pails.storage.crypto import IntegrityError
from pails.storage.engine import Engine, Settings
from pails.storage.meta import BucketChanged
from pails.storage.records import User
from pails.storage.space import StorageFull, is_full
from pails.sts import api as sts_api
from pails.website import endpoint as website

log = logging.getLogger("pails")

_READ_CHUNK = 1024 * 1024
_DRAIN_LIMIT = 8 * 1024 * 1024  # unread request bodies up to this size are read away to keep the connection
# Seconds a cached access key stays valid.  A change of keys or policies takes
# effect at once on this host (the store's credentials epoch); through another
# PostgreSQL gateway, within this.
_USER_TTL = 1.0
_LAST_USED_GRANULARITY = 60.0  # seconds: how often an IAM key's last-used time is written
_IDLE_CHECK = 1.0  # seconds without a request after which memory is given back
DEFAULT_SEND_TIMEOUT = 60.0  # seconds a response may make no progress (``pails server --send-timeout``)
# The kernel resets a connection whose response stalled for the send timeout
# and this much more (sockets.py): later than the per-send timeout below, so a
# response streamed from Python is given up by Pails first, and never keeps
# reading a data file for a connection that is gone.
_KERNEL_GRACE = 1.0


class _UserNotCached(Exception):
    def __init__(self, access_key: str) -> None:
        super().__init__(access_key)
        self.access_key = access_key


def _not_cached(access_key: str) -> str | None:
    """Temporary credentials are looked up with their session token, never from the plain cache."""
    raise _UserNotCached(access_key)


def _security_token(signed: SignedRequest) -> str | None:
    """The STS session token of a request: a header, or a presigned URL's parameter."""
    token = signed.headers.get("x-amz-security-token")
    if token is None and signed.query:  # SigV4 presigned URLs name it so, SigV2 ones in lower case
        token = next((v for k, v in signed.query if k in ("X-Amz-Security-Token", "x-amz-security-token")), None)
    return token


class PailsApp:
    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self.engine: Engine | None = None
        self._starting: asyncio.Task[Engine] | None = None
        self._jobs: list[asyncio.Task[None]] = []
        # access key -> (valid until, the store's credentials epoch when read, principal)
        self._users: dict[str, tuple[float, int, User]] = {}
        self._touches: set[asyncio.Task[None]] = set()  # last-used writes under way
        self._sockets = ConnectionOptions(None)  # set up when the engine opens
        # Request ids: unique per worker (random prefix), cheap per request (a counter).
        self._id_prefix = secrets.token_hex(4).upper()
        self._served = 0  # requests so far
        self._served_at_tick = 0  # ... when the idle timer last looked
        self._released = True  # memory given back since the last request
        # Settings of the HTTP edge (read at start-up: workers get them in the environment).
        self.body_timeout = DEFAULT_BODY_TIMEOUT
        self.send_timeout = DEFAULT_SEND_TIMEOUT
        self.verify_reads = "crc"  # which whole-object checksums a GET checks (pails server --verify-reads)
        self.website_domain: str | None = None  # pails server --website-domain (docs/website.md)

    async def start(self) -> Engine:
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._open_engine())
        return await asyncio.shield(self._starting)

    async def _open_engine(self) -> Engine:
        self._id_prefix = secrets.token_hex(4).upper()  # here: workers forked from one process differ
        self.body_timeout = float(os.environ.get("PAILS_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT))
        self.send_timeout = float(os.environ.get("PAILS_SEND_TIMEOUT", DEFAULT_SEND_TIMEOUT))
        self.verify_reads = os.environ.get("PAILS_VERIFY_READS", "crc")
        self.website_domain = os.environ.get("PAILS_WEBSITE_DOMAIN") or None
        self._sockets = ConnectionOptions(self.send_timeout + _KERNEL_GRACE)
        engine = Engine(self._settings or Settings.from_env())
        await engine.open()
        # A worker replacing one that died finishes or removes what the dead
        # one left half-written (the others' writes are theirs to finish).
        finished, removed = await engine.recover_dead_writers()
        if finished or removed:
            log.warning("worker %d: %d writes of dead workers finished, %d interrupted writes removed",
                        os.getpid(), finished, removed)
        self.engine = engine
        request_metrics.start()  # counted when the server made a metrics directory (pails server)
        access_log.start()  # the JSON access log (pails server --access-log)
        # Server access logging: every request's record passes its guard and its sink.
        access_logger = bucket_logging.logger_for(engine)
        request_log.add_guard(access_logger.guard)
        request_log.add_sink(access_logger.sink)
        # Background jobs (lifecycle, access log delivery, notifications): one set per process; a lease
        # decides which process works.
        self._jobs = jobs.start(engine, (access_logger.spool, access_logger.delivery))
        asyncio.get_running_loop().call_later(_IDLE_CHECK, self._idle_tick)
        return engine

    def _idle_tick(self) -> None:
        """Once no request has arrived for a whole interval, give caches and
        free heap pages back to the OS (once per idle spell)."""
        if self._served != self._served_at_tick:
            self._served_at_tick = self._served
            self._released = False
        elif not self._released and self.engine is not None:
            self._released = True
            self.engine.release_memory()
        if self.engine is not None:
            self.engine.tick()
        asyncio.get_running_loop().call_later(_IDLE_CHECK, self._idle_tick)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.handle(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    lifetime.die_with_server()
                    try:
                        await self.start()
                    except Exception as exc:  # noqa: BLE001 - reported to the server, which stops
                        log.error("cannot start: %s", exc)
                        await send({"type": "lifespan.startup.failed", "message": str(exc)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    for task in self._jobs:
                        task.cancel()
                    if self.engine is not None:
                        await self.engine.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # --- per request -------------------------------------------------------
    async def _lookup_user(self, access_key: str, token: str | None = None) -> User | None:
        now = time.monotonic()
        assert self.engine is not None
        epoch = self.engine.meta.credentials_epoch()
        hit = self._users.get(access_key)
        if hit is not None and hit[0] > now and hit[1] == epoch and hit[2].session_token == token and \
                (hit[2].key_expires is None or hit[2].key_expires > time.time()):
            return hit[2]
        if token is not None:  # temporary credentials: the token is the session (pails.sts)
            user = await self.engine.session_principal(access_key, token)
        else:
            user = await self.engine.principal(access_key)
        if user is not None:
            self._users[access_key] = (now + _USER_TTL, epoch, user)
            if user.iam_user is not None and (user.key_last_used or 0) < time.time() - _LAST_USED_GRANULARITY:
                user.key_last_used = time.time()
                task = asyncio.get_running_loop().create_task(self.engine.meta.touch_key(access_key,
                                                                                         user.key_last_used))
                self._touches.add(task)
                task.add_done_callback(self._touched)
        else:
            self._users.pop(access_key, None)
        return user

    def _touched(self, task: asyncio.Task[None]) -> None:
        self._touches.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("last-used time of an access key not written: %s", task.exception())

    def _cached_secret(self, access_key: str) -> str | None:
        hit = self._users.get(access_key)
        if hit is not None and hit[0] > time.monotonic() and self.engine is not None \
                and hit[1] == self.engine.meta.credentials_epoch():
            user = hit[2]
            if user.session_token is None:
                return user.secret_key
        raise _UserNotCached(access_key)

    async def _authenticate(self, signed: SignedRequest, services: tuple[str, ...] = S3_ONLY,
                            body_sha256: str | None = None) -> AuthResult:
        """``authenticate`` is pure and synchronous: it runs on the cached
        secret, and once more after the user was read if it was not cached."""
        now = datetime.now(UTC)
        token = _security_token(signed)
        try:
            return authenticate(signed, self._cached_secret if token is None else _not_cached, now, services,
                                body_sha256)
        except _UserNotCached as miss:
            access_key = miss.access_key
            user = await self._lookup_user(access_key, token)
            if user is None and token is not None:
                raise S3Error("InvalidToken") from None
            secret = user.secret_key if user is not None else None
            return authenticate(signed, lambda key: secret if key == access_key else None, now, services,
                                body_sha256)

    async def _query_api(self, engine: Engine, signed: SignedRequest, form: bytes, headers: dict[str, str],
                         request_id: str, client_ip: str) -> Response | None:
        """A form POST to the service URL: an IAM or STS Query API call if its
        signature names that service (None: it names S3, and S3 answers)."""
        form_sha256 = hashlib.sha256(form).hexdigest()
        try:
            auth = await self._authenticate(signed, QUERY_APIS, form_sha256)
            if auth.service != "s3" and auth.access_key and auth.content_sha256 != form_sha256:
                # The signature covers the hash the client declared: it must be this form's, or a
                # signed call could be replayed with another form (UNSIGNED-PAYLOAD signs none).
                raise S3Error("XAmzContentSHA256Mismatch")
        except S3Error as err:
            service = claimed_service(signed)
            if service not in ("iam", "sts"):
                raise
            return Response.xml(query_api.refused(service, err.code, err.message, err.status, request_id),
                                err.status)
        if auth.access_key is None and sts_api.unsigned_call(form):  # AssumeRoleWithWebIdentity needs no keys
            status, xml_body = await sts_api.handle(engine, form, None, request_id)
            return Response.xml(xml_body, status)
        if auth.service == "s3":
            return None
        user = await self._lookup_user(auth.access_key, _security_token(signed)) if auth.access_key else None
        if auth.service == "sts":
            status, xml_body = await sts_api.handle(engine, form, user, request_id)
            return Response.xml(xml_body, status)
        status, xml_body, changed = await query_api.handle(engine, auth.service, form, user, request_id, headers,
                                                           client_ip)
        if changed:  # the store bumped its credentials epoch: cached principals are read again
            self._users.clear()
        return Response.xml(xml_body, status)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        engine = self.engine or await self.start()
        if not self._sockets.settled:
            self._sockets.on_request()
        self._served += 1
        request_id = f"{self._id_prefix}{self._served:08X}"
        method = scope["method"]
        resource = scope.get("path", "/")
        record = request_log.new_record(scope, request_id) if request_log.wanted() else None
        if self.website_domain is not None:
            site = website.address_of(scope, self.website_domain)
            if site is not None:
                if record is not None:
                    record.operation = "WebsiteGet" if method != "HEAD" else "WebsiteHead"
                response = await website.answer(engine, scope, site, request_id)
                await self._send(response, request_id, method, send, engine, announces_body(scope["headers"]),
                                 record=record)
                return
        probe = routes.PATHS.get(resource) if method in ("GET", "HEAD") else None
        if probe is not None and not address(resource, host_of(scope), engine.settings.domain)[2]:
            if record is not None:
                record.operation = "HealthCheck"
            await self._send(await probe(engine), request_id, method, send, engine, False, record=record)
            return
        body: RequestBody | None = None
        form_read = False  # a Query API form, read whole before it is authenticated
        headers: dict[str, str] = {}
        bucket: str | None = None
        key: str | None = None
        req: S3Request | None = None
        try:
            headers = header_map(scope["headers"])
            raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            raw_path = raw_path.split("?", 1)[0]
            if "%" in raw_path and BAD_ESCAPE.search(raw_path):
                raise S3Error("InvalidURI")
            try:
                path = unquote_to_bytes(raw_path.encode("latin-1")).decode("utf-8")  # the bytes as sent
            except UnicodeDecodeError:
                raise S3Error("InvalidURI") from None
            resource = path
            qs = scope.get("query_string", b"").decode("latin-1")
            try:
                query_list = parse_qsl(qs, keep_blank_values=True, errors="strict")
            except (UnicodeDecodeError, ValueError):
                raise S3Error("InvalidURI") from None
            query = dict(reversed(query_list)) if query_list else {}
            bucket, key, virtual = address(path, headers.get("host", ""), engine.settings.domain)
            if key is not None:
                target = routes.Target.OBJECT
            elif bucket is not None:
                target = routes.Target.BUCKET
            else:
                target = routes.Target.SERVICE
            route = routes.match(target, method, query, headers)
            if route is None and target is routes.Target.SERVICE and method == "POST":
                signed = SignedRequest(method, path, raw_path, query_list, headers, None)
                client = scope.get("client")
                form = await read_form(receive, headers, self.body_timeout)
                form_read = True
                api_response = await self._query_api(engine, signed, form, headers, request_id,
                                                     client[0] if client else "")
                if api_response is not None:
                    if record is not None:
                        record.operation = "QueryAPI"
                    await self._send(api_response, request_id, method, send, engine, False, record=record)
                    return
                raise S3Error("MethodNotAllowed", Method=method, ResourceType=target.value.upper())
            if route is None or route.signed:
                auth = await self._authenticate(
                    SignedRequest(method, path, raw_path, query_list, headers, bucket if virtual else None))
            else:
                auth = ANONYMOUS
            if route is None:
                if routes.subresource(query) is not None and method not in ("HEAD", "OPTIONS"):
                    # As AWS: an operation on a bucket that does not exist is NoSuchBucket first.
                    if bucket is not None and await engine.meta.get_bucket(bucket) is None:
                        raise S3Error("NoSuchBucket", BucketName=bucket)
                    raise S3Error("NotImplemented", "This operation is not implemented.")
                raise S3Error("MethodNotAllowed", Method=method, ResourceType=target.value.upper())
            if auth.access_key:
                token = headers.get("x-amz-security-token") or (
                    query.get("X-Amz-Security-Token") or query.get("x-amz-security-token") if query else None)
                user = await self._lookup_user(auth.access_key, token)
            else:
                user = None
            if record is not None:
                request_log.describe(record, route.name, bucket, key, query, user, auth)
                await request_log.check(record)
            body = RequestBody(receive, headers, auth, self.body_timeout)
            client = scope.get("client")
            req = S3Request(method, bucket, key, query, headers, user, body, request_id, auth.signature_version,
                            routes.iam_action(route, query), client[0] if client else "", auth.presigned)
            try:
                response = await route.handler(engine, req)
            except BucketChanged:
                # Decided on a bucket record another gateway had changed: once more on the new one.
                if body.consumed:
                    raise
                req.bucket_record = None
                response = await route.handler(engine, req)
            if record is not None:
                request_log.handled(record, req)
        except BucketChanged:
            response = error_response(S3Error("ServiceUnavailable", "The bucket changed during the request; "
                                                                     "please retry."), resource, request_id, method)
        except S3Error as err:
            response = error_response(err, resource, request_id, method)
        except ClientDisconnected:
            # Closed (or half-closed) before the body was whole: nothing was
            # committed; the answer reaches a client that still reads.
            response = error_response(S3Error("IncompleteBody"), resource, request_id, method)
        except OSError as exc:
            if is_full(exc):  # the disk filled up where no layer below expected it: not Pails' fault
                response = error_response(StorageFull(), resource, request_id, method)
            else:
                log.exception("internal error in %s %s", method, resource)
                response = error_response(S3Error("InternalError"), resource, request_id, method)
        except Exception:
            log.exception("internal error in %s %s", method, resource)
            response = error_response(S3Error("InternalError"), resource, request_id, method)
        if "origin" in headers and bucket is not None and method != "OPTIONS":
            await _add_cors_headers(response, engine, bucket, req, headers, method)
        close = False
        if body is not None and body.unread:
            # Answered before the body was read.  A client waiting on
            # "Expect: 100-continue" never sends it; any other is sending it
            # now, and closing on it would reset the connection before the
            # client reads our answer: read a modest body away instead.
            if "100-continue" in headers.get("expect", "").lower() or not await body.drain(_DRAIN_LIMIT):
                close = True
        elif body is None and not form_read and announces_body(scope["headers"]):
            expect = next((v for n, v in scope["headers"] if n.lower() == b"expect"), b"")
            close = b"100-continue" in expect.lower() or \
                not await drain_messages(receive, _DRAIN_LIMIT, self.body_timeout)
        pathsend = "http.response.pathsend" in (scope.get("extensions") or {})
        if record is not None:
            if record.bucket is None:
                record.bucket, record.key = bucket, key
            record.bytes_in = body.received if body is not None else 0
        await self._send(response, request_id, method, send, engine, close, pathsend, record)

    async def _send(self, response: Response, request_id: str, method: str, send: Any, engine: Engine,
                    close: bool, pathsend: bool = False, record: RequestRecord | None = None) -> None:
        """Write the response and hand its record (if any) to the request log sinks."""
        if record is None:
            await self._write(response, request_id, method, send, engine, close, pathsend, None)
            return
        record.status = response.status
        record.error_code = response.error_code
        request_log.answered(record, response.headers)
        try:
            await self._write(response, request_id, method, send, engine, close, pathsend, record)
        except BaseException:
            record.complete = False
            raise
        finally:
            record.duration = time.time() - record.start
            request_log.emit(record)

    async def _write(self, response: Response, request_id: str, method: str, send: Any, engine: Engine,
                     close: bool, pathsend: bool, record: RequestRecord | None) -> None:
        """Write the response.  Granian waits as long as the client does not
        read; a body streamed from here is given up after ``send_timeout``
        seconds without progress (the kernel then resets the connection,
        ``sockets.py``), and one Granian sends itself is reset by the kernel."""
        hdrs = [(b"x-amz-request-id", request_id.encode()), (b"x-amz-id-2", request_id.encode()),
                (b"server", b"Pails")]
        if close:
            hdrs.append((b"connection", b"close"))
        for name, value in response.headers:
            hdrs.append((name.encode("latin-1"), value.encode("latin-1", "replace")))
        if response.stream is not None and method != "HEAD":
            await self._send_stream(response.stream, hdrs, response.status, request_id, send, record)
            return
        file = response.file
        if response.content_length is not None:
            length = response.content_length
        else:
            length = len(response.body)
        if response.status not in (204, 304):
            hdrs.append((b"content-length", str(length).encode()))
        try:
            await send({"type": "http.response.start", "status": response.status, "headers": hdrs})
            if record is not None:
                record.turnaround = time.time() - record.start
        except RuntimeError:
            # The server refused a header value (one stored before such values were refused on the
            # way in): our fault, but told as S3 XML, not the server's plain-text 500.
            log.exception("response headers refused by the HTTP server")
            err = error_response(S3Error("InternalError"), "", request_id, method)
            await send({"type": "http.response.start", "status": 500, "headers": [
                (b"x-amz-request-id", request_id.encode()), (b"content-type", b"application/xml"),
                (b"content-length", str(len(err.body)).encode()), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": err.body})
            return
        if method == "HEAD" or file is None:
            await send({"type": "http.response.body", "body": b"" if method == "HEAD" else response.body})
            if record is not None and method != "HEAD":
                record.bytes_out = len(response.body)
            return
        if record is not None:
            record.object_size = length
        check = read_check(file.check, self.verify_reads)
        if pathsend and len(file.pieces) == 1 and check is None:
            # A whole plaintext data file with nothing to check it against (or
            # not under --verify-reads): the server (Granian) sends it itself,
            # without the bytes passing through Python.
            blob_id, offset, size, *key = file.pieces[0]
            path = engine.blobs.final_path(blob_id)
            if not key and offset == 0 and _file_size(path) == size:
                await send({"type": "http.response.pathsend", "path": path})
                if record is not None:
                    record.bytes_out = size  # handed to the server: what it sent is not known here
                return
        # A checksum of the whole object (the cheapest known: a stored CRC, or
        # the ETag's MD5), checked before its last slice goes out (as the
        # integrity tag of an encrypted piece): damaged data ends the response
        # short, never with a clean end.
        whole = WholeCheck(*check) if check is not None else None
        for index, (blob_id, offset, size, *key) in enumerate(file.pieces):
            opener = key[0]() if key else None  # an encrypted piece: decrypt each slice (pails.storage.crypto)
            fd = engine.blobs.open(blob_id)
            try:
                pos, end = offset, offset + size
                while pos < end:
                    data = os.pread(fd, min(_READ_CHUNK, end - pos), pos)
                    if not data:
                        raise OSError(f"data file {blob_id} is shorter than its metadata says")
                    pos += len(data)
                    if opener is not None:
                        data = opener.update(data)
                    if whole is not None:
                        whole.update(data)
                    if pos >= end and not self._whole_is_sound(opener, whole, file, index, request_id, blob_id):
                        if record is not None:
                            record.complete = False
                        return  # without the last slice and the end of the body: the connection is dropped
                    try:
                        async with asyncio.timeout(self.send_timeout):
                            await send({"type": "http.response.body", "body": data, "more_body": True})
                    except TimeoutError:
                        log.info("response %s abandoned: the client read nothing for %g s",
                                 request_id, self.send_timeout)
                        if record is not None:
                            record.complete = False
                        return
                    if record is not None:
                        record.bytes_out += len(data)
            finally:
                os.close(fd)
        await send({"type": "http.response.body", "body": b""})

    async def _send_stream(self, stream: Any, hdrs: list[tuple[bytes, bytes]], status: int, request_id: str,
                           send: Any, record: RequestRecord | None) -> None:
        """A body made as it goes out (no Content-Length: chunked), given up
        like a file body when the client reads nothing for ``send_timeout``."""
        try:
            await send({"type": "http.response.start", "status": status, "headers": hdrs})
            if record is not None:
                record.turnaround = time.time() - record.start
            async for data in stream:
                try:
                    async with asyncio.timeout(self.send_timeout):
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                except TimeoutError:
                    log.info("response %s abandoned: the client read nothing for %g s", request_id,
                             self.send_timeout)
                    if record is not None:
                        record.complete = False
                    return
                if record is not None:
                    record.bytes_out += len(data)
            await send({"type": "http.response.body", "body": b""})
        finally:
            await stream.aclose()

    @staticmethod
    def _whole_is_sound(opener: Any, whole: WholeCheck | None, file: FileBody, index: int, request_id: str,
                        blob_id: str) -> bool:
        """Before the last slice of a piece: its integrity tag (encrypted,
        whole-piece reads) and, after the last piece, the object's checksum."""
        if opener is not None:
            try:
                opener.finish()
            except IntegrityError:
                log.error("response %s: data file %s does not match its encryption integrity tag; response cut "
                          "short (run pails verify)", request_id, blob_id)
                return False
        if whole is not None and index == len(file.pieces) - 1 and not whole.matches():
            log.error("response %s: the data (file %s) does not match the object's %s %s; response cut short "
                      "(run pails verify)", request_id, blob_id, *whole.check)
            return False
        return True


async def _add_cors_headers(response: Response, engine: Engine, bucket: str, req: S3Request | None,
                            headers: dict[str, str], method: str) -> None:
    """A request with an Origin: the Access-Control-* headers its bucket's
    CORS rules give, on any answer (errors included, as AWS)."""
    record = req.bucket_record if req is not None else None
    if record is None or record.name != bucket:
        try:
            record = await engine.meta.get_bucket(bucket)
        except Exception:  # noqa: BLE001 - the answer goes out without CORS headers rather than not at all
            log.debug("no CORS headers: bucket %r could not be read", bucket, exc_info=True)
            return
        if record is None:
            return
    extra = cors.response_headers(record, headers, method)
    if extra:
        response.headers = [*response.headers, *extra]


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


app = PailsApp()
