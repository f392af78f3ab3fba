"""Reading the metrics directory: every process's slots summed (gauges: the
largest), and the directory's life (made by ``pails server``, removed when it
stops).

A process that died leaves its files.  A scrape folds them into
``retired.json`` (the sums so far, and the file names folded) written atomically
(a temporary file renamed over it) before the files are removed: a scrape
that dies between the two finds the names in ``retired.json`` and skips those
files, so each count is read once, whatever happens.
"""

from __future__ import annotations

import array
import json
import os
import shutil
import tempfile

from pails.metrics import FAMILIES, SLOTS

Series = tuple[str, tuple[str, ...]]
_RETIRED = "retired.json"
_PREFIX = "pails-metrics-"


def make_directory(server_pid: int) -> str:
    """A fresh metrics directory for the server ``server_pid`` (in /dev/shm
    when there is one), and the directories of servers that died removed."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    for name in os.listdir(base):
        if name.startswith(_PREFIX) and name[len(_PREFIX):].isdigit() and not _alive(int(name[len(_PREFIX):])):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    path = os.path.join(base, f"{_PREFIX}{server_pid}")
    shutil.rmtree(path, ignore_errors=True)
    os.mkdir(path, 0o700)
    return path


def remove_directory(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_process(directory: str, stem: str) -> dict[Series, float]:
    """One process's series (a half-written last key line is skipped: its slot is not used yet)."""
    try:
        with open(os.path.join(directory, stem + ".keys"), "rb") as f:
            lines = f.read().split(b"\n")
        with open(os.path.join(directory, stem + ".values"), "rb") as f:
            raw = f.read(SLOTS * 8)
    except FileNotFoundError:
        return {}
    values = array.array("d")
    values.frombytes(raw[: len(raw) // 8 * 8])
    out: dict[Series, float] = {}
    for line in lines:
        try:
            slot, name, labels = json.loads(line)
        except ValueError:
            continue
        if 0 < slot < len(values):
            out[(name, tuple(labels))] = values[slot]
    return out


def _add(total: dict[Series, float], part: dict[Series, float]) -> None:
    for series, value in part.items():
        if _is_gauge(series[0]):
            total[series] = max(total.get(series, value), value)
        else:
            total[series] = total.get(series, 0.0) + value


def _is_gauge(name: str) -> bool:
    family = FAMILIES.get(name)
    return family is not None and family.kind == "gauge"


def collect(directory: str) -> dict[Series, float]:
    """Every series, over every process the server ever had.  Call from one
    thread at a time (the admin process's event loop)."""
    retired_path = os.path.join(directory, _RETIRED)
    try:
        with open(retired_path, encoding="utf-8") as f:
            saved = json.load(f)
        retired = {(name, tuple(labels)): value for name, labels, value in saved["series"]}
        folded: set[str] = set(saved["folded"])
    except (FileNotFoundError, ValueError, KeyError):
        retired, folded = {}, set()
    stems = sorted({name.rsplit(".", 1)[0] for name in os.listdir(directory)
                    if name.endswith(".keys") or name.endswith(".values")})
    live: dict[Series, float] = {}
    dead: list[str] = []
    for stem in stems:
        if stem in folded:
            _unlink(directory, stem)  # folded by a scrape that stopped before removing it
            continue
        part = _read_process(directory, stem)
        pid = stem.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            _add(retired, part)
            dead.append(stem)
        else:
            _add(live, part)
    if dead:
        folded.update(dead)
        tmp = retired_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"folded": sorted(folded),
                       "series": [[name, list(labels), value] for (name, labels), value in retired.items()]}, f)
        os.replace(tmp, retired_path)
        for stem in dead:
            _unlink(directory, stem)
    total = dict(retired)
    _add(total, live)
    return total


def _unlink(directory: str, stem: str) -> None:
    for suffix in (".keys", ".values"):
        try:
            os.unlink(os.path.join(directory, stem + suffix))
        except FileNotFoundError:
            pass
