# Two entry points for a fresh machine with Python 3.11+:
#   make run   – venv, install, build derived data, serve on http://127.0.0.1:8000
#   make test  – the same set-up, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUILT  := data/build/build-info.json
NODE_STAMP := node_modules/.installed

.PHONY: run test data lint lint-js bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(BUILT): $(STAMP) $(wildcard data/layers/*/*.yaml) $(wildcard data/layers/*/*.geojson)
	$(BIN)/planview data build
	$(BIN)/python -m geo.fonts

data: $(BUILT)

run: data
	$(BIN)/planview serve --host 127.0.0.1 --port 8000

test: data lint-js
	$(BIN)/ruff check geo layers server tests
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check geo layers server tests
	$(BIN)/mypy

# The JS linter (dev only, from package.json/package-lock.json into the git-ignored node_modules/).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint-js: $(NODE_STAMP)
	node_modules/.bin/eslint static eslint.config.js

bench: data
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) data/build node_modules
