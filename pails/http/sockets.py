"""Options for the server's listening sockets.

Granian sets neither TCP_NODELAY nor a send timeout and gives the application
no socket.  On Linux an accepted socket inherits both options from its
listening socket, so each worker finds our listening sockets among its open
file descriptors and sets them there, for every later connection:

- TCP_NODELAY: a small final write of a streamed response is never held back
  for an ACK (Nagle's algorithm off);
- TCP_USER_TIMEOUT: a connection whose outgoing data makes no progress for
  that long (the client stopped reading: zero window) is reset by the
  kernel.  Granian would otherwise hold it, with its buffered response and,
  for ``http.response.pathsend``, the open data file, for as long as the
  client lives; Granian sends those bodies itself, so nothing in Python sees
  the stall.
"""

from __future__ import annotations

import errno
import os
import socket
import stat


def _is_server_socket(sock: socket.socket) -> bool:
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        return False
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        return True
    # Before Granian's first accept the shared socket is bound but not yet
    # listening: bound, with no peer.  (Options set now are kept by listen.)
    if sock.getsockname()[1] == 0:
        return False
    try:
        sock.getpeername()
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def configure_listeners(user_timeout: float | None = None) -> int:
    """Set TCP_NODELAY, and TCP_USER_TIMEOUT (``user_timeout`` seconds) when
    given, on every listening TCP socket of this process; return how many."""
    count = 0
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return 0
    for fd in fds:
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if _is_server_socket(sock):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if user_timeout is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, max(1, int(user_timeout * 1000)))
                count += 1
        except OSError:
            pass
        finally:
            sock.close()
    return count
