"""Object data files, named by a random id and never by the key.

The commit protocol for a data file:

1. stream the body to ``tmp/<id>`` (hashing as it arrives), fsync the file and
   the ``tmp`` directory;
2. one metadata transaction makes the object, referencing ``<id>``, visible;
3. rename ``tmp/<id>`` to ``blobs/<xx>/<id>``.

A crash before 2 leaves an unreferenced file in ``tmp``; a crash between 2 and
3 leaves a referenced one.  Recovery (at start-up, before serving) looks only
at ``tmp``: referenced files finish their rename, the rest are deleted.  Files
that a committed overwrite or delete stopped referencing are listed in the
metadata (``blob_garbage``) by that same commit and unlinked afterwards, so
nothing leaks whatever the moment of a crash.  Readers that find no file in
``blobs`` look in ``tmp`` (the window between 2 and 3).

A data directory shared by many gateways (the PostgreSQL store) cannot
recover by looking at ``tmp``: other gateways are writing there.  Its files
are fenced by intents instead, and written in place (no rename):

1. an intent row for ``<id>`` is committed;
2. the body streams to ``blobs/<xx>/<id>`` (created exclusively), which is
   fsync'd with its directory;
3. the metadata commit that references ``<id>`` deletes its intent and fails
   if the intent is gone.

Any gateway deletes intents older than a timeout (committed) and then
unlinks their files: a crashed gateway's file is removed, and a stalled
gateway that wakes up later cannot commit a reference to a removed file.
The filesystem needs only exclusive create, fsync and close-to-open
visibility; no rename, no locks.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pails.storage.meta import may_be_committed
from pails.storage.space import SpaceGuard, StorageFull, is_full

if TYPE_CHECKING:
    from pails.storage.crypto import Sealer

# link() not possible here: copy the file instead.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
# Large files are written back as they grow, in steps of this many bytes: the
# disk works while the body still arrives, the fsync that acknowledges the
# upload finds little left to do, and the pages of a step already on disk are
# dropped from the page cache.  So a 50 GiB upload neither evicts everything
# else cached nor keeps taking fresh memory (slow to fault in on a VM whose
# host reclaims free guest memory): its next writes reuse the pages it freed.
# Reads put objects back in the cache as usual.
_WRITEBACK_STEP = 8 * 1024 * 1024
_SYNC_FILE_RANGE_WRITE = 2  # start writeback of dirty pages, do not wait
_SYNC_FILE_RANGE_WAIT = 1 | 2 | 4  # wait for writeback in flight, start the rest, wait for it
_SPACE_STEP = 8 * 1024 * 1024  # a streaming body looks at the free space this often (SpaceGuard.check_streaming)


def _find_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range  # Linux
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_sync_file_range = _find_sync_file_range()


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobWriter:
    """A data file being written: bytes go to disk and into the MD5 as they
    arrive, so the body is never held in memory."""

    __slots__ = ("store", "blob_id", "path", "fd", "md5", "size", "extra_hashes", "sealer", "_written",
                 "_flushed", "_dropped", "_space_check")

    def __init__(self, store: BlobStore, blob_id: str) -> None:
        self.store = store
        self.blob_id = blob_id
        self.path = store.final_path(blob_id) if store.shared else os.path.join(store.tmp_dir, blob_id)
        try:
            self.fd = os.open(self.path, _OPEN_FLAGS, 0o600)
        except OSError as exc:
            if is_full(exc):  # no room for the directory entry
                raise StorageFull() from None
            raise
        self.md5 = hashlib.md5()
        self.size = 0
        self.extra_hashes: list[object] = []
        self.sealer: Sealer | None = None  # set: the file holds ciphertext (pails.storage.crypto)
        self._written = 0  # bytes in the file
        self._flushed = 0  # bytes whose writeback has been started
        self._dropped = 0  # bytes on disk and out of the page cache
        self._space_check = _SPACE_STEP  # look at the free space when the file gets this large

    def write(self, data: bytes | memoryview) -> None:
        """Write plaintext: hashed as it is, encrypted on the way to disk when
        the writer has a sealer."""
        self.hash_many((data,))
        self.store_many((data,))

    def write_many(self, pieces: Sequence[bytes | memoryview]) -> None:
        self.hash_many(pieces)
        self.store_many(pieces)

    # The two halves of a write touch disjoint state, so two threads may run
    # them on the same batch at once (hashing and disk writes overlap).
    def hash_many(self, pieces: Sequence[bytes | memoryview]) -> None:
        md5, extra = self.md5, self.extra_hashes
        for data in pieces:
            md5.update(data)
            for h in extra:
                h.update(data)  # type: ignore[attr-defined]

    def store_many(self, pieces: Sequence[bytes | memoryview]) -> None:
        for data in pieces:
            n_plain = len(data)
            if self.sealer is not None:
                data = self.sealer.update(data)
            view = memoryview(data)
            try:
                while view:
                    n = os.write(self.fd, view)
                    view = view[n:]
                    self._written += n
            except OSError as exc:
                if is_full(exc):  # the caller aborts the writer: the partial file goes
                    raise StorageFull() from None
                raise
            self.size += n_plain
        if self._written >= self._space_check:
            self._space_check = self._written + _SPACE_STEP
            if self.store.space is not None:
                self.store.space.check_streaming()
        if self._written - self._flushed >= _WRITEBACK_STEP and self.store.fsync and _sync_file_range is not None:
            self._write_back()

    def _write_back(self) -> None:
        _sync_file_range(self.fd, self._flushed, self._written - self._flushed, _SYNC_FILE_RANGE_WRITE)
        if self._flushed > self._dropped:  # started a step ago: on disk by now, or nearly
            _sync_file_range(self.fd, self._dropped, self._flushed - self._dropped, _SYNC_FILE_RANGE_WAIT)
            try:
                os.posix_fadvise(self.fd, self._dropped, self._flushed - self._dropped, os.POSIX_FADV_DONTNEED)
            except OSError:  # advice only: a filesystem may not take it
                pass
            self._dropped = self._flushed
        self._flushed = self._written

    def seal(self) -> None:
        """Make the file durable in ``tmp`` (step 1 of the protocol); an
        encrypted file gets its integrity tag."""
        if self.sealer is not None:
            self.sealer.finish()
            self.sealer = None
        try:
            if self.store.fsync:
                os.fsync(self.fd)  # where space is allocated late (NFS, thin volumes) it may be found missing here
            os.close(self.fd)
            self.fd = -1
            if self.store.fsync:
                _fsync_dir(os.path.dirname(self.path))
        except OSError as exc:
            if is_full(exc):
                raise StorageFull() from None
            raise

    def abort(self, failure: BaseException | None = None) -> None:
        """The write failed (``failure``: why): remove the file, unless its
        commit may have taken effect (on a shared data directory, its intent
        removes it later if the commit did not)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.store.shared and may_be_committed(failure):
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def new_blob_id() -> str:
    """32 hex digits: 24 random, then the writing process's id, so that a
    worker replacing one that died can tell the dead one's files in ``tmp``
    from those other live workers are writing (``writer_is_gone``)."""
    return f"{secrets.token_hex(12)}{os.getpid() & 0xFFFFFFFF:08x}"


def writer_is_gone(blob_id: str) -> bool:
    """The process that created ``blob_id`` has exited (False when unsure:
    an id of another form, or a process of that id exists, maybe a new one)."""
    if len(blob_id) != 32:
        return False
    try:
        pid = int(blob_id[24:], 16)
    except ValueError:
        return False
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, another user's
        return False
    return False


class BlobStore:
    def __init__(self, root: str, *, fsync: bool = True, shared: bool = False,
                 space: SpaceGuard | None = None) -> None:
        self.root = root
        self.space = space  # streaming writers stop when free space runs low
        self.fsync = fsync
        self.shared = shared  # many gateways write here: intents, no tmp (see the module's docstring)
        self.tmp_dir = os.path.join(root, "tmp")
        self.blob_dir = os.path.join(root, "blobs")
        os.makedirs(self.tmp_dir, exist_ok=True)
        for i in range(256):
            os.makedirs(os.path.join(self.blob_dir, f"{i:02x}"), exist_ok=True)

    def final_path(self, blob_id: str) -> str:
        return os.path.join(self.blob_dir, blob_id[:2], blob_id)

    def create(self, blob_id: str | None = None) -> BlobWriter:
        """A new data file (on a shared data directory, announce ``blob_id``
        first: ``Engine.create_blob``)."""
        return BlobWriter(self, blob_id or new_blob_id())

    def promote(self, blob_id: str) -> None:
        """Step 3: move a committed file into place.  Not fsync'd: recovery
        redoes a rename lost in a crash.  (Shared: written in place already.)"""
        if self.shared:
            return
        try:
            os.rename(os.path.join(self.tmp_dir, blob_id), self.final_path(blob_id))
        except FileNotFoundError:
            pass

    def open(self, blob_id: str) -> int:
        """An fd for reading; the caller closes it."""
        try:
            return os.open(self.final_path(blob_id), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return os.open(os.path.join(self.tmp_dir, blob_id), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))

    def delete(self, blob_id: str) -> None:
        for path in (self.final_path(blob_id), os.path.join(self.tmp_dir, blob_id)):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def check_shared(self) -> None:
        """What can be checked from one gateway of what a shared data
        directory must do: exclusive create (a second create of the same
        name fails), write, fsync of a file and of its directory, read back,
        unlink.  OSError (with what failed) if any of it does not work."""
        path = os.path.join(self.blob_dir, "00", f".probe-{secrets.token_hex(8)}")
        data = secrets.token_bytes(4096)
        fd = os.open(path, _OPEN_FLAGS, 0o600)
        try:
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(os.path.dirname(path))
            try:
                os.close(os.open(path, _OPEN_FLAGS, 0o600))
            except FileExistsError:
                pass
            else:
                raise OSError(f"exclusive create (O_EXCL) is not honoured on {self.root}")
            with open(path, "rb") as f:
                if f.read() != data:
                    raise OSError(f"a file written on {self.root} reads back different")
        finally:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def staging_path(self, blob_id: str) -> str:
        """Where a new, uncommitted data file is written (step 1)."""
        return self.final_path(blob_id) if self.shared else os.path.join(self.tmp_dir, blob_id)

    def source_path(self, blob_id: str) -> str:
        """Where a committed data file is now: ``blobs`` or, between its commit
        and its rename, ``tmp``.  FileNotFoundError if it is gone (collected)."""
        final = self.final_path(blob_id)
        for path in (final, os.path.join(self.tmp_dir, blob_id), final):
            if os.path.exists(path):
                return path
        raise FileNotFoundError(final)

    def link(self, blob_id: str, new_id: str) -> None:
        """Stage ``new_id`` as a copy of the committed file ``blob_id``: a hard
        link where the filesystem has them (the data is immutable), else a
        copy in the kernel, fsync'd.  FileNotFoundError if ``blob_id`` was
        collected meanwhile.  The caller syncs the directory (``sync_staged``)."""
        target = self.staging_path(new_id)
        src = self.source_path(blob_id)
        try:
            try:
                os.link(src, target)
            except FileNotFoundError:  # renamed from tmp to blobs meanwhile
                os.link(self.source_path(blob_id), target)
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
                shutil.copyfile(src, target)  # copy_file_range / sendfile: in the kernel
                if self.fsync:
                    fd = os.open(target, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
        except OSError as exc:
            if is_full(exc):  # the caller discards what was staged
                raise StorageFull() from None
            raise

    def sync_staged(self, new_ids: Sequence[str]) -> None:
        """Make the names of staged files durable (their directories fsync'd)."""
        if self.fsync:
            for path in {os.path.dirname(self.staging_path(i)) for i in new_ids}:
                _fsync_dir(path)

    def discard(self, new_ids: Sequence[str], failure: BaseException | None = None) -> None:
        """Remove staged files whose commit failed (as ``BlobWriter.abort``)."""
        if self.shared and may_be_committed(failure):
            return
        for new_id in new_ids:
            try:
                os.unlink(self.staging_path(new_id))
            except FileNotFoundError:
                pass

    def pending_writes(self) -> list[str]:
        """Data files in ``tmp``: writes that were interrupted, or committed
        and not yet renamed (local data directories, at start-up)."""
        return os.listdir(self.tmp_dir)
