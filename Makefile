# The project's two commands: `make demo` (the main job on the embedded CPU default) and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo
GPU_SMOKE_OUT ?= runs/gpu_smoke
# gpu-smoke runs in the environment the gpu extra went into: .venv when it exists, else python3 (PY=... to choose)
SMOKE_PY := $(if $(wildcard $(PY)),$(PY),python3)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export WANDB_MODE := disabled
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast test-e2e test-canary lint bench gpu-smoke clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	# torch + torchvision first, as the pair the Qwen2.5-VL processor needs (README, Install); never pinned in pyproject.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[test]"
	# data only: the detection tests read the UCR KDD-TSAD series shipped in aeon (BSD-3) in place, never import it;
	# --no-deps because its numba and pandas pins conflict with ours
	$(PY) -m pip install -q --no-deps aeon==1.6.0
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m verl_anomseer.demo --out $(DEMO_OUT)

# Unit + integration tests first, then the end-to-end runs (each its own Ray cluster), serially.
test: install
	$(PY) -m pytest -m "not e2e" tests
	$(PY) -m pytest -m e2e tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no e2e tests collected"; rc=0; fi; exit $$rc

test-fast: install
	$(PY) -m pytest -m "not e2e and not slow" tests

test-e2e: install
	$(PY) -m pytest -m e2e tests

# The learning canary alone (lr vs lr 0, tests/e2e/test_e2e_learning.py; also part of `make test`).
test-canary: install
	$(PY) -m pytest -m canary tests

# Static checks: ruff's lint rules and its formatter (check only) over the code and the tests.
LINT_PATHS := verl_anomseer tests benchmarks data_prep
lint: install
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)

# The first command on a new GPU node (one GPU, `pip install -e ".[gpu]"` done): 2 TimerPO steps per grounding
# source through main_ppo with the vLLM rollout, vllm + hf evaluation; stops at once without a GPU or vLLM.
# No `install` prerequisite: that target installs the CPU torch.
gpu-smoke:
	$(SMOKE_PY) -m verl_anomseer.gpu_smoke --out $(GPU_SMOKE_OUT)

# Every capability's benchmark (figures are ratios against a baseline timed in the same run).
bench: install
	$(PY) benchmarks/build.py
	$(PY) benchmarks/expcot_probes.py
	$(PY) benchmarks/reward.py
	$(PY) benchmarks/timerpo.py
	$(PY) benchmarks/eval.py --quick
	$(PY) benchmarks/detect.py
	$(PY) benchmarks/cpu_e2e.py

clean:
	rm -rf runs .pytest_cache .hypothesis
