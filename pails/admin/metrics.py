"""GET /metrics on the admin port: the Prometheus text format.

Not signed (Prometheus cannot sign), so closed unless the operator opens it:
to clients in the networks of ``--metrics-allow`` (CIDRs), or to requests
carrying ``Authorization: Bearer`` with the token of ``--metrics-token``.
Otherwise 401 (no credentials) or 403 (wrong ones, or scraping not enabled).

The counters come from every S3 worker's shared-memory files
(pails.metrics.collect); bucket usage, free space and open connections are
read now.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time

from pails import __version__, metrics
from pails.admin.api import AdminError, AdminRequest, AdminResponse
from pails.metrics import Family
from pails.metrics.collect import collect
from pails.metrics.exposition import CONTENT_TYPE, render
from pails.storage.engine import Engine

USAGE_BUCKETS = 1000  # buckets whose usage a scrape reports (by name); more: pails_bucket_usage_truncated 1
STARTED = time.time()

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> list[Network]:
    """``10.0.0.0/8,127.0.0.1,::1``: ValueError names the entry that is not a network."""
    networks: list[Network] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR network: {part!r}") from None
    return networks


def allowed(remote: str, authorization: str, networks: list[Network], token: str) -> str | None:
    """None if the scrape may go ahead; otherwise the refusal ("401" or "403")."""
    if token and authorization.startswith("Bearer "):
        if hmac.compare_digest(authorization[7:].strip().encode(), token.encode()):
            return None
        return "403"
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        address = None
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in networks):
            return None
    if token and not authorization:
        return "401"
    return "403"


_NETWORKS = parse_networks(os.environ.get("PAILS_METRICS_ALLOW", ""))
_TOKEN = os.environ.get("PAILS_METRICS_TOKEN", "")


async def scrape(engine: Engine, req: AdminRequest) -> AdminResponse:
    refusal = allowed(req.remote, req.headers.get("authorization", ""), _NETWORKS, _TOKEN)
    if refusal == "401":
        raise _Unauthorized
    if refusal is not None:
        if not (_NETWORKS or _TOKEN):
            raise AdminError(403, "AccessDenied", "/metrics is not enabled: start the server with "
                             "--metrics-allow CIDR or --metrics-token (docs/operations.md)")
        raise AdminError(403, "AccessDenied", "this client may not read /metrics")
    directory = os.environ.get(metrics.DIR_ENV)
    series = collect(directory) if directory and os.path.isdir(directory) else {}
    text = render(series, await _now(engine))
    return AdminResponse(200, text.encode(), CONTENT_TYPE)


class _Unauthorized(AdminError):
    def __init__(self) -> None:
        super().__init__(401, "Unauthorized", "/metrics needs Authorization: Bearer TOKEN")


_BUCKET_OBJECTS = Family("pails_bucket_objects", "gauge", "Objects (current versions) a bucket stores.", ("bucket",))
_BUCKET_BYTES = Family("pails_bucket_bytes", "gauge", "Bytes a bucket stores (every version).", ("bucket",))
_TRUNCATED = Family("pails_bucket_usage_truncated", "gauge",
                    f"1 when there are more than {USAGE_BUCKETS} buckets (the first by name are reported).")
_FREE = Family("pails_data_free_bytes", "gauge", "Free bytes in the data directory's filesystem (for Pails).")
_SIZE = Family("pails_data_size_bytes", "gauge", "Size of the data directory's filesystem.")
_CONNECTIONS = Family("pails_s3_open_connections", "gauge", "Established TCP connections to the S3 port.")
_OUTBOX_QUEUED = Family("pails_notification_events_queued", "gauge",
                        "Bucket notification events waiting in the outbox, by target.", ("target",))
_OUTBOX_DELIVERED = Family("pails_notification_events_delivered_total", "counter",
                           "Events the target acknowledged, since the target was added.", ("target",))
_OUTBOX_DROPPED = Family("pails_notification_events_dropped_total", "counter",
                         "Oldest events removed unsent because the target's outbox was full.", ("target",))
_OUTBOX_FAILURES = Family("pails_notification_delivery_failures_total", "counter",
                          "Failed delivery attempts, by target.", ("target",))
_START = Family("pails_start_time_seconds", "gauge", "When the admin server started (Unix time).")
_INFO = Family("pails_build_info", "gauge", "1, labelled with the Pails version and metadata store.",
               ("version", "store"))


async def _now(engine: Engine) -> list[tuple[Family, list[tuple[tuple[str, ...], float]]]]:
    objects: list[tuple[tuple[str, ...], float]] = []
    stored: list[tuple[tuple[str, ...], float]] = []
    after = ""
    truncated = 0.0
    while len(objects) < USAGE_BUCKETS:
        page = await engine.meta.all_buckets(after, min(100, USAGE_BUCKETS - len(objects)))
        if not page:
            break
        for bucket in page:
            usage = await engine.meta.bucket_usage(bucket.id)
            objects.append(((bucket.name,), float(usage.objects)))
            stored.append(((bucket.name,), float(usage.bytes + usage.noncurrent_bytes)))
        after = page[-1].name
    else:
        truncated = 1.0 if await engine.meta.all_buckets(after, 1) else 0.0
    st = os.statvfs(engine.settings.data_dir)
    out: list[tuple[Family, list[tuple[tuple[str, ...], float]]]] = [
        (_BUCKET_OBJECTS, objects), (_BUCKET_BYTES, stored), (_TRUNCATED, [((), truncated)]),
        (_FREE, [((), float(st.f_bavail * st.f_frsize))]), (_SIZE, [((), float(st.f_blocks * st.f_frsize))]),
        (_START, [((), STARTED)]),
        (_INFO, [((__version__, "postgresql" if engine.settings.meta_url else "sqlite"), 1.0)]),
    ]
    depths = await engine.meta.outbox_depth()
    if depths:
        out += [(_OUTBOX_QUEUED, [((d.target,), float(d.queued)) for d in depths]),
                (_OUTBOX_DELIVERED, [((d.target,), float(d.delivered)) for d in depths]),
                (_OUTBOX_DROPPED, [((d.target,), float(d.dropped)) for d in depths]),
                (_OUTBOX_FAILURES, [((d.target,), float(d.failures)) for d in depths])]
    connections = open_connections(os.environ.get("PAILS_ADDRESS", ""))
    if connections is not None:
        out.append((_CONNECTIONS, [((), float(connections))]))
    return out


def open_connections(address: str) -> int | None:
    """Established TCP connections whose local port is the S3 port (Linux:
    /proc/net/tcp and tcp6; None elsewhere).  Read at scrape time: nothing
    on the request path."""
    port_text = address.rpartition(":")[2]
    if not port_text.isdigit():
        return None
    port = f"{int(port_text):04X}"
    count = 0
    found = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)
                for line in f:
                    fields = line.split(None, 4)
                    if len(fields) > 3 and fields[3] == "01" and fields[1].rpartition(":")[2] == port:
                        count += 1
        except OSError:
            continue
        found = True
    return count if found else None
