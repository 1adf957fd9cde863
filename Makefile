# Continuum: `make run` starts the product on embedded PostgreSQL + Redis; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Two test processes by default (CI machines have 2 cores); `make test PYTEST_ARGS="tests/accounts -x"` to narrow.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: run test lint install migrations shell clean-data

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m config.stack run

test: $(STAMP)
	$(PY) -m config.stack test -- $(PYTEST_ARGS)

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
