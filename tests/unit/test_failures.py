"""Which failures of background work are outages (pails/storage/failures.py)."""

from __future__ import annotations

import errno
import logging

import pytest

from pails.errors import S3Error
from pails.storage.failures import is_outage, log_failure
from pails.storage.meta import StoreUnavailable


@pytest.mark.parametrize("exc, outage", [
    (S3Error("ServiceUnavailable"), True),
    (StoreUnavailable("the database is away"), True),
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (S3Error("NoSuchBucket"), False),
    (OSError(errno.EIO, "I/O error"), False),
    (KeyError("bug"), False),
    (None, False),
])
def test_is_outage(exc: BaseException | None, outage: bool) -> None:
    assert is_outage(exc) is outage


def test_an_outage_is_one_line_a_bug_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("pails.test")
    with caplog.at_level(logging.WARNING, "pails.test"):
        try:
            raise S3Error("ServiceUnavailable")
        except S3Error:
            log_failure(log, "pass of %s failed", "x")
        try:
            raise KeyError("bug")
        except KeyError:
            log_failure(log, "pass of %s failed", "y")
    outage, bug = caplog.records
    assert outage.levelno == logging.WARNING and outage.exc_info is None and "tried again later" in outage.message
    assert bug.levelno == logging.ERROR and bug.exc_info is not None
