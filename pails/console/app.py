"""The console's HTTP side, on the admin port under ``/console/``: the
static pages, login/logout, the signing proxy to the S3 port (``api/s3/``
for S3, ``api/iam`` for the IAM Query API), the admin API's handlers called
in-process as the session's principal (``api/admin/``), and two reads the
S3 API has no call for (``api/dashboard``, ``api/usage/BUCKET``).
docs/console.md tells the design and its security."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import deque
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode
from xml.etree import ElementTree

from pails import __version__
from pails.console import session as sessions
from pails.console import upstream
from pails.console.session import Session
from pails.console.throttle import LoginThrottle
from pails.errors import S3Error
from pails.storage.engine import Engine
from pails.storage.records import User

log = logging.getLogger("pails")

STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_STATIC_NAME = re.compile(r"[a-z0-9-]+\.(html|js|css|svg)")
# Request headers the proxy passes to the S3 port (the rest, cookies first, stay here). The flexible
# checksums: the bucket settings pages send x-amz-checksum-crc32 where S3 needs an integrity check.
_FORWARD = frozenset({"content-type", "content-md5", "range", "if-match", "if-none-match", "if-modified-since",
                      "if-unmodified-since", "cache-control", "content-disposition", "content-encoding",
                      "content-language", "expires", "x-amz-bucket-object-lock-enabled",
                      "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme",
                      "x-amz-checksum-sha1", "x-amz-checksum-sha256"})
# ... and for the object page and uploads: CopyObject onto itself, lock bypass, CRC32 checksums, HEAD's checksum.
_FORWARD_OBJECT_PAGE = frozenset({"x-amz-copy-source", "x-amz-metadata-directive", "x-amz-tagging-directive",
                                  "x-amz-tagging", "x-amz-storage-class", "x-amz-server-side-encryption",
                                  "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-bypass-governance-retention",
                                  "x-amz-checksum-crc32", "x-amz-checksum-mode", "x-amz-checksum-algorithm"})
_STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
_LOGIN_LIMIT = 16 * 1024
_FORM_LIMIT = 1024 * 1024  # an IAM or admin API request body (policy documents are a few kB)
_throttle = LoginThrottle()  # this admin process's failed logins (pails/console/throttle.py)
_SECURITY_HEADERS = [("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"),
                     ("referrer-policy", "no-referrer"),
                     ("content-security-policy", "default-src 'self'; img-src 'self' data:; "
                      "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")]


def enabled() -> bool:
    return os.environ.get("PAILS_NO_CONSOLE", "").strip().lower() not in ("1", "true", "yes", "on")


async def serve(engine: Engine, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer one request whose path is ``/``, ``/console`` or under ``/console/``."""
    try:
        await _serve(engine, scope, receive, send)
    except OSError as exc:  # the S3 port did not answer, or the browser went away (then this send fails too)
        log.warning("console: %s %s: %s", scope["method"], scope["path"], exc)
        try:
            await _json(send, 502, {"error": {"code": "BadGateway", "message": f"the S3 port: {exc}"}})
        except Exception:  # noqa: BLE001 - the response had started, or the client is gone
            pass


async def _serve(engine: Engine, scope: dict[str, Any], receive: Any, send: Any) -> None:
    path = scope["path"]
    method = scope["method"]
    headers = _headers(scope)
    if not enabled():
        await _json(send, 404, {"error": {"code": "NotFound", "message": "the console is off (--no-console)"}})
        return
    if (location := sessions.root_redirect(path)) is not None:
        await _send(send, 302, [("location", location)], b"")
        return
    rest = path[len("/console/"):]
    if not rest.startswith("api/"):
        await _static(send, method, "index.html" if rest == "" else rest.removeprefix("static/")
                      if rest.startswith("static/") else "")
        return
    api = rest[len("api/"):]
    if api == "login" and method == "POST":
        await _login(engine, scope, receive, send, headers)
        return
    key = sessions.session_key(engine.keys.master())
    cookie = sessions.cookie_value(headers)
    current = sessions.unseal(key, cookie) if cookie else None
    if current is None:
        await _json(send, 401, {"error": {"code": "NotLoggedIn", "message": "log in (the session is missing or "
                                          "has expired)"}}, [("set-cookie", _clear(scope))] if cookie else [])
        return
    if not sessions.csrf_ok(current, method, headers):
        await _json(send, 403, {"error": {"code": "CsrfRefused", "message": "the request lacks the console's "
                                          "CSRF token, or comes from another site"}})
        return
    if api == "session" and method == "GET":
        await _json(send, 200, _session_json(current))
    elif api == "logout" and method == "POST":
        await _json(send, 200, {"logged_out": True}, [("set-cookie", _clear(scope))])
    elif api.startswith("s3/") or api == "s3":
        await _proxy(engine, scope, receive, send, headers, current, api[len("s3"):])
    elif api == "dashboard" and method == "GET":
        await _json(send, *await _dashboard(engine, current))
    elif api == "share" and method == "POST":
        await _json(send, *await _share(engine, scope, receive, headers, current))
    elif api == "iam" and method == "POST":
        await _iam(engine, send, receive, current)
    elif api.startswith("admin/"):
        await _admin(engine, scope, receive, send, headers, current, api[len("admin/"):])
    elif api.startswith("usage/") and method == "GET":
        await _json(send, *await _usage(engine, current, unquote(api[len("usage/"):])))
    else:
        await _json(send, 404, {"error": {"code": "NotFound", "message": f"no console operation {method} {path}"}})


def forwarded(headers: dict[str, str]) -> dict[str, str]:
    """The browser's request headers the proxy passes on to the S3 port."""
    return {k: v for k, v in headers.items()
            if k in _FORWARD or k in _FORWARD_OBJECT_PAGE or k.startswith("x-amz-meta-")}


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1").strip()
        out[key] = f"{out[key]},{text}" if key in out else text
    return out


def _secure(scope: dict[str, Any]) -> bool:
    return scope.get("scheme") == "https"


def _clear(scope: dict[str, Any]) -> str:
    return sessions.set_cookie("", 0, _secure(scope))


def _session_json(current: Session) -> dict[str, Any]:
    return {"principal": current.principal, "csrf": current.csrf, "expires": current.expires}


async def _send(send: Any, status: int, headers: list[tuple[str, str]], body: bytes,
                more: bool = False) -> None:
    all_headers = [("cache-control", "no-store"), ("server", "Pails"), *_SECURITY_HEADERS, *headers]
    if not more:
        all_headers.append(("content-length", str(len(body))))
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in all_headers]})
    await send({"type": "http.response.body", "body": body, "more_body": more})


async def _json(send: Any, status: int, value: Any, headers: list[tuple[str, str]] | None = None) -> None:
    await _send(send, status, [("content-type", "application/json"), *(headers or [])],
                json.dumps(value, separators=(",", ":")).encode())


async def _static(send: Any, method: str, name: str) -> None:
    if method not in ("GET", "HEAD") or not _STATIC_NAME.fullmatch(name):
        await _json(send, 404, {"error": {"code": "NotFound", "message": "no such console page"}})
        return
    try:
        with open(os.path.join(STATIC_DIR, name), "rb") as f:
            body = f.read()  # a few kilobytes, committed with the code
    except FileNotFoundError:
        await _json(send, 404, {"error": {"code": "NotFound", "message": "no such console page"}})
        return
    await _send(send, 200, [("content-type", _TYPES[os.path.splitext(name)[1]])],
                b"" if method == "HEAD" else body)


async def _read_small(receive: Any, limit: int) -> bytes:
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client went away")
        parts.append(message.get("body", b""))
        size += len(parts[-1])
        if size > limit:
            raise ValueError("too large")
        if not message.get("more_body", False):
            return b"".join(parts)


async def _sts(action: str, creds: upstream.Credentials, region: str, extra: dict[str, str]) -> tuple[int, Any]:
    """Call the STS Query API on the S3 port: (status, the parsed XML)."""
    body = urlencode({"Action": action, "Version": "2011-06-15", **extra}).encode()
    host, port, _ = upstream.s3_address()
    target, headers = upstream.sign("POST", f"{host}:{port}" if ":" not in host else f"[{host}]:{port}", "/", [],
                                    {"content-type": "application/x-www-form-urlencoded"},
                                    upstream.body_hash(body), creds, region, "sts")
    response = await upstream.request("POST", target, headers, body)
    try:
        return response.status, ElementTree.fromstring(await response.read())
    except (ElementTree.ParseError, ValueError):
        return (response.status if response.status != 200 else 502), ElementTree.Element("Error")


def _text(root: Any, name: str) -> str:
    found = root.find(f".//{_STS_NS}{name}")
    if found is None:
        found = root.find(f".//{name}")
    return (found.text or "") if found is not None else ""


async def _login(engine: Engine, scope: dict[str, Any], receive: Any, send: Any, headers: dict[str, str]) -> None:
    # JSON only (another origin's form cannot send it without a preflight), and never from another site.
    if (not headers.get("content-type", "").startswith("application/json")
            or headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")):
        await _json(send, 403, {"error": {"code": "CsrfRefused", "message": "log in from the console's page"}})
        return
    try:
        given = json.loads(await _read_small(receive, _LOGIN_LIMIT))
        access_key = str(given["access_key"]).strip()
        secret_key = str(given["secret_key"])
        token = str(given.get("session_token") or "").strip()
    except (ValueError, KeyError, TypeError):
        await _json(send, 400, {"error": {"code": "InvalidRequest",
                                          "message": "send {access_key, secret_key[, session_token]}"}})
        return
    client = scope.get("client")
    address = client[0] if client else ""
    wait = _throttle.wait(access_key, address)
    if wait > 0:  # refused unchecked: a guess while throttled teaches nothing
        log.info("console: login throttled for access key %s from %s", access_key[:20], address)
        await _json(send, 429, {"error": {"code": "TooManyAttempts", "message": "too many failed logins: try again "
                                          f"in {int(wait) + 1} s"}}, [("retry-after", str(int(wait) + 1))])
        return
    region = engine.settings.region
    creds = upstream.Credentials(access_key, secret_key, token)
    status, who = await _sts("GetCallerIdentity", creds, region, {})
    if status != 200:
        _throttle.failed(access_key, address)
        log.info("console: login refused for access key %s (%s)", access_key[:20], _text(who, "Code"))
        await _json(send, 403, {"error": {"code": "LoginRefused", "message": "the access key and secret do not "
                                          f"match an active key ({_text(who, 'Code') or status})"}})
        return
    _throttle.succeeded(access_key)
    arn = _text(who, "Arn")
    if token:  # already temporary: kept as given, for an hour at most (STS does not say when they end)
        current = Session.new(access_key, secret_key, token, time.time() + 3600, arn)
    else:
        status, made = await _sts("GetSessionToken", creds, region, {"DurationSeconds": "3600"})
        if status != 200:
            await _json(send, 403, {"error": {"code": "LoginRefused",
                                              "message": f"no session for this key ({_text(made, 'Code')})"}})
            return
        expires = datetime.fromisoformat(_text(made, "Expiration").replace("Z", "+00:00")).timestamp()
        current = Session.new(_text(made, "AccessKeyId"), _text(made, "SecretAccessKey"),
                              _text(made, "SessionToken"), expires, arn)
    sealed = sessions.seal(sessions.session_key(engine.keys.master()), current)
    log.info("console: %s logged in (session %s)", arn, sessions.fingerprint(current))
    await _json(send, 200, _session_json(current),
                [("set-cookie", sessions.set_cookie(sealed, int(current.expires - time.time()), _secure(scope)))])


async def _proxy(engine: Engine, scope: dict[str, Any], receive: Any, send: Any, headers: dict[str, str],
                 current: Session, rest: str) -> None:
    """Pass the request to the S3 port, signed with the session's credentials;
    the S3 API decides (the principal's policies apply), and both bodies stream."""
    method = scope["method"]
    raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
    path = unquote(raw[raw.index("/api/s3") + len("/api/s3"):]) or "/"
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    forward = forwarded(headers)
    declared = headers.get("content-length", "")
    length = int(declared) if declared.isdigit() else None
    if length is None and method in ("PUT", "POST") and "transfer-encoding" in headers:
        await _json(send, 411, {"error": {"code": "MissingContentLength", "message": "send Content-Length"}})
        return
    host, port, _ = upstream.s3_address()
    target, signed = upstream.sign(method, f"{host}:{port}" if ":" not in host else f"[{host}]:{port}", path,
                                   query, forward, "UNSIGNED-PAYLOAD",
                                   upstream.Credentials(current.access_key, current.secret_key,
                                                        current.session_token),
                                   engine.settings.region, "s3")

    async def body() -> Any:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("the browser went away")
            if chunk := message.get("body", b""):
                yield chunk
            if not message.get("more_body", False):
                return

    response = await upstream.request(method, target, signed, body(), length)  # OSError: 502, in serve
    out = [(k, v) for k, v in response.forwardable_headers() if k not in ("server", "set-cookie")]
    if method == "HEAD":  # no body, but the length of the one a GET would have
        out += [(k, v) for k, v in response.headers if k == "content-length"]
    elif response.length is not None:
        out.append(("content-length", str(response.length)))
    await send({"type": "http.response.start", "status": response.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                            for k, v in [*out, *_SECURITY_HEADERS]]})
    try:
        async for chunk in response.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except Exception as exc:  # noqa: BLE001 - the answer has started: all that is left is to stop it
        response.close()
        log.info("console: a proxied %s ended early: %s", method, exc)


async def _iam(engine: Engine, send: Any, receive: Any, current: Session) -> None:
    """One IAM Query API call (a form body), signed for the service ``iam``
    with the session's credentials and sent to the S3 port, where IAM is
    served: the IAM API decides (the principal's policies apply); its XML
    answer is returned as it is."""
    try:
        body = await _read_small(receive, _FORM_LIMIT)
    except ValueError:
        await _json(send, 413, {"error": {"code": "EntityTooLarge", "message": "the form is too large"}})
        return
    host, port, _ = upstream.s3_address()
    target, signed = upstream.sign("POST", f"{host}:{port}" if ":" not in host else f"[{host}]:{port}", "/", [],
                                   {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
                                   upstream.body_hash(body), _credentials(current), engine.settings.region, "iam")
    response = await upstream.request("POST", target, signed, body)  # OSError: 502, in serve
    answer = await response.read(8 * 1024 * 1024)
    await _send(send, response.status, [("content-type", response.header("content-type") or "text/xml")], answer)


def _credentials(current: Session) -> upstream.Credentials:
    return upstream.Credentials(current.access_key, current.secret_key, current.session_token)


async def _admin(engine: Engine, scope: dict[str, Any], receive: Any, send: Any, headers: dict[str, str],
                 current: Session, rest: str) -> None:
    """An admin API operation (``api/admin/v1/...`` is ``/admin/v1/...``),
    its handler called here in the admin process with the session's principal
    as the store resolves it from the session token, as the admin port does
    for a signed request: the handlers' own checks decide (an account root's
    or the operator's session passes, an IAM user's or a role's is refused)."""
    from pails.admin import routes  # it imports this module (the console's routes are in its table)
    from pails.admin.api import AdminError, AdminRequest

    method = scope["method"]
    raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
    path = "/admin/" + raw[raw.index("/api/admin/") + len("/api/admin/"):]
    route, found = routes.match(method, path)
    if route is None or route.handler is None or not route.signed or not path.startswith("/admin/v1/"):
        await _json(send, 405 if found is True else 404,
                    {"error": {"code": "NotFound", "message": f"no admin API operation {method} {unquote(path)}"}})
        return
    assert isinstance(found, dict)
    try:
        body = await _read_small(receive, _FORM_LIMIT)
        query = dict(reversed(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)))
    except ValueError:
        await _json(send, 400, {"error": {"code": "InvalidRequest", "message": "the request is too large"}})
        return
    try:
        user = await engine.session_principal(current.access_key, current.session_token)
    except S3Error as err:  # ExpiredToken
        await _json(send, err.status, {"error": {"code": err.code, "message": err.message}})
        return
    if user is None:
        await _json(send, 403, {"error": {"code": "InvalidToken", "message": "the session is no longer valid"}})
        return
    client = scope.get("client")
    request = AdminRequest(method, unquote(path), found, query, body, user, f"console-{time.time_ns():x}",
                           {k: v for k, v in headers.items() if k in ("content-type", "user-agent")},
                           client[0] if client else "")
    try:
        response = await route.handler(engine, request)
    except (AdminError, S3Error) as err:
        await _json(send, err.status, {"error": {"code": err.code, "message": err.message}})
        return
    log.info("console: %s %s %s by %s: %d", route.name, method, unquote(path), user.arn, response.status)
    await _send(send, response.status, [("content-type", response.content_type), *response.headers], response.body)


async def _root(engine: Engine, current: Session) -> User | None:
    """The session's principal if it is an account root's (or the operator's): the
    only callers the admin-port reads below answer, as the admin API's rule."""
    try:
        user = await engine.session_principal(current.access_key, current.session_token)
    except S3Error:
        return None
    if user is None or user.iam_user is not None:
        return None
    return user


# (time, requests, 4xx, 5xx) samples of the server's counters, one per dashboard read at most every 2 s.
_SAMPLES: deque[tuple[float, float, float, float]] = deque(maxlen=200)
_WINDOW = 300.0  # seconds the rates are measured over, at most


def request_counts(series: dict[tuple[str, tuple[str, ...]], float]) -> tuple[float, float, float]:
    """(requests, 4xx, 5xx) answered so far, from the metrics' series."""
    total = client = server = 0.0
    for (name, labels), value in series.items():
        if name != "pails_s3_requests_total" or len(labels) < 2:
            continue
        total += value
        if labels[1].startswith("4"):
            client += value
        elif labels[1].startswith("5"):
            server += value
    return total, client, server


def rates(samples: list[tuple[float, float, float, float]], now: float) -> dict[str, float] | None:
    """Requests/s and error shares over the window (None until two samples span a second)."""
    recent = [s for s in samples if now - s[0] <= _WINDOW]
    if len(recent) < 2 or recent[-1][0] - recent[0][0] < 1.0:
        return None
    first, last = recent[0], recent[-1]
    span = last[0] - first[0]
    done = last[1] - first[1]
    return {"seconds": round(span, 1), "requests_per_second": round(done / span, 3),
            "client_error_ratio": round((last[2] - first[2]) / done, 4) if done > 0 else 0.0,
            "server_error_ratio": round((last[3] - first[3]) / done, 4) if done > 0 else 0.0}


async def _dashboard(engine: Engine, current: Session) -> tuple[int, dict[str, Any]]:
    from pails.admin.buckets import usage_json
    from pails.admin.info import STARTED
    from pails.metrics import DIR_ENV
    from pails.metrics.collect import collect

    started = os.environ.get("PAILS_SERVER_STARTED", "")  # set by pails server, as the admin API reads it
    since = float(started) if started.replace(".", "", 1).isdigit() else STARTED
    info: dict[str, Any] = {"version": __version__, "uptime_seconds": round(time.time() - since),
                            "store": "postgresql" if engine.settings.meta_url else "sqlite",
                            "principal": current.principal}
    user = await _root(engine, current)
    if user is None:
        info["limited"] = "server figures are for account roots; IAM users see their buckets on the Buckets page"
        return 200, info
    owned = await engine.meta.list_buckets(user.canonical_id)
    objects = stored = 0
    for bucket in owned[:1000]:
        usage = usage_json(await engine.meta.bucket_usage(bucket.id))
        objects += usage["objects"]
        stored += usage["stored_bytes"]
    info["account"] = {"buckets": len(owned), "objects": objects, "stored_bytes": stored,
                       "counted_buckets": min(len(owned), 1000)}
    if user.operator:
        st = os.statvfs(engine.settings.data_dir)
        info["capacity"] = {"free_bytes": engine.space.free(), "total_bytes": st.f_blocks * st.f_frsize}
        directory = os.environ.get(DIR_ENV)
        if directory and os.path.isdir(directory):
            now = time.time()
            counts = request_counts(collect(directory))
            if not _SAMPLES or now - _SAMPLES[-1][0] >= 2.0:
                _SAMPLES.append((now, *counts))
            info["totals"] = {"requests": int(counts[0]), "client_errors": int(counts[1]),
                              "server_errors": int(counts[2])}
            info["requests"] = rates(list(_SAMPLES), now)
    return 200, info


async def _usage(engine: Engine, current: Session, name: str) -> tuple[int, dict[str, Any]]:
    from pails.admin.buckets import bucket_info

    user = await _root(engine, current)
    if user is None:
        return 403, {"error": {"code": "AccessDenied", "message": "bucket usage is shown to account roots"}}
    bucket = await engine.meta.get_bucket(name)
    if bucket is None or (not user.operator and bucket.owner_id != user.canonical_id):
        return 404, {"error": {"code": "NoSuchBucket", "message": f"no bucket {name} of yours"}}
    return 200, await bucket_info(engine, bucket)


SHARE_MAX = 7 * 24 * 3600  # S3's limit for a presigned URL; the session's credentials end sooner


async def _share(engine: Engine, scope: dict[str, Any], receive: Any, headers: dict[str, str],
                 current: Session) -> tuple[int, dict[str, Any]]:
    """A presigned GET of one object (or one version), signed with the session's
    credentials: it works while they do (the S3 port checks the principal's
    policies when it is used), for the host name the browser used and the S3 port."""
    try:
        given = json.loads(await _read_small(receive, _LOGIN_LIMIT))
        bucket, key = str(given["bucket"]), str(given["key"])
        wanted = int(given.get("expires_seconds", 3600))
        version = given.get("version_id")
    except (ValueError, KeyError, TypeError):
        return 400, {"error": {"code": "InvalidRequest", "message": "send {bucket, key[, version_id, "
                                                                    "expires_seconds]}"}}
    if not bucket or not key or wanted < 1:
        return 400, {"error": {"code": "InvalidRequest", "message": "bucket, key and a positive expiry are needed"}}
    expires_in = min(wanted, SHARE_MAX, int(current.expires - time.time()))
    _, port, tls = upstream.s3_address()
    hostname = share_host(headers.get("host", ""), port)
    creds = upstream.Credentials(current.access_key, current.secret_key, current.session_token)
    query = [("versionId", str(version))] if version else []
    target = upstream.presign_get(hostname, f"/{bucket}/{key}", query, creds, engine.settings.region, expires_in)
    return 200, {"url": f"{'https' if tls else 'http'}://{hostname}{target}", "expires_seconds": expires_in,
                 "expires": time.time() + expires_in}


def share_host(console_host: str, s3_port: int) -> str:
    """The S3 port on the host name the browser reached the console by
    (``HOST[:PORT]`` or ``[V6]:PORT`` in, ``HOST:S3PORT`` out)."""
    if console_host.startswith("["):
        name = console_host[: console_host.find("]") + 1]
    else:
        name = console_host.rpartition(":")[0] if ":" in console_host else console_host
    return f"{name or '127.0.0.1'}:{s3_port}"
