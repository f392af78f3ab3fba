"""The ``pails`` command: ``pails server`` and ``pails user``."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys

from pails.storage.engine import Engine, Settings
from pails.users import CREDENTIALS_FILE, ensure_root, make_user, user_json


def _parse_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host.strip("[]"), int(port)


def cmd_server(args: argparse.Namespace) -> int:
    from pails.http.server import serve

    data_dir = os.path.abspath(args.data_dir)
    settings = Settings(data_dir=data_dir, fsync=not args.no_fsync, domain=args.domain, region=args.region)
    engine = Engine(settings)
    promoted, removed, collected = engine.recover()
    root, generated = ensure_root(engine.meta, data_dir)
    engine.close()
    host, port = args.address
    print(f"Pails serving {data_dir}", flush=True)
    print(f"  endpoint:   http://{host}:{port}", flush=True)
    print(f"  access key: {root.access_key}", flush=True)
    if generated:
        print(f"  secret key: {root.secret_key}   (shown once; kept in {data_dir}/{CREDENTIALS_FILE}, mode 0600)",
              flush=True)
    elif not os.environ.get("PAILS_ROOT_SECRET_KEY"):
        print(f"  secret key: in {os.path.join(data_dir, CREDENTIALS_FILE)}", flush=True)
    if promoted or removed or collected:
        print(f"  recovery:   {promoted} writes finished, {removed} interrupted writes removed, "
              f"{collected} unreferenced files collected", flush=True)
    if args.no_fsync:
        print("  WARNING: --no-fsync: acknowledged writes can be lost in a crash (test servers only)", flush=True)
    serve(settings, host, port, args.workers)
    return 0


def _engine_for(data_dir: str) -> Engine:
    if not os.path.isdir(data_dir):
        sys.exit(f"pails: no data directory {data_dir}")
    return Engine(Settings(data_dir=os.path.abspath(data_dir)))


def cmd_user_add(args: argparse.Namespace) -> int:
    if bool(args.access_key) != bool(args.secret_key):
        sys.exit("pails: --access-key and --secret-key go together")
    engine = _engine_for(args.data)
    user = make_user(args.name, args.email, args.access_key, args.secret_key)
    try:
        engine.meta.add_user(user)
    except sqlite3.IntegrityError:
        sys.exit(f"pails: a user with that name, e-mail or access key already exists ({args.name})")
    finally:
        engine.close()
    if args.json:
        print(json.dumps(user_json(user)))
    else:
        for k, v in user_json(user).items():
            print(f"{k}: {v if v is not None else ''}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    engine = _engine_for(args.data)
    users = engine.meta.list_users()
    engine.close()
    if args.json:
        print(json.dumps([{k: v for k, v in user_json(u).items() if k != "secret_key"} for u in users]))
    else:
        for u in users:
            print(f"{u.display_name}\t{u.access_key}\t{u.canonical_id}\t{u.email or ''}")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    engine = _engine_for(args.data)
    removed = engine.meta.remove_user(args.name)
    engine.close()
    if not removed:
        sys.exit(f"pails: no user {args.name}")
    print(f"removed {args.name}")
    return 0


def default_workers() -> int:
    """One worker process per CPU (each is one Python interpreter, so one
    core's worth of request handling); past 4 they mostly wait on SQLite's
    single writer."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cpus))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pails", description="Pails: a durable S3-compatible object store.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("server", help="serve a data directory over S3")
    s.add_argument("data_dir", nargs="?", default="./data")
    s.add_argument("--address", type=_parse_address, default=("127.0.0.1", 9000), help="HOST:PORT")
    s.add_argument("--workers", type=int, default=default_workers(),
                   help="server processes (default: one per CPU, at most 4)")
    s.add_argument("--domain", help="serve virtual-host style requests for <bucket>.DOMAIN")
    s.add_argument("--region", default="us-east-1")
    s.add_argument("--no-fsync", action="store_true",
                   help="skip fsync: faster, but a crash can lose acknowledged writes (throw-away test servers)")
    s.set_defaults(func=cmd_server)

    u = sub.add_parser("user", help="manage users (works while the server runs)")
    usub = u.add_subparsers(dest="user_command", required=True)
    a = usub.add_parser("add")
    a.add_argument("name")
    a.add_argument("--data", default="./data")
    a.add_argument("--email")
    a.add_argument("--access-key")
    a.add_argument("--secret-key")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_user_add)
    ls = usub.add_parser("list")
    ls.add_argument("--data", default="./data")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_user_list)
    rm = usub.add_parser("remove")
    rm.add_argument("name", help="display name or access key")
    rm.add_argument("--data", default="./data")
    rm.set_defaults(func=cmd_user_remove)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
