"""What a lineage event says about a dataset, in plain data (no OpenLineage import).

The pipeline describes its steps' inputs and outputs with these; only
:mod:`~treasury_lakehouse.lineage.emitter` turns them into the client's classes, and only when
lineage is configured.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceColumn:
    """A column of an input dataset that a derived column reads."""

    namespace: str
    name: str
    column: str


@dataclass(frozen=True)
class Assertion:
    """One data-quality check over one table (the ``dataQualityAssertions`` facet)."""

    assertion: str
    success: bool
    severity: str
    description: str
    actual: str


#: (output column, the input columns it is derived from), in the output's column order
ColumnLineage = tuple[tuple[str, tuple[SourceColumn, ...]], ...]


@dataclass(frozen=True)
class LineageDataset:
    """A dataset by the OpenLineage naming conventions, with the facets this project reports."""

    namespace: str
    name: str
    #: (column, type) in table order: the ``schema`` facet
    fields: tuple[tuple[str, str], ...] = ()
    #: rows written (outputs only): the ``outputStatistics`` facet
    rows: int | None = None
    #: output column -> the input columns it is derived from: the ``columnLineage`` facet
    column_lineage: ColumnLineage = ()
    #: checks run over this dataset (inputs only): the ``dataQualityAssertions`` facet
    assertions: tuple[Assertion, ...] = ()
