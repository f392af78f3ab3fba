"""The reliability suite's counts (docs/reliability.md, "Counts").

Each test records what it did with ``record(area, ...)``: always printed, and
appended as one JSON line to ``$PAILS_RELIABILITY_REPORT`` when that is set
(``make reliability`` sets it per store).  ``python -m tests.reliability.report
FILE...`` sums a run: kills survived, acknowledged writes, states checked,
lost, torn, fuzzed requests, 5xx by class, minutes of faults, stalled
connections closed and after how long; with ``--full`` it exits 1 when the
full mode's figures (200 kills, 100,000 fuzzed requests, 30 minutes of faults,
nothing lost or torn, no 5xx but 501) are not reached."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import Counter
from typing import Any

FULL_KILLS = 200
FULL_FUZZED = 100_000
FULL_FAULT_MINUTES = 30.0


def record(area: str, **fields: Any) -> None:
    """One test's counts.  ``fault_seconds``: how long a running server was
    under injected faults (kills, restarts, fuzzing, a full disk, stalled
    clients)."""
    line = {"area": area, "store": "postgresql" if os.environ.get("PAILS_TEST_STORE") == "postgresql"
            else "sqlite", **fields}
    print(f"\n[reliability] {json.dumps(line)}", file=sys.__stdout__, flush=True)
    path = os.environ.get("PAILS_RELIABILITY_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def summarize(lines: list[dict[str, Any]]) -> dict[str, Any]:
    kills: Counter[str] = Counter()
    fivexx: Counter[str] = Counter()
    stalled: dict[str, list[float]] = {}
    total: dict[str, Any] = {"acknowledged": 0, "checked": 0, "lost": 0, "torn": 0, "fuzzed": 0,
                             "parser_examples": 0, "fault_seconds": 0.0, "disk_full_cycles": 0}
    for line in lines:
        for kind, n in line.get("kills", {}).items():
            kills[kind] += n
        for key in ("acknowledged", "checked", "lost", "torn", "fuzzed", "parser_examples", "disk_full_cycles"):
            total[key] += line.get(key, 0)
        total["fault_seconds"] += line.get("fault_seconds", 0.0)
        for status, n in line.get("5xx", {}).items():
            fivexx[status] += n
        for kind, seconds in line.get("stalled", {}).items():
            stalled.setdefault(kind, []).extend(seconds)
    total["kills"] = dict(kills)
    total["kills_total"] = sum(kills.values())
    total["5xx"] = dict(fivexx)
    total["stalled"] = {kind: {"closed": len(s), "min_s": round(min(s), 2), "median_s": round(statistics.median(s), 2),
                               "max_s": round(max(s), 2)} for kind, s in stalled.items() if s}
    total["fault_minutes"] = round(total.pop("fault_seconds") / 60, 1)
    total["stores"] = sorted({line["store"] for line in lines})
    return total


def shortfalls(summary: dict[str, Any]) -> list[str]:
    """What keeps a run from the full mode's figures."""
    out = []
    if summary["kills_total"] < FULL_KILLS:
        out.append(f"{summary['kills_total']} kills, fewer than {FULL_KILLS}")
    if summary["fuzzed"] < FULL_FUZZED:
        out.append(f"{summary['fuzzed']} fuzzed requests, fewer than {FULL_FUZZED}")
    if summary["fault_minutes"] < FULL_FAULT_MINUTES:
        out.append(f"{summary['fault_minutes']} minutes of faults, fewer than {FULL_FAULT_MINUTES:g}")
    if summary["lost"] or summary["torn"]:
        out.append(f"{summary['lost']} lost, {summary['torn']} torn")
    bad = {k: v for k, v in summary["5xx"].items() if not k.startswith("501")}
    if bad:
        out.append(f"5xx answers: {bad}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--full", action="store_true", help="exit 1 unless the full mode's figures are reached")
    args = ap.parse_args()
    status = 0
    for path in args.files:
        with open(path) as f:
            lines = [json.loads(x) for x in f if x.strip()]
        summary = summarize(lines)
        print(f"reliability summary ({path}, store {', '.join(summary['stores'])}):")
        print(f"  kills survived:          {summary['kills_total']} {summary['kills']}")
        print(f"  acknowledged writes:     {summary['acknowledged']}; states checked: {summary['checked']}; "
              f"lost: {summary['lost']}; torn: {summary['torn']}")
        print(f"  fuzzed requests:         {summary['fuzzed']} (server); parser examples: "
              f"{summary['parser_examples']}")
        print(f"  5xx by class:            {summary['5xx'] or 'none'}")
        print(f"  disk full cycles:        {summary['disk_full_cycles']}")
        for kind, s in summary["stalled"].items():
            print(f"  stalled {kind + ':':<16} {s['closed']} closed after {s['min_s']}-{s['max_s']} s "
                  f"(median {s['median_s']} s)")
        print(f"  minutes of faults:       {summary['fault_minutes']}")
        print(f"  json: {json.dumps(summary)}")
        if args.full:
            missing = shortfalls(summary)
            if missing:
                print(f"  NOT REACHED: {'; '.join(missing)}")
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
