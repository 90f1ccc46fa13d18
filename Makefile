# Two commands, always true on a fresh machine with Python 3.11:
#   make run   - install what is needed and serve on http://127.0.0.1:5000 (SQLite + local artifacts)
#   make test  - install what is needed and run the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VENV2 := .venv-mlflow2
VENV_EI := .venv-exportimport
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# the older client of the compatibility suite
MLFLOW2_SPEC ?= mlflow-skinny==2.22.5
# the MLflow export/import tool of tests/e2e/test_export_import.py, in its own venv, driven as
# subprocesses: the current PyPI release of mlflow/mlflow-export-import, published under this name
# (the last `mlflow-export-import`, 1.2.0 of 2023, knows neither aliases nor logged models)
EXPORTIMPORT_SPEC ?= databricks-mlflow-export-import==1.2.1
EXPORTIMPORT_MLFLOW_SPEC ?= mlflow-skinny==3.17.2

.PHONY: run test test-fast test-main test-mlflow2 test-gthread test-exportimport test-peer lint install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

$(VENV2)/.installed: Makefile
	test -x $(VENV2)/bin/python || $(PYTHON) -m venv $(VENV2)
	$(VENV2)/bin/python -m pip install --quiet --upgrade pip
	$(VENV2)/bin/python -m pip install --quiet '$(MLFLOW2_SPEC)' pytest pytest-timeout requests pandas
	touch $@

$(VENV_EI)/.installed: Makefile
	test -x $(VENV_EI)/bin/python || $(PYTHON) -m venv $(VENV_EI)
	$(VENV_EI)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_EI)/bin/python -m pip install --quiet '$(EXPORTIMPORT_SPEC)' '$(EXPORTIMPORT_MLFLOW_SPEC)'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: $(VENV)/.installed
	$(BIN)/modelops server --host $(HOST) --port $(PORT)

test: test-main test-mlflow2 test-gthread

test-main: $(VENV)/.installed-test $(VENV_EI)/.installed
	EXPORTIMPORT_BIN=$(abspath $(VENV_EI)/bin) $(BIN)/python -m pytest -q tests

# Unit and API tests on SQLite alone: the quick loop while changing code (under a minute), with
# the line coverage of the packages they reach (the e2e tests' servers are not measured).
test-fast: $(VENV)/.installed-test
	MODELOPS_TEST_DATABASES=sqlite $(BIN)/python -m pytest -q -p no:cacheprovider \
		--cov=modelops_server --cov=mlflow_compat --cov=registry_core --cov=storage --cov-report=term:skip-covered tests/unit tests/api

# ruff's lint rules and formatting, and the import contract of the layers (config in
# pyproject.toml); CI runs it.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The client and HTTP e2e files again on gunicorn's stock gthread worker (--worker gthread, through
# MODELOPS_WORKER), on SQLite: the app must serve the same through plain WSGI.
GTHREAD_E2E := tests/e2e/test_stock_gthread.py tests/e2e/test_tracking_client.py \
	tests/e2e/test_registry_client.py tests/e2e/test_logged_models_client.py \
	tests/e2e/test_artifacts_client.py tests/e2e/test_artifacts_http.py tests/e2e/test_http_protocol.py
test-gthread: $(VENV)/.installed-test
	env -u MODELOPS_TEST_POSTGRES_URI -u MODELOPS_TEST_MYSQL_URI -u MODELOPS_REQUIRE_ALL_DATABASES \
		MODELOPS_WORKER=gthread $(BIN)/python -m pytest -q -p no:cacheprovider $(GTHREAD_E2E)

# Only the export/import round trips (they are part of test-main too).
test-exportimport: $(VENV)/.installed-test $(VENV_EI)/.installed
	EXPORTIMPORT_BIN=$(abspath $(VENV_EI)/bin) $(BIN)/python -m pytest -q tests/e2e/test_export_import.py

# The e2e subset again, driven by the 2.x client from its own venv against our server.
test-mlflow2: $(VENV)/.installed-test $(VENV2)/.installed
	MODELOPS_BIN=$(abspath $(BIN)/modelops) $(VENV2)/bin/python -m pytest -q -p no:cacheprovider \
		--confcutdir=tests/mlflow2 tests/mlflow2

# MLflow's own REST tests (../shared/peer) against modelops server, a fresh server per test; fails on
# any failure outside tests/peer/out_of_scope.txt (whole feature groups not built). The harness
# creates its own venv with the mlflow 3.17.2 client. `make test-peer PEER_ARGS='-k search'`.
PEER_ARGS ?=

test-peer: $(VENV)/.installed
	MODELOPS_BIN=$(abspath $(BIN)/modelops) $(BIN)/python tests/peer/run.py $(PEER_ARGS)

clean:
	rm -rf $(VENV) $(VENV2) $(VENV_EI) .pytest_cache

# Side-by-side benchmark (issue 5): modelops vs the reference mlflow server and FastTrackML, all on
# SQLite, plus modelops on PostgreSQL with 4 workers; the tools under comparison live in their own
# venv. `make bench BENCH_ARGS=--quick` for a run of about a minute; see docs/performance.md.
VENV_BENCH := .venv-bench
BENCH_MLFLOW_SPEC ?= mlflow==3.17.2
BENCH_ARGS ?=

.PHONY: bench

$(VENV_BENCH)/.installed:
	test -x $(VENV_BENCH)/bin/python || $(PYTHON) -m venv $(VENV_BENCH)
	$(VENV_BENCH)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_BENCH)/bin/python -m pip install --quiet '$(BENCH_MLFLOW_SPEC)' fasttrackml psycopg2-binary requests
	touch $@

bench: $(VENV)/.installed $(VENV_BENCH)/.installed
	$(BIN)/python scripts/run_bench.py $(BENCH_ARGS)
