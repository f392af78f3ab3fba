"""Free space in the data directory: a full disk must never wedge Pails.

- Writes keep a *reserve* free (``--disk-reserve``; default 5 % of the
  filesystem, at least 32 MiB and at most 1 GiB, and at most half of a tiny
  filesystem): a write that would leave less is refused with
  ``507 InsufficientStorage`` before its body is read.  What the metadata
  needs to commit (SQLite's WAL, a delete's pages) comes out of the reserve,
  so deletes, aborts and garbage collection always have room.
- The filesystem may fill up anyway (another program, a body of unknown
  length).  A SQLite commit then cannot even write the WAL frames of a
  delete, and until something is deleted by hand every delete fails.  So a
  *ballast* file (``DATA_DIR/reserve.ballast``, min(16 MiB, reserve)) holds
  room: a delete whose commit finds the disk full unlinks it and commits.
  The ballast is laid down again once the reserve and the ballast both fit.
- Free space is looked up (``statvfs``) at most every ``REFRESH`` seconds per
  worker; bytes admitted meanwhile are counted off the cached figure, so a
  burst of writes cannot all pass on one stale look, and writes are accepted
  again within ``REFRESH`` of space coming back.

Free space is ``f_bavail`` (what ``df`` shows as available: root's share of an
ext4 filesystem is kept out of it).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
import time
from collections.abc import Callable

from pails.errors import S3Error

log = logging.getLogger("pails")

REFRESH = 0.25  # seconds a statvfs result is trusted
BALLAST_NAME = "reserve.ballast"
BALLAST_MAX = 16 * 1024 * 1024  # enough for SQLite to commit deletes and checkpoint its WAL (1000 pages)
DEFAULT_MAX = 1024 ** 3
DEFAULT_MIN = 32 * 1024 * 1024  # SQLite's WAL alone takes 4 MiB and more between checkpoints
DEFAULT_FRACTION = 0.05
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4, "p": 1024 ** 5}


class StorageFull(S3Error):
    """507 InsufficientStorage: no room for this write (the reserve is
    reached, or the disk or the metadata database's disk is full)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__("InsufficientStorage", message)


def is_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the filesystem is full (or a quota is reached)."""
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS


def parse_reserve(text: str) -> tuple[int, float]:
    """A reserve as given on the command line: ``(bytes, 0.0)`` for a size
    (``1GiB``, ``512M``, ``100MB``, ``4096``: K/M/G/T/P are powers of 1024,
    with or without ``B``/``iB``), ``(0, fraction)`` for a percentage of the
    filesystem (``5%``), ``(-1, 0.0)`` for the default (empty).  ValueError
    otherwise."""
    text = text.strip()
    if not text:
        return -1, 0.0
    if text.endswith("%"):
        pct = float(text[:-1])
        if not 0 <= pct < 100:
            raise ValueError(f"a reserve of {text} is not between 0% and 100%")
        return 0, pct / 100
    m = _SIZE.fullmatch(text)
    if m is None:
        raise ValueError(f"not a size or a percentage: {text!r} (e.g. 1GiB, 512M, 5%)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()]), 0.0


def reserve_bytes(spec: str, fs_size: int) -> int:
    size, fraction = parse_reserve(spec)
    if size < 0:
        return min(DEFAULT_MAX, max(DEFAULT_MIN, int(fs_size * DEFAULT_FRACTION)), fs_size // 2)
    return size if fraction == 0.0 else int(fs_size * fraction)


class SpaceGuard:
    """One worker's view of the data directory's free space."""

    def __init__(self, path: str, reserve: str = "", interval: float = REFRESH) -> None:
        self.path = path
        st = os.statvfs(path)
        self.reserve = reserve_bytes(reserve, st.f_blocks * st.f_frsize)
        self.interval = interval
        self.ballast_path = os.path.join(path, BALLAST_NAME)
        self.ballast_size = 0  # keep_ballast() sets it: only stores whose deletes need room here use one
        # Bytes the metadata store can reuse without growing a file (SQLite's
        # free pages): small writes go there, so deleting small objects makes
        # room for small writes even though the filesystem sees nothing freed.
        self.reusable: Callable[[], int] | None = None
        self._free = st.f_bavail * st.f_frsize
        self._read_only = bool(st.f_flag & os.ST_RDONLY)
        self._reusable = 0
        self._checked = time.monotonic()
        self._low = False  # logged once per spell below the reserve
        self._laying = False  # a thread is laying the ballast down

    def keep_ballast(self) -> None:
        self.ballast_size = min(BALLAST_MAX, self.reserve)
        for name in os.listdir(self.path):  # half-laid ballasts of a crashed worker
            if name.startswith(BALLAST_NAME + "."):
                try:
                    os.unlink(os.path.join(self.path, name))
                except OSError:
                    pass

    # --- looking --------------------------------------------------------------
    def _refresh(self, now: float) -> None:
        st = os.statvfs(self.path)
        self._free = st.f_bavail * st.f_frsize
        self._read_only = bool(st.f_flag & os.ST_RDONLY)
        self._checked = now

    def poll(self) -> None:
        """Look again if the last look is stale (event loop thread: also
        refreshes what the metadata store can reuse, and lays the ballast
        down when there is room for it)."""
        now = time.monotonic()
        if now - self._checked < self.interval:
            return
        self._refresh(now)
        if self.reusable is not None:
            try:
                self._reusable = self.reusable()
            except Exception:  # noqa: BLE001 - a hint only; the store reports its own failures
                self._reusable = 0
        low = self._free < self.reserve
        if low != self._low:
            self._low = low
            if low:
                log.warning("free space in %s is below the reserve (%d < %d bytes): refusing writes",
                            self.path, self._free, self.reserve)
            else:
                log.warning("free space in %s is back above the reserve: accepting writes", self.path)
        if self.ballast_size and not self._laying and self._free >= self.reserve + self.ballast_size \
                and not os.path.exists(self.ballast_path):
            self._laying = True
            threading.Thread(target=self._lay_ballast, name="pails-ballast", daemon=True).start()

    def free(self) -> int:
        self.poll()
        return self._free

    def ready(self) -> bool:
        """Writable, with free space above the reserve (health checks)."""
        self.poll()
        return not self._read_only and self._free >= self.reserve and os.access(self.path, os.W_OK)

    # --- deciding -------------------------------------------------------------
    def admit(self, length: int | None, small: bool = False) -> None:
        """Refuse (StorageFull) a write of ``length`` bytes (None: not said)
        that would leave less than the reserve free.  ``small``: its body
        goes into the metadata database, whose free pages count too."""
        if self.reserve <= 0:
            return
        self.poll()
        need = length or 0
        room = self._free + (self._reusable if small else 0)
        if room - need < self.reserve:
            raise StorageFull()
        self._free -= need  # until the next look, what was admitted counts as used

    def check_streaming(self) -> None:
        """A body still streaming to disk (any thread): stop it once less than
        half the reserve is left (its length was not said, or the disk is
        filling from elsewhere); the other half stays for the metadata."""
        if self.reserve <= 0:
            return
        now = time.monotonic()
        if now - self._checked >= self.interval:
            self._refresh(now)
        if self._free < self.reserve // 2:
            raise StorageFull()

    # --- the ballast ------------------------------------------------------------
    def release_ballast(self) -> bool:
        """Give the ballast's room back (a delete found the disk full; any
        thread).  False if there was none to give."""
        try:
            os.unlink(self.ballast_path)
        except FileNotFoundError:
            return False
        self._checked = 0.0  # look again at the next request
        log.warning("the disk of %s is full: released the %d-byte ballast so deletes can commit",
                    self.path, self.ballast_size)
        return True

    def _lay_ballast(self) -> None:
        tmp = f"{self.ballast_path}.{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.ballast_size)  # real blocks (glibc writes zeros where not supported)
            finally:
                os.close(fd)
            os.rename(tmp, self.ballast_path)  # whole or not at all; two workers racing leave one
        except OSError:
            pass  # no room after all: the next look tries again
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            self._laying = False
