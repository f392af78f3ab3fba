# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-test
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test lint clean client-tools postgres bench cluster reliability

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP) $(RUN_STAMP)

# What the server alone needs (no test extras): `make run` on a fresh clone installs this much only.
$(RUN_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	touch $(RUN_STAMP)

run: $(RUN_STAMP)
	@mkdir -p data
	@$(PY) -m pails server ./data --address 127.0.0.1:9000

# Three gateways on one PostgreSQL database (pails_cluster) and one data directory (./cluster-data),
# behind HAProxy on 127.0.0.1:9000 (docs/scale-out.md). CLUSTER_ARGS: e.g. --reset, --gateways 5, --detach.
cluster: $(STAMP) postgres
	$(PY) scripts/cluster.py $(CLUSTER_ARGS)

# Unit tests and the behaviour suite on the SQLite store, then the behaviour
# suite again on the PostgreSQL store (a throw-away database per test server).
test: $(STAMP) client-tools postgres
	$(PY) -m ruff check pails tests
	$(PY) -m pytest -q -n 2 tests
	PAILS_TEST_STORE=postgresql $(PY) -m pytest -q -n 2 tests/behaviour tests/reliability

# The reliability suite in full mode (docs/reliability.md): on each store, over 30 minutes of faults (kills,
# restarts, fuzzing, a full disk, stalled clients); then the counts of both runs, checked against the full
# mode's figures (reliability-STORE.jsonl keeps each test's counts).
reliability: $(STAMP) postgres
	rm -f reliability-sqlite.jsonl reliability-postgresql.jsonl
	PAILS_RELIABILITY=full PAILS_RELIABILITY_REPORT=reliability-sqlite.jsonl \
	  $(PY) -m pytest -q -p no:randomly tests/reliability
	PAILS_RELIABILITY=full PAILS_TEST_STORE=postgresql PAILS_RELIABILITY_REPORT=reliability-postgresql.jsonl \
	  $(PY) -m pytest -q -p no:randomly tests/reliability
	$(PY) -m tests.reliability.report --full reliability-sqlite.jsonl reliability-postgresql.jsonl

postgres:
	@scripts/ensure-postgres.sh

# rclone (tests/behaviour/test_clients_cli.py), restic (tests/behaviour/test_restic.py), chromium (tests/behaviour/test_cors_browser.py, driven by
# Playwright; its own browser downloads are not used) and prometheus (tests/behaviour/test_prometheus.py) are not on PyPI: as root, install the Debian packages;
# otherwise say how (their tests skip, with this reason).
client-tools:
	@for tool in rclone restic chromium prometheus; do \
	  if ! command -v $$tool >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing $$tool: apt-get install -y $$tool"; \
	      apt-get update -qq >/dev/null && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$tool </dev/null >/dev/null; \
	    else \
	      echo "$$tool not found: its tests will be skipped (install it with: sudo apt-get install $$tool)"; \
	    fi; \
	  fi; \
	done

# The benchmark suite (bench/README.md): not part of `make test`. Installs its peers (apt/pip, as root)
# and matplotlib; about an hour. BENCH_ARGS=--smoke for a few-minute check, --no-ceph to skip Ceph RGW.
bench: $(STAMP)
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) bench/run.py $(BENCH_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check pails tests

clean:
	rm -rf $(VENV) .pytest_cache
