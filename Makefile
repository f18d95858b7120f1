# Tsunagari — `make run` serves the app, `make test` runs every test leg (docs/testing.md).
# Both create .venv on first use and reinstall only when pyproject.toml changes (stamp files).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
SERVE_ARGS ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help run test test-sqlite test-postgres test-e2e lint format clean

help:
	@echo "make run            set up .venv and start Tsunagari (tsunagari serve) on http://127.0.0.1:8000"
	@echo "                    (SERVE_ARGS='--port 8001' passes options to serve)"
	@echo "make test           all test legs: SQLite (with browser tests), then PostgreSQL"
	@echo "make test-sqlite    the SQLite leg only          (PYTEST_ARGS='-k name' to narrow)"
	@echo "make test-postgres  the PostgreSQL leg only"
	@echo "make test-e2e       the browser tests only"
	@echo "make lint           ruff check and ruff format --check"
	@echo "make clean          remove .venv's install stamps and var/test-* (not your data)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The app alone. A dev install (a superset) that is up to date counts as one.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@if [ $(VENV)/.installed-dev -nt pyproject.toml ]; then :; else \
		echo "$(BIN)/pip install -e ."; $(BIN)/pip install -q -e . ; fi
	@touch $@

# The app with the test and lint tools.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

run: $(VENV)/.installed
	$(BIN)/tsunagari serve $(SERVE_ARGS)

test: $(VENV)/.installed-dev
	bash scripts/test.sh all $(PYTEST_ARGS)

test-sqlite: $(VENV)/.installed-dev
	bash scripts/test.sh sqlite $(PYTEST_ARGS)

test-postgres: $(VENV)/.installed-dev
	bash scripts/test.sh postgres $(PYTEST_ARGS)

test-e2e: $(VENV)/.installed-dev
	bash scripts/test.sh e2e $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check
	$(BIN)/ruff format --check

format: $(VENV)/.installed-dev
	$(BIN)/ruff format
	$(BIN)/ruff check --fix

clean:
	rm -rf $(VENV)/.installed $(VENV)/.installed-dev var/test-sqlite var/test-postgres var/test-results var/e2e
