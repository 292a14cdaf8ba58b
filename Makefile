# Two commands: `make run` (demo city on SQLite at http://127.0.0.1:5000) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export FLASK_APP := wsgi
VENDOR := lms/static/vendor
MO := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))

.PHONY: run test test-sqlite test-pg bench bench-roster bench-heartbeat bench-certificates bench-batch bench-roster-job bench-api bench-compliance lint setup system-deps test-deps assets translations \
        extract-messages clean

# the demo city and the benchmarks: fixed, published encryption keys (lms/core/crypto.py)
# unless LMS_DATA_KEYS/LMS_LOOKUP_KEY are set
run bench bench-%: export LMS_DEMO_KEYS := 1
run: setup
	$(PY) -m flask db upgrade
	$(PY) -m flask lms demo
	@scripts/run.sh

test: setup test-deps lint test-sqlite test-pg

# The process runs in UTC, as on a container or a cloud machine, with the clock moved to the
# awkward hours (tests/conftest.py): 00:30 Beijing (still yesterday in UTC) on SQLite and
# 07:30 Beijing (the last half hour of UTC's yesterday) on PostgreSQL.
test-sqlite:
	@echo "== test suite on SQLite, 00:30 Beijing, process in UTC =="
	env -u DATABASE_URL TZ=UTC LMS_TEST_CLOCK=00:30 $(PY) -m pytest

test-pg:
	@echo "== test suite on PostgreSQL, 07:30 Beijing, process in UTC =="
	source scripts/pgtest.sh && pg_test_db && trap pg_test_db_drop EXIT && TZ=UTC LMS_TEST_CLOCK=07:30 $(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check lms tests

bench: setup bench-roster bench-roster-job bench-heartbeat bench-certificates bench-batch bench-api

bench-api: setup
	env -u DATABASE_URL $(PY) tests/bench/bench_api.py

# needs a generated province: DATABASE_URL=postgresql+psycopg://…/province (tests/bench/README.md)
bench-compliance: setup
	$(PY) tests/bench/bench_compliance.py

bench-certificates: setup
	env -u DATABASE_URL $(PY) tests/bench/bench_certificates.py

bench-roster: setup
	$(PY) tests/bench/bench_roster.py

# the roster import through the job path (file stored with the job, the task run on it) beside
# the openpyxl read-only read of the same file: SQLite in this process, then PostgreSQL on a
# real Celery worker (Redis database 10)
bench-roster-job: setup
	env -u DATABASE_URL $(PY) tests/bench/bench_roster.py --job eager
	source scripts/pgtest.sh && pg_test_db && trap pg_test_db_drop EXIT && $(PY) tests/bench/bench_roster.py --job worker

# the certificate batch of 1,000 as a job on real Celery workers (concurrency 1, then 2) while
# gunicorn serves ordinary pages; PostgreSQL, the city's setup (Redis database 10)
bench-batch: setup
	source scripts/pgtest.sh && pg_test_db && trap pg_test_db_drop EXIT && $(PY) tests/bench/bench_batch_job.py

bench-heartbeat: setup
	env -u DATABASE_URL $(PY) tests/bench/bench_heartbeat.py
	source scripts/pgtest.sh && pg_test_db && trap pg_test_db_drop EXIT && $(PY) tests/bench/bench_heartbeat.py

setup: system-deps $(VENV)/.installed assets translations

system-deps:
	@scripts/system-deps.sh run

test-deps: $(VENV)/.installed-test
	@scripts/system-deps.sh test

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $@

assets: $(VENDOR)/.stamp

$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/bootstrap $(VENDOR)/bootstrap-icons $(VENDOR)/echarts
	cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/js/bootstrap.bundle.min.js $(VENDOR)/bootstrap/
	cp -r node_modules/bootstrap-icons/font/bootstrap-icons.min.css node_modules/bootstrap-icons/font/fonts $(VENDOR)/bootstrap-icons/
	cp node_modules/echarts/dist/echarts.min.js $(VENDOR)/echarts/
	touch $@

translations: $(MO)

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(VENV)/bin/pybabel -q compile -d translations -l $* -i $< -o $@

extract-messages: $(VENV)/.installed
	$(VENV)/bin/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot .
	$(VENV)/bin/pybabel -q update -i translations/messages.pot -d translations --no-fuzzy-matching

clean:
	rm -rf $(VENV) node_modules $(VENDOR) translations/*/LC_MESSAGES/*.mo
