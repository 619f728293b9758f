PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench bench-incremental lint format clean

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

# Dates the suite runs again at, besides today: a year's last day and a leap day.
AWKWARD_DATES ?= 2026-12-31 2028-02-29

## make test: install dev deps, lint, run the whole suite today, then everything that does
## not read the machine's real clock again at each of $(AWKWARD_DATES)
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest
	@for day in $(AWKWARD_DATES); do \
	  echo "--- the suite again with today = $$day ---"; \
	  $(BIN)/python -m pytest -q --today=$$day -m "not wallclock" || exit 1; \
	done

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
## then on-commit latency, pages, API throughput and the fanned-out run at 100,000; the
## incremental nightly run; the programme metrics; laboratory imports (messages/s,
## import-to-alert latency); all at 100,000 patients
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/engine_bench.py --patients 10000 --patients 100000
	$(BIN)/python bench/incremental_bench.py --patients 100000
	$(BIN)/python bench/metrics_bench.py --patients 100000 --runs 10
	$(BIN)/python bench/imports_bench.py --patients 100000

## make bench-incremental: the incremental nightly run after a simulated day of changes vs the
## full run vs the read floor, at 100,000 patients
bench-incremental: $(VENV)/.installed-dev
	$(BIN)/python bench/incremental_bench.py --patients 100000
