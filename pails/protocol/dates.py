"""Date formats S3 speaks: RFC 7231 HTTP dates and ISO 8601 with milliseconds."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(ts: float) -> str:
    t = time.gmtime(ts)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


# Listings format thousands of times that share their second: the
# "YYYY-MM-DDTHH:MM:SS" of recent seconds (> 0), and ".mmmZ" for every
# millisecond, so a hot loop may build ``ISO_SECONDS[int(ts)] + ISO_MILLIS[ms]``
# when the second is cached (``iso8601`` fills the cache).
ISO_SECONDS: dict[int, str] = {}
ISO_MILLIS: tuple[str, ...] = tuple(f".{ms:03d}Z" for ms in range(1000))


def iso8601(ts: float) -> str:
    sec = int(ts)
    head = ISO_SECONDS.get(sec)
    if head is None:
        t = time.gmtime(sec)
        head = (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")
        if sec > 0:  # so that (ts - sec) * 1000 of a cached second indexes ISO_MILLIS
            if len(ISO_SECONDS) > 4096:
                ISO_SECONDS.clear()
            ISO_SECONDS[sec] = head
    return f"{head}.{int((ts - sec) * 1000):03d}Z"


def parse_http_date(value: str) -> float | None:
    """Seconds since the epoch, or None when the value is not a date."""
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: a year past a C int
        return None
    if dt is None:
        return None
    try:
        return dt.timestamp()
    except (OverflowError, ValueError):
        return None
