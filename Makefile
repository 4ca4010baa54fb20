# Two commands matter: `make run` and `make test`. Both set up .venv first (only if needed).
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Where the pipeline reads extracts and writes the warehouse (see docs/configuration.md).
export FUNNEL_LANDING_DIR ?= data/landing
export FUNNEL_WAREHOUSE ?= warehouse/themodel.duckdb
# Runs of `make run` are recorded here, so `make ui` shows them; dagster.yaml serialises warehouse writers.
export DAGSTER_HOME ?= $(CURDIR)/dagster_home

# The benchmark's scale (README.md, "Benchmark"); LANDING=folder reads those extracts instead of demo ones.
LEADS ?= 1000000
MONTHS ?= 24
SEED ?= 11

.PHONY: setup chromium run demo test lint ui serve bench bench-ingest export docs check-source clean java setup-spark test-spark

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

setup: $(STAMP)

run: setup
	$(BIN)/python -m pipeline.run

# The demo extracts of the example company, into FUNNEL_LANDING_DIR (make run writes them only into an empty
# default data/landing); only into a new or empty folder unless FORCE=1.
demo: setup
	$(BIN)/python -m demo.example $(FUNNEL_LANDING_DIR) $(if $(filter 1 yes true,$(FORCE)),--force)

# The report test renders report/index.html in Debian's headless Chromium.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# ruff (lint and format) for Python, sqlfluff (dbt templater, DuckDB dialect; transforms/.sqlfluff) for SQL, in a
# process per core (--processes 0): alone it took 100 s of `make test`, the files one after another.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd transforms && FUNNEL_WAREHOUSE=$(abspath $(FUNNEL_WAREHOUSE)) ../$(BIN)/sqlfluff lint models macros tests --nocolor --processes 0

# pytest exits 5 when it collects no tests; that is not a failure of the suite. TEST_WORKERS processes run the
# test files side by side (pytest-xdist), each file whole in one process so its module fixtures are built once,
# the longest files first (tests/conftest.py, LONGEST_FIRST); TEST_WORKERS=0 runs them in this process, one after
# another. The 30 slowest tests and fixtures are listed at the end. TEST_MARKERS selects by marker: by default all
# but the Spark comparison, which needs the spark extra and Java; CI (.ci/run) installs those and runs every test in
# one session (TEST_MARKERS=, empty: all of them).
TEST_WORKERS ?= 2
TEST_MARKERS ?= not spark
test: setup chromium lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=30 -m '$(TEST_MARKERS)'; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# Spark (docs/scale.md): Java 17 from Debian, as for chromium, and the spark extra (dbt-spark, pyspark) in .venv.
# test-spark builds the dbt models on Spark in local mode and compares every mart with DuckDB's (tests/spark);
# CI runs it with the other tests (`make setup-spark test TEST_MARKERS=`, .ci/run).
java:
	@command -v java >/dev/null || (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null)

SPARK_STAMP := $(VENV)/.spark-stamp
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,spark]'
	touch $@

setup-spark: $(SPARK_STAMP) java

test-spark: setup-spark
	$(BIN)/python -m pytest -m spark tests/spark

ui: setup
	$(BIN)/python -m pipeline.transforms.project --prepare
	$(BIN)/dagster dev -w workspace.yaml

# The production entry point (docs/operations.md): the Dagster webserver and daemon, on 127.0.0.1:3000 unless
# FUNNEL_SERVE_HOST / FUNNEL_SERVE_PORT say otherwise; sensors and the schedule start runs by themselves.
serve: setup
	$(BIN)/python -m pipeline.transforms.project --prepare
	$(BIN)/python -m pipeline.serve

# The product end to end (python -m pipeline.run, with and without its checks) against a plain DuckDB script of
# the same job, side by side: seconds per phase, ratios, peak memory, warehouse size, the targets of issue #13.
bench: setup
	$(BIN)/python bench/run_bench.py --leads $(LEADS) --months $(MONTHS) --seed $(SEED) $(if $(LANDING),--landing '$(LANDING)')

# Only the ingest comparison: canonical CSV vs a Japanese Excel export through a mapping file (docs/sources.md).
bench-ingest: setup
	$(BIN)/python bench/run_bench.py --leads $(LEADS) --months $(MONTHS) --seed $(SEED) $(if $(LANDING),--landing '$(LANDING)') --ingest-only

# dbt docs (every model and column described) for the warehouse of the last run, on http://127.0.0.1:8080.
docs: setup
	cd transforms && FUNNEL_WAREHOUSE=$(abspath $(FUNNEL_WAREHOUSE)) ../$(BIN)/dbt docs generate \
		&& ../$(BIN)/dbt docs serve --port 8080 --no-browser

# The published marts as CSV (UTF-8 with BOM, for Excel) in warehouse/export/.
export: setup
	$(BIN)/python -m pipeline.serving.export

# What a mapping file would load, before anything is written (docs/sources.md): make check-source MAPPING=my.yml
check-source: setup
	@test -n "$(MAPPING)" || (echo "usage: make check-source MAPPING=path/to/mapping.yml" && exit 2)
	$(BIN)/python -m pipeline.ingest.sources.check $(MAPPING)

clean:
	rm -rf warehouse/*.duckdb warehouse/*.wal transforms/target transforms/logs bench/results


# Personal data and state (docs/operations.md). Erase a person on request: make erase EMAIL=address [LEAD_ID=id]
.PHONY: erase backup restore
erase: setup
	@test -n "$(EMAIL)$(LEAD_ID)" || (echo "usage: make erase EMAIL=address [LEAD_ID=ma-lead-id]" && exit 2)
	$(BIN)/python -m pipeline.privacy.erase $(if $(EMAIL),--email '$(EMAIL)') $(if $(LEAD_ID),--lead-id '$(LEAD_ID)')

# The warehouse folder and Dagster's storage into a new folder, and back: make backup DIR=… / make restore DIR=… [FORCE=1]
backup: setup
	@test -n "$(DIR)" || (echo "usage: make backup DIR=new/backup/folder" && exit 2)
	$(BIN)/python -m pipeline.warehouse.backup create '$(DIR)'

restore: setup
	@test -n "$(DIR)" || (echo "usage: make restore DIR=backup/folder [FORCE=1]" && exit 2)
	$(BIN)/python -m pipeline.warehouse.backup restore '$(DIR)' $(if $(filter 1 yes true,$(FORCE)),--force)

# The alerts of the alert ledger not delivered yet: pending, being sent, given up (docs/operations.md#alerts).
.PHONY: alerts
alerts: setup
	$(BIN)/python -m pipeline.alerts.ledger
