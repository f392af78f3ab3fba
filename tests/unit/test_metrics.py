"""The shared-memory metrics (pails.metrics): counting in one process and
its forks, summing at scrape time, a dead process's counts folded once;
the text format; who may scrape; flags from PAILS_* variables."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from pails import metrics
from pails.admin.metrics import allowed, open_connections, parse_networks
from pails.cli import env_defaults, env_name
from pails.metrics import collect
from pails.metrics.exposition import render
from tests.metrics_text import parse, value


@pytest.fixture
def metrics_dir(tmp_path: Path):  # type: ignore[no-untyped-def]
    saved = metrics._store, metrics._directory
    metrics._store = None
    assert metrics.enable(str(tmp_path))
    yield tmp_path
    metrics._store, metrics._directory = saved


def _child(work) -> None:  # type: ignore[no-untyped-def]
    """Run ``work`` in a forked process that then exits (dead: its counts must stay)."""
    pid = os.fork()
    if pid == 0:
        try:
            work()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0


def test_counts_of_this_process_and_of_forks_are_summed_and_folded_once(metrics_dir: Path) -> None:
    metrics.REQUESTS.inc(("GetObject", "200"))
    metrics.REQUESTS.inc(("GetObject", "200"), 2)
    _child(lambda: metrics.REQUESTS.inc(("GetObject", "200"), 10))
    _child(lambda: metrics.ERRORS.inc(("NoSuchKey",)))
    assert len(list(metrics_dir.glob("*.keys"))) == 3  # this process and two forks, each in files of its own
    first = collect.collect(str(metrics_dir))
    assert first[("pails_s3_requests_total", ("GetObject", "200"))] == 13
    assert first[("pails_s3_errors_total", ("NoSuchKey",))] == 1
    assert len(list(metrics_dir.glob("*.keys"))) == 1  # the dead forks' files folded into retired.json
    assert (metrics_dir / "retired.json").exists()
    metrics.REQUESTS.inc(("GetObject", "200"))
    again = collect.collect(str(metrics_dir))
    assert again[("pails_s3_requests_total", ("GetObject", "200"))] == 14
    assert again[("pails_s3_errors_total", ("NoSuchKey",))] == 1


def test_a_scrape_that_died_after_folding_does_not_count_twice(metrics_dir: Path) -> None:
    _child(lambda: metrics.REQUESTS.inc(("PutObject", "200"), 5))
    dead = [p for p in metrics_dir.glob("*.keys")]
    saved = {p: p.read_bytes() for p in metrics_dir.iterdir() if p.suffix in (".keys", ".values")}
    assert collect.collect(str(metrics_dir))[("pails_s3_requests_total", ("PutObject", "200"))] == 5
    for path, data in saved.items():  # as if the scrape had stopped before removing the folded files
        if not path.exists():
            path.write_bytes(data)
    assert dead and all(p.exists() for p in dead)
    assert collect.collect(str(metrics_dir))[("pails_s3_requests_total", ("PutObject", "200"))] == 5


def test_gauges_show_the_largest_and_histograms_are_cumulative(metrics_dir: Path) -> None:
    metrics.LIFECYCLE_LAST_PASS.set(100.0)
    _child(lambda: metrics.LIFECYCLE_LAST_PASS.set(250.0))
    for seconds in (0.0005, 0.003, 0.003, 7.0, 100.0):
        metrics.LATENCY.observe(seconds, ("GetObject",))
    samples = parse(render(collect.collect(str(metrics_dir)), []))
    assert value(samples, "pails_lifecycle_last_pass_timestamp_seconds") == 250.0
    bucket = "pails_s3_request_duration_seconds_bucket"
    assert value(samples, bucket, operation="GetObject", le="0.001") == 1
    assert value(samples, bucket, operation="GetObject", le="0.005") == 3
    assert value(samples, bucket, operation="GetObject", le="10") == 4
    assert value(samples, bucket, operation="GetObject", le="60") == 4
    assert value(samples, bucket, operation="GetObject", le="+Inf") == 5
    assert value(samples, "pails_s3_request_duration_seconds_count", operation="GetObject") == 5
    assert value(samples, "pails_s3_request_duration_seconds_sum", operation="GetObject") == pytest.approx(107.0065)
    assert value(samples, "pails_worker_restarts_total") == 0  # shown before anything counted it


def test_label_values_are_escaped(metrics_dir: Path) -> None:
    metrics.ERRORS.inc(('we"ird\\code\n',))
    text = render(collect.collect(str(metrics_dir)), [])
    assert 'pails_s3_errors_total{code="we\\"ird\\\\code\\n"} 1' in text
    assert value(parse(text), "pails_s3_errors_total", code='we\\"ird\\\\code\\n') == 1


def test_nothing_is_counted_when_metrics_are_off() -> None:
    saved = metrics._store
    metrics._store = None
    try:
        metrics.REQUESTS.inc(("GetObject", "200"))  # no directory: nothing, and no error
        assert not metrics.enabled()
    finally:
        metrics._store = saved


def test_who_may_scrape() -> None:
    networks = parse_networks("10.0.0.0/8, 192.168.1.7,::1")
    assert allowed("10.1.2.3", "", networks, "") is None
    assert allowed("192.168.1.7", "", networks, "") is None
    assert allowed("::ffff:10.9.9.9", "", networks, "") is None
    assert allowed("::1", "", networks, "") is None
    assert allowed("192.168.1.8", "", networks, "") == "403"
    assert allowed("8.8.8.8", "", [], "tok") == "401"
    assert allowed("8.8.8.8", "Bearer tok", [], "tok") is None
    assert allowed("8.8.8.8", "Bearer tok2", [], "tok") == "403"
    assert allowed("10.1.2.3", "Bearer wrong", networks, "tok") == "403"  # a wrong token is refused anywhere
    assert allowed("127.0.0.1", "", [], "") == "403"  # neither configured: closed
    with pytest.raises(ValueError, match="nonsense"):
        parse_networks("10.0.0.0/8,nonsense")


def test_open_connections_reads_the_kernel_tables() -> None:
    assert open_connections("no-port") is None
    count = open_connections("127.0.0.1:1")
    assert count is None or count == 0


def test_every_option_from_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data_dir", nargs="?", default="./data")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-fsync", action="store_true")
    p.add_argument("--verify-reads", choices=["crc", "all", "off"], default="crc")
    p.add_argument("--meta")
    assert [env_name(a) for a in p._actions[1:]] == ["PAILS_DATA_DIR", "PAILS_WORKERS", "PAILS_NO_FSYNC",
                                                     "PAILS_VERIFY_READS", "PAILS_META_URL"]
    monkeypatch.setenv("PAILS_DATA_DIR", "/srv/pails")
    monkeypatch.setenv("PAILS_WORKERS", "3")
    monkeypatch.setenv("PAILS_NO_FSYNC", "true")
    monkeypatch.setenv("PAILS_VERIFY_READS", "all")
    env_defaults(p)
    args = p.parse_args([])
    assert (args.data_dir, args.workers, args.no_fsync, args.verify_reads) == ("/srv/pails", 3, True, "all")
    assert p.parse_args(["/x", "--workers", "1", "--verify-reads", "off"]).workers == 1  # the command line wins
    monkeypatch.setenv("PAILS_VERIFY_READS", "some")
    with pytest.raises(SystemExit):
        env_defaults(p)


def test_docs_list_every_server_option() -> None:
    from pails.cli import build_parser

    server = build_parser()._subparsers._group_actions[0].choices["server"]  # type: ignore[union-attr]
    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    missing = [env_name(a) for a in server._actions
               if not isinstance(a, argparse._HelpAction) and f"`{env_name(a)}`" not in doc]
    assert not missing, f"docs/operations.md lacks {missing}"
