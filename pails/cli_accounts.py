"""``pails user`` (accounts) and ``pails key`` (IAM access keys' expiry),
through the running server's admin API or directly (pails.cli_admin)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

from pails.admin.client import path
from pails.admin.fields import iso
from pails.cli_admin import add_access_args, admin_for, print_json_or_lines

_LISTED = ("access_key", "canonical_id", "display_name", "email", "account_id", "arn")  # user list --json


def cmd_user_add(args: argparse.Namespace) -> int:
    if bool(args.access_key) != bool(args.secret_key):
        sys.exit("pails: --access-key and --secret-key go together")
    body = {"name": args.name, "email": args.email, "access_key": args.access_key, "secret_key": args.secret_key}
    with admin_for(args) as admin:
        user = admin.call("POST", path("accounts"), {k: v for k, v in body.items() if v is not None})
    print_json_or_lines(user, args.json)
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    with admin_for(args) as admin:
        accounts = admin.call("GET", path("accounts"))["accounts"]
    if args.json:
        print(json.dumps([{k: a[k] for k in _LISTED} for a in accounts]))
    else:
        for a in accounts:
            print(f"{a['display_name']}\t{a['access_key']}\t{a['canonical_id']}\t{a['account_id']}\t{a['email'] or ''}")
    return 0


def cmd_user_show(args: argparse.Namespace) -> int:
    with admin_for(args) as admin:
        account = admin.call("GET", path("accounts", args.name))
    if args.json:
        print(json.dumps(account))
    else:
        print_json_or_lines({**account, "buckets": " ".join(account["buckets"])}, False)
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    query = {"move_buckets_to": args.move_buckets_to} if args.move_buckets_to else None
    with admin_for(args) as admin:
        admin.call("DELETE", path("accounts", args.name), query=query)
    print(f"removed {args.name}")
    return 0


def cmd_user_rotate_key(args: argparse.Namespace) -> int:
    with admin_for(args) as admin:
        user = admin.call("POST", path("accounts", args.name, "root-key"))
    print_json_or_lines(user, args.json)
    return 0


def _key_line(k: dict[str, Any]) -> str:
    return (f"{k['access_key_id']}\t{k['account_id']}\t{k['user'] or '(root)'}\t{k['status']}\t"
            f"expires {k['expires'] or 'never'}")


def cmd_key_list(args: argparse.Namespace) -> int:
    with admin_for(args) as admin:
        keys = admin.call("GET", path("access-keys"), query={"account": args.account} if args.account else None)
    if args.json:
        print(json.dumps(keys["access_keys"]))
    else:
        for k in keys["access_keys"]:
            print(_key_line(k))
    return 0


_DURATION = re.compile(r"(\d+)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _duration(text: str) -> float:
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90d, 12h, 30m)")
    return int(m.group(1)) * _SECONDS[m.group(2)]


def cmd_key_expire(args: argparse.Namespace) -> int:
    with admin_for(args) as admin:
        if args.never:
            key = admin.call("DELETE", path("access-keys", args.key_id, "expiry"))
        else:
            at = args.at if args.at is not None else iso(time.time() + args.after)
            key = admin.call("PUT", path("access-keys", args.key_id, "expiry"), {"expires": at})
    print(json.dumps(key) if args.json else _key_line(key))
    return 0


def add_parsers(sub: Any) -> None:
    u = sub.add_parser("user", help="manage accounts (through the running server's admin API, or directly on "
                       "the data directory; docs/admin-api.md, docs/iam.md)")
    usub = u.add_subparsers(dest="user_command", required=True)
    a = usub.add_parser("add", help="a new account; prints its root's key pair (the secret only this once)")
    a.add_argument("name")
    add_access_args(a)
    a.add_argument("--email")
    a.add_argument("--access-key")
    a.add_argument("--secret-key")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_user_add)
    ls = usub.add_parser("list", help="every account")
    add_access_args(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_user_list)
    sh = usub.add_parser("show", help="one account and its buckets")
    sh.add_argument("name", help="display name, access key or account id")
    add_access_args(sh)
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_user_show)
    rm = usub.add_parser("remove", help="remove an account with its IAM users, roles, policies and keys")
    rm.add_argument("name", help="display name, access key or account id")
    rm.add_argument("--move-buckets-to", metavar="ACCOUNT",
                    help="give the account's buckets to this account (name, access key or account id) first; "
                    "without it an account that owns buckets is not removed")
    add_access_args(rm)
    rm.set_defaults(func=cmd_user_remove)
    rk = usub.add_parser("rotate-key", help="give the account root a new key pair (printed once; the old one "
                         "stops working)")
    rk.add_argument("name", help="display name, access key or account id")
    add_access_args(rk)
    rk.add_argument("--json", action="store_true")
    rk.set_defaults(func=cmd_user_rotate_key)

    k = sub.add_parser("key", help="IAM access keys: list them, set or clear their expiry (docs/iam.md)")
    ksub = k.add_subparsers(dest="key_command", required=True)
    kl = ksub.add_parser("list", help="the IAM access keys of every account, or of one")
    kl.add_argument("--account", help="display name, access key or account id")
    add_access_args(kl)
    kl.add_argument("--json", action="store_true")
    kl.set_defaults(func=cmd_key_list)
    ke = ksub.add_parser("expire", help="set when an IAM access key stops working, or that it never does")
    ke.add_argument("key_id")
    when = ke.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", metavar="TIME", help="ISO 8601 date and time (UTC unless it says), e.g. 2027-01-31")
    when.add_argument("--in", dest="after", type=_duration, metavar="DURATION",
                      help="from now: 90d, 12h, 30m, 2w")
    when.add_argument("--never", action="store_true", help="clear the expiry")
    add_access_args(ke)
    ke.add_argument("--json", action="store_true")
    ke.set_defaults(func=cmd_key_expire)
