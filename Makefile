# The two commands a newcomer needs: `make run` and `make test`.
# Everything else here is what they are made of.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# python3.12 on PATH, else a pyenv-installed 3.12.
PYTHON312 := $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo "$$p"; break; }; done)
CHROMIUM ?= /usr/bin/chromium
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup lint format bench db-stop clean backup restore

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON312)" || { echo "Python 3.12 is required (python3.12 not found)"; exit 1; }
	$(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

# Browsers for the e2e tests: Debian's chromium when present, else Playwright's own.
$(VENV)/.browser: $(VENV)/.installed
	@if [ -x "$(CHROMIUM)" ]; then echo "Using $(CHROMIUM) for browser tests"; \
	else $(PY) -m playwright install chromium; fi
	touch $@

run: setup
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput
	$(PY) manage.py register_schedules
	$(PY) manage.py seed_demo --if-empty
	@echo "Back-office: http://$(HOST):$(PORT)/admin/  (Ctrl-C stops the server and the job cluster)"
	@trap 'kill 0' EXIT; \
	$(PY) manage.py qcluster & \
	$(PY) manage.py runserver $(HOST):$(PORT)

test: setup $(VENV)/.browser
	$(PY) manage.py ensure_database --settings=backoffice.settings.test
	$(PY) manage.py check --settings=backoffice.settings.test
	$(PY) manage.py makemigrations --check --dry-run --settings=backoffice.settings.test
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# pg_dump of the configured database (DATABASE_URL, else the embedded one).
backup: setup
	$(PY) manage.py backup_database

# make restore FILE=backups/<timestamp>.dump [TARGET_DATABASE_URL=postgres://...]
# Restores into an empty database only.
restore: setup
	@test -n "$(FILE)" || { echo "usage: make restore FILE=backups/<timestamp>.dump [TARGET_DATABASE_URL=postgres://...]"; exit 2; }
	$(PY) manage.py restore_database "$(FILE)" $(if $(TARGET_DATABASE_URL),--target-database-url "$(TARGET_DATABASE_URL)")

# Admin page benchmark: builds (or reuses) a benchmark database of BENCH_TASKS tasks
# (<db>_bench) and one of 10,000 (<db>_bench_10k) on the project's server, then
# times the pages against the stock Django admin. Results in bench/results/.
# BENCH_ARGS: e.g. "--reps 10 --only all,search" or "--rebuild".
BENCH_TASKS ?= 1000000
bench: setup
	BENCH_TASKS=$(BENCH_TASKS) $(PY) -m bench.run $(BENCH_ARGS)

db-stop: setup
	$(PY) manage.py embedded_db stop

clean: db-stop
	rm -rf .data $(VENV)
