"""The ``treasury_medallion`` DAG: built by the package, so this file holds no logic and no I/O.

Deploy it by pointing Airflow's ``dags_folder`` at this folder (or copying this file) in an
environment where ``treasury-lakehouse[airflow]`` is installed; see docs/airflow.md.
"""

from treasury_lakehouse.orchestration.airflow import build_dag

dag = build_dag()
