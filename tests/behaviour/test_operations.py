"""Operating a server: /metrics (every worker's counts in one scrape, who may
read it), /health/ready on the admin port, the JSON access log and the
PAILS_* environment variables (docs/operations.md)."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import client
from tests.metrics_text import parse, scrape, value
from tests.pails_server import Server, wait_for

TOKEN = "scrape-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers, /metrics behind a token, the access log in a file."""
    base = tmp_path_factory.mktemp("ops")
    srv = Server(base / "data", extra_args=["--workers", "2", "--metrics-token", TOKEN,
                                            "--access-log", str(base / "access.log")]).start()
    yield srv
    srv.stop()


def fresh_client(srv: Server):  # type: ignore[no-untyped-def]
    """A client whose every request goes on a new connection (the kernel spreads them over the workers)."""
    s3 = client(srv, retries={"max_attempts": 1})

    def close_after(request, **_: object) -> None:  # type: ignore[no-untyped-def]
        request.headers["Connection"] = "close"

    s3.meta.events.register("before-send.s3", close_after)
    return s3


def workers(srv: Server) -> list[int] | None:
    """The S3 workers' pids (None: one was just going, ask again)."""
    try:
        return srv.worker_pids()
    except psutil.Error:
        return None


def samples(srv: Server) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, content_type, body = scrape(srv.admin_endpoint, TOKEN)
    assert status == 200, body
    assert content_type.startswith("text/plain; version=0.0.4")
    return parse(body)


def test_metrics_needs_the_token(ops_server: Server) -> None:
    assert scrape(ops_server.admin_endpoint)[0] == 401
    assert scrape(ops_server.admin_endpoint, "not-" + TOKEN)[0] == 403
    assert scrape(ops_server.admin_endpoint, TOKEN)[0] == 200


def test_metrics_off_by_default_and_open_to_an_allowed_network(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data").start()
    try:
        status, _, body = scrape(srv.admin_endpoint)
        assert status == 403 and "--metrics-allow" in body
        assert scrape(srv.admin_endpoint, "anything")[0] == 403
    finally:
        srv.stop()
    srv = Server(tmp_path / "data", extra_args=["--metrics-allow", "10.0.0.0/8, 127.0.0.0/8"]).start()
    try:
        assert scrape(srv.admin_endpoint)[0] == 200
    finally:
        srv.stop()
    srv = Server(tmp_path / "data", extra_args=["--metrics-allow", "10.0.0.0/8"]).start()
    try:
        assert scrape(srv.admin_endpoint)[0] == 403
    finally:
        srv.stop()


def test_counts_of_every_worker_in_one_scrape_and_kept_when_a_worker_dies(ops_server: Server) -> None:
    s3 = fresh_client(ops_server)
    bucket = f"metrics-{uuid.uuid4().hex[:8]}"
    before = samples(ops_server)
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(4096)
    for i in range(12):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=body)
    for i in range(30):
        assert s3.get_object(Bucket=bucket, Key=f"k{i % 12}")["Body"].read() == body
    for i in range(5):
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket=bucket, Key=f"missing{i}")

    def delta(name: str, **labels: str) -> float:
        return value(samples(ops_server), name, **labels) - value(before, name, **labels)

    after = samples(ops_server)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("pails_s3_requests_total", operation="PutObject", status="200") == 12
    assert grew("pails_s3_requests_total", operation="GetObject", status="200") == 30
    assert grew("pails_s3_requests_total", operation="GetObject", status="404") == 5
    assert grew("pails_s3_errors_total", code="NoSuchKey") == 5
    assert grew("pails_s3_request_duration_seconds_count", operation="GetObject") == 35
    assert grew("pails_s3_request_duration_seconds_bucket", operation="GetObject", le="+Inf") == 35
    assert grew("pails_s3_received_bytes_total", operation="PutObject") == 12 * 4096
    assert grew("pails_s3_sent_bytes_total", operation="GetObject") >= 30 * 4096
    assert value(after, "pails_bucket_objects", bucket=bucket) == 12
    assert value(after, "pails_bucket_bytes", bucket=bucket) == 12 * 4096
    store = "postgresql" if ops_server.meta_url else "sqlite"
    assert grew("pails_meta_commit_batch_size_sum", store=store) >= 13  # the bucket and 12 objects
    assert grew("pails_meta_commit_seconds_count", store=store) >= 1
    assert value(after, "pails_s3_open_connections") >= 0
    assert value(after, "pails_data_free_bytes") > 0

    # Both workers served (12 + 30 + 5 new connections), so both have counts of their own.
    metrics_dir = next(Path("/dev/shm").glob(f"pails-metrics-{ops_server.proc.pid}"), None) \
        if ops_server.proc is not None else None
    if metrics_dir is not None:
        owners = {p.name.split("-")[0] for p in metrics_dir.glob("*.keys") if p.stat().st_size}
        assert {str(pid) for pid in ops_server.worker_pids()} <= owners

    # A worker killed: its counts stay (folded when a scrape sees it dead), counted once.
    restarts = value(after, "pails_worker_restarts_total")
    victim = ops_server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: (pids := workers(ops_server)) is not None and victim not in pids and len(pids) == 2,
             what="the worker to be replaced")
    wait_for(lambda: value(samples(ops_server), "pails_worker_restarts_total") == restarts + 1,
             what="the restart to be counted")
    for _ in range(2):  # the first scrape folds the dead worker's files, the second reads the folded counts
        assert delta("pails_s3_requests_total", operation="GetObject", status="200") == 30
        assert delta("pails_s3_requests_total", operation="PutObject", status="200") == 12
    for i in range(6):
        s3.head_object(Bucket=bucket, Key=f"k{i}")
    assert delta("pails_s3_requests_total", operation="HeadObject", status="200") == 6
    assert delta("pails_s3_requests_total", operation="GetObject", status="200") == 30


def test_health_ready_on_the_admin_port(ops_server: Server) -> None:
    with urllib.request.urlopen(ops_server.admin_endpoint + "/health/ready", timeout=10) as r:
        assert (r.status, json.loads(r.read())) == (200, {"status": "ready"})


def test_access_log_one_json_line_per_request(ops_server: Server, tmp_path: Path) -> None:
    log_path = ops_server.data_dir.parent / "access.log"
    s3 = fresh_client(ops_server)
    bucket = f"logged-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    sent = {f"dir/k{i}": os.urandom(100 + i) for i in range(20)}
    for key, data in sent.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    for key in sent:
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    stranger = client(ops_server, "AKIANOSUCHKEY0000000", "x" * 40, retries={"max_attempts": 1})
    with pytest.raises(stranger.exceptions.ClientError):
        stranger.get_object(Bucket=bucket, Key="dir/k0")

    def mine() -> list[dict[str, object]]:
        lines = [json.loads(line) for line in log_path.read_text().splitlines()]  # every line whole JSON
        return [entry for entry in lines if entry["bucket"] == bucket]

    entries = wait_for(lambda: (e := mine()) and len(e) == 42 and e, what="42 access log lines")
    puts = {e["key"]: e for e in entries if e["operation"] == "PutObject"}
    gets = {e["key"]: e for e in entries if e["operation"] == "GetObject" and e["status"] == 200}
    assert set(puts) == set(gets) == set(sent)
    for key, data in sent.items():
        assert puts[key]["bytes_in"] == len(data) and puts[key]["status"] == 200
        assert gets[key]["bytes_out"] == len(data)
        assert puts[key]["principal"] == ops_server.access_key and puts[key]["method"] == "PUT"
    denied = [e for e in entries if e["status"] == 403]
    assert len(denied) == 1 and denied[0]["error_code"] == "InvalidAccessKeyId" and denied[0]["principal"] is None
    ids = [e["request_id"] for e in entries]
    assert len(set(ids)) == len(ids)
    for entry in entries:
        assert entry["remote"] == "127.0.0.1"
        assert "Boto3" in entry["user_agent"] or "Botocore" in entry["user_agent"]
        assert entry["duration"] >= 0 and entry["time"].endswith("Z")
        assert entry["complete"] is True


def test_flags_from_the_environment_and_the_command_line_wins(tmp_path: Path) -> None:
    log_path = tmp_path / "env-access.log"
    srv = Server(tmp_path / "data", extra_args=["--metrics-token", "from-the-flag"],
                 env={"PAILS_METRICS_TOKEN": "from-the-env", "PAILS_ACCESS_LOG": str(log_path),
                      "PAILS_WORKERS": "1", "PAILS_REGION": "eu-west-3"}).start()
    try:
        assert scrape(srv.admin_endpoint, "from-the-flag")[0] == 200
        assert scrape(srv.admin_endpoint, "from-the-env")[0] == 403
        s3 = client(srv)
        s3.create_bucket(Bucket="env-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
        assert s3.get_bucket_location(Bucket="env-bucket")["LocationConstraint"] == "eu-west-3"
        wait_for(lambda: log_path.exists() and "env-bucket" in log_path.read_text(), what="the access log")
        assert len(srv.worker_pids()) == 1
    finally:
        srv.stop()


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "pails", "server", str(tmp_path / "data")],
                            env=dict(os.environ, PAILS_WORKERS="many"), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "PAILS_WORKERS" in result.stderr



def test_access_log_to_standard_output(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", extra_args=["--access-log", "-", "--workers", "2"]).start()
    try:
        s3 = fresh_client(srv)
        s3.create_bucket(Bucket="stdout-log")
        for i in range(6):
            s3.put_object(Bucket="stdout-log", Key=f"k{i}", Body=b"x" * i)
        assert srv.log_path is not None
        log_path = srv.log_path

        def logged() -> list[dict[str, object]]:
            lines = [line for line in log_path.read_text().splitlines() if line.startswith("{")]
            return [e for e in map(json.loads, lines) if e["bucket"] == "stdout-log"]

        entries = wait_for(lambda: (e := logged()) and len(e) == 7 and e, what="7 lines on the standard output")
        assert sorted(e["bytes_in"] for e in entries if e["operation"] == "PutObject") == list(range(6))
    finally:
        srv.stop()


def test_lifecycle_progress_in_the_metrics(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", extra_args=["--workers", "2", "--metrics-token", TOKEN],
                 env={"PAILS_LIFECYCLE_DAY_SECONDS": "1"}).start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="expiring")
        for i in range(3):
            s3.put_object(Bucket="expiring", Key=f"old{i}", Body=b"x")
        s3.put_bucket_lifecycle_configuration(Bucket="expiring", LifecycleConfiguration={"Rules": [
            {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]})
        started = time.time()
        wait_for(lambda: value(samples(srv), "pails_lifecycle_actions_total", action="expired") == 3,
                 what="3 expirations counted")
        after = wait_for(lambda: (s := samples(srv)) and value(s, "pails_lifecycle_passes_total") >= 1 and s,
                         what="a pass counted")
        assert value(after, "pails_lifecycle_buckets_total") >= 1
        assert value(after, "pails_lifecycle_last_pass_timestamp_seconds") >= started
        assert s3.list_objects_v2(Bucket="expiring").get("KeyCount") == 0
    finally:
        srv.stop()


def test_notification_outbox_in_the_metrics(ops_server: Server) -> None:
    from tests.behaviour.test_notifications import add_target, queue_config
    from tests.notify_peers import Webhook

    hook = Webhook().start()
    try:
        name = "m" + uuid.uuid4().hex[:8]
        arn = add_target(ops_server, name, "webhook", endpoint=hook.url)
        s3 = client(ops_server)
        bucket = "events-" + uuid.uuid4().hex[:8]
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "QueueConfigurations": [queue_config(arn, ["s3:ObjectCreated:*"])]})
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
        wait_for(lambda: value(samples(ops_server), "pails_notification_events_delivered_total", target=name) == 3,
                 what="3 events delivered in the metrics")
        assert value(samples(ops_server), "pails_notification_events_queued", target=name) == 0
    finally:
        hook.stop()
    for i in range(2):  # the target is down now: the events wait, and the attempts fail
        s3.put_object(Bucket=bucket, Key=f"later{i}", Body=b"x")
    assert value(samples(ops_server), "pails_notification_events_queued", target=name) == 2  # in the write's commit
    wait_for(lambda: value(samples(ops_server), "pails_notification_delivery_failures_total", target=name) >= 1,
             what="a failed delivery in the metrics")
    assert value(samples(ops_server), "pails_notification_events_dropped_total", target=name) == 0
