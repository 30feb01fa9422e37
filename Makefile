# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint setup clean

setup: $(STAMP)

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

test: lint
	$(PY) -m pytest -q

test-all: lint
	$(PY) -m pytest -q -m ''

clean:
	rm -rf $(VENV) build *.egg-info
