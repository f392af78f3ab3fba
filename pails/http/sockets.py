"""TCP_NODELAY for the server's connections.

Granian does not set TCP_NODELAY and gives the application no socket.  On
Linux an accepted socket inherits TCP_NODELAY from its listening socket, so
once per worker we find our listening sockets among the open file descriptors
and set it there: every later connection has Nagle's algorithm off, and a
small final write of a streamed response is never held back for an ACK.
"""

from __future__ import annotations

import os
import socket
import stat


def set_nodelay_on_listeners() -> int:
    """Set TCP_NODELAY on every listening TCP socket of this process; return how many."""
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
            if (sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
                    and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                count += 1
        except OSError:
            pass
        finally:
            sock.close()
    return count
