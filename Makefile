# Two commands for a fresh machine: `make run` (console) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run install test test-deps reliability bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/rollout

# Services the tests need (docker engine for the docker executor...), installed by our own scripts.
test-deps: install
	bash tests/services/setup.sh

test: test-deps
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)
	$(MAKE) --no-print-directory reliability

# Crash, endpoint-fault, disk, bad-input, hostile-code, secret and orphan suites: one table of
# tried / held / failed (tests/reliability/run.py); exits non-zero when any case failed.
reliability: test-deps
	$(PY) tests/reliability/run.py

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
