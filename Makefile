# Two entry points, both usable on a fresh clone: `make open` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := sample_checkpoints/training.pth

.PHONY: setup open inspect test lint bench samples

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	@# the CPU wheel first: an unpinned "torch" would pull several GB of CUDA packages
	$(BIN)/pip install --quiet torch==2.13.0
	@# hold torch at what was just installed, whatever the extras ask for
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

open: $(STAMP)
	$(BIN)/ckpt-tui open $(SAMPLE)

inspect: $(STAMP)
	$(BIN)/ckpt-tui inspect $(SAMPLE)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_inspect.py

samples: $(STAMP)
	$(BIN)/python sample_checkpoints/make_samples.py
