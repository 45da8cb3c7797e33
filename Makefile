# Two commands: `make run` serves the default twin, `make test` runs the tests.
# Both create .venv and install what they need from nothing.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Versions known to work together; the library itself pins nothing (see pyproject.toml).
CONSTRAINTS := -c constraints.txt

.PHONY: run test install install-test build lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(PY)
	$(PIP) install -q $(CONSTRAINTS) -e '.[all]'
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(PY)
	$(PIP) install -q $(CONSTRAINTS) -e '.[test]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

## Build the default Akmola twin (if missing) and serve it on http://$(HOST):$(PORT)/
run: install
	$(VENV)/bin/twin serve --host $(HOST) --port $(PORT)

## Run the whole test suite (unit, server, GDAL and browser tests)
test: install-test
	$(PY) -m pytest

build: install
	$(VENV)/bin/twin build

## ruff and mypy; tests/test_lint.py runs the same, so `make test` keeps them passing
lint: install-test
	$(VENV)/bin/ruff check twin layers geodata api tests bench
	$(VENV)/bin/mypy twin layers geodata api

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
