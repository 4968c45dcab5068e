# The front door. Every target bootstraps .venv from pyproject.toml on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help run test lint typecheck unit integration bench schemas clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## run the hub on embedded PostgreSQL and broker, with the demo feed
	$(BIN)/hub run --demo

test: lint typecheck  ## linters, type checks, and the whole test suite (unit + integration)
	$(BIN)/pytest

lint: $(STAMP)  ## ruff and the import-layering contracts
	$(BIN)/ruff check hub contracts consumers tests
	$(BIN)/ruff format --check hub contracts consumers tests
	$(BIN)/lint-imports

typecheck: $(STAMP)  ## mypy --strict
	$(BIN)/mypy

unit: $(STAMP)  ## only the fast, pure unit tests
	$(BIN)/pytest tests/unit

bench: $(STAMP)  ## match accuracy on the FEBRL data sets (installs the bench extra first)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/hub bench accuracy --dataset all

schemas: $(STAMP)  ## regenerate contracts/schemas from the pydantic models
	$(BIN)/python -m contracts.generate

clean:  ## remove the virtual environment and the embedded data
	rm -rf $(VENV) .hub .pytest_cache .mypy_cache .ruff_cache
