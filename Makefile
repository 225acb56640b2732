# crosssell-spark — `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CONF ?= conf/local.yaml
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck generate bench clean

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	@command -v java >/dev/null || { echo "need Java 17 (java on PATH) for Spark"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with pinned dependencies

run: $(STAMP)  ## run the whole pipeline on the built-in sample world into ./lakehouse
	$(BIN)/crosssell run-all --conf $(CONF)

test: $(STAMP)  ## run the test suite (unit + integration)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check crosssell_spark jobs tests

typecheck: $(STAMP)  ## mypy
	$(BIN)/mypy

bench: $(STAMP)  ## run the benchmarks (BENCH=pipeline,als,lsh; BENCH_EVENTS=1000000,...) -> bench/results.{json,md}
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev,bench]"
	$(BIN)/python -m bench.run $(if $(BENCH),--only $(BENCH))

generate: $(STAMP)  ## write the sample world's raw files (EVENTS=n to size it)
	$(BIN)/crosssell generate --conf $(CONF) $(if $(EVENTS),--events $(EVENTS))

clean:  ## remove the local lakehouse and build artefacts (keeps .venv)
	rm -rf lakehouse spark-warehouse metastore_db derby.log dist build *.egg-info
