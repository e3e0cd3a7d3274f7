# `make demo` and `make test` create .venv and install the project when needed, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint sample-city clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/siting plan scenarios/sample-city.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check optimizer tests data benchmarks
	$(BIN)/mypy optimizer

sample-city: $(STAMP)
	$(BIN)/python data/make_sample_city.py --out data/sample_city.gpkg

clean:
	rm -rf $(VENV) reports/*/
