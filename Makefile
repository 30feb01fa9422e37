# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all test-js lint setup web clean

setup: $(STAMP) web

# The page's files (frontal/web/dist/, not committed: docs/browser.md): the data from the Python
# packages always; FaceMesh from npm (package-lock.json) where Node.js and npm are installed.
web: $(STAMP)
	@if command -v npm >/dev/null 2>&1; then npm ci --ignore-scripts --no-audit --no-fund; \
	else echo "web: npm not found on PATH: the page will not track faces (install Node.js 20+, then make web)"; fi
	$(PY) -m frontal.serve --build-assets

# torch first, from the local CPU wheel, so the resolver never pulls the CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The embedded clip (carphone, 4 s at 15 FPS): the bits table, then Frontal and AV1 at the same
# bitrate, scored and side by side: input | Frontal | AV1 in reports/demo/ (about a minute on 2 cores).
demo: $(STAMP)
	$(VENV)/bin/codec-loopback --baselines av1 --keyint 1s --rates none --loss none --report reports/demo -f

# Lint, types and the layers contract first (seconds), then the tests.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint web test-js
	$(PY) -m pytest -q

# The JavaScript codec (frontal/web/codec/) against the golden streams codec/ wrote
# (tests/expected/js/); skipped, with a line saying so, where Node.js is not installed.
test-js:
	@if command -v node >/dev/null 2>&1; then node --test tests/js/; \
	else echo "test-js: node not found on PATH; JavaScript codec tests skipped"; fi

test-all: lint web test-js
	$(PY) -m pytest -q -m ''

clean:
	rm -rf $(VENV) build *.egg-info node_modules frontal/web/dist
