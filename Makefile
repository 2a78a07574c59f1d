# The two commands a user needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ARGS ?=

.PHONY: install demo test bench lint format clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --editable '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/portalctl demo $(ARGS)

test: $(INSTALLED)
	$(BIN)/pytest $(ARGS)

# A few minutes; full sizes: see bench/README.md.
bench: $(INSTALLED)
	$(BIN)/python -m bench.provisioning --orders 300 --rate 10 --seconds 15
	$(BIN)/python -m bench.backfill --events 500
	$(BIN)/python -m bench.records --rows 100000
	$(BIN)/python -m bench.temporal_cost --workflows 100 --rounds 1

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
