# QuorumKV developer entry points. Everything runs from the project's own .venv.
#   make run     a local 3-node cluster in the foreground (Ctrl-C stops it)
#   make test    unit tests, then integration tests (PYTEST_ARGS="-x -k foo" passes through)
#   make bench   load against a running cluster (BENCH_ARGS passes through)
#   make clean   remove the local cluster's data

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
RUN_ARGS ?=
BENCH_ARGS ?=
# unit, simulation, integration, then kernel-level fault tests
TEST_PATHS ?= $(or $(wildcard tests/unit tests/sim tests/integration tests/faults),tests)

.PHONY: run test bench clean install install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the stamps make reinstalling depend on pyproject.toml only
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	exec $(BIN)/quorumkv cluster up --nodes 3 $(RUN_ARGS)

test: install-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) $(TEST_PATHS)

bench: install
	$(BIN)/quorumkv bench $(BENCH_ARGS)

clean:
	rm -rf data/
