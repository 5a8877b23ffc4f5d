"""The SQL half of a check: a SELECT over the check's table that keeps only the rows its
findings come from, so the table itself never goes through Python.

Each function here returns a :data:`~treasury_lakehouse.quality.spec.Narrow`: given the SELECT
of the check's source, a SELECT of the rows :attr:`Check.evaluate` needs to produce exactly the
findings it would produce over the whole table (the finding rows, or a per-value aggregate).
The findings' text is still built by ``evaluate`` from those few rows, so it is the same text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache

from treasury_lakehouse.calendar import dts_holidays
from treasury_lakehouse.quality.spec import Narrow
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit

#: a column :func:`rows_per_value` adds: how many source rows one aggregated row stands for
ROWS = "__rows"


def _select(columns: Sequence[str]) -> str:
    return ", ".join(_q(c) for c in dict.fromkeys(columns)) if columns else "*"


def null_rows(columns: Sequence[str], reads: Sequence[str] = ()) -> Narrow:
    """Rows where one of ``columns`` is NULL."""
    where = " OR ".join(f"{_q(c)} IS NULL" for c in columns)
    return lambda source: f"SELECT {_select(reads)} FROM ({source}) AS t WHERE {where}"


def duplicate_rows(
    key: Sequence[str], within: str | None = None, reads: Sequence[str] = ()
) -> Narrow:
    """Rows whose key (per value of ``within``) appears more than once; NULLs group together,
    as they do in a Python ``Counter``."""
    partition = ", ".join(_q(c) for c in ((within,) if within else ()) + tuple(key))
    return lambda source: (
        f"SELECT {_select(reads)} FROM ({source}) AS t "
        f"QUALIFY COUNT(*) OVER (PARTITION BY {partition}) > 1"
    )


def rows_outside(column: str, values: Sequence[str], reads: Sequence[str] = ()) -> Narrow:
    """Rows whose ``column`` is set and not one of ``values``."""
    listed = ", ".join(_lit(v) for v in values)
    return lambda source: (
        f"SELECT {_select(reads)} FROM ({source}) AS t "
        f"WHERE {_q(column)} IS NOT NULL AND {_q(column)} NOT IN ({listed})"
    )


def any_below_zero(columns: Sequence[str], reads: Sequence[str] = ()) -> Narrow:
    """Rows where one of ``columns`` is below zero."""
    where = " OR ".join(f"{_q(c)} < 0" for c in columns)
    return lambda source: f"SELECT {_select(reads)} FROM ({source}) AS t WHERE {where}"


def latest_value(column: str) -> Narrow:
    """The greatest value of ``column`` (one row; NULL when the table is empty)."""
    return lambda source: f"SELECT MAX({_q(column)}) AS {_q(column)} FROM ({source}) AS t"


#: a column :func:`present_spans` adds: the last business day of a run that starts on the row's day
THROUGH = "__through"


def present_spans(column: str) -> Narrow:
    """The days of ``column`` (a DATE) as runs of consecutive business days present: per run its
    first day and its last (as :data:`THROUGH`); a day the calendar has no statement on is a run
    of its own. A few rows stand for every day, whatever the history's length."""
    c = _q(column)
    return lambda source: (
        f"""
WITH p AS (SELECT DISTINCT {c} AS d FROM ({source}) AS t WHERE {c} IS NOT NULL),
bd AS (SELECT CAST(g.d AS DATE) AS d FROM (SELECT MIN(d) AS lo, MAX(d) AS hi FROM p) AS r,
       generate_series(r.lo, r.hi, INTERVAL 1 DAY) AS g(d)
       WHERE isodow(g.d) < 6 AND CAST(g.d AS DATE) NOT IN ({_holidays()})),
n AS (SELECT d, ROW_NUMBER() OVER (ORDER BY d) AS i FROM bd),
runs AS (SELECT p.d, n.i - ROW_NUMBER() OVER (ORDER BY p.d) AS island FROM p JOIN n USING (d))
SELECT MIN(d) AS {c}, MAX(d) AS {_q(THROUGH)} FROM runs GROUP BY island
UNION ALL
SELECT d, d FROM p ANTI JOIN bd USING (d)
"""
    )


def rows_per_value(column: str, bounds: Mapping[str | None, tuple[int, int]]) -> Narrow:
    """Per distinct date value of ``column``, its row count (as :data:`ROWS`), keeping only the
    values whose count falls outside what every layout era allows.

    Values are grouped as text. When one is not a canonical ``YYYY-MM-DD`` date (Python may read
    two spellings as one day and add their counts) every value is kept, so nothing is missed.
    """
    low = max([1, *(lo for lo, _ in bounds.values())])
    high = min([10**9, *(hi for _, hi in bounds.values())])
    return lambda source: (
        f"""
WITH g AS (SELECT CAST({_q(column)} AS VARCHAR) AS v, COUNT(*) AS n
           FROM ({source}) AS t GROUP BY 1),
odd AS (SELECT COUNT(*) AS k FROM g
        WHERE v IS NOT NULL AND v IS DISTINCT FROM strftime(TRY_CAST(v AS DATE), '%Y-%m-%d'))
SELECT g.v AS {_q(column)}, g.n AS {_q(ROWS)} FROM g, odd
WHERE odd.k > 0 OR g.n NOT BETWEEN {low} AND {high}
"""
    )


@lru_cache(maxsize=1)
def _holidays() -> str:
    """A SELECT of every DTS holiday falling on a weekday, 1900 to 2199 (one string literal:
    DuckDB binds thousands of date literals ~20 times slower)."""
    days = {d for year in range(1900, 2200) for d in dts_holidays(year) if d.weekday() < 5}
    listed = ",".join(d.isoformat() for d in sorted(days))
    return f"SELECT CAST(unnest(string_split('{listed}', ',')) AS DATE)"


def broken_running_total(
    line: Sequence[str], today: str, total: str, period: str, reads: Sequence[str]
) -> Narrow:
    """Rows whose ``total`` is not the previous business day's (same line) plus ``today``, or
    not ``today`` alone when ``period`` (SQL over ``d``) changes between the two days, with
    that previous day's row: a pair of present consecutive business days, as the Python check
    compares them. ``record_date`` must be a DATE (silver)."""
    same_line = " AND ".join(f"b.{_q(c)} IS NOT DISTINCT FROM f.{_q(c)}" for c in line)
    starts = f"({period.format(d='j.prev_day')}) <> ({period.format(d='j.record_date')})"
    t, v = _q(today), _q(total)
    return lambda source: (
        f"""
WITH s AS (SELECT {_select(reads)} FROM ({source}) AS t),
bd AS (SELECT CAST(g.d AS DATE) AS d FROM (SELECT MIN(record_date) - 14 AS lo,
       MAX(record_date) AS hi FROM s) AS r, generate_series(r.lo, r.hi, INTERVAL 1 DAY) AS g(d)
       WHERE isodow(g.d) < 6 AND CAST(g.d AS DATE) NOT IN ({_holidays()})),
j AS (SELECT s.*, bd.d AS prev_day FROM s ASOF LEFT JOIN bd ON s.record_date > bd.d),
f AS (SELECT j.*, {starts} AS starts,
             j.{v} - CASE WHEN {starts} THEN j.{t} ELSE b.{v} + j.{t} END AS difference
      FROM j LEFT JOIN s AS b ON b.record_date = j.prev_day
       AND {" AND ".join(f"b.{_q(c)} IS NOT DISTINCT FROM j.{_q(c)}" for c in line)}
      WHERE j.{t} IS NOT NULL AND j.{v} IS NOT NULL),
bad AS (SELECT * FROM f WHERE difference <> 0)
SELECT b.* FROM s AS b SEMI JOIN bad AS f ON b.record_date = f.record_date AND {same_line}
UNION
SELECT b.* FROM s AS b SEMI JOIN bad AS f ON b.record_date = f.prev_day AND {same_line}
"""
    )


def broken_continuity(opening: str, closing: str) -> Narrow:
    """Rows (one per day, ``record_date`` a DATE) lacking ``opening`` or ``closing``, and the
    pairs of a day and the next business day, both present with both balances, whose closing and
    opening differ: the rows a continuity check reports, with what it compares them to."""
    o, c = _q(opening), _q(closing)
    return lambda source: (
        f"""
WITH s AS (SELECT record_date, {o}, {c} FROM ({source}) AS t),
bd AS (SELECT CAST(g.d AS DATE) AS d FROM (SELECT MIN(record_date) AS lo,
       MAX(record_date) + 14 AS hi FROM s) AS r, generate_series(r.lo, r.hi, INTERVAL 1 DAY) AS g(d)
       WHERE isodow(g.d) < 6 AND CAST(g.d AS DATE) NOT IN ({_holidays()})),
j AS (SELECT s.*, bd.d AS next_day FROM s ASOF LEFT JOIN bd ON s.record_date < bd.d),
bad AS (SELECT j.record_date, j.next_day FROM j JOIN s AS n ON n.record_date = j.next_day
        WHERE j.{c} <> n.{o})
SELECT * FROM s WHERE {o} IS NULL OR {c} IS NULL
UNION
SELECT s.* FROM s SEMI JOIN bad ON s.record_date = bad.record_date
UNION
SELECT s.* FROM s SEMI JOIN bad ON s.record_date = bad.next_day
"""
    )


def unbalanced_days(
    name_column: str,
    value_column: str,
    signs: Mapping[str, int],
    span: tuple[date, date | None],
    reads: Sequence[str],
) -> Narrow:
    """The rows named in ``signs`` (``record_date`` within ``span``) of the days whose signed sum
    of ``value_column`` is not zero, or that lack one of them or hold one twice: every day but
    those with each row once and an exact identity."""
    names = ", ".join(_lit(n) for n in signs)
    signed = " ".join(f"WHEN {_lit(n)} THEN {s} * {_q(value_column)}" for n, s in signs.items())
    last = f" AND record_date <= DATE '{span[1]}'" if span[1] else ""
    return lambda source: (
        f"""
WITH t AS (SELECT {_select(reads)} FROM ({source}) AS s
           WHERE {_q(name_column)} IN ({names}) AND record_date >= DATE '{span[0]}'{last}),
exact AS (SELECT record_date FROM t GROUP BY record_date
          HAVING COUNT(*) = {len(signs)} AND COUNT(DISTINCT {_q(name_column)}) = {len(signs)}
             AND COUNT({_q(value_column)}) = {len(signs)}
             AND SUM(CASE {_q(name_column)} {signed} END) = 0)
SELECT * FROM t ANTI JOIN exact ON t.record_date = exact.record_date
"""
    )


def broken_line_continuity(
    line: Sequence[str], opening: str, closing: str, where: str, reads: Sequence[str]
) -> Narrow:
    """Rows (``where`` holds) whose ``opening`` is not the ``closing`` of the same line on the
    previous business day, with that day's row: pairs of present consecutive business days, as
    the Python check compares them. ``record_date`` must be a DATE (silver)."""

    def same(x: str, y: str) -> str:
        return " AND ".join(f"{x}.{_q(c)} IS NOT DISTINCT FROM {y}.{_q(c)}" for c in line)

    o, c = _q(opening), _q(closing)
    return lambda source: (
        f"""
WITH s AS (SELECT {_select(reads)} FROM ({source}) AS t WHERE {where}),
bd AS (SELECT CAST(g.d AS DATE) AS d FROM (SELECT MIN(record_date) - 14 AS lo,
       MAX(record_date) AS hi FROM s) AS r, generate_series(r.lo, r.hi, INTERVAL 1 DAY) AS g(d)
       WHERE isodow(g.d) < 6 AND CAST(g.d AS DATE) NOT IN ({_holidays()})),
j AS (SELECT s.*, bd.d AS prev_day FROM s ASOF LEFT JOIN bd ON s.record_date > bd.d),
bad AS (SELECT j.* FROM j JOIN s AS b ON b.record_date = j.prev_day AND {same("b", "j")}
        WHERE j.{o} <> b.{c})
SELECT s.* FROM s SEMI JOIN bad AS j ON s.record_date = j.record_date AND {same("s", "j")}
UNION
SELECT s.* FROM s SEMI JOIN bad AS j ON s.record_date = j.prev_day AND {same("s", "j")}
"""
    )
