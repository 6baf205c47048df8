# Everything installs into a virtual environment in .venv (override with VENV=path).
# PyTorch: the CPU wheel torch==2.13.0 is installed first unless the environment already has a torch
# (GPU users: install your CUDA build of torch into the venv first, or set TORCH="torch==<version>").
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install test demo bench lint

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

test: install
	$(PY) -m pytest -q

demo: install
	$(PY) -m hfpretrain.demo

bench: install
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/model_speed.py
	$(PY) benchmarks/tokenizer_bench.py
	$(PY) benchmarks/data_bench.py
	$(PY) benchmarks/training_bench.py
	$(PY) benchmarks/eval_bench.py
	$(PY) benchmarks/fewshot_bench.py
	$(PY) benchmarks/ladder_bench.py --budget-tokens 600000 --threads 1

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
