"""Vanished record dates: a statement day that an older bronze batch holds and the newest batch
asked for it no longer does.

A committed batch is authoritative for the record dates it holds, and a statement day never
leaves the Treasury's record. So for each record date D held by any committed batch, take B, the
newest batch (highest manifest ``seq``) whose requested window (manifest ``window``,
``start..end``, ``…`` for an unbounded side) contains D. If B holds no row of D, the source
dropped a whole day; silver would quietly keep the older rows of D, or — once deletions apply —
drop the day. Either way nothing is published until someone looks.

The work is one DuckDB query over the bronze files and the manifest (:func:`vanished_sql`); it
returns only the findings, never the bronze rows. :func:`vanished_record_dates` turns them into
:class:`~treasury_lakehouse.quality.results.Finding` s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.ingest.bronze import Batch
from treasury_lakehouse.quality.results import Finding
from treasury_lakehouse.quality.spec import CheckContext, Evaluate, Rows, as_date
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit

UNBOUNDED = "…"


def window_bounds(window: str) -> tuple[date | None, date | None]:
    """``(start, end)`` of a manifest window ``start..end`` (``…`` = unbounded side)."""
    start, separator, end = window.partition("..")
    if not separator:
        raise ValueError(f"not a window: {window!r} (expected start..end)")

    def bound(text: str) -> date | None:
        text = text.strip()
        return None if text in (UNBOUNDED, "", "None") else date.fromisoformat(text)

    return bound(start), bound(end)


def manifest_values(batches: Sequence[Batch]) -> str:
    """The manifest as a SQL ``VALUES`` list: batch_id, seq, window, window start and end."""
    rows = []
    for batch in batches:
        start, end = window_bounds(batch.window)
        rows.append(
            f"({_lit(batch.batch_id)}, {batch.seq}, {_lit(batch.window)}, "
            f"CAST({_lit(start)} AS DATE), CAST({_lit(end)} AS DATE))"
        )
    return ", ".join(rows)


def vanished_sql(
    dataset: Dataset,
    bronze: str,
    batches: Sequence[Batch],
    days: Sequence[tuple[date, date]] | None = None,
) -> str:
    """A SELECT of the vanished record dates of one dataset, one row each (none when all hold).

    ``bronze`` is a SELECT over every committed bronze file of the dataset; ``batches`` its
    manifest. Columns: ``record_date``, the covering batch (``batch_id``, ``seq``, ``window``)
    and the newest batch that did hold the day (``held_by``, ``held_seq``).

    With ``days`` (intervals), only the record dates in them are judged; ``bronze`` then need
    hold only the batches holding a row of those days (:func:`batches_holding`).
    """
    column = _q(dataset.date_column)
    only = ""
    if days is not None:
        parts = [f"h.record_date BETWEEN DATE '{a}' AND DATE '{b}'" for a, b in days]
        only = " AND (" + (" OR ".join(parts) or "FALSE") + ")"
    return f"""
WITH manifest(batch_id, seq, "window", window_start, window_end) AS (
  VALUES {manifest_values(batches)}
),
held AS (
  SELECT DISTINCT b.batch_id, TRY_CAST(TRIM(b.{column}) AS DATE) AS record_date
  FROM ({bronze}) AS b
),
held_days AS (
  SELECT h.record_date, MAX(m.seq) AS held_seq, ARG_MAX(m.batch_id, m.seq) AS held_by
  FROM held AS h JOIN manifest AS m USING (batch_id)
  WHERE h.record_date IS NOT NULL{only}
  GROUP BY h.record_date
),
covering AS (
  SELECT d.record_date, d.held_seq, d.held_by, m.batch_id, m.seq, m."window",
         ROW_NUMBER() OVER (PARTITION BY d.record_date ORDER BY m.seq DESC) AS newest
  FROM held_days AS d JOIN manifest AS m
    ON (m.window_start IS NULL OR d.record_date >= m.window_start)
   AND (m.window_end IS NULL OR d.record_date <= m.window_end)
)
SELECT record_date, batch_id, seq, "window", held_by, held_seq
FROM covering
WHERE newest = 1 AND NOT EXISTS (
  SELECT 1 FROM held AS h WHERE h.batch_id = covering.batch_id
                            AND h.record_date = covering.record_date
)
ORDER BY record_date
"""


def batches_holding(batches: Sequence[Batch], days: Sequence[tuple[date, date]]) -> list[Batch]:
    """The batches whose manifest range of record dates meets one of ``days``."""
    return [
        b
        for b in batches
        if (held := b.record_range) is not None
        and any(held[0] <= last and first <= held[1] for first, last in days)
    ]


def vanished_record_dates(dataset: Dataset) -> Evaluate:
    """One error per vanished record date, naming the day and the batch that lacks it."""

    def evaluate(rows: Rows, ctx: CheckContext) -> list[Finding]:
        return [
            Finding("error", as_date(r["record_date"]),
                    f"{dataset.date_column}={as_date(r['record_date'])}, batch_id={r['batch_id']}",
                    f"{dataset.name}: the day vanished from the source — batch {r['batch_id']} "
                    f"(seq {r['seq']}, window {r['window']}) asked for it and holds none of its "
                    f"rows; batch {r['held_by']} (seq {r['held_seq']}) had them")
            for r in rows
        ]  # fmt: skip

    return evaluate
