# Two commands for a fresh machine (see README.md):
#   make course   set everything up and open the course in JupyterLab
#   make test     set everything up and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Learners get the course only; tests add the dev and browser-test tools (pyproject [dev]).
COURSE_STAMP := $(VENV)/.installed-course
STAMP := $(VENV)/.installed-dev

.PHONY: course test lint bench setup

course: $(COURSE_STAMP)
	$(BIN)/privacy-course start

test: $(STAMP)
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-bubblewrap.sh
	bash scripts/ensure-jupyterhub.sh
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(STAMP)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python -m benchmarks

setup: $(STAMP)

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(COURSE_STAMP): pyproject.toml setup.py | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(COURSE_STAMP)

$(STAMP): pyproject.toml setup.py | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(COURSE_STAMP)
