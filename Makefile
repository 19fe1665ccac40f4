# The two commands: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi.py

.PHONY: run test install migrate seed lint e2e-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed-demo --if-empty

run: seed
	$(BIN)/flask run --host 127.0.0.1 --port 5000

e2e-deps:
	cd tests/e2e && test -d node_modules/axe-core || npm install --no-audit --no-fund --silent

test: install e2e-deps
	$(BIN)/ruff check portal tests bench
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check portal tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/e2e/node_modules
