"""The HTTP Range header, as S3 reads it: one byte range or none."""

from __future__ import annotations

from pails.errors import S3Error


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return (first, last) inclusive, or None to serve the whole object.

    Malformed or multi-range headers are ignored (AWS serves the whole object);
    a well-formed range that starts past the end gives 416 InvalidRange.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_s, dash, last_s = spec.strip().partition("-")
    if not dash:
        return None
    first_s, last_s = first_s.strip(), last_s.strip()
    try:
        if not first_s:  # suffix range: the last N bytes
            n = int(last_s)
            if n < 0:
                return None
            if n == 0:
                raise S3Error("InvalidRange", ActualObjectSize=str(size))
            if size == 0:
                raise S3Error("InvalidRange", ActualObjectSize=str(size))
            return max(0, size - n), size - 1
        first = int(first_s)
        last = int(last_s) if last_s else None
    except ValueError:
        return None
    if first < 0 or (last is not None and last < first):
        return None  # syntactically invalid: serve the whole object
    if first >= size:
        raise S3Error("InvalidRange", ActualObjectSize=str(size))
    return first, size - 1 if last is None else min(last, size - 1)
