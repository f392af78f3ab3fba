"""The pure parts of bucket quotas: what counts, what passes, how sizes read."""

from __future__ import annotations

import argparse
import json

import pytest

from pails.cli_buckets import parse_count, parse_size
from pails.storage.meta import quota_props
from pails.storage.records import BucketQuota, BucketUsage


def test_stored_counts_every_version_and_part_but_not_delete_markers() -> None:
    usage = BucketUsage(objects=2, bytes=10, noncurrent_objects=3, noncurrent_bytes=20, delete_markers=7,
                        uploads=1, parts=2, part_bytes=30)
    assert usage.stored_bytes == 60 and usage.stored_objects == 5


def test_exceeded_only_by_growth_past_a_limit() -> None:
    usage = BucketUsage(objects=5, bytes=100)
    bytes_only = BucketQuota(max_bytes=150)
    assert not bytes_only.exceeded_by(usage, 50, 1)
    assert bytes_only.exceeded_by(usage, 51, 0)
    assert not bytes_only.exceeded_by(BucketUsage(bytes=500), 0, 0)  # over already, but adding nothing
    objects_only = BucketQuota(max_objects=5)
    assert objects_only.exceeded_by(usage, 0, 1) and not objects_only.exceeded_by(usage, 10**9, 0)


def test_quota_props_round_trip() -> None:
    props = quota_props('{"tagging":{"a":"b"}}', BucketQuota(max_bytes=10))
    assert json.loads(props) == {"tagging": {"a": "b"}, "quota": {"max_bytes": 10}}
    assert BucketQuota.of(json.loads(props)) == BucketQuota(10, None)
    assert json.loads(quota_props(props, None)) == {"tagging": {"a": "b"}}
    assert BucketQuota.of({}) is None and BucketQuota.of({"quota": {}}) is None


@pytest.mark.parametrize("text, size", [("1000", 1000), ("500M", 500 * 10**6), ("10GiB", 10 * 2**30),
                                        ("2t", 2 * 10**12), ("3 KiB", 3072), ("7kb", 7000), ("none", None)])
def test_sizes(text: str, size: int | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1", "1.5G", "ten", "5X"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


def test_counts() -> None:
    assert parse_count("12") == 12 and parse_count("unlimited") is None
    with pytest.raises(argparse.ArgumentTypeError):
        parse_count("-3")
