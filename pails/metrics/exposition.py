"""The Prometheus text exposition format (version 0.0.4) of collected series."""

from __future__ import annotations

import math
from collections import defaultdict

from pails.metrics import FAMILIES, Family
from pails.metrics.collect import Series

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"


def render(series: dict[Series, float], extra: list[tuple[Family, list[tuple[tuple[str, ...], float]]]]) -> str:
    """The families of ``pails.metrics`` (every one, even with no series yet) from
    ``series``, then ``extra`` (values read at scrape time)."""
    by_name: dict[str, dict[tuple[str, ...], float]] = defaultdict(dict)
    for (name, labels), value in series.items():
        by_name[name][labels] = value
    lines: list[str] = []
    for family in FAMILIES.values():
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        if family.kind == "histogram":
            lines += _histogram(family, by_name)
        else:
            if not family.labels and family.name not in by_name:
                lines.append(f"{family.name} 0")  # not counted yet: 0, so rate() and alerts see it from the start
            for labels, value in sorted(by_name.get(family.name, {}).items()):
                if len(labels) == len(family.labels):
                    lines.append(f"{family.name}{_labels(family.labels, labels)} {_number(value)}")
    for family, values in extra:
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in values:
            lines.append(f"{family.name}{_labels(family.labels, labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


def _histogram(family: Family, by_name: dict[str, dict[tuple[str, ...], float]]) -> list[str]:
    lines: list[str] = []
    buckets = by_name.get(f"{family.name}_bucket", {})
    sums = by_name.get(f"{family.name}_sum", {})
    counts = by_name.get(f"{family.name}_count", {})  # series observed (their buckets may be past SLOTS)
    width = len(family.labels)
    per_series: dict[tuple[str, ...], list[float]] = {}
    for labels, value in buckets.items():
        if len(labels) != width + 1 or not labels[-1].isdigit():
            continue
        index = int(labels[-1])
        if index > len(family.buckets):
            continue
        per_series.setdefault(labels[:-1], [0.0] * (len(family.buckets) + 1))[index] += value
    names = (*family.labels, "le")
    for labels in sorted(set(per_series) | set(counts)):
        counted = per_series.get(labels, [0.0] * (len(family.buckets) + 1))
        running = 0.0
        for bound, value in zip((*family.buckets, math.inf), counted, strict=True):
            running += value
            lines.append(f"{family.name}_bucket{_labels(names, (*labels, _number(float(bound))))} {_number(running)}")
        lines.append(f"{family.name}_sum{_labels(family.labels, labels)} {_number(sums.get(labels, 0.0))}")
        # The +Inf bucket, not the stored count: a scrape between a worker's two adds still shows count == +Inf.
        lines.append(f"{family.name}_count{_labels(family.labels, labels)} {_number(running)}")
    return lines
