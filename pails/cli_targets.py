"""``pails target add|list|remove``: the destinations of bucket
notifications, managed by the operator on the data directory (or
``--meta URL``) while the server runs (docs/notifications.md).  A bucket's
notification configuration names a target by its ARN, which ``list`` shows:
``arn:pails:sqs::NAME:KIND`` (MinIO's ``arn:minio:sqs::NAME:KIND`` too)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from pails.events.targets import KINDS, NAME, arn_of, check_options
from pails.storage.event_rows import EventTarget

if TYPE_CHECKING:
    from pails.storage.engine import Engine

_SECRET = ("auth_token", "password")


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` words as options (JSON values where they parse: 1, true)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"not an option: {pair!r} (write name=value)")
        try:
            parsed = json.loads(value)
            out[name] = parsed if isinstance(parsed, bool | int) else value
        except ValueError:
            out[name] = value
    return out


def redacted(options: dict[str, Any]) -> dict[str, Any]:
    """Options as shown: secrets and URL passwords hidden."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name in _SECRET and value:
            value = "***"
        elif isinstance(value, str) and "://" in value:
            scheme, _, rest = value.partition("://")
            creds, at, host = rest.rpartition("@")
            if at and ":" in creds:
                value = f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
        out[name] = value
    return out


async def add_target(engine: Engine, name: str, kind: str, options: dict[str, Any]) -> EventTarget:
    if not NAME.fullmatch(name):
        raise ValueError("a target name is 1-64 letters, digits, '.', '_' or '-'")
    target = EventTarget(name, kind, json.dumps(check_options(kind, options), sort_keys=True), time.time())
    await engine.meta.put_event_target(target)
    return target


async def list_targets(engine: Engine) -> list[dict[str, Any]]:
    """What ``pails target list --json`` prints: each target with its outbox."""
    depth = {d.target: d for d in await engine.meta.outbox_depth()}
    out = []
    for t in await engine.meta.list_event_targets():
        d = depth.get(t.name)
        out.append({"name": t.name, "kind": t.kind, "arn": arn_of(t), "options": redacted(json.loads(t.config)),
                    "queued": d.queued if d else 0, "delivered": d.delivered if d else 0,
                    "dropped": d.dropped if d else 0, "failures": d.failures if d else 0,
                    "last_error": d.last_error if d else None})
    return out


def add_parsers(sub: Any, run: Any) -> None:
    """``pails target add|list|remove``; ``run(args, coroutine_factory)`` opens the engine."""
    t = sub.add_parser("target", help="destinations of bucket notifications (works while the server runs)")
    tsub = t.add_subparsers(dest="target_cmd", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", default="./data")
        p.add_argument("--meta", metavar="URL", help="metadata in PostgreSQL (as pails server --meta)")

    a = tsub.add_parser("add", help="add or replace a target (options: docs/notifications.md)")
    a.add_argument("name")
    a.add_argument("kind", choices=sorted(KINDS))
    a.add_argument("options", nargs="*", metavar="OPTION=VALUE")
    common(a)
    a.set_defaults(func=lambda args: run(args, lambda e: _add(e, args)))

    ls = tsub.add_parser("list", help="targets with their ARN and outbox (waiting, delivered, dropped, failures)")
    ls.add_argument("--json", action="store_true")
    common(ls)
    ls.set_defaults(func=lambda args: run(args, lambda e: _list(e, args)))

    rm = tsub.add_parser("remove", help="remove a target and the events waiting for it")
    rm.add_argument("name")
    common(rm)
    rm.set_defaults(func=lambda args: run(args, lambda e: _remove(e, args)))


async def _add(engine: Engine, args: argparse.Namespace) -> None:
    try:
        target = await add_target(engine, args.name, args.kind, parse_options(args.options))
    except ValueError as exc:
        sys.exit(f"pails: {exc}")
    print(arn_of(target))


async def _list(engine: Engine, args: argparse.Namespace) -> None:
    rows = await list_targets(engine)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['name']}\t{r['kind']}\t{r['arn']}\tqueued={r['queued']} delivered={r['delivered']} "
              f"dropped={r['dropped']} failures={r['failures']}"
              + (f"\tlast error: {r['last_error']}" if r["last_error"] else ""))
        print(f"\t{json.dumps(r['options'], sort_keys=True)}")


async def _remove(engine: Engine, args: argparse.Namespace) -> None:
    if not await engine.meta.remove_event_target(args.name):
        sys.exit(f"pails: no target {args.name}")
