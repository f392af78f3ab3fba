"""An online copy of the SQLite metadata (``pails backup-meta``).

SQLite's backup API copies the database from one read transaction: in WAL
mode writers go on meanwhile, and the copy is the database as of the moment
that transaction began (every commit acknowledged before it is in).  The copy
is written next to its destination, checked, fsync'd and renamed into place,
so DEST is either absent or a whole database."""

from __future__ import annotations

import os
import sqlite3

DB_NAME = "meta.sqlite3"


class BackupError(Exception):
    """The copy could not be made (the message says why)."""


def _fsync_path(path: str, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(tmp: str) -> None:
    for path in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def backup_sqlite(data_dir: str, dest: str) -> int:
    """Copy DATA_DIR's metadata database to ``dest`` (which must not exist);
    return the copy's size in bytes."""
    src_path = os.path.join(data_dir, DB_NAME)
    if not os.path.isfile(src_path):
        raise BackupError(f"no metadata database {src_path}")
    if os.path.exists(dest):
        raise BackupError(f"{dest} exists already: give a new file name")
    tmp = f"{dest}.partial"
    _remove(tmp)
    src = sqlite3.connect(src_path, timeout=30.0)  # reads only (read-only mode would need the WAL's files)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        out = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(out)  # one step: one read transaction, one consistent snapshot
            # A single file, openable read-only or from a read-only medium.
            out.execute("PRAGMA journal_mode=DELETE")
            check = out.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy does not check out: {check}")
        finally:
            out.close()
    except (sqlite3.Error, BackupError) as exc:
        _remove(tmp)
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"copying {src_path}: {exc}") from exc
    finally:
        src.close()
    _fsync_path(tmp)
    os.rename(tmp, dest)
    _fsync_path(os.path.dirname(os.path.abspath(dest)), directory=True)
    return os.path.getsize(dest)
