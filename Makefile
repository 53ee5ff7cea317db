# QuorumKV developer entry points. Everything runs from the project's own .venv.
#   make run     a local 3-node cluster in the foreground (Ctrl-C stops it)
#   make test    unit tests, then integration tests (PYTEST_ARGS="-x -k foo" passes through)
#   make bench   load against a running cluster (BENCH_ARGS passes through)
#   make bench-deps  what bench/strong/ (QuorumKV vs etcd and ZooKeeper) needs; as root
#   make clean   remove the local cluster's data
# run, test and bench first compile the hot path with Cython (quorumkv/accel.py);
# if that fails they go on in plain Python.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
RUN_ARGS ?=
BENCH_ARGS ?=
# unit, simulation, integration, fuzz (bounded to about a minute), then kernel-level fault tests
TEST_PATHS ?= $(or $(wildcard tests/unit tests/sim tests/integration tests/fuzz tests/faults),tests)

.PHONY: run test bench bench-deps clean install install-test accel

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the stamps make reinstalling depend on pyproject.toml only
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[accel]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,accel]'
	touch $@ $(VENV)/.installed

# every time (about a second when nothing changed: only changed modules are
# recompiled); a line per module on the terminal, Cython's and the compiler's
# output in the log; ACCEL_REQUIRED=1 (CI) makes a failed build fail the target
ACCEL_REQUIRED ?=
ACCEL_LOG := $(VENV)/accel-build.log
accel: | $(VENV)/.installed
	@rm -f $(ACCEL_LOG)
	@$(BIN)/python -m quorumkv.build_accel --log $(ACCEL_LOG) \
	  || { echo "note: compiling the hot path failed (see $(ACCEL_LOG)); plain Python it is"; \
	       test -z "$(ACCEL_REQUIRED)"; }

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install accel
	exec $(BIN)/quorumkv cluster up --nodes 3 $(RUN_ARGS)

# then the unit and simulation tests again in plain Python (QUORUMKV_PURE=1): what
# runs wherever a module is edited since the last build, or was never built
test: install-test accel
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) $(TEST_PATHS)
	QUORUMKV_PURE=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS) tests/unit tests/sim

bench: install accel
	$(BIN)/quorumkv bench $(BENCH_ARGS)

# Not on the test path: the peers of the strong-keyspace benchmark (bench/strong/),
# etcd 3.4 and ZooKeeper 3.8 from Debian (the zookeeper package has the server
# jars; zookeeperd would only add a system service), a JRE, and grpcio for the
# etcd client. The packages may start services of their own: stop them, the
# benchmark runs its own processes on other ports.
bench-deps: | $(BIN)/python
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client zookeeper \
	  default-jre-headless >/dev/null
	service etcd stop >/dev/null 2>&1 || true
	$(BIN)/pip install -q -e '.[bench]'

clean:
	rm -rf data/
