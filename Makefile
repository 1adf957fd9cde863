# Continuum: `make run` starts the product on embedded PostgreSQL + Redis; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Two test processes by default (CI machines have 2 cores); `make test PYTEST_ARGS="tests/accounts -x"` to narrow.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: run prod-local test lint install migrations shell clean-data bench bench-quick

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m config.stack run

# The production layout on this machine: docker-compose.yml's processes (gunicorn, uvicorn, a Celery pool per queue,
# beat) behind Debian's nginx, on the embedded PostgreSQL and Redis, at http://127.0.0.1:8080/ (config/prodlocal.py).
prod-local: $(STAMP)
	$(PY) -m config.prodlocal

# The whole suite, then the quick benchmarks (figures printed, nothing asserted on time); a narrowed run
# (`PYTEST_ARGS=...`) skips the benchmarks.
test: $(STAMP)
	$(PY) -m config.stack test -- $(PYTEST_ARGS)
	@if [ "$(PYTEST_ARGS)" = "-n 2 --dist loadfile" ]; then $(MAKE) --no-print-directory bench-quick; fi

# The benchmark suite (bench/run.py): every figure printed beside its own baseline, kept in bench/results/; the full
# suite also rewrites the generated tables of docs/performance.md. Its own data folder keeps var/ small.
bench: $(STAMP)
	CONTINUUM_VAR_DIR=var/bench $(PY) -m config.stack exec -- $(PY) bench/run.py --profile full

bench-quick: $(STAMP)
	CONTINUUM_VAR_DIR=var/bench-quick $(PY) -m config.stack exec -- $(PY) bench/run.py --profile quick

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	CONTINUUM_ENV=test $(VENV)/bin/mypy .

migrations: $(STAMP)
	$(PY) -m config.stack exec -- $(PY) manage.py makemigrations

shell: $(STAMP)
	$(PY) -m config.stack exec -- $(PY) manage.py shell

clean-data:
	rm -rf var/
