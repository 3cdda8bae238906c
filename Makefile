# Two commands on a fresh machine: `make run` (dashboard and its worker on the simulator) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-services lint format ci bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_user
	@echo "Dashboard on the embedded Vast.ai simulator: http://$(HOST):$(PORT)/ (and its background worker)"
	PY=$(PY) ./scripts/run-dev $(HOST):$(PORT)

.venv-vastai/bin/vastai:
	$(PYTHON) -m venv .venv-vastai
	.venv-vastai/bin/pip install --quiet vastai==1.9.1

/usr/bin/chromium:
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Install Debian's chromium (sudo apt-get install chromium) for the browser tests"; exit 1; fi

test: install .venv-vastai/bin/vastai /usr/bin/chromium
	$(PY) -m pytest -n 2 --dist loadfile
	./scripts/test-services

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

ci: lint test

bench: install
	$(PY) bench/offers.py
	$(PY) bench/ledger.py

clean:
	rm -rf $(VENV) .venv-vastai staticfiles db.sqlite3 db-huey.sqlite3
