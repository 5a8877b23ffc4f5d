"""Orchestrators over the pipeline facade.

``orchestration.airflow`` builds the ``treasury_medallion`` DAG; it is the only module that imports
Airflow, and nothing here imports it on package import (install the ``[airflow]`` extra to use it).
"""
