# accord — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install demo test test-slow lint typecheck contracts bench bench-secagg clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $(TEST_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/accord demo --out runs/demo --force

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

contracts: $(TEST_STAMP)
	$(BIN)/lint-imports

test: lint typecheck contracts
	$(BIN)/pytest -m "not slow" -q

test-slow: $(TEST_STAMP)
	$(BIN)/pytest -m slow -q

bench: $(TEST_STAMP)
	$(BIN)/python bench/tcga_brca.py --data ../shared/data/flamby/fed_tcga_brca --out runs/bench/tcga_brca.json
	$(BIN)/python bench/ledger.py --out runs/bench/ledger.json
	$(BIN)/python bench/wsi.py --out runs/bench/wsi.json
	$(BIN)/python bench/hcc.py --out runs/bench/hcc.json
	$(BIN)/python bench/network.py --out runs/bench/network.json
	$(BIN)/python bench/cli.py --out runs/bench/cli.json
	$(MAKE) bench-secagg

# Flower is installed only for this benchmark, in its own environment: its dependencies
# are not accord's. Secure aggregation itself needs only numpy and cryptography.
bench-secagg:
	$(PYTHON) -m venv .venv-flwr
	.venv-flwr/bin/pip install -q flwr==1.42.0 numpy pydantic
	PYTHONPATH=src .venv-flwr/bin/python bench/secagg.py --out runs/bench/secagg.json

clean:
	rm -rf $(VENV) .venv-flwr runs .pytest_cache .mypy_cache .ruff_cache
