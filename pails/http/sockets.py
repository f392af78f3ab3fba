"""Options for the server's TCP connections.

Granian sets neither TCP_NODELAY nor a send timeout and gives the application
no socket.  On Linux an accepted socket inherits its options from its
listening socket, so each worker finds its listening socket among its open
file descriptors and sets them there, for every later connection:

- TCP_NODELAY: a small final write of a streamed response is never held back
  for an ACK (Nagle's algorithm off);
- TCP_USER_TIMEOUT: a connection whose outgoing data makes no progress for
  that long (the client stopped reading: zero window) is reset by the
  kernel.  Granian would otherwise hold it, with its buffered response and,
  for ``http.response.pathsend``, the open data file, for as long as the
  client lives; Granian sends those bodies itself, so nothing in Python sees
  the stall.
- TCP_RTO_MAX_MS (Linux 6.15 and later), as long as the user timeout: a
  stalled reader's window is probed with a backoff that doubles up to this
  maximum, and a probe timer armed at a high backoff right after a little
  progress (the reader's kernel compacting its queue opens a small window)
  would otherwise fire only up to two minutes later.

Granian's workers each make their own listening socket (SO_REUSEPORT) when
they begin serving, after the application started: the first requests of a
worker find it, set it, and set the connections it accepted before that
(``ConnectionOptions``).
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import time


def bind_problem(host: str, port: int) -> str | None:
    """Why a server cannot listen on host:port (None: it can).  Granian's
    workers bind with SO_REUSEPORT, which the kernel lets a second server of
    the same user share: without this check a second ``pails server`` on a
    port would silently take half of its connections, to another data
    directory.  A plain bind fails while any server listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed server's TIME_WAIT does not count
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is in use (another server listens there)"
            return f"{host}:{port}: {exc.strerror}"
    return None


_TCP_RTO_MAX_MS = getattr(socket, "TCP_RTO_MAX_MS", 44)  # linux/tcp.h; older kernels refuse it (ENOPROTOOPT)
# Connections accepted before the listener was set are all in the worker's
# hands this long after (Granian accepts at once): one more look then, and
# every later connection inherits the options.
_SETTLE = 0.2


def _is_server_socket(sock: socket.socket) -> bool:
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


def _set(sock: socket.socket, user_timeout: float | None) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if user_timeout is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, max(1, int(user_timeout * 1000)))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_RTO_MAX_MS, min(120_000, max(1000, int(user_timeout * 1000))))
        except OSError:  # an older kernel: stalled readers are reset later, but they are
            pass


def _tcp_sockets() -> list[socket.socket]:
    """This process's TCP sockets (duplicates: the caller closes them)."""
    found = []
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return []
    for fd in fds:
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            found.append(sock)
        else:
            sock.close()
    return found


def configure_sockets(user_timeout: float | None = None, connections: bool = False) -> int:
    """Set the options on every listening TCP socket of this process (and,
    with ``connections``, on the connections accepted on their ports);
    return how many listening sockets were set."""
    sockets = _tcp_sockets()
    listeners = 0
    try:
        ports = set()
        for sock in sockets:
            try:
                if _is_server_socket(sock):
                    _set(sock, user_timeout)
                    ports.add(sock.getsockname()[1])
                    listeners += 1
            except OSError:
                pass
        if connections and ports:
            for sock in sockets:
                try:
                    if sock.getsockname()[1] in ports and not sock.getsockopt(socket.SOL_SOCKET,
                                                                               socket.SO_ACCEPTCONN):
                        sock.getpeername()  # connected: accepted on our port
                        _set(sock, user_timeout)
                except OSError:
                    pass
    finally:
        for sock in sockets:
            sock.close()
    return listeners


class ConnectionOptions:
    """Sets the options in a worker until its listening socket has them and
    every connection accepted before that has them too; then costs nothing."""

    def __init__(self, user_timeout: float | None) -> None:
        self.user_timeout = user_timeout
        self.settled = False
        self._listener_set_at: float | None = None

    def on_request(self) -> None:
        """At a request (before its response): the first ones look at the sockets."""
        now = time.monotonic()
        if self._listener_set_at is not None and now - self._listener_set_at >= _SETTLE:
            self.settled = True  # connections accepted from now on inherit the listener's options
        if configure_sockets(self.user_timeout, connections=True) and self._listener_set_at is None:
            self._listener_set_at = now
