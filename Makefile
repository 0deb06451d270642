# Every target sets itself up: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY := $(BIN)/python

.PHONY: install demo test lint lab jaeger-up jaeger-down clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lab]'
	$(PY) -m ipykernel install --prefix $(VENV) --name tracekit --display-name "tracekit (.venv)" >/dev/null
	touch $(STAMP)

demo: install
	$(BIN)/tracekit demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check tracekit tests benchmarks scripts notebooks
	$(BIN)/ruff format --check tracekit tests benchmarks scripts notebooks
	$(BIN)/mypy

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks

jaeger-up: install
	$(PY) scripts/jaeger.py up

jaeger-down: install
	$(PY) scripts/jaeger.py down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
