# `make` installs into .venv and runs the main job; `make test` runs the test suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: all install preprocess test benchmark clean

all: preprocess

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: setup.py | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

preprocess: install
	$(BIN)/python -m preprocessing.run --corpus dailydialog --output data/dailydialog

test: install
	$(BIN)/python -m pytest

benchmark: install
	$(BIN)/python -m benchmarks.preprocess --repeats 2

clean:
	rm -rf $(VENV) data *.egg-info
