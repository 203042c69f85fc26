# Quick start: `make demo` (set up, run the demo) and `make test` (set up, run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CATALOGS := salesflow/translations
POT := $(CATALOGS)/salesflow.pot

.PHONY: demo test test-slow lint bench screenshots compile catalogs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# An editable install is not byte-compiled, and with PYTHONDONTWRITEBYTECODE set Python never
# writes the .pyc itself: every command would compile salesflow again (~0.3 s). Up-to-date
# files are skipped, so this costs nothing when nothing changed.
compile: $(STAMP)
	$(BIN)/python -m compileall -q salesflow
	$(BIN)/pybabel -q compile -D salesflow -d $(CATALOGS)

# The pages' words: extracted from the code and templates into salesflow.pot, merged into
# each language's .po (then translate the new or fuzzy entries and commit both). A new
# language: `pybabel init -D salesflow -d salesflow/translations -i $(POT) -l de`.
catalogs: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ --no-location --sort-output --omit-header \
		-o $(POT) .
	$(BIN)/pybabel -q update -D salesflow -d $(CATALOGS) -i $(POT) \
		--ignore-obsolete --no-fuzzy-matching
	sed -i '/^"POT-Creation-Date:/d' $(CATALOGS)/*/LC_MESSAGES/salesflow.po  # no churn in Git

demo: compile
	$(BIN)/python scripts/demo.py

test: compile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 -m "not slow"

# The tests marked slow (the exactly-once test on PostgreSQL, ~1-2 min): .ci/run runs them after
# `make test`; left out of the quick loop.
test-slow: compile
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: compile
	$(BIN)/python bench/all.py

# PNGs of the pages for the README, from the demo's data (needs chromium).
screenshots: compile
	$(BIN)/python scripts/demo.py > /dev/null
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) build .pytest_cache
