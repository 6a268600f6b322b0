# Set-up and everyday commands. `make run` and `make test` are the README's two commands.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
MODEL_DIR := $(VENV)/share/news-qa/models
APT_PACKAGES := chromium chromium-driver

.PHONY: setup run test test-fast lint format eval eval-check bench clean-venv help

help:
	@echo "make run     set up, index the bundled sample articles, open the web chat (127.0.0.1:7860)"
	@echo "make test    set up (incl. Chromium for browser tests), lint, run all tests"
	@echo "make setup   create .venv, install torch (CPU) then the project, build/verify the models"
	@echo "make eval    evaluate on the gold set (extractive + LLM subset), write a report"
	@echo "make bench   run the benchmark harness"

# --- set-up: each step re-runs only when its inputs change ---------------------------
$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first and explicitly: the CPU wheel on disk, not a multi-GB CUDA build.
$(STAMPS)/torch: | $(PY)
	$(PY) -m pip install -q torch==2.13.0
	@mkdir -p $(STAMPS) && touch $@

# llama-cpp-python compiles llama.cpp from source. Left to itself it tunes the build to
# the CPU with -march=native, which on this workplace's Intel machines includes AMX, and
# that build segfaults in llama_decode on the first prompt. So the extensions are named
# explicitly, read from the CPU of the machine that builds (the venv is built where it
# runs): AVX2 everywhere, AVX-512 with VNNI/VBMI/BF16 where all of them are present (1.5x
# faster prompt processing here: 832 tokens in 8.4 s instead of 12.4 s), never AMX.
# --no-cache-dir: pip's wheel cache does not know these flags and would hand back a
# wheel built with others.
# Only what the Python bindings load is compiled: libllama and the ggml libraries. Left
# out are the multimodal library (LLAVA_BUILD=OFF; it serves image models) and
# llama.cpp's `common` library, which llama-cpp-python forces on and never loads
# (cmake/llama-cpp-lean.cmake switches it off again). On 2 cores (AMD EPYC, AVX-512)
# that is 257 instead of 629 CPU-seconds of compiling (1.6 min instead of 3.7 measured
# with the AVX2 flags; docs/benchmarks.md "Set-up time").
LLAMA_CPP := llama-cpp-python[server]==0.3.36
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
AVX512_FLAGS := avx512f avx512cd avx512vl avx512dq avx512bw avx512_vnni avx512vbmi avx512_bf16
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$(CURDIR)/cmake/llama-cpp-lean.cmake
LLAMA_CMAKE_ARGS += -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
ifeq ($(words $(filter $(AVX512_FLAGS),$(CPU_FLAGS))),$(words $(AVX512_FLAGS)))
LLAMA_CMAKE_ARGS += -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON
endif
ifneq ($(filter avx_vnni,$(CPU_FLAGS)),)
LLAMA_CMAKE_ARGS += -DGGML_AVX_VNNI=ON
endif

$(STAMPS)/llama: $(STAMPS)/torch
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q --no-cache-dir '$(LLAMA_CPP)'
	@touch $@

$(STAMPS)/deps: pyproject.toml $(STAMPS)/torch $(STAMPS)/llama
	$(PY) -m pip install -q -e '.[llm,dev,ray]'
	@touch $@

# The ONNX graphs (QA_EMBEDDING_RUNTIME=onnx / onnx-int8) are exported from the converted
# model with torch and quantised with onnxruntime; their sha256 is pinned in index/e5_onnx.py.
$(STAMPS)/models: $(STAMPS)/deps index/e5_convert.py index/e5_onnx.py qa/llm_assets.py
	$(PY) -m index.e5_convert --out $(MODEL_DIR)/multilingual-e5-small
	$(PY) -m index.e5_onnx --e5 $(MODEL_DIR)/multilingual-e5-small --out $(MODEL_DIR)/multilingual-e5-small-onnx
	$(PY) -m qa.llm_assets --model-dir $(MODEL_DIR) --model all
	@touch $@

setup: $(STAMPS)/models

# Debian's Chromium for the browser tests (never a downloaded browser build).
$(STAMPS)/browser: | $(PY)
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(APT_PACKAGES); \
	fi
	@mkdir -p $(STAMPS) && touch $@

# --- the two commands ----------------------------------------------------------------
run: setup
	$(VENV)/bin/qa index
	$(VENV)/bin/qa ui

# The eval regression check runs first so pytest's summary is the last line.
test: setup $(STAMPS)/browser lint
	$(MAKE) eval-check
	$(PY) -m pytest

test-fast: setup lint
	$(PY) -m pytest -m "not llm and not browser and not server"

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Each run also scores its baselines over the same questions (see `qa eval --baselines`).
eval: setup
	$(VENV)/bin/qa eval --mode extractive --baselines bm25
	$(VENV)/bin/qa eval --mode llm --limit 20 --baselines bm25,naive-rag

# Regression check against eval/baselines/: the full gold set without the LLM, and the
# first 12 questions with it (the full LLM run takes too long for every CI run).
eval-check: setup
	$(VENV)/bin/qa eval --mode extractive --check --out runs/eval/check-extractive
	$(VENV)/bin/qa eval --mode llm --limit 12 --check --out runs/eval/check-llm12
	@# XQuAD is data beside the checkout, never part of it: without it, say so and go on.
	@if $(PY) -c "import sys; from eval.xquad import find_xquad_dir; sys.exit(find_xquad_dir() is None)"; then \
		$(VENV)/bin/qa eval --dataset xquad-en-de --mode extractive --split test --limit 60 --check --out runs/eval/check-xquad-extractive; \
	else \
		echo "eval-check: SKIPPED the XQuAD check: no ../shared/data/xquad beside the checkout"; \
	fi

bench: setup
	$(VENV)/bin/qa bench

clean-venv:
	rm -rf $(VENV)
