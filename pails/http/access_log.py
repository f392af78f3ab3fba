"""The JSON access log (``pails server --access-log PATH|-``): one JSON
object per S3 request, a request-log sink in each worker.

Every worker opens the file itself with ``O_APPEND`` and writes each line
with one ``write`` call: the kernel appends each whole, so lines of several
workers never interleave (on a local filesystem; a line is far below the
size where a regular file's append could be split).  ``-`` writes to the
standard output, the same way.  Off unless ``PAILS_ACCESS_LOG`` names a destination.
"""

from __future__ import annotations

import json
import logging
import os
import time

from pails.http import request_log
from pails.http.request_log import RequestRecord

log = logging.getLogger("pails")

ENV = "PAILS_ACCESS_LOG"


def line(record: RequestRecord) -> bytes:
    """One record as a JSON line (the fields are listed in docs/operations.md)."""
    user = record.principal
    seconds = int(record.start)
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(record.start % 1 * 1000):03d}Z",
        "request_id": record.request_id,
        "principal": user.access_key if user is not None else None,
        "account": (user.account_id or None) if user is not None else None,
        "user": user.iam_user if user is not None else None,
        "operation": record.operation or None,
        "method": record.method,
        "bucket": record.bucket,
        "key": record.key,
        "status": record.status,
        "error_code": record.error_code,
        "bytes_in": record.bytes_in,
        "bytes_out": record.bytes_out,
        "duration": round(record.duration, 6),
        "remote": record.remote_ip,
        "user_agent": record.user_agent,
        "complete": record.complete,
    }
    return (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8", "surrogatepass")


class AccessLog:
    def __init__(self, destination: str) -> None:
        if destination == "-":
            self._fd = os.dup(1)
        else:
            self._fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._failed = False

    def __call__(self, record: RequestRecord) -> None:
        try:
            os.write(self._fd, line(record))
        except OSError as exc:  # a full disk must not fail requests: said once, then quiet until it works
            if not self._failed:
                log.error("access log: cannot write: %s", exc)
            self._failed = True
        else:
            self._failed = False

    def close(self) -> None:
        os.close(self._fd)


_current: AccessLog | None = None


def start() -> bool:
    """Write this worker's requests to ``$PAILS_ACCESS_LOG`` (once per process)."""
    global _current
    destination = os.environ.get(ENV, "")
    if not destination or _current is not None:
        return _current is not None
    _current = AccessLog(destination)
    request_log.add_sink(_current)
    return True
