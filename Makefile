# labvault: `make demo` and `make test` work from a fresh clone with only python3.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: demo test lint bench soak clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	sh scripts/bootstrap.sh
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/labvault demo --data-dir var/data --key-dir var/keys

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: $(STAMP) lint
	sh scripts/test-deps.sh
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.api_reads
	$(BIN)/python -m benchmarks.mllp_ingest
	$(BIN)/python -m benchmarks.fhir_search

# Long runs of properties the suite checks at a smaller size (minutes, not part of `make test`).
soak: $(STAMP)
	LABVAULT_KILL_STREAM=5000 $(BIN)/pytest -q -p no:cacheprovider tests/interop/test_mllp_kill.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
