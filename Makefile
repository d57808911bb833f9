# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-next-year bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/loomwatch demo

# The import contracts in pyproject.toml first (an import that climbs a layer fails the build), then the tests.
test: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest

# The suite with every Python process's clock a year ahead (tests/clock/sitecustomize.py):
# nothing may depend on today's date.
test-next-year: $(STAMP)
	LOOMWATCH_TEST_DAYS_AHEAD=365 PYTHONPATH=$(CURDIR)/tests/clock $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) loomwatch-demo .pytest_cache
