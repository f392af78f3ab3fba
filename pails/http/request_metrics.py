"""The metrics request-log sink: each S3 request's record counted in the
shared-memory series of ``pails.metrics`` (requests, errors, latency, bytes)."""

from __future__ import annotations

from pails import metrics
from pails.http import request_log
from pails.http.request_log import RequestRecord


def count(record: RequestRecord) -> None:
    operation = record.operation or "Unrouted"
    metrics.REQUESTS.inc((operation, str(record.status)))
    if record.error_code:
        metrics.ERRORS.inc((record.error_code,))
    labels = (operation,)
    metrics.LATENCY.observe(record.duration, labels)
    if record.bytes_in:
        metrics.BYTES_IN.inc(labels, record.bytes_in)
    if record.bytes_out:
        metrics.BYTES_OUT.inc(labels, record.bytes_out)
    if not record.complete:
        metrics.INCOMPLETE.inc()


_started = False


def start() -> bool:
    """Count this worker's requests, if the server has a metrics directory."""
    if not metrics.enable():
        return False
    global _started
    if not _started:
        _started = True
        request_log.add_sink(count)
    return True
