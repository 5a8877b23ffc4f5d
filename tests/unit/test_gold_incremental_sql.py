"""The incremental gold SQL and the registry's declarations behind it (no engine runs here).

That the SQL gives a full recompute's rows on each engine is
tests/integration/test_incremental_gold.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlglot
from sqlglot import expressions as exp

from treasury_lakehouse.engines.spark import to_spark_sql
from treasury_lakehouse.models.incremental import (
    PREVIOUS_GOLD,
    affected_periods,
    definition_fingerprint,
    incremental_gold_sql,
    partitions_needed,
)
from treasury_lakehouse.models.registry import GOLD_MODELS, GoldModel, get_gold


def test_a_fiscal_year_draws_from_two_calendar_years() -> None:
    security = get_gold("gold_security_totals")
    # a change in 2021 moves fiscal year 2021 (Jan-Sep 2021) and 2022 (Oct-Dec 2021)
    assert affected_periods(security, {2021}) == {2021, 2022}
    assert partitions_needed(security, {2021}) == {2020, 2021, 2022}
    assert partitions_needed(security, {2021, 2022}) == {2020, 2021, 2022, 2023}


@pytest.mark.parametrize(
    "name",
    [
        "gold_daily_totals",
        "gold_monthly_totals",
        "gold_daily_cash_balance",
        "gold_daily_debt_limit",
        "gold_monthly_tax_refunds",
    ],
)
def test_daily_and_monthly_rows_draw_from_their_own_year(name: str) -> None:
    model = get_gold(name)
    assert affected_periods(model, {2019, 2024}) == partitions_needed(model, {2019, 2024})
    assert partitions_needed(model, {2019, 2024}) == {2019, 2024}


def test_every_running_sum_sums_a_column_of_its_table() -> None:
    for model in GOLD_MODELS:
        for column, summed in model.running_sums:
            assert {column, summed} <= set(model.column_names), model.name
    growth = get_gold("gold_monthly_debt_growth")
    assert growth.running_sums == (("cumulative_net_change_usd_mil", "net_change_usd_mil"),)


@pytest.mark.parametrize("model", GOLD_MODELS, ids=lambda m: m.name)
def test_the_incremental_select_reads_the_previous_version_and_keeps_the_columns(
    model: GoldModel,
) -> None:
    sql = incremental_gold_sql(model, {2021})
    for dialect_sql, dialect in ((sql, "duckdb"), (to_spark_sql(sql), "spark")):
        tree = sqlglot.parse_one(dialect_sql, read=dialect)
        assert isinstance(tree, exp.Query)
        assert tree.named_selects == model.column_names
        tables = {t.name for t in tree.find_all(exp.Table)}
        assert PREVIOUS_GOLD in tables
        assert "DOUBLE" not in dialect_sql.upper()


def test_the_running_sum_is_recomputed_over_the_merged_rows_in_key_order() -> None:
    sql = incremental_gold_sql(get_gold("gold_monthly_debt_growth"), {2021})
    assert (
        'CAST(SUM("net_change_usd_mil") OVER (ORDER BY "year", "month" ROWS BETWEEN UNBOUNDED '
        'PRECEDING AND CURRENT ROW) AS BIGINT) AS "cumulative_net_change_usd_mil"\nFROM gold_merged'
    ) in sql
    assert "WHERE (year) IN (2021)" in sql and "WHERE NOT ((year) IN (2021))" in sql


def test_no_changed_year_keeps_every_previous_row() -> None:
    sql = incremental_gold_sql(get_gold("gold_daily_totals"), set())
    assert "WHERE FALSE" in sql and "WHERE NOT (FALSE)" in sql


def test_the_fingerprint_follows_what_decides_the_rows() -> None:
    daily = get_gold("gold_daily_totals")
    fingerprint = definition_fingerprint(daily)
    assert fingerprint == definition_fingerprint(get_gold("gold_daily_totals"))
    assert len({definition_fingerprint(m) for m in GOLD_MODELS}) == len(GOLD_MODELS)
    changed_sql = replace(daily)
    changed_sql.__dict__["sql"] = daily.sql + "\nWHERE issues > 0"  # the cached SQL text
    assert definition_fingerprint(changed_sql) != fingerprint
    described = replace(daily, description="another description")
    assert definition_fingerprint(described) == fingerprint  # words do not change rows
