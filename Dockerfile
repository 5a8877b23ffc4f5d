# One image for every role of the stack: Airflow 3 (api-server, scheduler, dag-processor,
# triggerer), the Spark master and workers, and the fake Fiscal Data API of the demo profile.
# Build: `make compose-build` (or `docker compose build`). See docs/deploy.md.
FROM python:3.11-slim-bookworm

# Optional package-index settings for pip during the build, passed from the environment
# (`docker compose build` forwards PIP_INDEX_URL, PIP_EXTRA_INDEX_URL and PIP_TRUSTED_HOST).
# Empty by default: pip's own default index. They are build-time only, not set in the image.
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_TRUSTED_HOST=

# Java 17 for Spark; procps because Spark's scripts call `ps`. The man directory works around
# the JRE's post-install script on slim images.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless procps >/dev/null \
 && rm -rf /var/lib/apt/lists/*

# Non-root user (uid 50000, group 0 as in the official Airflow image) and the folders the stack
# mounts volumes on: a fresh named volume takes the owner of the folder it is mounted on.
RUN useradd --uid 50000 --gid 0 --create-home --home-dir /home/treasury --shell /bin/bash treasury \
 && mkdir -p /opt/treasury /opt/airflow/dags /opt/airflow/auth /opt/airflow/logs /lakehouse \
 && chown -R treasury:0 /opt/airflow /lakehouse \
 && chmod -R g+rwX /opt/airflow /lakehouse

WORKDIR /opt/treasury

# Dependencies first (cached while only the package's code and docs change): install the project
# with its extras from a placeholder package (and README), pinned by constraints.txt, then drop it.
COPY pyproject.toml constraints.txt ./
RUN mkdir -p src/treasury_lakehouse && touch src/treasury_lakehouse/__init__.py README.md \
 && PIP_INDEX_URL="${PIP_INDEX_URL}" PIP_EXTRA_INDEX_URL="${PIP_EXTRA_INDEX_URL}" \
    PIP_TRUSTED_HOST="${PIP_TRUSTED_HOST}" \
    pip install --no-cache-dir -q -c constraints.txt '.[airflow,spark,postgres,report,lineage]' \
 && pip uninstall -y -q treasury-lakehouse \
 && rm -rf src build *.egg-info README.md

COPY README.md ./
COPY src ./src
RUN PIP_INDEX_URL="${PIP_INDEX_URL}" PIP_EXTRA_INDEX_URL="${PIP_EXTRA_INDEX_URL}" \
    PIP_TRUSTED_HOST="${PIP_TRUSTED_HOST}" \
    pip install --no-cache-dir -q --no-deps -c constraints.txt . \
 && rm -rf build src/*.egg-info \
 && python -c "import treasury_lakehouse.orchestration.airflow, pyspark, psycopg"

COPY dags /opt/airflow/dags
COPY docker/bin /opt/treasury/bin

ENV PATH=/opt/treasury/bin:$PATH \
    SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark \
    AIRFLOW_HOME=/opt/airflow \
    TREASURY_HOME=/lakehouse \
    PYTHONUNBUFFERED=1

USER 50000
WORKDIR /opt/airflow
CMD ["treasury", "--help"]
