"""The console's pure parts: the session cookie (sealed with a key derived
from the master key), the CSRF check, and path-prefix handling.  No I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE = "pails_console"
CSRF_HEADER = "x-pails-csrf"
MAX_SESSION = 12 * 3600  # seconds a console session lasts at most (its credentials may end sooner)
_AAD = b"pails-console-session-v1"


@dataclass(frozen=True, slots=True)
class Session:
    """Temporary credentials (never the long-term secret) and the CSRF token."""

    access_key: str
    secret_key: str
    session_token: str
    expires: float  # Unix time
    csrf: str
    principal: str  # the ARN, for the page header

    @staticmethod
    def new(access_key: str, secret_key: str, session_token: str, expires: float, principal: str,
            now: float | None = None) -> Session:
        limit = (now or time.time()) + MAX_SESSION
        return Session(access_key, secret_key, session_token, min(expires, limit), secrets.token_urlsafe(24),
                       principal)


def session_key(master_key: bytes) -> bytes:
    """The cookie key: derived from the master key (HKDF), so a sealed cookie
    never opens as an access-key secret or a session token, nor the reverse."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"pails console cookie").derive(master_key)


def seal(key: bytes, session: Session) -> str:
    payload = json.dumps([session.access_key, session.secret_key, session.session_token, session.expires,
                          session.csrf, session.principal], separators=(",", ":")).encode()
    nonce = secrets.token_bytes(12)
    return base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, payload, _AAD)).decode().rstrip("=")


def unseal(key: bytes, sealed: str, now: float | None = None) -> Session | None:
    """The session in a cookie; None if it was not sealed by this server or has expired."""
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        fields = json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], _AAD))
        session = Session(*(str(f) if i != 3 else float(f) for i, f in enumerate(fields)))
    except (InvalidTag, ValueError, TypeError):
        return None
    if session.expires <= (now or time.time()):
        return None
    return session


def cookie_value(headers: dict[str, str], name: str = COOKIE) -> str | None:
    """The value of cookie ``name`` in a Cookie header (the first, as browsers send the most specific first)."""
    for part in headers.get("cookie", "").replace(",", ";").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


def set_cookie(value: str, max_age: int, secure: bool) -> str:
    """The Set-Cookie header.  No Path: the browser uses the directory of the
    login URL (``<prefix>/console/api``), whatever prefix a proxy adds."""
    attrs = [f"{COOKIE}={value}", f"Max-Age={max(max_age, 0)}", "HttpOnly", "SameSite=Strict"]
    if secure:
        attrs.append("Secure")
    return "; ".join(attrs)


def csrf_ok(session: Session, method: str, headers: dict[str, str]) -> bool:
    """Whether a request may act: reads always; a state-changing method only
    with the session's CSRF token in X-Pails-CSRF (a header another origin's
    page cannot set without a CORS preflight this server never grants, and a
    value only a same-origin page could read) and not from another site."""
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    if method in ("GET", "HEAD"):
        return True
    return hmac.compare_digest(headers.get(CSRF_HEADER, "").encode(), session.csrf.encode())


def root_redirect(path: str) -> str | None:
    """Where a request for ``path`` is sent (a relative Location, so a proxy's
    path prefix is kept): ``/`` and ``/console`` to the console's page."""
    if path == "/":
        return "console/"
    if path == "/console":
        return "console/"
    return None


def fingerprint(session: Session) -> str:
    """A short, non-secret name for a session in the log (never the keys)."""
    return hashlib.sha256(session.access_key.encode()).hexdigest()[:12]
