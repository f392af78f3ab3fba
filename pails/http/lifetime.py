"""Server processes that end with the process that started them."""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
WORKER_OF = "PAILS_WORKER_OF"  # the pid of the ``pails server`` whose S3 workers read it


def die_with_parent(expected_parent: int | None = None) -> None:
    """SIGTERM when the process that started this one dies.  A SIGKILLed
    ``pails server`` leaves no S3 worker and no admin server behind (they
    would go on answering on its ports, beside its replacement or in the way
    of its restart), and an admin server's worker does not outlive its admin
    server.  Called in the child; ``expected_parent``: the parent it must
    have (it died already if not)."""
    parent = os.getppid() if expected_parent is None else expected_parent
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the server's stop still ends it
        return
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


def die_with_server() -> None:
    """In an S3 worker of ``pails server`` (not under another ASGI server):
    end with it."""
    server = os.environ.get(WORKER_OF, "")
    if server.isdigit():
        die_with_parent(int(server))
