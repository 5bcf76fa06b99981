# Findig's developer entry points. `make run` serves the example API on
# http://localhost:5000/; `make test` runs the whole suite (lint, types,
# tests, docs). Both create the virtual environment in .venv on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint docs clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all,dev]"
	touch $@

run: $(VENV)/.installed
	$(BIN)/python manage.py migrate && $(BIN)/python manage.py runserver localhost:5000

lint: $(VENV)/.installed
	$(BIN)/ruff check findig tests examples benchmarks docs/conf.py manage.py
	$(BIN)/ruff format --check findig tests examples benchmarks docs/conf.py manage.py
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

docs: $(VENV)/.installed
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) docs/_build build dist *.egg-info
