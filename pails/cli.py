"""The ``pails`` command: ``pails server``, ``pails user`` and ``pails key`` (pails.cli_accounts),
``pails bucket`` (pails.cli_buckets), ``pails info`` (pails.cli_admin),
``pails backup-meta`` and ``pails verify``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pails import cli_accounts, cli_admin, cli_buckets, cli_targets
from pails.admin import discovery
from pails.storage.engine import Engine, Settings
from pails.storage.meta import StoreUnavailable
from pails.storage.records import User
from pails.storage.space import parse_reserve
from pails.users import CREDENTIALS_FILE, ensure_root

T = TypeVar("T")


def _parse_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host.strip("[]"), int(port)


def _reserve(value: str) -> str:
    try:
        parse_reserve(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds") from None
    if not number > 0:
        raise argparse.ArgumentTypeError("expected a positive number of seconds")
    return number


def cmd_server(args: argparse.Namespace) -> int:
    from pails.admin.metrics import parse_networks
    from pails.http.server import HttpLimits, Operations, serve
    from pails.http.sockets import bind_problem

    admin = None if args.no_admin else args.admin_address
    ops = _operations(args, parse_networks, Operations)

    def check_addresses() -> None:
        if (problem := bind_problem(*args.address)) is not None:
            sys.exit(f"pails: cannot serve S3: {problem} (choose another with --address)")
        if admin is not None and (problem := bind_problem(*admin)) is not None:
            sys.exit(f"pails: cannot serve the admin API: {problem} (choose another with --admin-address, "
                     "or --no-admin)")

    check_addresses()
    data_dir = os.path.abspath(args.data_dir)
    settings = Settings(data_dir=data_dir, fsync=not args.no_fsync, domain=args.domain, region=args.region,
                        meta_url=_meta_url(args), intent_timeout=args.intent_timeout,
                        meta_notify=not args.no_notify, disk_reserve=args.disk_reserve)

    async def prepare() -> tuple[tuple[int, int, int], tuple[User, bool]]:
        engine = Engine(settings)
        try:
            await engine.open()
            return await engine.recover(), await ensure_root(engine.meta, data_dir)
        finally:
            await engine.close()

    (promoted, removed, collected), (root, generated) = _run(prepare())
    host, port = args.address
    print(f"Pails serving {data_dir}" + (f" (metadata in PostgreSQL: {_redacted(settings.meta_url)})"
                                         if settings.meta_url else ""), flush=True)
    scheme = "https" if ops.tls_cert else "http"
    if admin is not None:
        closed = "" if ops.metrics_allow or ops.metrics_token else " once --metrics-allow or --metrics-token opens it"
        print(f"  admin port: {scheme}://{admin[0]}:{admin[1]}  (admin API, /health/live, /health/ready, "
              f"/metrics{closed})", flush=True)
    console = admin is not None and not args.no_console
    os.environ["PAILS_NO_CONSOLE"] = "0" if console else "1"  # read by the admin process (pails.console)
    if console and admin is not None:
        print(f"  console:    {scheme}://{admin[0]}:{admin[1]}/console/  (log in with an access key and its "
              "secret, such as the ones below)", flush=True)
    print(f"  endpoint:   {scheme}://{host}:{port}  (S3)", flush=True)
    print(f"  access key: {root.access_key}", flush=True)
    if generated:
        print(f"  secret key: {root.secret_key}   (shown once; kept in {data_dir}/{CREDENTIALS_FILE}, mode 0600)",
              flush=True)
    elif not os.environ.get("PAILS_ROOT_SECRET_KEY"):
        print(f"  secret key: in {os.path.join(data_dir, CREDENTIALS_FILE)}", flush=True)
    if promoted or removed or collected:
        print(f"  recovery:   {promoted} writes finished, {removed} interrupted writes removed, "
              f"{collected} unreferenced files collected", flush=True)
    # What the admin API's server information tells, and where ``pails`` commands find it.
    os.environ["PAILS_WORKERS"] = str(args.workers)
    os.environ["PAILS_SERVER_STARTED"] = str(time.time())
    if admin is not None:
        try:
            discovery.announce(data_dir, admin[0], admin[1], args.region)
        except OSError as exc:  # the commands then work on the data directory directly
            print(f"  WARNING: cannot write {discovery.path_of(data_dir)}: {exc.strerror}", flush=True)
    if args.no_fsync:
        print("  WARNING: --no-fsync: acknowledged writes can be lost in a crash (test servers only)", flush=True)
    if args.website_domain:  # read by the workers (pails.http.app)
        os.environ["PAILS_WEBSITE_DOMAIN"] = args.website_domain.lower().strip(".")
    check_addresses()  # once more: recovery may have taken a while
    serve(settings, host, port, args.workers,
          HttpLimits(body_timeout=args.body_timeout, send_timeout=args.send_timeout,
                     max_concurrency=args.max_concurrency, verify_reads=args.verify_reads), admin, ops)
    if admin is not None:  # a server that dies instead leaves a stale announcement: its pid tells
        discovery.withdraw(data_dir)
    return 0


def _operations(args: argparse.Namespace, parse_networks: Any, operations: Any) -> Any:
    """The server's metrics, access log and TLS options, checked (a mistake ends the command)."""
    token = args.metrics_token
    if args.metrics_token_file:
        try:
            with open(args.metrics_token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            sys.exit(f"pails: --metrics-token-file: {exc}")
        if not token:
            sys.exit(f"pails: --metrics-token-file {args.metrics_token_file} is empty")
    try:
        parse_networks(args.metrics_allow)
    except ValueError as exc:
        sys.exit(f"pails: --metrics-allow: {exc}")
    if bool(args.tls_cert) != bool(args.tls_key):
        sys.exit("pails: --tls-cert and --tls-key go together")
    for path in (args.tls_cert, args.tls_key):
        if path and not os.access(path, os.R_OK):
            sys.exit(f"pails: cannot read {path}")
    if args.tls_cert:
        import ssl

        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(args.tls_cert, args.tls_key)
        except (ssl.SSLError, OSError) as exc:
            sys.exit(f"pails: --tls-cert/--tls-key: {exc}")
    access_log = args.access_log
    if access_log and access_log != "-":
        access_log = os.path.abspath(access_log)
        try:
            os.close(os.open(access_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640))
        except OSError as exc:
            sys.exit(f"pails: --access-log: {exc}")
    # Counted only where /metrics can be read: with the admin port.
    return operations(metrics=not args.no_metrics and not args.no_admin, metrics_allow=args.metrics_allow,
                      metrics_token=token, access_log=access_log,
                      tls_cert=os.path.abspath(args.tls_cert) if args.tls_cert else "",
                      tls_key=os.path.abspath(args.tls_key) if args.tls_key else "")


def _meta_url(args: argparse.Namespace) -> str | None:
    return args.meta or os.environ.get("PAILS_META_URL") or None


def _redacted(url: str) -> str:
    """A database URL without its password."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}{sep}{creds}{at}{host}" if sep else url


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a store operation from the command line; a store that cannot be
    opened (unknown schema, unreachable database) ends the command with its message."""
    try:
        return asyncio.run(coro)
    except StoreUnavailable as exc:
        sys.exit(f"pails: {exc}")


def _engine_for(args: argparse.Namespace) -> Engine:
    if not os.path.isdir(args.data):
        sys.exit(f"pails: no data directory {args.data}")
    return Engine(Settings(data_dir=os.path.abspath(args.data), meta_url=_meta_url(args)))


def _with_engine(args: argparse.Namespace, work: Callable[[Engine], Coroutine[Any, Any, None]]) -> int:
    """Open the store of ``args``, run ``work(engine)``, close it."""
    async def run() -> None:
        engine = _engine_for(args)
        try:
            await engine.open()
            await work(engine)
        finally:
            await engine.close()
    _run(run())
    return 0


def cmd_backup_meta(args: argparse.Namespace) -> int:
    from pails.storage.sqlite.backup import BackupError, backup_sqlite

    if _meta_url(args):
        sys.exit("pails: the metadata is in PostgreSQL: back it up with PostgreSQL's tools, pg_dump for a "
                 "consistent copy or pg_basebackup with WAL archiving for point-in-time recovery "
                 "(docs/scale-out.md, Backups)")
    if not os.path.isdir(args.data):
        sys.exit(f"pails: no data directory {args.data}")
    try:
        size = backup_sqlite(os.path.abspath(args.data), args.dest)
    except (BackupError, OSError) as exc:
        sys.exit(f"pails: {exc}")
    print(f"metadata of {args.data} copied to {args.dest} ({size} bytes)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from pails.storage.scrub_rows import open_source
    from pails.verify import Problem, Verifier

    if not os.path.isdir(args.data):
        sys.exit(f"pails: no data directory {args.data}")
    data_dir = os.path.abspath(args.data)
    try:
        source = open_source(data_dir, _meta_url(args))
    except StoreUnavailable as exc:
        sys.exit(f"pails: {exc}")
    first = True

    def report(p: Problem) -> None:
        nonlocal first
        if args.json:  # one JSON document, written as it goes (constant memory)
            print(("" if first else ",") + json.dumps(p.as_json()), flush=True)
        else:
            print(f"{p.kind.upper()}: {p.bucket}/{p.key} (version {p.version_id}): {p.detail}", flush=True)
        first = False

    if args.json:
        print('{"problems": [', flush=True)
    try:
        summary = Verifier(data_dir, source).run(args.bucket, report)
    finally:
        source.close()
    counts = {"versions": summary.versions, "bytes": summary.bytes, "ok": summary.ok, "corrupt": summary.corrupt,
              "missing": summary.missing, "unverifiable": summary.unverifiable}
    if args.json:
        print("], " + json.dumps({"summary": counts})[1:])
    else:
        print(f"{summary.versions} versions ({summary.bytes} bytes) read: {summary.ok} ok, {summary.corrupt} corrupt, "
              f"{summary.missing} missing, {summary.unverifiable} not checkable")
    return 1 if summary.failed else 0


def default_workers() -> int:
    """One worker process per CPU (each is one Python interpreter, so one
    core's worth of request handling); past 4 they mostly wait on SQLite's
    single writer."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cpus))


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def env_name(action: argparse.Action) -> str:
    """PAILS_ and the option's long name (``--admin-address``: PAILS_ADMIN_ADDRESS; DATA_DIR: PAILS_DATA_DIR)."""
    longest = max(action.option_strings, key=len) if action.option_strings else action.dest
    if longest == "--meta":
        return "PAILS_META_URL"  # its name since before the others
    return "PAILS_" + longest.lstrip("-").replace("-", "_").upper()


def env_defaults(parser: argparse.ArgumentParser) -> None:
    """Every option of ``parser`` also read from its PAILS_* environment
    variable (containers); the command line wins.  A bad value ends the command, naming the variable."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = env_name(action)
        value = os.environ.get(name)
        if value is None:
            continue
        if isinstance(action, argparse._StoreTrueAction):
            if value.strip().lower() not in _TRUE | _FALSE:
                parser.error(f"{name}={value!r}: expected 1 or 0 (true or false)")
            action.default = value.strip().lower() in _TRUE
            continue
        try:
            converted = action.type(value) if callable(action.type) else value
        except (argparse.ArgumentTypeError, ValueError) as exc:
            parser.error(f"{name}={value!r}: {exc}")
        if action.choices is not None and converted not in action.choices:
            parser.error(f"{name}={value!r}: expected one of {', '.join(map(str, action.choices))}")
        action.default = converted


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pails", description="Pails: a durable S3-compatible object store.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("server", help="serve a data directory over S3")
    s.add_argument("data_dir", nargs="?", default="./data")
    s.add_argument("--address", type=_parse_address, default=("127.0.0.1", 9000), help="HOST:PORT")
    s.add_argument("--admin-address", type=_parse_address, default=("127.0.0.1", 9001), metavar="HOST:PORT",
                   help="the admin API (docs/admin-api.md) on HOST:PORT (default 127.0.0.1:9001)")
    s.add_argument("--no-admin", action="store_true", help="serve no admin port")
    s.add_argument("--no-console", action="store_true",
                   help="serve no web console on the admin port (docs/console.md)")
    s.add_argument("--workers", type=int, default=default_workers(),
                   help="server processes (default: one per CPU, at most 4)")
    s.add_argument("--domain", help="serve virtual-host style requests for <bucket>.DOMAIN")
    s.add_argument("--website-domain", metavar="DOMAIN",
                   help="serve static websites on Host BUCKET.DOMAIN and DOMAIN/BUCKET/ (docs/website.md)")
    s.add_argument("--region", default="us-east-1")
    s.add_argument("--no-fsync", action="store_true",
                   help="skip fsync: faster, but a crash can lose acknowledged writes (throw-away test servers)")
    s.add_argument("--meta", metavar="URL", help="metadata in PostgreSQL (postgresql://USER@HOST:PORT/DB; or "
                   "PAILS_META_URL): many gateways share it, and DATA_DIR must be a shared filesystem")
    s.add_argument("--intent-timeout", type=float, default=24 * 3600.0, metavar="SECONDS",
                   help="with --meta: a data file still uncommitted after this long is taken for a crashed "
                   "gateway's and removed (default: a day; longer than any single upload takes)")
    s.add_argument("--no-notify", action="store_true",
                   help="with --meta: for PostgreSQL-compatible databases without LISTEN/NOTIFY; bucket changes "
                   "then reach other gateways within 1 s (GET and HEAD see them at once)")
    s.add_argument("--disk-reserve", type=_reserve, default="", metavar="SIZE|PCT",
                   help="free space writes leave in DATA_DIR, for deletes and metadata: a size (1GiB, 512M) or a "
                   "percentage of the filesystem (5%%); 0: no reserve (default: 5%%, at least 32MiB, at most 1GiB)")
    s.add_argument("--body-timeout", type=_positive, default=20.0, metavar="SECONDS",
                   help="a request body that sends nothing for this long is refused with RequestTimeout "
                   "and discarded (default: 20)")
    s.add_argument("--send-timeout", type=_positive, default=60.0, metavar="SECONDS",
                   help="a client that reads nothing of a response for this long is disconnected (default: 60)")
    s.add_argument("--verify-reads", choices=["crc", "all", "off"], default="crc",
                   help="whole-object GETs stream through Pails and are checked against the object's stored "
                   "CRC (crc: default, cheap), also its SHA or MD5 ETag (all: ~2.3 ms of CPU per MiB for MD5), "
                   "or not at all (off); damaged data ends the response short (docs/reliability.md)")
    s.add_argument("--max-concurrency", type=int, default=None, metavar="N",
                   help="requests each worker serves at once; more connections wait to be accepted "
                   "(default: 2048 / workers)")
    s.add_argument("--no-metrics", action="store_true",
                   help="count nothing for /metrics (the counters cost ~1%% of a small GET's CPU)")
    s.add_argument("--metrics-allow", default="", metavar="CIDR,...",
                   help="clients in these networks may read /metrics on the admin port without a token")
    s.add_argument("--metrics-token", default="", metavar="TOKEN",
                   help="scrapers sending Authorization: Bearer TOKEN may read /metrics (prefer "
                   "--metrics-token-file or PAILS_METRICS_TOKEN: a command line is visible to every local user)")
    s.add_argument("--metrics-token-file", default="", metavar="PATH", help="--metrics-token, read from PATH")
    s.add_argument("--access-log", default="", metavar="PATH|-",
                   help="one JSON line per S3 request to PATH (appended) or - (standard output); default: off")
    s.add_argument("--tls-cert", default="", metavar="PEM", help="with --tls-key: HTTPS on the S3 and admin ports "
                   "(certificate chain, PEM); SIGHUP reads both files again")
    s.add_argument("--tls-key", default="", metavar="PEM", help="the private key of --tls-cert (PEM)")
    s.set_defaults(func=cmd_server)
    env_defaults(s)

    cli_accounts.add_parsers(sub)
    cli_buckets.add_parsers(sub, _with_engine)
    cli_admin.add_parsers(sub)
    cli_targets.add_parsers(sub, _with_engine)

    b = sub.add_parser("backup-meta", help="copy the SQLite metadata database, consistently, while the server runs")
    b.add_argument("dest", help="the copy (a new file)")
    b.add_argument("--data", default="./data")
    b.add_argument("--meta", metavar="URL", help="metadata in PostgreSQL: says to use pg_dump / pg_basebackup")
    b.set_defaults(func=cmd_backup_meta)

    v = sub.add_parser("verify", help="read every stored object version and check it against its checksums "
                       "(works while the server runs); exit status 1 if anything is corrupt or missing")
    v.add_argument("bucket", nargs="?", help="only this bucket")
    v.add_argument("--data", default="./data")
    v.add_argument("--meta", metavar="URL", help="metadata in PostgreSQL (as pails server --meta)")
    v.add_argument("--json", action="store_true", help='one JSON object: {"problems": [...], "summary": {...}}')
    v.set_defaults(func=cmd_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
