"""What an admin API handler receives and returns, and who may call it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pails.storage.records import User


class AdminError(Exception):
    """An error answer: ``{"error": {"code": ..., "message": ...}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(slots=True)
class AdminRequest:
    method: str
    path: str
    params: dict[str, str]  # the route pattern's {names}
    query: dict[str, str]
    body: bytes
    user: User | None  # None: not signed (routes that need no signature)
    request_id: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    remote: str = ""  # the client's address

    def json(self) -> dict[str, Any]:
        """The body as a JSON object ({} when empty); 400 InvalidRequest otherwise."""
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except ValueError:
            raise AdminError(400, "InvalidRequest", "the body is not valid JSON") from None
        if not isinstance(value, dict):
            raise AdminError(400, "InvalidRequest", "the body must be a JSON object")
        return value


@dataclass(slots=True)
class AdminResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @staticmethod
    def json(value: Any, status: int = 200) -> AdminResponse:
        return AdminResponse(status, json.dumps(value, separators=(",", ":")).encode())


def require_operator(req: AdminRequest) -> User:
    """The caller, who must be the operator (the server's root credentials)."""
    user = require_root(req)
    if not user.operator:
        raise AdminError(403, "AccessDenied", "only the operator may do this")
    return user


def require_root(req: AdminRequest) -> User:
    """The caller, who must be an account root or the operator: with its
    long-term key, or with a session it made with GetSessionToken (the
    console's; the engine has checked that the key it was made with is still
    active).  IAM users and role sessions use the IAM API, not this one."""
    user = req.user
    if user is None:
        raise AdminError(403, "AccessDenied", "the request must be signed (AWS Signature Version 4)")
    if user.iam_user is not None or user.role_session is not None or user.session_policy is not None:
        raise AdminError(403, "AccessDenied", "only the operator or an account root may use the admin API")
    return user
