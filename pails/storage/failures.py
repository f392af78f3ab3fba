"""How background work logs a failed pass: a metadata store that is away or
a full disk is not a fault of Pails (one line, the caller tries again);
anything else is, and gets its traceback."""

from __future__ import annotations

import logging
import sys

from pails.errors import S3Error
from pails.storage.meta import StoreUnavailable
from pails.storage.space import is_full


def is_outage(exc: BaseException | None) -> bool:
    """The store or the disk is unavailable for now (503s, a full disk)."""
    if isinstance(exc, StoreUnavailable):
        return True
    if isinstance(exc, S3Error):
        return exc.status == 503
    return isinstance(exc, OSError) and is_full(exc)


def log_failure(log: logging.Logger, message: str, *args: object) -> None:
    """Log the exception being handled, with ``message`` % ``args``."""
    exc = sys.exc_info()[1]
    if is_outage(exc):
        log.warning(message + " (%s); tried again later", *args, exc)
    else:
        log.exception(message, *args)
