"""Column lineage of a gold table, derived from its SQL model with sqlglot.

Each output column maps to the silver columns it reads, through the model's CTEs; filters and
grouping columns (e.g. ``transaction_type`` in a ``CASE``) count as sources, as sqlglot's
:func:`sqlglot.lineage.lineage` reports them. A model sqlglot cannot follow yields no lineage for
that column (logged), never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from treasury_lakehouse.lineage.model import ColumnLineage, LineageDataset, SourceColumn
from treasury_lakehouse.models.registry import GoldModel

log = logging.getLogger(__name__)


def gold_column_lineage(model: GoldModel, sources: Mapping[str, LineageDataset]) -> ColumnLineage:
    """``model``'s output columns and the source columns each derives from; ``sources`` names
    the dataset of each table the SQL reads (``silver_<dataset>``)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.lineage import lineage

    from treasury_lakehouse.lineage.datasets import silver_fields

    schema = {table: dict(silver_fields(table.removeprefix("silver_"))) for table in model.sources}
    try:
        nodes = lineage(None, sqlglot.parse_one(model.sql, read="duckdb"), schema, dialect="duckdb")
    except SqlglotError as error:
        log.warning("no column lineage for %s: %s", model.name, error)
        return ()
    if not isinstance(nodes, dict):
        nodes = {nodes.name: nodes}
    result = []
    for column in model.column_names:
        node = nodes.get(column)
        if node is None:
            continue
        found = set()
        for leaf in node.walk():
            if leaf.downstream or not isinstance(leaf.source, exp.Table):
                continue
            source = sources.get(leaf.source.name)
            if source is not None:
                found.add(SourceColumn(source.namespace, source.name, leaf.name.split(".")[-1]))
        result.append((column, tuple(sorted(found, key=lambda s: (s.name, s.column)))))
    return tuple(result)
