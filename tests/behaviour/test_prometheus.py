"""A real Prometheus (Debian's ``prometheus``; ``make client-tools``)
scrapes /metrics of a two-worker server with a bearer token; its query API
returns the request counts this test sent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.behaviour.test_operations import fresh_client
from tests.pails_server import Server, free_port, wait_for_port

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not found: sudo apt-get install prometheus "
                                "(make client-tools)")


def query(port: int, expression: str) -> float | None:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=10) as r:
        answer = json.loads(r.read())
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_every_worker(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    srv = Server(tmp_path / "data", extra_args=["--workers", "2", "--metrics-token", token]).start()
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pails
    authorization:
      credentials: {token}
    static_configs:
      - targets: ["127.0.0.1:{srv.admin_port}"]
""")
    log = open(tmp_path / "prometheus.log", "wb")
    assert PROMETHEUS is not None
    prometheus = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=prometheus)
        s3 = fresh_client(srv)
        s3.create_bucket(Bucket="scraped")
        for i in range(17):
            s3.put_object(Bucket="scraped", Key=f"k{i}", Body=os.urandom(1000))
        for i in range(23):
            s3.get_object(Bucket="scraped", Key=f"k{i % 17}")["Body"].read()
        wanted = {
            'sum(pails_s3_requests_total{job="pails",operation="PutObject",status="200"})': 17.0,
            'sum(pails_s3_requests_total{job="pails",operation="GetObject",status="200"})': 23.0,
            'sum(pails_s3_received_bytes_total{job="pails",operation="PutObject"})': 17000.0,
            'pails_bucket_objects{job="pails",bucket="scraped"}': 17.0,
            'up{job="pails"}': 1.0,
        }
        deadline = time.monotonic() + 60
        seen: dict[str, float | None] = {}
        while time.monotonic() < deadline:
            seen = {expression: query(port, expression) for expression in wanted}
            if seen == wanted:
                break
            time.sleep(0.5)
        assert seen == wanted, (tmp_path / "prometheus.log").read_text()[-2000:]
        # The histogram works with Prometheus' own functions.
        assert query(port, 'histogram_quantile(0.5, sum by (le) '
                           '(pails_s3_request_duration_seconds_bucket{operation="GetObject"}))') is not None
        # Every query of the Grafana dashboard (docs/grafana-dashboard.json) is valid PromQL over these metrics.
        dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                expression = target["expr"].replace("$__rate_interval", "1m").replace("$job", "pails")
                query(port, expression)  # asserts the answer's status is success
    finally:
        prometheus.terminate()
        prometheus.wait(30)
        log.close()
        srv.stop()
