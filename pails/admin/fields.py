"""Checking the fields of admin API request bodies (400 InvalidRequest with
the field's name), and the one way times are written (ISO 8601, UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pails.admin.api import AdminError


def invalid(message: str) -> AdminError:
    return AdminError(400, "InvalidRequest", message)


def known_fields(body: dict[str, Any], allowed: set[str]) -> None:
    """Refuse fields the operation does not know (a typo would otherwise be ignored)."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise invalid(f"unknown field(s): {', '.join(unknown)} (expected: {', '.join(sorted(allowed))})")


def text(body: dict[str, Any], name: str, required: bool = False, max_length: int = 256) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{name} must be a non-empty string")
    if len(value) > max_length or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise invalid(f"{name} must be at most {max_length} printable characters")
    return value


def limit(value: Any, name: str) -> int | None:
    """A quota limit: a whole number >= 0, or null (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid(f"{name} must be a whole number >= 0, or null for no limit")
    if value >= 2**63:
        raise invalid(f"{name} is too large")
    return value


def timestamp(value: Any, name: str) -> float:
    """An ISO 8601 date and time (UTC unless it says otherwise) as epoch seconds."""
    if not isinstance(value, str):
        raise invalid(f"{name} must be an ISO 8601 date and time, e.g. 2027-01-31T00:00:00Z")
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{name} must be an ISO 8601 date and time, e.g. 2027-01-31T00:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def iso(when: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC (``2027-01-31T00:00:00Z``); None stays None."""
    if when is None:
        return None
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
