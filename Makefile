# Two entry points for a fresh machine with Python 3.11+:
#   make run   – venv, install, build derived data, serve on http://127.0.0.1:8000
#   make test  – the same set-up, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUILT  := data/build/build-info.json
NODE_STAMP := node_modules/.installed
JS_BUILT := data/build/js/manifest.json
HAVE_NPM := $(shell command -v npm 2>/dev/null)

.PHONY: run test data js lint lint-js bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(BUILT): $(STAMP) $(wildcard data/layers/*/*.yaml) $(wildcard data/layers/*/*.geojson)
	$(BIN)/planview data build
	$(BIN)/python -m geo.fonts
	$(BIN)/python -m geo.webfont

data: $(BUILT)

# The map page's first-view build (server/mapview/frontend.py): optional, so `make run` skips it on a
# machine without npm and the pages load the ES modules as they are.
$(JS_BUILT): $(NODE_STAMP) $(STAMP) $(wildcard static/planview/*.js) static/monitor-map.js
	$(BIN)/planview js build

js: $(JS_BUILT)

run: data $(if $(HAVE_NPM),js)
	$(BIN)/planview serve --host 127.0.0.1 --port 8000

test: data lint-js js
	$(BIN)/ruff check geo layers server tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check geo layers server tests benchmarks
	$(BIN)/mypy

# The JS linter and esbuild (dev only, from package.json/package-lock.json into the git-ignored node_modules/).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint-js: $(NODE_STAMP)
	node_modules/.bin/eslint static eslint.config.js

bench: data js
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) data/build node_modules
