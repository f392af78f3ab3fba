"""Disk space rules (pails.storage.space) and how full disks map to S3 errors."""

from __future__ import annotations

import errno
import sqlite3

import psycopg
import pytest
from psycopg import errors as pg_errors

from pails.protocol.names import valid_bucket_name
from pails.storage.postgres.conn import statement_error
from pails.storage.space import SpaceGuard, StorageFull, is_full, parse_reserve, reserve_bytes
from pails.storage.sqlite.committer import storage_error

GiB = 1024 ** 3
MiB = 1024 ** 2


@pytest.mark.parametrize(("text", "parsed"), [
    ("", (-1, 0.0)), ("0", (0, 0.0)), ("4096", (4096, 0.0)), ("1GiB", (GiB, 0.0)), ("1G", (GiB, 0.0)),
    ("1gb", (GiB, 0.0)), ("512M", (512 * MiB, 0.0)), ("1.5k", (1536, 0.0)), ("5%", (0, 0.05)), ("0.5%", (0, 0.005)),
])
def test_reserve_sizes_and_percentages(text: str, parsed: tuple[int, float]) -> None:
    assert parse_reserve(text) == parsed


@pytest.mark.parametrize("text", ["lots", "-1G", "1X", "100%", "5 %%", "G"])
def test_bad_reserves_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_reserve(text)


def test_default_reserve_is_five_percent_within_bounds() -> None:
    assert reserve_bytes("", 100 * GiB) == GiB  # at most 1 GiB
    assert reserve_bytes("", 10 * GiB) == int(10 * GiB * 0.05)
    assert reserve_bytes("", 200 * MiB) == 32 * MiB  # at least 32 MiB
    assert reserve_bytes("", 40 * MiB) == 20 * MiB  # at most half of a tiny filesystem
    assert reserve_bytes("10%", 10 * GiB) == GiB
    assert reserve_bytes("2M", 10 * GiB) == 2 * MiB


def test_a_write_that_would_take_the_reserve_is_refused(tmp_path) -> None:
    guard = SpaceGuard(str(tmp_path), "0")
    guard.admit(10 ** 15)  # no reserve: nothing is refused here (the disk says ENOSPC itself)
    guard = SpaceGuard(str(tmp_path), "1024")
    free = guard.free()
    with pytest.raises(StorageFull) as caught:
        guard.admit(free)
    assert (caught.value.status, caught.value.code) == (507, "InsufficientStorage")
    guard.admit(free // 2)  # counted off the cached figure until the next look ...
    with pytest.raises(StorageFull):
        guard.admit(free // 2)  # ... so a burst cannot all pass on one stale look


def test_small_writes_may_use_the_metadata_store_s_free_pages(tmp_path) -> None:
    guard = SpaceGuard(str(tmp_path), "1024", interval=0.0)
    free = guard.free()
    guard.reusable = lambda: 2 * free
    guard.poll()
    guard.admit(free, small=True)
    with pytest.raises(StorageFull):
        guard.admit(guard.free() + 1)


def test_full_disk_errors() -> None:
    assert is_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_full(OSError(errno.EIO, "Input/output error"))
    assert not is_full(ValueError())


def test_sqlite_full_is_insufficient_storage() -> None:
    err = storage_error(sqlite3.OperationalError("database or disk is full"))
    assert (err.status, err.code) == (507, "InsufficientStorage")
    assert storage_error(sqlite3.OperationalError("disk I/O error")).status == 503
    assert storage_error(sqlite3.OperationalError("no such table: x")).status == 500


def test_postgresql_disk_full_is_insufficient_storage() -> None:
    err = statement_error(pg_errors.DiskFull('could not extend file "base/1/2": No space left on device'))
    assert err is not None and (err.status, err.code) == (507, "InsufficientStorage")
    assert isinstance(pg_errors.lookup("53100")("x"), psycopg.OperationalError)  # why it needs its own rule
    assert statement_error(pg_errors.UniqueViolation("x")) is None


def test_minio_is_a_reserved_bucket_name() -> None:
    assert not valid_bucket_name("minio")
    assert valid_bucket_name("minio2")
