# Two commands: `make run` serves awoooi on 127.0.0.1:8080 (SQLite under $AWOOOI_HOME),
# `make test` runs lint, types and the whole test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
AWOOOI_HOME ?= $(CURDIR)/.awoooi
export AWOOOI_HOME

.PHONY: run test install install-dev lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

run: install
	$(BIN)/awoooi serve --host 127.0.0.1 --port 8080

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy --strict src

# Two workers: the suite waits on databases, subprocesses and sockets as much as on the CPU.
# loadgroup keeps the console's browser tests on one worker (one Chromium, one server per database).
PYTEST_ARGS ?= -n 2 --dist loadgroup

pytest: install-dev
	$(BIN)/pytest $(PYTEST_ARGS)

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict src
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .awoooi .pytest_cache .mypy_cache .ruff_cache
