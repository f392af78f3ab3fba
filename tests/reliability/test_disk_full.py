"""A full disk never wedges Pails (docs/reliability.md, "Full disk").

Each test mounts a small filesystem of its own (ext4 on a loop device, else
tmpfs with a size limit; root only) and serves a data directory on it: writes
are refused with 507 InsufficientStorage before the disk is full, deletes
still free space when something else filled it, and writes are accepted
again once there is room.  On the PostgreSQL store the metadata is in
PostgreSQL and only the data files are on the small filesystem;
``test_postgresql_disk_full`` puts the metadata database itself on one (a
tablespace).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from pails.storage.space import REFRESH
from tests.conftest import client
from tests.pails_server import STORE, Server
from tests.reliability import FULL
from tests.reliability.report import record

MiB = 1024 * 1024
FS_SIZE = 64 * MiB
RESERVE = 8 * MiB  # --disk-reserve; the ballast is min(16 MiB, reserve)
OK = (200, "OK")
REFUSED = (507, "InsufficientStorage")
CYCLES = 12 if FULL else 1


@contextlib.contextmanager
def small_filesystem(mountpoint: Path, size: int = FS_SIZE, owner: str | None = None) -> Iterator[str]:
    """A filesystem of ``size`` bytes mounted at ``mountpoint`` (unmounted
    afterwards, whatever happens); yields what kind it is."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mountpoint.mkdir()
    image = mountpoint.with_name(mountpoint.name + ".img")
    kind = ""
    try:
        with open(image, "wb") as f:
            f.truncate(size)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True, capture_output=True)
        kind = "ext4 on a loop device"
    except (OSError, subprocess.CalledProcessError) as loop_failure:
        image.unlink(missing_ok=True)
        tmpfs = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
                               capture_output=True, text=True)
        if tmpfs.returncode != 0:
            pytest.skip(f"cannot mount a small filesystem: loop device: {loop_failure}; tmpfs: {tmpfs.stderr}")
        kind = "tmpfs"
    try:
        if owner is not None:
            subprocess.run(["chown", f"{owner}:{owner}", str(mountpoint)], check=True)
        yield kind
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)  # busy: detach now, free later
        image.unlink(missing_ok=True)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path) -> None:
    """Another program fills the filesystem to the last byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    chunk = MiB
    try:
        while chunk:
            try:
                os.write(fd, b"\0" * chunk)
            except OSError:
                chunk //= 16
        os.fsync(fd)
    finally:
        os.close(fd)


def outcome(call: Callable[..., object], **kwargs: object) -> tuple[int, str]:
    try:
        call(**kwargs)
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]
    return OK


def health(server: Server, which: str) -> int:
    try:
        with urllib.request.urlopen(f"{server.endpoint}/minio/health/{which}", timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {condition.__doc__ or condition}")
        time.sleep(0.02)


def settle() -> None:
    """Each worker trusts a look at the free space for REFRESH seconds (by
    design): a change of free space reaches every worker after that long, a
    delay no request can observe per worker, hence the one sleep here."""
    time.sleep(REFRESH + 0.05)


def clean_log(server: Server) -> None:
    assert server.log_path is not None
    log = server.log_path.read_text()
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]


def test_full_disk_refuses_writes_and_keeps_deletes_working(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with small_filesystem(data), running(Server(data, extra_args=["--disk-reserve", "8MiB"])) as srv:
        s3 = client(srv, retries={"max_attempts": 1})
        s3.create_bucket(Bucket="full")
        ballast = data / "reserve.ballast"
        if STORE == "sqlite":  # laid down within a second of start-up, while there is room
            wait_until(ballast.exists)
        assert health(srv, "live") == 200
        wait_until(lambda: health(srv, "ready") == 200)
        empty = free_bytes(data)
        started = time.monotonic()
        for cycle in range(CYCLES):
            upload = s3.create_multipart_upload(Bucket="full", Key="mp")["UploadId"]
            s3.upload_part(Bucket="full", Key="mp", UploadId=upload, PartNumber=1, Body=os.urandom(MiB))

            # Pails' own writes: refused before the reserve is taken.
            seen: Counter[tuple[int, str]] = Counter()
            stored = 0
            while True:
                result = outcome(s3.put_object, Bucket="full", Key=f"big{stored}", Body=os.urandom(MiB))
                seen[result] += 1
                if result != OK:
                    break
                stored += 1
            assert set(seen) == {OK, REFUSED} and stored > 20, seen
            assert free_bytes(data) > RESERVE // 2  # the reserve held (less the metadata's own share)
            assert s3.get_object(Bucket="full", Key="big0")["Body"].read()  # reads go on

            # Something else fills the disk to the last byte; Pails restarts on it.
            fill(data / "filler")
            settle()
            for _ in range(4):
                assert outcome(s3.put_object, Bucket="full", Key="small", Body=b"x" * 100) == REFUSED
                assert outcome(s3.copy_object, Bucket="full", Key="copy",
                               CopySource={"Bucket": "full", "Key": "big0"}) == REFUSED
            wait_until(lambda: health(srv, "ready") == 503)
            if cycle == 0:
                srv.stop()
                srv.start()
            # Deletes still commit (on SQLite the ballast makes room for them) and free space.
            freed_from = free_bytes(data) + 4 * MiB
            assert outcome(s3.delete_object, Bucket="full", Key="big0") == OK
            gone = s3.delete_objects(Bucket="full", Delete={"Objects": [{"Key": f"big{i}"} for i in range(1, 4)]})
            assert not gone.get("Errors") and len(gone["Deleted"]) == 3
            assert outcome(s3.abort_multipart_upload, Bucket="full", Key="mp", UploadId=upload) == OK
            wait_until(lambda goal=freed_from: free_bytes(data) >= goal)  # the data files are collected
            assert outcome(s3.head_object, Bucket="full", Key="big0")[0] == 404

            # Room again: writes are accepted at once, no restart.
            (data / "filler").unlink()
            wait_until(lambda: outcome(s3.put_object, Bucket="full", Key="again", Body=os.urandom(MiB)) == OK,
                       timeout=5.0)
            wait_until(lambda: health(srv, "ready") == 200)
            if STORE == "sqlite":
                wait_until(ballast.exists)
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="full").get("Contents", [])]
            for start in range(0, len(keys), 1000):
                s3.delete_objects(Bucket="full", Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]]})
            # All collected (SQLite's WAL file grows up to ~4 MiB and stays): the next cycle starts as this one.
            wait_until(lambda: free_bytes(data) >= empty - 6 * MiB)
            settle()
        record("disk full", disk_full_cycles=CYCLES, fault_seconds=round(time.monotonic() - started, 1))
        clean_log(srv)


def test_a_body_that_meets_a_full_disk_is_refused_and_discarded(tmp_path: Path) -> None:
    # No reserve: the admission lets a 4 MiB body in and the disk runs out under it.
    data = tmp_path / "data"
    with small_filesystem(data), running(Server(data, extra_args=["--disk-reserve", "0"])) as srv:
        s3 = client(srv, retries={"max_attempts": 1})
        s3.create_bucket(Bucket="full")
        fill(data / "filler")
        os.truncate(data / "filler", os.stat(data / "filler").st_size - 2 * MiB)
        before = free_bytes(data)
        assert outcome(s3.put_object, Bucket="full", Key="big", Body=os.urandom(4 * MiB)) == REFUSED
        assert outcome(s3.upload_part, Bucket="full", Key="mp", PartNumber=1, Body=os.urandom(4 * MiB),
                                              UploadId=s3.create_multipart_upload(Bucket="full", Key="mp")[
                                                  "UploadId"]) == REFUSED
        wait_until(lambda: free_bytes(data) >= before - 64 * 1024)  # the partial files are gone
        assert not os.listdir(data / "tmp") or STORE != "sqlite"
        assert outcome(s3.put_object, Bucket="full", Key="fits", Body=os.urandom(MiB)) == OK
        clean_log(srv)


def test_health_and_the_reserved_bucket_name(server: Server, s3) -> None:
    assert health(server, "live") == 200
    assert health(server, "ready") == 200
    assert outcome(s3.create_bucket, Bucket="minio") == (400, "InvalidBucketName")


@pytest.mark.skipif(STORE != "postgresql", reason="the metadata database on a full disk: PostgreSQL store")
def test_postgresql_disk_full(tmp_path: Path) -> None:
    """The metadata database's own disk fills (SQLSTATE 53100): small writes,
    whose bodies live in the database, get 507; deletes still commit."""
    import psycopg

    from tests.pg import ADMIN_URL, _url_for

    # PostgreSQL (user postgres) must reach the tablespace: not under pytest's root-only directories.
    parent = Path(tempfile.mkdtemp(prefix="pails-pgspace-"))
    parent.chmod(0o755)
    space = parent / "space"
    name = f"pails_full_{os.getpid()}_{time.monotonic_ns() % 10 ** 9}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        local = admin.execute("SELECT inet_server_addr() IS NULL OR host(inet_server_addr()) "
                              "IN ('127.0.0.1', '::1')").fetchone()
        if not local or not local[0]:
            pytest.skip("the PostgreSQL server is not on this machine: no tablespace on a small filesystem")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, parent, True)
        cleanup.enter_context(small_filesystem(space, 48 * MiB, owner="postgres"))
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"CREATE TABLESPACE {name} LOCATION '{space}'")
            admin.execute(f'CREATE DATABASE "{name}" TABLESPACE {name}')
        fd = os.open(space / "filler", os.O_WRONLY | os.O_CREAT, 0o600)  # something else on that disk
        try:
            os.posix_fallocate(fd, 0, 8 * MiB)
        finally:
            os.close(fd)
        try:
            srv = Server(tmp_path / "data", meta_url=_url_for(name))
            with running(srv):
                s3 = client(srv, retries={"max_attempts": 1})
                s3.create_bucket(Bucket="full")
                seen: Counter[tuple[int, str]] = Counter()
                stored = 0
                while seen[REFUSED] < 3:
                    result = outcome(s3.put_object, Bucket="full", Key=f"k{stored}", Body=os.urandom(60 * 1024))
                    seen[result] += 1
                    stored += result == OK
                assert set(seen) == {OK, REFUSED}, seen
                assert outcome(s3.delete_object, Bucket="full", Key="k0") == OK
                gone = s3.delete_objects(Bucket="full", Delete={"Objects": [{"Key": f"k{i}"} for i in range(1, 40)]})
                assert not gone.get("Errors")
                assert outcome(s3.get_object, Bucket="full", Key="k50") == OK
                # Room again on the database's disk (PostgreSQL reuses deleted rows' only once vacuumed):
                # writes go again at once, no restart.
                (space / "filler").unlink()
                assert outcome(s3.put_object, Bucket="full", Key="again", Body=os.urandom(60 * 1024)) == OK
                clean_log(srv)
        finally:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.execute(f"DROP TABLESPACE IF EXISTS {name}")
