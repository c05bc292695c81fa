# The two commands a new user types: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint ingest clean-index

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install only when pyproject.toml changes.
$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.runtime-installed

EXAMPLE_QUESTION ?= Where did Wang Yi meet Jake Sullivan in September 2023?

## run: set up, build or update the index from corpus/, show it, and ask an example question
run: $(VENV)/.runtime-installed
	$(BIN)/sinoqa ingest
	$(BIN)/sinoqa status
	$(BIN)/sinoqa ask "$(EXAMPLE_QUESTION)"

## test: set up what tests need, then lint, type-check and run the whole test suite
test: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

clean-index:
	rm -rf index
