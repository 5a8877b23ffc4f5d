"""Property-based tests (Hypothesis) of silver typing, on the real engines.

Each generated row of a probe dataset carries one generated value in the column of one API type
(CURRENCY0, CURRENCY, NUMBER, PERCENTAGE, INTEGER, YEAR, QUARTER, MONTH, DAY, DATE, STRING) and
``"null"`` elsewhere; keys are distinct, so no row is a version of another. Properties:

- every row lands in exactly one of silver or quarantine, and the engine raises nothing;
- a value the API contract accepts round-trips (``int(text) == value``, ``Decimal``,
  ``date.fromisoformat``); ``"null"``, ``""`` and spaces become NULL; anything else is
  quarantined with a reason naming the column and the value.

The oracle below is plain Python written from the API's contract, not from the model's patterns.
Only the space character counts as padding (as the API pads); a tab, a line break or a Unicode
space around a number is not a number.

Many values go into one engine call per example, so DuckDB checks over 10,000 values per run
(the exact figure is printed and asserted); Spark, slower per call, checks a smaller sample.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treasury_lakehouse.catalog import ApiType, Dataset
from treasury_lakehouse.config import Settings
from treasury_lakehouse.engines import open_engine
from treasury_lakehouse.engines.base import QUARANTINE_FILE, BronzeBatch, Engine, SilverCounts

DAY = "2024-01-02"
TYPED: dict[str, ApiType] = {
    "v_currency0": "CURRENCY0",
    "v_currency": "CURRENCY",
    "v_number": "NUMBER",
    "v_percentage": "PERCENTAGE",
    "v_integer": "INTEGER",
    "v_year": "YEAR",
    "v_quarter": "QUARTER",
    "v_month": "MONTH",
    "v_day": "DAY",
    "v_date": "DATE",
    "v_string": "STRING",
}
PROBE = Dataset(
    name="typing_probe",
    endpoint="v1/probe",
    title="Silver typing probe",
    natural_key=("record_date", "row_key"),
    date_column="record_date",
    columns={"record_date": "DATE", "row_key": "STRING", **TYPED},
    labels={},
)
DUCKDB_EXAMPLES, DUCKDB_VALUES_PER_EXAMPLE = 60, 200  # 12,000 values
SPARK_EXAMPLES, SPARK_VALUES_PER_EXAMPLE = 4, 150  # 600 values


# --- the oracle: the API's contract in plain Python -----------------------------------------


def cleaned(text: str | None) -> str | None:
    """Spaces around a value are padding; ``"null"`` and the empty string are no value."""
    if text is None:
        return None
    value = text.strip(" ")
    return None if value in ("", "null") else value


def _digits(text: str, most: int) -> bool:
    return text.isascii() and text.isdigit() and 1 <= len(text) <= most


def _signed(text: str, most: int) -> bool:
    return _digits(text.removeprefix("-"), most)


def _decimal(text: str, whole: int, places: int) -> bool:
    integer, dot, fraction = text.partition(".")
    return _signed(integer, whole) and (not dot or _digits(fraction, places))


def _iso_date(text: str) -> date | None:
    parts = text.split("-")
    if [len(p) for p in parts] != [4, 2, 2] or not all(_digits(p, 4) for p in parts):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def expected_value(api_type: ApiType, text: str) -> tuple[bool, Any]:
    """(accepted, typed value) of a cleaned, non-NULL ``text`` under the API's contract."""
    if api_type == "STRING":
        return True, text
    if api_type == "DATE":
        day = _iso_date(text)
        return day is not None, day
    ok = {
        "CURRENCY0": lambda t: _signed(t, 18),
        "CURRENCY": lambda t: _decimal(t, 18, 2),
        "NUMBER": lambda t: _decimal(t, 30, 6),
        "PERCENTAGE": lambda t: _decimal(t, 30, 6),
        "INTEGER": lambda t: _signed(t, 9),
        "YEAR": lambda t: _digits(t, 4) and len(t) == 4,
        "QUARTER": lambda t: _digits(t, 1) and 1 <= int(t) <= 4,
        "MONTH": lambda t: _digits(t, 2) and 1 <= int(t) <= 12,
        "DAY": lambda t: _digits(t, 2) and 1 <= int(t) <= 31,
    }[api_type](text)
    if not ok:
        return False, None
    return True, Decimal(text) if api_type in ("CURRENCY", "NUMBER", "PERCENTAGE") else int(text)


# --- the generators ---------------------------------------------------------------------------

PADDING = st.text(alphabet=" \t\n\r\u00a0\u2003\u3000", max_size=3)
UNICODE_DIGITS = st.text(alphabet="0123456789٠١٢٣٤٥٦٧٨٩０１２３۴-.", min_size=1, max_size=8)


def _numbers(whole: int, places: int) -> st.SearchStrategy[str]:
    big = 10 ** (whole + 2)
    return st.one_of(
        st.integers(-big, big).map(str),
        st.integers().map(str),  # any size
        st.decimals(allow_nan=False, allow_infinity=False, places=places).map(str),
        st.decimals(places=places + 1).map(str),  # too many places, NaN, Infinity, exponents
        st.floats().map(str),  # '1e-05', 'inf', 'nan'
        st.from_regex(rf"\A-?[0-9]{{1,{whole + 1}}}(\.[0-9]{{1,{places + 1}}})?\Z"),
    )


def _small(low: int, high: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(low - 3, high + 3).map(str),
        st.integers(low, high).map(lambda n: f"{n:02d}"),
        st.from_regex(r"\A[0-9]{1,5}\Z"),
    )


TYPE_VALUES: dict[ApiType, st.SearchStrategy[str]] = {
    "CURRENCY0": _numbers(18, 0),
    "CURRENCY": _numbers(18, 2),
    "NUMBER": _numbers(30, 6),
    "PERCENTAGE": _numbers(30, 6),
    "INTEGER": _numbers(9, 0),
    "YEAR": _small(0, 9999),
    "QUARTER": _small(1, 4),
    "MONTH": _small(1, 12),
    "DAY": _small(1, 31),
    "DATE": st.one_of(
        st.dates().map(date.isoformat),
        st.sampled_from(["0000-01-01", "0001-01-01", "9999-12-31", "2024-02-29", "2023-02-29"]),
        st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"),  # 2024-02-30, 0000-01-01, 2024-13-01
        st.dates().map(lambda d: d.strftime("%Y%m%d")),
        st.datetimes().map(lambda d: d.isoformat()),
    ),
    "STRING": st.text(max_size=12),
}


@st.composite
def _value(draw: st.DrawFn, api_type: ApiType) -> str | None:
    core = draw(
        st.one_of(
            TYPE_VALUES[api_type],
            st.text(max_size=10),  # any Unicode
            UNICODE_DIGITS,
            st.sampled_from(["null", "NULL", " null ", "", "   ", "\t", "-", ".", "1,000", "$1"]),
        )
    )
    if draw(st.booleans()):
        core = draw(PADDING) + core + draw(PADDING)
    return None if draw(st.integers(0, 40)) == 0 else core  # a field the API left out


COLUMN_VALUES = st.sampled_from(sorted(TYPED)).flatmap(
    lambda column: st.tuples(st.just(column), _value(TYPED[column]))
)


# --- running one example ------------------------------------------------------------------


def write_probe_page(path: Path, cells: list[tuple[str, str | None]]) -> BronzeBatch:
    """One bronze page: row ``i`` holds ``cells[i]``'s value in its column, "null" elsewhere."""
    rows = len(cells)
    columns: dict[str, pa.Array] = {
        "record_date": pa.array([DAY] * rows, pa.string()),
        "row_key": pa.array([f"row-{i:05d}" for i in range(rows)], pa.string()),
    }
    for name in TYPED:
        columns[name] = pa.array(
            [value if column == name else "null" for column, value in cells], pa.string()
        )
    columns["ingestion_timestamp"] = pa.array([0] * rows, pa.timestamp("us", "UTC"))
    columns["batch_id"] = pa.array(["probe"] * rows, pa.string())
    columns["page_number"] = pa.array([1] * rows, pa.int32())
    columns["row_index"] = pa.array(range(rows), pa.int32())
    pq.write_table(pa.table(columns), path)
    return BronzeBatch("probe", 1, (path,))


def check_typing(engine: Engine, cells: list[tuple[str, str | None]]) -> None:
    """Build silver of ``cells`` and check every row against the oracle."""
    with tempfile.TemporaryDirectory(prefix="typing-probe-") as scratch:
        base = Path(scratch)
        silver_dir, quarantine_dir = base / "silver", base / "quarantine"
        silver_dir.mkdir()
        quarantine_dir.mkdir()
        batch = write_probe_page(base / "page.parquet", cells)
        counts = engine.build_silver(PROBE, [batch], silver_dir, quarantine_dir)
        silver = {
            r["row_key"]: r
            for f in silver_dir.rglob("*.parquet")
            for r in pq.read_table(f, partitioning=None).to_pylist()
        }
        quarantine = {
            r["row_key"]: r for r in pq.read_table(quarantine_dir / QUARANTINE_FILE).to_pylist()
        }
    n = len(cells)
    assert counts == SilverCounts(PROBE.name, n, len(silver), 0, 0, len(quarantine))
    assert len(silver) + len(quarantine) == n and not silver.keys() & quarantine.keys()
    for i, (column, text) in enumerate(cells):
        key, api_type, value = f"row-{i:05d}", TYPED[column], cleaned(text)
        accepted, typed = (True, None) if value is None else expected_value(api_type, value)
        where = f"{api_type} {text!r}"
        if accepted:
            assert key in silver, f"{where} was quarantined: {quarantine.get(key)}"
            assert silver[key][column] == typed, f"{where} became {silver[key][column]!r}"
            assert type(silver[key][column]) is type(typed), where
        else:
            assert key in quarantine, f"{where} reached silver as {silver[key][column]!r}"
            assert quarantine[key]["quarantine_reason"] == f"{column}: not a {api_type}: {value}"
            assert quarantine[key][column] == text  # the raw value, as received


class ValueCount:
    """How many generated values one property test checked."""

    def __init__(self) -> None:
        self.values = 0


@pytest.fixture(scope="module")
def duckdb_engine() -> Iterator[Engine]:
    engine = open_engine(Settings(engine="duckdb"))
    yield engine
    engine.close()


def _run_property(engine: Engine, examples: int, per_example: int) -> int:
    counted = ValueCount()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(COLUMN_VALUES, min_size=per_example, max_size=per_example))
    def typing_holds(cells: list[tuple[str, str | None]]) -> None:
        check_typing(engine, cells)
        counted.values += len(cells)

    typing_holds()
    return counted.values


@pytest.mark.slow
def test_silver_typing_properties_on_duckdb(
    duckdb_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    values = _run_property(duckdb_engine, DUCKDB_EXAMPLES, DUCKDB_VALUES_PER_EXAMPLE)
    with capsys.disabled():
        print(f"\nsilver typing properties: {values:,} generated values checked on duckdb")
    assert values >= 10_000


@pytest.mark.spark
@pytest.mark.slow
def test_silver_typing_properties_on_spark(capsys: pytest.CaptureFixture[str]) -> None:
    engine = open_engine(Settings(engine="spark"))
    try:
        values = _run_property(engine, SPARK_EXAMPLES, SPARK_VALUES_PER_EXAMPLE)
    finally:
        engine.close()
    with capsys.disabled():
        print(f"\nsilver typing properties: {values:,} generated values checked on spark")
    assert values >= SPARK_EXAMPLES * SPARK_VALUES_PER_EXAMPLE


def test_the_oracle_agrees_with_known_values() -> None:
    """The oracle itself, on values whose fate the API's contract states."""
    assert expected_value("CURRENCY0", "-123") == (True, -123)
    assert expected_value("CURRENCY0", "1e3") == (False, None)
    assert expected_value("CURRENCY0", "١٢") == (False, None)  # Arabic-Indic digits
    assert expected_value("CURRENCY", "36218588123456.78") == (True, Decimal("36218588123456.78"))
    assert expected_value("CURRENCY", "1.234") == (False, None)
    assert expected_value("DATE", "2024-02-30") == (False, None)
    assert expected_value("DATE", "0000-01-01") == (False, None)
    assert expected_value("DATE", "20240102") == (False, None)
    assert expected_value("MONTH", "012") == (False, None)
    assert expected_value("MONTH", "09") == (True, 9)
    assert cleaned("  null ") is None and cleaned("   ") is None and cleaned("\t") == "\t"
