# crosssell-spark — `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CONF ?= conf/local.yaml
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2  # pytest-xdist workers for `make test`; they share one sample-pipeline run (tests/conftest.py)
AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
DIST_STAMP := dist/manifest.json
PACKAGE_SOURCES := $(shell find crosssell_spark jobs deploy -name '*.py' 2>/dev/null) conf/base.yaml

.DEFAULT_GOAL := help
.PHONY: help install run test test-all test-cluster lint typecheck generate evaluate bench clean package cluster-demo airflow-venv browser

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	@command -v java >/dev/null || { echo "need Java 17 (java on PATH) for Spark"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[local,dp,semantic,dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with pinned dependencies

run: $(STAMP)  ## run the whole pipeline on the built-in sample world into ./lakehouse
	$(BIN)/crosssell run-all --conf $(CONF)

test: $(STAMP) $(AIRFLOW_STAMP)  ## run the test suite (unit + integration + airflow; not the cluster tests, the only users of dist/)
	$(BIN)/python -m crosssell_spark.session  # Delta jars into the Ivy cache before workers start
	$(BIN)/pytest -m "not cluster" -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-cluster: $(STAMP) $(DIST_STAMP)  ## the standalone-cluster tests (master + 2 workers, worker kill): slow, ~10 min
	$(BIN)/pytest -m cluster $(PYTEST_ARGS)

browser:  ## Chromium + chromedriver from the OS packages (Debian/Ubuntu; root or sudo) for the run report's browser test
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  echo "chromium and chromedriver are installed"; \
	else \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	fi

test-all: test test-cluster  ## make test, then the standalone-cluster tests (what CI runs)

lint: $(STAMP)  ## ruff, and lint-imports (the package's layering: [tool.importlinter] in pyproject.toml)
	$(BIN)/ruff check crosssell_spark jobs tests bench deploy
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)  ## mypy, for Python 3.11 and for 3.12
	$(BIN)/mypy
	$(BIN)/mypy --python-version 3.12

bench: $(STAMP)  ## run the benchmarks (BENCH=pipeline,als,lsh,stream; BENCH_EVENTS=1000000,...) -> bench/results.{json,md}
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[local,dp,semantic,dev,bench]"
	$(BIN)/python -m bench.run $(if $(BENCH),--only $(BENCH))

$(DIST_STAMP): $(STAMP) pyproject.toml requirements.lock $(PACKAGE_SOURCES)
	$(BIN)/python -m deploy.package

package: $(DIST_STAMP)  ## dist/: wheel, --py-files zip, packed venv for --archives, submit.sh (spark-submit lines)

cluster-demo: $(DIST_STAMP)  ## run-all on a loopback standalone cluster (master + 2 workers) from dist/
	$(BIN)/python -u -m deploy.cluster_demo

$(AIRFLOW_STAMP): jobs/airflow/requirements.txt jobs/airflow/constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -c jobs/airflow/constraints.txt -r jobs/airflow/requirements.txt
	touch $(AIRFLOW_STAMP)

airflow-venv: $(AIRFLOW_STAMP)  ## Airflow + its Spark provider in their own venv (.venv-airflow) for the DAG tests

generate: $(STAMP)  ## write the sample world's raw files (EVENTS=n to size it)
	$(BIN)/crosssell generate --conf $(CONF) $(if $(EVENTS),--events $(EVENTS))

# SEED=n: a sample world of its own (another seed: other shoppers, preferences and planted pairs) in
# ./lakehouse/world-n, so a change is judged on data the defaults were not tuned on (docs/evaluation.md)
WORLD = $(if $(SEED),--set sample.seed=$(SEED) --set lakehouse.root=./lakehouse/world-$(SEED) --set sample.path=./lakehouse/world-$(SEED)/_landing/sample)
evaluate: $(STAMP)  ## crosssell evaluate with the shipped defaults on the sample world after `make run` (SEED=n: a fresh world of seed n)
	$(if $(SEED),$(BIN)/crosssell generate --conf $(CONF) $(WORLD) && $(BIN)/crosssell clean --conf $(CONF) $(WORLD))
	$(BIN)/crosssell evaluate --conf $(CONF) $(WORLD) --set evaluation.last_days=10

clean:  ## remove the local lakehouse and build artefacts (keeps .venv)
	rm -rf lakehouse spark-warehouse metastore_db derby.log dist build *.egg-info
