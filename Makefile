# QuorumKV developer entry points. Everything runs from the project's own .venv.
#   make run     a local 3-node cluster in the foreground (Ctrl-C stops it)
#   make test    unit tests, then integration tests (PYTEST_ARGS="-x -k foo" passes through)
#   make bench   load against a running cluster (BENCH_ARGS passes through)
#   make clean   remove the local cluster's data
#
# The hot modules are compiled with Cython when a C compiler is present (see
# quorumkv/accel.py); ACCEL=0 runs everything as plain Python instead.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
RUN_ARGS ?=
BENCH_ARGS ?=
ACCEL ?= 1
# unit first, then integration; fall back to all of tests/ if neither exists yet
TEST_PATHS ?= $(or $(wildcard tests/unit tests/integration),tests)

.PHONY: run test bench clean install install-test accel

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the stamps make reinstalling depend on pyproject.toml only
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[accel]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,accel]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed accel

install-test: $(VENV)/.installed-test accel

# compile the hot modules (incrementally: only edited ones are rebuilt); if that
# fails, say so and run as plain Python rather than on stale extensions
accel: $(VENV)/.installed
ifeq ($(ACCEL),1)
	@mkdir -p build
	@echo "compiling the hot modules with Cython (first time about a minute)..."
	@$(BIN)/python -m quorumkv.accel build > build/accel.log 2>&1 \
	  || { echo "compiled build failed (build/accel.log); running as plain Python"; \
	       $(BIN)/python -m quorumkv.accel remove; }
else
	@$(BIN)/python -m quorumkv.accel remove
endif

run: install
	exec $(BIN)/quorumkv cluster up --nodes 3 $(RUN_ARGS)

test: install-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) $(TEST_PATHS)

bench: install
	$(BIN)/quorumkv bench $(BENCH_ARGS)

clean:
	rm -rf data/
