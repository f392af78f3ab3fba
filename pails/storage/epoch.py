"""A change counter shared by every process serving one data directory.

Server workers cache bucket records (every request needs one).  A process
that commits a bucket change bumps the counter afterwards; a reader trusts its
cache only while the counter still has the value it had when it read the
record.  So a request that starts after a change was acknowledged (the bump
happens before the response) never sees the old record, in any worker.

The counter lives in a memory-mapped file: reading it costs no system call.
Two concurrent bumps may both write the same value; that is harmless because
readers only compare for equality, and each bump follows its own commit.
"""

from __future__ import annotations

import mmap
import os
import struct

_FORMAT = "<Q"


class SharedCounter:
    __slots__ = ("_map",)

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)
            self._map = mmap.mmap(fd, 8)
        finally:
            os.close(fd)

    def value(self) -> int:
        return struct.unpack_from(_FORMAT, self._map)[0]  # type: ignore[no-any-return]

    def bump(self) -> None:
        struct.pack_into(_FORMAT, self._map, 0, (self.value() + 1) & 0xFFFF_FFFF_FFFF_FFFF)

    def close(self) -> None:
        self._map.close()
