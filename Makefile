# Every target sets itself up: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY := $(BIN)/python
LOCK := requirements/lock.txt
# The dataset the notebooks' `parameters` cells default to (relative to notebooks/); `make lab`
# makes it with `tracekit demo` when missing. Empty: open JupyterLab without it.
LAB_DATA ?= data/demo/workshop-day/manifest.json
# More `jupyter lab` options, e.g. LAB_ARGS="--no-browser --port 8890".
LAB_ARGS ?=

.PHONY: install lock demo test lint lab jaeger-up jaeger-down hotrod-up hotrod-down clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py $(LOCK) scripts/install.sh requirements/native.txt \
		native/Cargo.toml native/Cargo.lock native/pyproject.toml native/src/lib.rs
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/install.sh
	touch $(STAMP)

# Re-pin the dependencies after changing them (UPGRADE=1: newest releases); see scripts/lock.sh.
lock:
	scripts/lock.sh

demo: install
	$(BIN)/tracekit demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check tracekit tests benchmarks scripts notebooks
	$(BIN)/ruff format --check tracekit tests benchmarks scripts notebooks
	$(BIN)/mypy

# Only the project's kernel is offered (notebooks saved with "python3" get it too, by language);
# JUPYTER_PATH puts this venv's kernelspec before any user-level one of the same name.
# --allow-root: containers run as root, and Jupyter refuses root without it.
lab: install $(LAB_DATA)
	JUPYTER_PATH=$(abspath $(VENV))/share/jupyter $(BIN)/jupyter lab --notebook-dir=notebooks \
		--allow-root --KernelSpecManager.allowed_kernelspecs=tracekit \
		--MappingKernelManager.default_kernel_name=tracekit $(LAB_ARGS)

$(LAB_DATA): | install
	@echo "make lab: making the demo datasets the notebooks open by default (tracekit demo, a few minutes)"
	$(BIN)/tracekit demo

jaeger-up: install
	$(PY) scripts/jaeger.py up

jaeger-down: install
	$(PY) scripts/jaeger.py down

# HotROD exporting to the Jaeger above; fix flags: make hotrod-up HOTROD_FLAGS="-M -W 10"
hotrod-up: install
	$(PY) scripts/hotrod.py up $(HOTROD_FLAGS)

hotrod-down: install
	$(PY) scripts/hotrod.py down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
