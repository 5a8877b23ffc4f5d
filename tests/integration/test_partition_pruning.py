"""Why the PostgreSQL warehouse's tables stay whole (issue 15, part 4), checked on a small copy.

The fact range-partitioned by year on ``date_key`` (the layout ``bench/partitioning.py``
measures) prunes partitions only when a query filters ``date_key`` itself: the plan of the
fiscal-year totals written with a ``date_key`` range reads the two calendar years a fiscal year
spans. The workload's questions (``docs/queries.sql``) filter through ``dim_date`` or on
``record_date``, so each of them reads every partition: what the benchmark shows as no gain. The
tests read ``EXPLAIN (FORMAT JSON)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from bench.partitioning import (
    YEARS,
    dimensions_sql,
    explain,
    fact_questions,
    fact_sql,
    key_range_question,
    partitions_read,
)
from test_postgres_warehouse import fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with fresh_database() as dsn:
        with psycopg.connect(dsn, autocommit=True) as con:
            for statement in dimensions_sql(securities=2):
                con.execute(statement)
            for layout in ("whole", "part"):
                for statement in fact_sql(layout):
                    con.execute(statement)
                con.execute(
                    f"INSERT INTO {layout}.fact_public_debt_transactions "
                    "SELECT * FROM public.staged"
                )
                con.execute(f"ANALYZE {layout}.fact_public_debt_transactions")
        yield dsn


def _read(dsn: str, layout: str, text: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"SET search_path = {layout}, public")
        return partitions_read(explain(con, text))


def test_a_date_key_range_reads_only_the_years_it_spans(database: str) -> None:
    assert _read(database, "part", key_range_question()) == 2  # fiscal 2016: 2015 and 2016
    assert _read(database, "whole", key_range_question()) == 1
    one_year = "SELECT COUNT(*) FROM fact_public_debt_transactions WHERE date_key / 10000 = 2016"
    # an expression over the key is not a range: nothing is pruned
    assert _read(database, "part", one_year) == len(YEARS)


def test_every_question_of_the_workload_reads_every_partition(database: str) -> None:
    questions = fact_questions()
    assert len(questions) >= 5
    for name, text in questions.items():
        if name == "fiscal_year_totals_by_date_key_range":
            continue
        assert _read(database, "part", text) == len(YEARS), name


def test_both_layouts_give_the_same_answers(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as con:
        for text in fact_questions().values():
            answers = []
            for layout in ("whole", "part"):
                con.execute(f"SET search_path = {layout}, public")
                answers.append(con.execute(text).fetchall())
            assert answers[0] == answers[1] and answers[0], text
