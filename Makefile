# One set of commands everywhere. `make demo` and `make test` do all set-up themselves.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-unit lint typecheck demo worker beat flower sandbox bench migration clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Four test processes side by side (pytest-xdist): most of an integration test is waiting for a
# worker, a job or a subprocess, so four fit on two cores. Each takes its own Redis database; a
# process that runs out of tests takes queued ones from a busy one (worksteal).
TEST_PROCESSES ?= 4

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES) --dist worksteal

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python tools/check_cycles.py

typecheck: $(STAMP)
	$(BIN)/mypy config alma handles store pipeline outcomes tasks workers cli sandbox web webhook tools
	$(BIN)/mypy bench  # scripts, not a package: bench/pipeline.py would shadow the pipeline package

demo: $(STAMP)
	$(BIN)/handles demo

worker: $(STAMP)
	$(BIN)/celery -A workers.app worker --loglevel=INFO --concurrency=2

beat: $(STAMP)
	$(BIN)/celery -A workers.app beat --loglevel=INFO

flower: $(STAMP)
	$(BIN)/celery -A workers.app flower

sandbox: $(STAMP)
	$(BIN)/handles sandbox

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/preflight.py

migration: $(STAMP)
	$(BIN)/python -m store.revision "$(m)"

clean:
	rm -rf var .pytest_cache
