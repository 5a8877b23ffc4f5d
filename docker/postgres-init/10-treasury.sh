#!/bin/sh
# First start of the stack's PostgreSQL (the postgres image runs /docker-entrypoint-initdb.d/*.sh
# once, on an empty data volume): the `airflow` database for Airflow's metadata, the `treasury`
# warehouse owned by the `treasury` login the DAG loads with, and the read-only `treasury_reader`
# role (the loader grants it SELECT on every published table; grant it to analysts' logins).
# UTF8 whatever the server's default encoding (psycopg 3 returns bytes from an SQL_ASCII database).
set -eu
: "${AIRFLOW_DB_PASSWORD:?}" "${TREASURY_DB_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v airflow_password="$AIRFLOW_DB_PASSWORD" -v treasury_password="$TREASURY_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE ROLE treasury LOGIN PASSWORD :'treasury_password';
CREATE DATABASE treasury OWNER treasury ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE ROLE treasury_reader NOLOGIN;
GRANT CONNECT ON DATABASE treasury TO treasury_reader;
REVOKE ALL ON DATABASE treasury FROM PUBLIC;
GRANT CONNECT ON DATABASE treasury TO treasury;
SQL
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname treasury <<'SQL'
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO treasury;
GRANT USAGE ON SCHEMA public TO treasury_reader;
SQL
