"""``pails bucket``: a bucket's usage, quota and Veeam SOSAPI switch, from
the command line, on the data directory (or ``--meta URL``) while the server
runs.  Changes reach every server worker and gateway as any bucket change
does (pails.storage.epoch; NOTIFY on PostgreSQL)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from pails.storage.records import Bucket, BucketQuota

if TYPE_CHECKING:
    from pails.storage.engine import Engine

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50}
_SIZE = re.compile(r"(\d+)\s*([kmgtp]i?)?b?", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """A size in bytes: 1000, 500M, 10GiB, 2T (K, M, G, T, P are powers of
    1000, KiB, MiB, ... of 1024); "none": no limit."""
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500M, 10GiB, none)")
    return int(m.group(1)) * _UNITS[(m.group(2) or "").lower()]


def parse_count(text: str) -> int | None:
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r} (or none)") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a count cannot be negative")
    return value


def _props(bucket: Bucket) -> dict[str, Any]:
    return dict(json.loads(bucket.props or "{}"))


async def _bucket(engine: Engine, name: str) -> Bucket:
    bucket = await engine.meta.get_bucket(name)
    if bucket is None:
        sys.exit(f"pails: no bucket {name}")
    return bucket


async def bucket_info(engine: Engine, name: str) -> dict[str, Any]:
    """What ``pails bucket info --json`` prints."""
    from pails.s3 import veeam

    bucket = await _bucket(engine, name)
    usage = await engine.meta.bucket_usage(bucket.id)
    quota = BucketQuota.of(_props(bucket))
    return {
        "bucket": bucket.name,
        "owner_id": bucket.owner_id,
        "versioning": bucket.versioning or "Unversioned",
        "usage": {**dataclasses.asdict(usage), "stored_bytes": usage.stored_bytes,
                  "stored_objects": usage.stored_objects},
        "quota": None if quota is None else {"max_bytes": quota.max_bytes, "max_objects": quota.max_objects},
        "veeam_sosapi": veeam.enabled(bucket),
    }


async def set_quota(engine: Engine, name: str, args: argparse.Namespace) -> BucketQuota | None:
    bucket = await _bucket(engine, name)
    old = BucketQuota.of(_props(bucket)) or BucketQuota()
    if args.clear:
        quota: BucketQuota | None = None
    else:
        quota = BucketQuota(old.max_bytes if args.max_bytes is _KEEP else args.max_bytes,
                            old.max_objects if args.max_objects is _KEEP else args.max_objects)
        if quota.max_bytes is None and quota.max_objects is None:
            quota = None
    await engine.meta.set_bucket_quota(bucket.id, quota)
    return quota


async def set_veeam(engine: Engine, name: str, on: bool) -> None:
    from pails.s3 import veeam

    bucket = await _bucket(engine, name)
    await engine.meta.set_bucket_prop(bucket.id, veeam.PROP, True if on else None)


_KEEP = object()  # --max-bytes / --max-objects not given: that limit stays as it is


def _human(n: int | None) -> str:
    if n is None:
        return "none"
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n} ({n / size:.1f} {unit})"
    return str(n)


def print_info(info: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(info))
        return
    u, q = info["usage"], info["quota"] or {}
    print(f"bucket: {info['bucket']}")
    print(f"versioning: {info['versioning']}")
    print(f"objects: {u['objects']} current, {u['noncurrent_objects']} noncurrent, "
          f"{u['delete_markers']} delete markers")
    print(f"bytes: {_human(u['bytes'])} current, {_human(u['noncurrent_bytes'])} noncurrent")
    print(f"multipart uploads: {u['uploads']} ({u['parts']} parts, {_human(u['part_bytes'])})")
    print(f"stored: {_human(u['stored_bytes'])} in {u['stored_objects']} objects")
    print(f"quota: max bytes {_human(q.get('max_bytes'))}, max objects {q.get('max_objects', 'none')}")
    print(f"veeam sosapi: {'on' if info['veeam_sosapi'] else 'off'}")


def add_parsers(sub: Any, run: Any) -> None:
    """``pails bucket info|quota|veeam``; ``run(args, coroutine_factory)`` opens the engine."""
    b = sub.add_parser("bucket", help="a bucket's usage, quota and Veeam SOSAPI (works while the server runs)")
    bsub = b.add_subparsers(dest="bucket_cmd", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("bucket")
        p.add_argument("--data", default="./data")
        p.add_argument("--meta", metavar="URL", help="metadata in PostgreSQL (as pails server --meta)")

    i = bsub.add_parser("info", help="usage (objects, bytes, uploads), quota, Veeam SOSAPI")
    common(i)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=lambda a: run(a, lambda e: _info(e, a)))

    q = bsub.add_parser("quota", help="set or clear the bucket's hard quota")
    common(q)
    q.add_argument("--max-bytes", type=parse_size, default=_KEEP, metavar="SIZE",
                   help="stored bytes (every version and uploaded part): 500M, 10GiB, 2T, or none")
    q.add_argument("--max-objects", type=parse_count, default=_KEEP, metavar="N",
                   help="stored object versions (delete markers not counted), or none")
    q.add_argument("--clear", action="store_true", help="remove both limits")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=lambda a: run(a, lambda e: _quota(e, a)))

    v = bsub.add_parser("veeam", help="serve Veeam's SOSAPI objects in this bucket (docs/backups.md)")
    common(v)
    v.add_argument("state", choices=("on", "off"))
    v.set_defaults(func=lambda a: run(a, lambda e: _veeam(e, a)))


async def _info(engine: Engine, args: argparse.Namespace) -> None:
    print_info(await bucket_info(engine, args.bucket), args.json)


async def _quota(engine: Engine, args: argparse.Namespace) -> None:
    if not args.clear and args.max_bytes is _KEEP and args.max_objects is _KEEP:
        sys.exit("pails: give --max-bytes, --max-objects or --clear")
    await set_quota(engine, args.bucket, args)
    print_info(await bucket_info(engine, args.bucket), args.json)


async def _veeam(engine: Engine, args: argparse.Namespace) -> None:
    await set_veeam(engine, args.bucket, args.state == "on")
    print(f"veeam sosapi: {args.state} for {args.bucket}")
