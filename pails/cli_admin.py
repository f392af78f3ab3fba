"""How the ``pails`` commands that manage accounts, keys and buckets reach
them: through the admin API of the server running on the data directory
(found in DATA_DIR/run/admin.json, signed with the operator's credentials),
else directly on the data directory or database (pails.admin.client).
``--direct`` and ``--api`` choose one way only.  Also ``pails info``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pails.admin import discovery
from pails.admin.api import AdminError
from pails.admin.client import Admin, AdminUnreachable, HttpAdmin, LocalAdmin, operator_credentials
from pails.storage.meta import StoreUnavailable


def add_access_args(p: argparse.ArgumentParser) -> None:
    """--data, --meta and the choice of way (admin API or direct)."""
    p.add_argument("--data", default="./data")
    p.add_argument("--meta", metavar="URL", help="metadata in PostgreSQL (as pails server --meta)")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--direct", action="store_true",
                     help="work on the data directory or database even while a server serves it")
    way.add_argument("--api", action="store_true",
                     help="only through the running server's admin API (fail if none answers)")


def _http_admin(data_dir: str) -> tuple[HttpAdmin | None, str]:
    """The running server's admin API, or None and why not."""
    found = discovery.find(data_dir)
    if found is None:
        return None, f"no running server announces an admin API in {discovery.path_of(data_dir)}"
    credentials = operator_credentials(data_dir)
    if credentials is None:
        return None, ("the operator's credentials cannot be read (PAILS_ROOT_ACCESS_KEY/PAILS_ROOT_SECRET_KEY, "
                      f"or {data_dir}/root-credentials.json)")
    admin = HttpAdmin(found, *credentials, timeout=5.0)
    why = admin.serves(data_dir)
    if why is not None:
        return None, why
    admin.timeout = 60.0
    return admin, ""


@contextmanager
def admin_for(args: argparse.Namespace) -> Iterator[Admin]:
    """The way to the admin operations for these arguments; an error answer
    ends the command with its message (exit status 1)."""
    from pails.storage.engine import Engine, Settings

    if not os.path.isdir(args.data):
        sys.exit(f"pails: no data directory {args.data}")
    data_dir = os.path.abspath(args.data)
    admin: Admin | None = None
    if not getattr(args, "direct", False):
        admin, why = _http_admin(data_dir)
        if admin is None and getattr(args, "api", False):
            sys.exit(f"pails: {why}")
    if admin is None:
        meta_url = args.meta or os.environ.get("PAILS_META_URL") or None
        admin = LocalAdmin(Engine(Settings(data_dir=data_dir, meta_url=meta_url)))
    try:
        yield admin
    except AdminError as err:
        sys.exit(f"pails: {err.message}")
    except (AdminUnreachable, StoreUnavailable) as exc:
        sys.exit(f"pails: {exc}")
    finally:
        admin.close()


def print_json_or_lines(value: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(value))
    else:
        for k, v in value.items():
            print(f"{k}: {v if v is not None else ''}")


def cmd_info(args: argparse.Namespace) -> int:
    args.api = True  # what a server is: only a running one can say
    with admin_for(args) as admin:
        info = admin.call("GET", "/admin/v1/info")
    if args.json:
        print(json.dumps(info))
        return 0
    for k in ("version", "uptime_seconds", "region", "store", "workers"):
        print(f"{k}: {info.get(k) if info.get(k) is not None else ''}")
    for k, v in (info.get("data_dir") or {}).items():
        print(f"data_dir.{k}: {v}")
    return 0


def add_parsers(sub: Any) -> None:
    i = sub.add_parser("info", help="what the running server is: version, uptime, store, free space (admin API)")
    i.add_argument("--data", default="./data")
    i.add_argument("--meta", metavar="URL", help=argparse.SUPPRESS)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)
