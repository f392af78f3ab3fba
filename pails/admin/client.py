"""The admin API from the ``pails`` commands: over HTTP to the running
server (signed with AWS Signature Version 4, pure stdlib), or, when no
server serves the data directory, the same operations run in this process
on the store directly, as the operator.  Either way a command sends the
same (method, path, query, body) and gets the same answer or AdminError."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlencode, urlsplit

from pails.access import sigv4
from pails.admin import routes
from pails.admin.api import AdminError, AdminRequest
from pails.admin.discovery import Announcement
from pails.errors import S3Error
from pails.storage.engine import Engine
from pails.storage.records import User

SERVICE = "admin"


def path(*segments: str) -> str:
    """``/admin/v1/<segments>``, each segment encoded as one path segment."""
    return "/admin/v1/" + "/".join(quote(s, safe="") for s in segments)


def sign(method: str, url: str, body: bytes, access_key: str, secret_key: str, region: str,
         now: datetime | None = None) -> dict[str, str]:
    """The headers that sign the request (SigV4, service ``admin``): Host,
    X-Amz-Date, X-Amz-Content-SHA256 and Authorization."""
    when = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    parts = urlsplit(url)
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload, "x-amz-date": when}
    signed = sorted(headers)
    signed_str = ";".join(signed)
    query = sigv4.canonical_query([(unquote(k), unquote(v)) for k, _, v in
                                   (p.partition("=") for p in parts.query.split("&") if p)])
    creq = sigv4.canonical_request(method, parts.path or "/", query, headers, signed, signed_str, payload)
    scope = f"{when[:8]}/{region}/{SERVICE}/aws4_request"
    signature = sigv4.sign_hex(sigv4.signing_key(secret_key, when[:8], region, SERVICE),
                               sigv4.string_to_sign(when, scope, creq))
    return {"Host": parts.netloc, "X-Amz-Date": when, "X-Amz-Content-SHA256": payload,
            "Authorization": f"{sigv4.ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed_str}, "
                             f"Signature={signature}"}


class Admin(Protocol):
    """What a command talks to: the running server's admin API or the store itself."""

    via: str  # "admin API" or "direct"

    def call(self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None) -> Any:
        """The answer's JSON; AdminError for an error answer."""
        ...

    def close(self) -> None: ...


class AdminUnreachable(Exception):
    """Nothing answers at the announced address."""


class HttpAdmin:
    via = "admin API"

    def __init__(self, announcement: Announcement, access_key: str, secret_key: str, timeout: float = 60.0) -> None:
        self.endpoint = announcement.endpoint
        self.region = announcement.region
        self.access_key, self.secret_key = access_key, secret_key
        self.timeout = timeout

    def serves(self, data_dir: str) -> str | None:
        """None if this admin API answers the operator for ``data_dir``; else why not
        (nothing answers, the credentials are refused, or it serves another directory)."""
        try:
            info = self.call("GET", "/admin/v1/info")
        except AdminUnreachable:
            return f"the admin API at {self.endpoint} does not answer"
        except AdminError as err:
            return f"the admin API at {self.endpoint} refuses the operator's credentials: {err.message}"
        served = (info.get("data_dir") or {}).get("path") if isinstance(info, dict) else None
        if not isinstance(served, str) or os.path.realpath(served) != os.path.realpath(data_dir):
            return f"the admin API at {self.endpoint} serves another data directory ({served})"
        return None

    def call(self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        url = self.endpoint + path + ("?" + urlencode(query, quote_via=quote) if query else "")
        headers = sign(method, url, data, self.access_key, self.secret_key, self.region)
        if data:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data or None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                error = json.loads(raw)["error"]
                raise AdminError(err.code, str(error["code"]), str(error["message"])) from None
            except (ValueError, KeyError, TypeError):
                raise AdminError(err.code, "HttpError", f"the admin API answered {err.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AdminUnreachable(f"the admin API at {self.endpoint} did not answer: {exc}") from None

    def close(self) -> None:
        pass


class LocalAdmin:
    """The admin API's operations run here on the store, as the operator
    (what the command line could always do: it can read the data directory)."""

    via = "direct"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._runner = asyncio.Runner()
        self._opened = False
        self._operator: User | None = None

    def _open(self) -> None:
        if not self._opened:
            self._runner.run(self._engine.open())
            self._opened = True
            users = self._runner.run(self._engine.meta.list_users())
            self._operator = next((u for u in users if u.operator), None) or User(
                "", "", "", "operator", None, 0.0, operator=True)  # a store no server has started yet

    def call(self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None) -> Any:
        self._open()
        decoded = unquote(path)
        route, params = routes.match(method, decoded)
        if route is None or not isinstance(params, dict):
            raise AdminError(404, "NotFound", f"no admin API operation {method} {decoded}")
        request = AdminRequest(method, decoded, params, dict(query or {}),
                               json.dumps(body).encode() if body is not None else b"", self._operator, "direct")
        try:
            response = self._runner.run(route.handler(self._engine, request))
        except S3Error as err:  # from the store, as the admin server answers it
            raise AdminError(err.status, err.code, err.message) from None
        if response.status >= 400:
            error = json.loads(response.body)["error"]
            raise AdminError(response.status, error["code"], error["message"])
        return json.loads(response.body or b"null")

    def close(self) -> None:
        try:
            if self._opened:
                self._runner.run(self._engine.close())
        finally:
            self._runner.close()


def operator_credentials(data_dir: str) -> tuple[str, str] | None:
    """The operator's key pair, as ``pails server`` takes it: the environment,
    else DATA_DIR/root-credentials.json (None if neither can be read)."""
    from pails.users import CREDENTIALS_FILE

    key, secret = os.environ.get("PAILS_ROOT_ACCESS_KEY"), os.environ.get("PAILS_ROOT_SECRET_KEY")
    if key and secret:
        return key, secret
    try:
        with open(os.path.join(data_dir, CREDENTIALS_FILE)) as f:
            saved = json.load(f)
        return str(saved["access_key"]), str(saved["secret_key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
