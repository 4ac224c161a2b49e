# Two commands do all set-up from a clean clone: `make demo` and `make test`.
# The first interpreter that really runs and is 3.11+ (a pyenv shim can exist for a version that is not active).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install chromium java test test-slow test-all demo lint bench sample lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "derma-outcomes needs Python 3.11 or newer on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP)

chromium:  ## Debian's Chromium for the dashboard's browser test (installed only when missing)
	@sh scripts/ensure-chromium.sh

java:  ## Debian's Java 17 runtime for the Spark engine's tests (installed only when `java` is missing)
	@sh scripts/ensure-java.sh

# One BLAS thread per test process: the fits use small matrices, and on 2 shared cores OpenBLAS's
# spinning worker threads cost more than they give (the suite ran 20% faster with one).
TEST_ENV := OPENBLAS_NUM_THREADS=1

test: install chromium java
	$(TEST_ENV) $(BIN)/python -m pytest -q

test-slow: install  ## only the slow statistical checks (coverage simulations); CI runs them after make test
	$(TEST_ENV) $(BIN)/python -m pytest -q -m slow

test-all: install chromium java  ## everything: the default suite and the slow checks
	$(TEST_ENV) $(BIN)/python -m pytest -q -m "slow or not slow"

demo: install
	$(BIN)/derma demo

lint: install  ## ruff check and ruff format --check (CI runs it before the tests)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install  ## the recorded benchmarks (long: builds 100k, 1M and 10M warehouses under /tmp/derma-bench)
	$(BIN)/python -m bench.ingest --rows 100000 --runs 3 --pandas
	$(BIN)/python -m bench.ingest --rows 1000000 --runs 3 --pandas
	$(BIN)/python -m bench.ingest --rows 10000000 --runs 3
	$(BIN)/python -m bench.ingest_stages --rows 100000 1000000 10000000
	$(BIN)/python -m bench.mapping --rows 100000 --runs 3
	$(BIN)/python -m bench.queries --sizes 100000 1000000 10000000 --repeat 15
	$(BIN)/python -m bench.models --sizes 100000 1000000
	$(BIN)/python -m bench.models --full-refresh 1000000 --runs 3
	$(BIN)/python -m bench.models --full-refresh 10000000 --runs 1
	$(BIN)/python -m bench.funnels --sizes 100000 1000000 --runs 3
	$(BIN)/python -m bench.dashboard --sizes 1000000 10000000 --repeat 20 --changes 12
	$(BIN)/python -m bench.report --sizes 1000000 10000000 --runs 3 --all-clinics-size 1000000
	$(BIN)/python -m bench.export

sample: install  ## regenerate the committed sample in sample_data/sample/
	$(BIN)/python -m sample_data.make_sample

lock: install  ## regenerate constraints.txt (exact versions) from the tested environment; never edit it by hand
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^derma-outcomes' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache data
