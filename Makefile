# Two commands: `make run` serves awoooi on $HOST:$PORT (default 127.0.0.1:8080; AWOOOI_HOST and
# AWOOOI_PORT are honoured too), SQLite under $AWOOOI_HOME; `make test` runs lint, types and the
# whole test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
AWOOOI_HOME ?= $(CURDIR)/.awoooi
export AWOOOI_HOME
# `make run PORT=9000`, `PORT=9000 make run` or AWOOOI_PORT=9000: the first one set wins.
AWOOOI_HOST ?= 127.0.0.1
AWOOOI_PORT ?= 8080
HOST ?= $(AWOOOI_HOST)
PORT ?= $(AWOOOI_PORT)

.PHONY: run test install install-dev lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

run: install
	$(BIN)/awoooi serve --host $(HOST) --port $(PORT)

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
