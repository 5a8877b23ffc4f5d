"""Incremental gold: recompute only the periods whose record years changed (pure SQL, no I/O).

Silver is partitioned by record year. When the silver of record years ``A`` changed since a gold
version was built, a gold row can differ only if the years it draws from (its model's
:class:`~treasury_lakehouse.models.registry.YearSpan`) meet ``A``. Such a row belongs to an
*affected period*; all of its source years are the *partitions needed*. The incremental SELECT
runs the model over those partitions alone, keeps its rows of the affected periods and the
previous version's rows of every other period, then recomputes the running sums over the merged
rows in primary-key order. The result equals a full recompute row for row.

The SELECT reads the silver relations (holding at least the partitions needed) and
:data:`PREVIOUS_GOLD` (the previous version of the table); it is DuckDB dialect like the models,
and Spark runs it transpiled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from treasury_lakehouse.models.registry import GoldModel
from treasury_lakehouse.sql_quote import quote_ident as _q

#: the relation holding the previous gold version of the table being built
PREVIOUS_GOLD = "previous_gold"
#: bump when the way gold is written changes without any model changing
GOLD_FORMAT = 1


def affected_periods(model: GoldModel, years: Iterable[int]) -> frozenset[int]:
    """The periods (values of ``model.years.period``) whose rows draw from one of ``years``."""
    span = model.years
    return frozenset(p for y in years for p in range(y - span.last, y - span.first + 1))


def partitions_needed(model: GoldModel, years: Iterable[int]) -> frozenset[int]:
    """The record years to read to recompute every affected period whole."""
    span = model.years
    return frozenset(
        y for p in affected_periods(model, years) for y in range(p + span.first, p + span.last + 1)
    )


def _in_periods(model: GoldModel, periods: frozenset[int]) -> str:
    if not periods:
        return "FALSE"
    listed = ", ".join(str(p) for p in sorted(periods))
    return f"({model.years.period}) IN ({listed})"


def _running_sum(model: GoldModel, column: str, summed: str) -> str:
    sql_type = next(c.sql_type for c in model.columns if c.name == column)
    order = ", ".join(_q(k) for k in model.primary_key)
    return (
        f"CAST(SUM({_q(summed)}) OVER (ORDER BY {order} "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {sql_type}) AS {_q(column)}"
    )


def incremental_gold_sql(model: GoldModel, years: Iterable[int]) -> str:
    """The SELECT of ``model`` after the silver of ``years`` changed (see the module doc)."""
    affected = _in_periods(model, affected_periods(model, years))
    sums = dict(model.running_sums)
    columns = ", ".join(_q(c) for c in model.column_names)
    final = ",\n  ".join(
        _running_sum(model, c, sums[c]) if c in sums else _q(c) for c in model.column_names
    )
    return f"""-- {model.name}, incremental: the affected periods anew, the others as they were
WITH gold_fresh AS (
  SELECT {columns} FROM ({model.sql}) AS model
  WHERE {affected}
),
gold_kept AS (
  SELECT {columns} FROM {PREVIOUS_GOLD}
  WHERE NOT ({affected})
),
gold_merged AS (
  SELECT {columns} FROM gold_kept
  UNION ALL
  SELECT {columns} FROM gold_fresh
)
SELECT
  {final}
FROM gold_merged
"""


def definition_fingerprint(model: GoldModel) -> str:
    """A digest of everything that decides a model's rows: a version built under another
    definition cannot be the base of an incremental build."""
    definition = {
        "format": GOLD_FORMAT,
        "sql": model.sql,
        "sources": model.sources,
        "primary_key": model.primary_key,
        "columns": [(c.name, c.sql_type) for c in model.columns],
        "years": [model.years.period, model.years.first, model.years.last],
        "running_sums": model.running_sums,
    }
    encoded = json.dumps(definition, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]
