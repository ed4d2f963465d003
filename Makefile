# Every target installs what it needs into .venv (torch==2.13.0 first: the CPU wheel).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BASE := $(VENV)/.installed
STAMP := $(VENV)/.installed-test

.PHONY: demo test lint typecheck unit slow bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.13.0

$(BASE): $(PY) pyproject.toml
	$(PY) -m pip install -e .
	touch $(BASE)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -e ".[test]"
	touch $(STAMP)

## demo: the main job (installs, then runs the showcase on the embedded default)
demo: $(BASE)
	$(PY) -m gym_metatasks

## test: lint, type check and the default (not slow) test run
test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -m "not slow" -n 2

slow: $(STAMP)
	$(VENV)/bin/pytest -m slow -n 2

bench: $(STAMP)
	$(PY) -m benchmarks.env_throughput

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
