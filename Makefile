# treasury-lakehouse — `make run` and `make test` are all a new user needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run demo test test-lakes lint typecheck unit bench spark-cluster spark-cluster-stop clean \
	dags-bundle dags-publish \
	compose-build compose-up compose-down compose-test report-screenshot

setup: $(STAMP)  ## create .venv and install the package with every extra (pinned)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[all]'
	touch $(STAMP)

run: setup  ## ingest, transform and load from the live Fiscal Data API into ./data
	$(BIN)/treasury run

demo: setup  ## the whole pipeline offline against the fake API, into ./data-demo
	$(BIN)/treasury demo

lint: setup
	$(BIN)/ruff check src tests dags bench
	$(BIN)/ruff format --check src tests dags bench

typecheck: setup
	$(BIN)/mypy

test: lint typecheck  ## lint, type-check and run the whole suite (PostgreSQL, Spark, Airflow included)
	$(BIN)/python -m pytest

LAKE_KIND ?= s3
test-lakes: setup  ## the lake tests (not Spark) again with every lake in the local S3 server's bucket (LAKE_KIND=gs: GCS)
	TREASURY_TEST_LAKE=$(LAKE_KIND) $(BIN)/python -m pytest -m "not spark and not folder_lake" \
		$$(grep -l make_settings tests/integration/test_*.py | grep -v crash)

unit: setup  ## the fast tests only
	$(BIN)/python -m pytest -m "not postgres and not spark and not airflow and not chromium and not slow"

bench: setup  ## speed and memory benchmarks (writes bench/results/)
	$(BIN)/python -m bench

# docs/report.png: `treasury demo` on the real records (the fake API serving RECORDS, every
# dataset), `treasury report`, then the page in headless Chromium (Debian's chromium).
RECORDS ?= ../shared/fiscaldata
SCREENSHOT_HOME ?= data-report-screenshot
report-screenshot: setup  ## regenerate docs/report.png from the real records (RECORDS=../shared/fiscaldata)
	rm -rf $(SCREENSHOT_HOME)
	$(BIN)/treasury demo --records $(RECORDS) --home $(SCREENSHOT_HOME)
	$(BIN)/treasury report --home $(SCREENSHOT_HOME)
	$(BIN)/python -m treasury_lakehouse.testing screenshot $(SCREENSHOT_HOME)/report/index.html \
		--out docs/report.png

spark-cluster: setup  ## a standalone Spark master and one worker on 127.0.0.1:7077
	$(BIN)/python -m treasury_lakehouse.engines.spark_cluster start

spark-cluster-stop: setup
	$(BIN)/python -m treasury_lakehouse.engines.spark_cluster stop

# For MWAA or Cloud Composer (docs/airflow.md): dags/ and a requirements.txt pinned from
# constraints.txt (extras: postgres; add EXTRAS="postgres lineage" for more)
EXTRAS ?= postgres
dags-bundle: setup  ## the DAG files and a pinned requirements.txt in dist/dags-bundle/
	$(BIN)/python -m treasury_lakehouse.orchestration.bundle --out dist/dags-bundle \
		$(foreach extra,$(EXTRAS),--extra $(extra))

# DAGS_BUNDLE_URI: the bucket folder the managed Airflow reads (s3://bucket/prefix or gs://...);
# credentials from the provider's standard chain (docs/airflow.md)
dags-publish: dags-bundle  ## upload dist/dags-bundle/ to DAGS_BUNDLE_URI
	@test -n "$(DAGS_BUNDLE_URI)" || { echo "Error: set DAGS_BUNDLE_URI=s3://bucket/prefix or gs://bucket/prefix" >&2; exit 1; }
	$(BIN)/python -m treasury_lakehouse.orchestration.bundle publish "$(DAGS_BUNDLE_URI)" \
		--bundle dist/dags-bundle

# The platform in containers (docs/deploy.md): PostgreSQL, Airflow 3 and a Spark cluster, with the
# host-networking override (compose.host.yaml) and the demo profile's fake API. Needs Docker.
compose-build:  ## build the stack's image
	docker/compose-stack build

compose-up:  ## the stack with the demo profile and host networking; waits until healthy
	docker/compose-stack up

compose-down:  ## stop the stack and remove its volumes
	docker/compose-stack down

compose-test:  ## build, come up, run treasury_medallion on the Spark cluster, check gold, come down
	docker/compose-stack test

clean:
	rm -rf data-demo data-report-screenshot .pytest_cache .mypy_cache .ruff_cache
