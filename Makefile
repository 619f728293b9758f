PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

## make run: install, migrate, load demo data, run web + worker + beat on 127.0.0.1:$$PORT
run: $(VENV)/.installed
	$(BIN)/python -m config.devserver

## make test: install dev deps, lint, run the whole suite
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .data staticfiles

## make bench: engine vs per-patient ORM loop vs read floor at 10,000 and 100,000 patients,
## then on-commit latency, pages and API throughput at 100,000
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/engine_bench.py --patients 10000 --patients 100000
