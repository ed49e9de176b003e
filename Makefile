# Two entry points, both usable on a fresh clone: `make open` and `make test` (see README.md).
PY ?= python3
# Which torch, and from where. The default pin resolves to a CUDA build (GBs) on an ordinary Linux machine's
# public index: for a CPU-only laptop or CI runner, add TORCH_INDEX=https://download.pytorch.org/whl/cpu.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
# USE_SYSTEM_TORCH=1: reuse the torch already installed in $(PY) instead of installing one
USE_SYSTEM_TORCH ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := sample_checkpoints/training.pth

.PHONY: setup open inspect test lint bench samples

$(STAMP): pyproject.toml
	@# before anything is created or downloaded: the project needs 3.11 (pyproject's requires-python)
	@v=$$($(PY) -c "import sys; print('%d.%d' % sys.version_info[:2])") || exit 1; \
	case "$$v" in 3.1[1-9]|3.[2-9][0-9]|[4-9].*) ;; \
	*) echo "ckpt-tui needs Python 3.11 or newer; $(PY) is $$v: run make PY=python3.11 (or newer)" >&2; exit 1;; esac
ifeq ($(USE_SYSTEM_TORCH),1)
	@$(PY) -c "import torch" || { echo "USE_SYSTEM_TORCH=1, but $(PY) cannot import torch" >&2; exit 1; }
	$(PY) -m venv --system-site-packages $(VENV)
else
	$(PY) -m venv $(VENV)
	@# torch first, pinned: an unpinned "torch" resolved by the extras would pull several GB of CUDA packages
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
endif
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
	$(BIN)/python benchmarks/bench_open.py

samples: $(STAMP)
	$(BIN)/python sample_checkpoints/make_samples.py
