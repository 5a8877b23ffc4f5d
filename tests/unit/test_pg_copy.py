"""The binary COPY path: every column type of the warehouse has the Arrow type PostgreSQL's binary
COPY reads into it (a batch is cast to it before the ADBC driver sends it)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.errors import WarehouseError
from treasury_lakehouse.models.registry import GOLD_MODELS, Column
from treasury_lakehouse.warehouse.base import WarehouseTable
from treasury_lakehouse.warehouse.pg_copy import arrow_schema
from treasury_lakehouse.warehouse.star import STAR_TABLES


def test_every_warehouse_column_type_maps_to_an_arrow_type() -> None:
    described = [(m.name, m.columns) for m in GOLD_MODELS]
    described += [(s.name, s.columns) for s in STAR_TABLES]
    for dataset in DATASETS.values():
        columns = tuple(Column(n, dataset.silver_type(n), "") for n in dataset.columns)
        described.append((dataset.name, columns))
    for name, columns in described:
        schema = arrow_schema(WarehouseTable(name, "", columns, ()))
        assert schema.names == [c.name for c in columns], name


def test_decimals_keep_their_scale_and_unknown_types_fail_in_one_line() -> None:
    table = WarehouseTable("t", "", (Column("a", "DECIMAL(20, 2)", ""),), ())
    assert arrow_schema(table).field("a").type == pa.decimal128(20, 2)
    with pytest.raises(WarehouseError, match="no Arrow type for the column type 'BLOB'"):
        arrow_schema(WarehouseTable("t", "", (Column("b", "BLOB", ""),), ()))
