# Two entry points that work on a fresh clone with nothing but Python 3.11+ installed.
#   make demo   creates .venv, installs cisgram, runs `cisgram demo`
#   make test   creates .venv, installs cisgram with its test extras, runs the test suite
#   make lint   ruff, the import-linter layer contracts, and scripts/check_architecture.py
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the local CPU build of torch; an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet "torch==2.13.0"

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/cisgram demo --out demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/lint-imports --no-logo pyproject.toml
	$(BIN)/python scripts/check_architecture.py

clean:
	rm -rf $(VENV) demo .pytest_cache
