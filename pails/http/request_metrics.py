"""The metrics request-log sink: each S3 request's record counted in the
shared-memory series of ``pails.metrics`` (requests, errors, latency, bytes).

On the request path: the slots of each (operation, status, error code) are
looked up once and kept, so a request costs one dict lookup, a bisect and a
few float adds (about 1 µs; bench/metrics_cost.py)."""

from __future__ import annotations

import bisect
from typing import Any

from pails import metrics
from pails.http import request_log
from pails.http.request_log import RequestRecord

_BOUNDS = metrics.LATENCY.buckets
# (operation, status, error code) -> slots: requests, error (0: none), latency buckets, sum, bytes in, out
# (the histogram's count is not kept: /metrics shows the +Inf bucket's, which is the same)
_cache: dict[tuple[str, int, str | None], tuple[int, int, list[int], int, int, int]] = {}
_cached_for: Any = None  # the store the cache's slots are in (a forked worker has its own)


def _slots(store: Any, operation: str, status: int, error: str | None) -> tuple[int, int, list[int], int, int, int]:
    labels = (operation,)
    buckets, total, _ = metrics.LATENCY.slots(store, labels)
    return (metrics.REQUESTS.slot(store, (operation, str(status))),
            metrics.ERRORS.slot(store, (error,)) if error else 0,
            buckets, total, metrics.BYTES_IN.slot(store, labels), metrics.BYTES_OUT.slot(store, labels))


def count(record: RequestRecord) -> None:
    global _cached_for
    store = metrics._store
    if store is None:
        return
    if store is not _cached_for:
        _cache.clear()
        _cached_for = store
    key = (record.operation or "Unrouted", record.status, record.error_code)
    slots = _cache.get(key)
    if slots is None:
        slots = _cache[key] = _slots(store, *key)
    requests, error, buckets, total, bytes_in, bytes_out = slots
    values = store.values
    values[requests] += 1.0
    if error:
        values[error] += 1.0
    duration = record.duration
    values[buckets[bisect.bisect_left(_BOUNDS, duration)]] += 1.0
    values[total] += duration
    if record.bytes_in:
        values[bytes_in] += record.bytes_in
    if record.bytes_out:
        values[bytes_out] += record.bytes_out
    if not record.complete:
        metrics.INCOMPLETE.inc()


_started = False


def start() -> bool:
    """Count this worker's requests, if the server has a metrics directory."""
    global _started
    if not metrics.enable():
        return False
    if not _started:
        _started = True
        request_log.add_sink(count)
    return True
