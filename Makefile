# Every target installs what it needs into .venv (torch==2.13.0 first: the CPU wheel).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BASE := $(VENV)/.installed
STAMP := $(VENV)/.installed-test
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: demo test lint typecheck unit docs slow bench pretrained clean

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

$(DOCS_STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -e ".[docs]"
	touch $(DOCS_STAMP)

## demo: the main job (installs, then MetaDQN with the embedded meta-learner on test tasks)
demo: $(BASE)
	$(PY) -m sb3_metadqn demo

## test: lint, type check, the default (not slow) test run and the strict docs build
test: lint typecheck unit docs

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -m "not slow" -n 2

## docs: the documentation site, built with --strict into site/ (open site/index.html)
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

slow: $(STAMP)
	$(VENV)/bin/pytest -m slow -n 2

bench: $(STAMP)
	$(PY) -m benchmarks.env_throughput

## pretrained: rebuild the embedded meta-learners (about 4 + 4 + 24 + 10 + 12 + 4 min of 2
## cores; a rerun resumes from the checkpoint dirs, which do not affect the result)
pretrained: $(BASE)
	$(VENV)/bin/metadqn meta-train MetaNav-v0 --output sb3_metadqn/pretrained/MetaNav-v0.safetensors \
		--rounds 2 --checkpoint-dir .cache/meta-train/MetaNav-v0 --no-progress
	OMP_NUM_THREADS=1 $(VENV)/bin/metadqn meta-train MetaFrozenLake-v0 \
		--output sb3_metadqn/pretrained/MetaFrozenLake-v0.safetensors \
		--rounds 2 --checkpoint-dir .cache/meta-train/MetaFrozenLake-v0 --no-progress
	$(VENV)/bin/metadqn meta-train MetaCartPole-v0 --output sb3_metadqn/pretrained/MetaCartPole-v0.safetensors \
		--num-sources 48 --rounds 4 --chunk-size 4 --mapper-steps 4000 --keep-sources 48 \
		--checkpoint-dir .cache/meta-train-v2/MetaCartPole-v0 --no-progress
	$(VENV)/bin/metadqn meta-train MetaAcrobot-v0 --output sb3_metadqn/pretrained/MetaAcrobot-v0.safetensors \
		--num-sources 16 --rounds 2 --chunk-size 4 --mapper-steps 2000 --keep-sources 16 \
		--checkpoint-dir .cache/meta-train-v2/MetaAcrobot-v0 --no-progress
	$(VENV)/bin/metadqn meta-train MetaMountainCar-v0 --output sb3_metadqn/pretrained/MetaMountainCar-v0.safetensors \
		--num-sources 16 --rounds 2 --chunk-size 4 --mapper-steps 2000 --keep-sources 16 \
		--checkpoint-dir .cache/meta-train-v2/MetaMountainCar-v0 --no-progress
	$(VENV)/bin/metadqn meta-train MetaRecommend-v0 \
		--output sb3_metadqn/pretrained/MetaRecommend-v0.safetensors \
		--rounds 1 --mapper-steps 600 --guard validation --guard-probe 10 3 \
		--checkpoint-dir .cache/meta-train/MetaRecommend-v0-probe-guard --no-progress

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
