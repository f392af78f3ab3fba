# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-test

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	@mkdir -p data
	@if [ -f data/root-credentials.json ]; then \
	  echo "root credentials (data/root-credentials.json): $$(cat data/root-credentials.json)"; fi
	$(PY) -m pails server ./data --address 127.0.0.1:9000

test: $(STAMP)
	$(PY) -m ruff check pails tests
	$(PY) -m pytest -q -n 2 tests

lint: $(STAMP)
	$(PY) -m ruff check pails tests

clean:
	rm -rf $(VENV) .pytest_cache
