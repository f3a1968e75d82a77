# Two commands do everything on a fresh clone: `make demo` and `make test`.
# Each creates (or reuses) .venv and installs fpgrad with what it needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fpgrad-installed
BENCH_VENV := benchmarks/.venv-bench
BENCH_STAMP := $(BENCH_VENV)/.fpgrad-installed

.PHONY: demo test test-quick lint format bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fpgrad demo

test: $(STAMP)
	$(BIN)/python -m pytest

# everything but the tests marked slow (50-digit references, notebooks, demo, benchmark smoke runs)
test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks run in their own environment: the reference peers (NEST, jaxsnn) are never
# dependencies of fpgrad or of its tests.
$(BENCH_STAMP): pyproject.toml benchmarks/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e '.[dev]'
	-$(BENCH_VENV)/bin/python -m pip install -q -r benchmarks/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run.py

bench-quick: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run.py --quick

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info .pytest_cache .ruff_cache
