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

$(STAMPS)/deps: pyproject.toml $(STAMPS)/torch
	$(PY) -m pip install -q -e '.[llm,dev]'
	@touch $@

$(STAMPS)/models: $(STAMPS)/deps index/e5_convert.py qa/llm_assets.py
	$(PY) -m index.e5_convert --out $(MODEL_DIR)/multilingual-e5-small
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

eval: setup
	$(VENV)/bin/qa eval --mode extractive
	$(VENV)/bin/qa eval --mode llm --limit 20

# Regression check against eval/baselines/: the full gold set without the LLM, and the
# first 12 questions with it (the full LLM run takes too long for every CI run).
eval-check: setup
	$(VENV)/bin/qa eval --mode extractive --check --out runs/eval/check-extractive
	$(VENV)/bin/qa eval --mode llm --limit 12 --check --out runs/eval/check-llm12

bench: setup
	$(VENV)/bin/qa bench

clean-venv:
	rm -rf $(VENV)
