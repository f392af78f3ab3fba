"""``pails bucket``: the buckets with their owners and usage, a bucket's
usage, quota and Veeam SOSAPI switch, from the command line: through the
running server's admin API, or on the data directory (or ``--meta URL``)
directly (pails.cli_admin).  Changes reach every server worker and gateway
as any bucket change does (pails.storage.epoch; NOTIFY on PostgreSQL)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from pails.admin.client import path
from pails.cli_admin import add_access_args, admin_for
from pails.storage.records import Bucket

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
    max_objects = q.get("max_objects")
    print(f"quota: max bytes {_human(q.get('max_bytes'))}, "
          f"max objects {'none' if max_objects is None else max_objects}")
    print(f"veeam sosapi: {'on' if info['veeam_sosapi'] else 'off'}")


def add_parsers(sub: Any, run: Any) -> None:
    """``pails bucket list|info|quota|veeam``; ``run(args, coroutine_factory)`` opens the engine (veeam)."""
    b = sub.add_parser("bucket", help="buckets' owners, usage and quotas, Veeam SOSAPI (works while the server runs)")
    bsub = b.add_subparsers(dest="bucket_cmd", required=True)

    ls = bsub.add_parser("list", help="every bucket (or one account's) with its owner, usage and quota")
    ls.add_argument("--owner", metavar="ACCOUNT", help="only this account's (name, access key or account id)")
    add_access_args(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    i = bsub.add_parser("info", help="usage (objects, bytes, uploads), quota, Veeam SOSAPI")
    i.add_argument("bucket")
    add_access_args(i)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    q = bsub.add_parser("quota", help="set or clear the bucket's hard quota")
    q.add_argument("bucket")
    add_access_args(q)
    q.add_argument("--max-bytes", type=parse_size, default=_KEEP, metavar="SIZE",
                   help="stored bytes (every version and uploaded part): 500M, 10GiB, 2T, or none")
    q.add_argument("--max-objects", type=parse_count, default=_KEEP, metavar="N",
                   help="stored object versions (delete markers not counted), or none")
    q.add_argument("--clear", action="store_true", help="remove both limits")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_quota)

    v = bsub.add_parser("veeam", help="serve Veeam's SOSAPI objects in this bucket (docs/backups.md)")
    v.add_argument("bucket")
    v.add_argument("--data", default="./data")
    v.add_argument("--meta", metavar="URL", help="metadata in PostgreSQL (as pails server --meta)")
    v.add_argument("state", choices=("on", "off"))
    v.set_defaults(func=lambda a: run(a, lambda e: _veeam(e, a)))


def cmd_list(args: argparse.Namespace) -> int:
    buckets: list[dict[str, Any]] = []
    query = {"owner": args.owner} if args.owner else {}
    with admin_for(args) as admin:
        while True:
            page = admin.call("GET", path("buckets"), query=query or None)
            buckets += page["buckets"]
            if page["next_after"] is None:
                break
            query = {**query, "after": page["next_after"]}
    if args.json:
        print(json.dumps(buckets))
        return 0
    for b in buckets:
        u, q = b["usage"], b["quota"] or {}
        print(f"{b['name']}\t{b['owner']['display_name'] or b['owner']['canonical_id']}\t"
              f"{u['stored_objects']} objects\t{_human(u['stored_bytes'])} bytes\t"
              f"quota {_human(q.get('max_bytes'))} bytes, {q.get('max_objects') or 'none'} objects")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with admin_for(args) as admin:
        print_info(admin.call("GET", path("buckets", args.bucket)), args.json)
    return 0


def cmd_quota(args: argparse.Namespace) -> int:
    if not args.clear and args.max_bytes is _KEEP and args.max_objects is _KEEP:
        sys.exit("pails: give --max-bytes, --max-objects or --clear")
    with admin_for(args) as admin:
        if args.clear:
            admin.call("DELETE", path("buckets", args.bucket, "quota"))
        else:
            body = {name: value for name, value in (("max_bytes", args.max_bytes), ("max_objects", args.max_objects))
                    if value is not _KEEP}
            admin.call("PUT", path("buckets", args.bucket, "quota"), body)
        print_info(admin.call("GET", path("buckets", args.bucket)), args.json)
    return 0


async def _veeam(engine: Engine, args: argparse.Namespace) -> None:
    await set_veeam(engine, args.bucket, args.state == "on")
    print(f"veeam sosapi: {args.state} for {args.bucket}")
