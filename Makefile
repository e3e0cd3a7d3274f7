# `make demo` and `make test` create .venv and install the project when needed (and compile
# its Numba kernels once, so no run's time limit pays for that), then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(BIN)/python -m pytest -q

# Test tiers (pytest markers, registered in pyproject.toml): `make test` runs the fast tier;
# slow = long solves, the sample-city runs, sweeps on a real Dask cluster; orlib = the
# OR-Library / shared benchmark instances; browser = headless Chromium and the CJK font.
FAST := not slow and not orlib and not browser
REST := slow or orlib or browser

.PHONY: demo test test-slow test-all browser-deps lint sample-city clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m optimizer.warmup
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/siting plan scenarios/sample-city.yaml

test: $(STAMP)
	$(PYTEST) -m "$(FAST)"

test-slow: $(STAMP) browser-deps
	$(PYTEST) -m "$(REST)"

test-all: $(STAMP) browser-deps
	$(PYTEST)

# Chromium and a CJK font from Debian's packages, where missing and installable (root)
browser-deps:
	bash .ci/browser-deps

lint: $(STAMP)
	$(BIN)/ruff check optimizer tests data benchmarks
	$(BIN)/mypy optimizer

sample-city: $(STAMP)
	$(BIN)/python data/make_sample_city.py --out data/sample_city.gpkg

clean:
	rm -rf $(VENV) reports/*/
