# Runyard: `make up` to run it here, `make test` to test it.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: up down test test-unit lint images bench bench-sandboxes bench-cpu bench-scaling soak status logs docs

up:  ## install what is missing, build images, start API, workers, beat and Flower
	@bash scripts/up.sh

down:  ## stop Runyard's processes
	@bash scripts/down.sh

test:  ## install and start dependencies, then run the whole suite on real services
	@bash scripts/bootstrap.sh
	@$(PY) -m pytest $(PYTEST_ARGS)

test-unit:  ## only the tests that need no services
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint:  ## ruff and mypy (strict)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy core api workers client/runyard

images:  ## (re)build the sandbox images
	@bash sandbox_images/build.sh

bench:  ## latency and throughput against raw docker exec / docker run --rm (needs `make up`)
	@$(VENV)/bin/pip install -q -e ".[bench]"
	@$(PY) -m bench.run $(BENCH_ARGS)

bench-scaling:  ## throughput with 1 and 2 worker processes (restarts the local installation)
	@$(PY) -m bench.scaling $(BENCH_ARGS)

soak:  ## 32 clients of mixed work for 10 minutes, and whether anything grows (needs `make up`)
	@$(PY) -m bench.soak $(BENCH_ARGS)

bench-sandboxes:  ## sandbox exec and create latency, and exec throughput, against raw docker exec (needs `make up`)
	@$(PY) -m bench.sandboxes $(BENCH_ARGS)

bench-cpu:  ## CPU per job by process under load: print(1) runs, then sandbox echo (needs `make up`)
	@$(PY) -m bench.cpu_per_job $(BENCH_ARGS)
	@$(PY) -m bench.cpu_per_job --kind exec --clients 8 $(BENCH_ARGS)

docs:  ## regenerate the settings table in docs/configuration.md
	@$(PY) scripts/settings_doc.py --write docs/configuration.md

status:  ## readiness of a running installation
	@$(VENV)/bin/runyardctl check

logs:
	@tail -n 50 -f .runyard/logs/*.log
