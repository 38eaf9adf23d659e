# The two commands of the README: `make run` and `make test`. Both create .venv (Python 3.11) with pinned
# dependencies on first use, then do their job. `make bench` runs the benchmarks (not part of the tests).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Offline-friendly settings for Prefect, matplotlib and Great Expectations (see docs/CONTRIBUTING.md).
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90
export PREFECT_LOGGING_LEVEL := WARNING
export MPLBACKEND := Agg

.PHONY: setup run test bench bench-national clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required: install it or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	@touch $(STAMP)

# The console of `ess run` shows its steps with their times (ESS_PROGRESS=1, also when piped), then its summary or one
# message; its log file (and the Prefect UI) get INFO.
run: setup
	ESS_PROGRESS=1 PREFECT_LOGGING_LEVEL=INFO $(BIN)/ess run

# One BLAS thread per test worker: two workers on two cores otherwise fight over threads in small SVDs. Tests are
# dealt one by one (load): grouped by module (loadscope), a module-scoped fixture is built once but the last modules
# leave one worker alone (pytest 8 min 50 s against about 7 min, machine alone).
test: setup
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist load

bench: setup
	$(BIN)/python -m benchmarks.run

# The national SIRENE read against its floors at 1 %, 10 % and 30 % of France (generates the stocks once, ≈ 6 GB
# under $(BENCH_DIR); an hour or more on 2 cores). BENCH_ARGS="--sizes 1 --runs 1" for a quick look.
BENCH_DIR ?= /tmp/ess-bench-national
bench-national: setup
	$(BIN)/python -m benchmarks.bench_national --dir $(BENCH_DIR) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data/sample data/runs data/warehouse data/cache
