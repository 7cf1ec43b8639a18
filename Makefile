# Everything the project needs is installed from here: `make test` on a fresh machine is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SDK9_VENV := .venv-sdk9
# Node tools for the tests (Azurite, the Azure Blob emulator), installed into the project, not globally.
TOOLS := .tools
AZURITE_VERSION := 3.35.0
AZURITE := $(TOOLS)/.azurite-$(AZURITE_VERSION).installed

.PHONY: test lint types unit demo bench serve clean protos

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# A second environment with the 9.x SDK, which speaks the classic control-plane dialect.
$(SDK9_VENV)/.installed:
	$(PYTHON) -m venv $(SDK9_VENV)
	$(SDK9_VENV)/bin/pip install -q --upgrade pip
	$(SDK9_VENV)/bin/pip install -q 'pinecone>=9,<10'
	touch $@

# 3.35.0 is the newest Azurite that supports Node 20 (3.36 needs Node >= 21, 3.37 Node >= 22).
$(AZURITE):
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)
	$(TOOLS)/node_modules/.bin/azurite-blob --version
	touch $@

install: $(BIN)/.installed $(SDK9_VENV)/.installed $(AZURITE)

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed $(SDK9_VENV)/.installed $(AZURITE)
	PINECONE_MIGRATOR_SDK9_PYTHON=$(abspath $(SDK9_VENV))/bin/python $(BIN)/pytest -q

test: lint types unit

demo: $(BIN)/.installed
	$(BIN)/python -m pinecone_migrator.demo

bench: $(BIN)/.installed
	$(BIN)/python -u bench/server_throughput.py
	$(BIN)/python -u bench/migrate_throughput.py
	PYTHONPATH=. $(BIN)/python -u bench/shard_listing.py
	$(BIN)/python -u bench/digest_speed.py
	PYTHONPATH=. $(BIN)/python -u bench/many_namespaces.py
	$(BIN)/python -u bench/rate_limited.py
	$(BIN)/python -u bench/verify_speed.py
	$(BIN)/python -u bench/export_import.py
	$(BIN)/python -u bench/sync_lag.py
	$(BIN)/python -u bench/realistic.py
	PYTHONPATH=. $(BIN)/python -u bench/other_databases.py

# The gRPC data plane's messages, shared by the local server and the gRPC transport, generated from our
# .proto (the generated files are committed).
PROTO_DIR := src/pinecone_migrator/protocol
protos: $(BIN)/.installed
	cd $(PROTO_DIR) && $(abspath $(BIN))/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. vector_service.proto packed_reads.proto

serve: $(BIN)/.installed
	$(BIN)/pinecone-migrator serve

clean:
	rm -rf $(VENV) $(SDK9_VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
