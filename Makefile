# Targets a newcomer can guess: run, test, lint. Everything lives in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test e2e lint check migrate seed clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

## run: install, migrate, load demo data and serve the admin (SQLite, no Redis needed)
run: $(VENV)/.installed-dev
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Admin:  http://$(HOST):$(PORT)/admin/   (the demo users above; another port: make run PORT=8001)"
	@echo ""
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## test: the whole test suite (SQLite by default; set DATABASE_URL for PostgreSQL)
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## e2e: only the browser test (Debian's Chromium: apt-get install chromium); screenshots in
## E2E_ARTIFACTS (default var/e2e-artifacts/)
e2e: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m e2e tests/e2e $(PYTEST_ARGS)

## bench: admin, nightly-run, outbox and usage benchmarks on PostgreSQL (own databases bench_*, seeded on the
## first run, reused after); options in benchmarks/run.py, e.g. BENCH_ARGS="--only nightly"
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/delivery.py
	$(BIN)/python benchmarks/usage.py

## lint: ruff, the import contracts (layers, no cycles), system checks, migrations check
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run

migrate: $(VENV)/.installed-dev
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

clean:
	rm -rf $(VENV) db.sqlite3 var
