"""Row history and revisions, rendered from the catalog (DuckDB SQL; no I/O).

The history of a dataset holds every distinct version of each version key (record date and
natural key). It follows silver's rules step by step: each committed batch, in manifest ``seq``
order, is authoritative for the record dates it holds, so at that batch a key of such a date is

- *present* when the batch holds it: its value is the newest valid row of the key among the
  batches up to this one (a restated row that arrives quarantined leaves the previous value);
- *deleted* when the batch lacks it and the key had a value before (the deletion carries the
  values it deleted, and ``is_deleted``).

A new version starts where a key's state (deleted or not, and every catalog column) differs from
its state at the previous step; a row delivered again unchanged starts none. So the history as of a
batch equals silver built from the batches up to it, and its current versions equal silver.

:func:`history_sql` reads ``built`` (the silver model's rows of the batches to add: typed columns,
``batch_id``, ``batch_seq``, ``page_number``, ``row_index``, ``quarantine_reason``), ``batch_times``
(``batch_id``, ``seq``, ``committed_at``, ``ingested_at`` of every batch) and ``previous_history``
(the history so far of the record dates those batches hold, or of more: their years; empty for a
full build). Its result is the whole history of those dates, ``known_to`` computed anew.
:func:`revisions_sql` derives the revisions from a history relation ``history``.
"""

from __future__ import annotations

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.models.silver import version_key
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit

#: the columns the history adds to the catalog's (``batch_seq``: the manifest seq of ``batch_id``,
#: which orders the versions; the times are for display)
HISTORY_EXTRA = (
    "batch_id",
    "ingestion_timestamp",
    "batch_seq",
    "known_from",
    "known_to",
    "is_deleted",
)
REVISION_COLUMNS = (
    "dataset",
    "record_date",
    "row_key",
    "change",
    "column_name",
    "old_value",
    "new_value",
    "old_batch_id",
    "new_batch_id",
    "revised_at",
    "new_batch_seq",
)
#: the values of ``revisions.change``
CHANGES = ("changed", "added", "deleted")


def history_columns(dataset: Dataset) -> list[str]:
    """The columns of ``silver_<dataset>_history``: the catalog's, then :data:`HISTORY_EXTRA`."""
    return [*dataset.columns, *HISTORY_EXTRA]


def _same_key(left: str, right: str, dataset: Dataset) -> str:
    """Key equality where a NULL key part equals a NULL (a nullable natural key part)."""
    return " AND ".join(
        f"{left}.{_q(c)} IS NOT DISTINCT FROM {right}.{_q(c)}" for c in version_key(dataset)
    )


def _values(dataset: Dataset) -> list[str]:
    """The catalog columns outside the version key (a version is a change of one of them)."""
    key = set(version_key(dataset))
    return [c for c in dataset.columns if c not in key]


def _steps(dataset: Dataset) -> str:
    """CTEs up to ``states``: each key's state at each batch holding its record date."""
    day = _q(dataset.date_column)
    key = ", ".join(_q(c) for c in version_key(dataset))
    columns = ", ".join(_q(c) for c in dataset.columns)
    g_key = ", ".join(f"g.{_q(c)}" for c in version_key(dataset))
    s_key = ", ".join(f"s.{_q(c)}" for c in version_key(dataset))
    values = ",\n    ".join(
        f"CASE WHEN s.source_seq IS NOT NULL THEN d.{_q(c)} ELSE p.{_q(c)} END AS {_q(c)}"
        for c in _values(dataset)
    )
    return f"""rows AS (
  SELECT {columns}, batch_seq, page_number, row_index, quarantine_reason
  FROM built WHERE {day} IS NOT NULL
),
steps AS (SELECT DISTINCT {day}, batch_seq AS step_seq FROM rows),
held AS (SELECT DISTINCT {key}, batch_seq AS step_seq FROM rows),
delivered AS (
  SELECT * EXCLUDE (newest) FROM (
    SELECT {columns}, batch_seq AS step_seq, ROW_NUMBER() OVER (
      PARTITION BY {key}, batch_seq ORDER BY page_number DESC, row_index DESC) AS newest
    FROM rows WHERE quarantine_reason IS NULL
  ) WHERE newest = 1
),
prior AS (SELECT * FROM previous_history WHERE known_to IS NULL),
keys AS (SELECT {key} FROM rows UNION SELECT {key} FROM prior),
grid AS (
  SELECT keys.*, steps.step_seq FROM keys JOIN steps ON keys.{day} = steps.{day}
),
marked AS (
  SELECT {g_key}, g.step_seq, h.step_seq IS NOT NULL AS is_held,
    MAX(d.step_seq) OVER (
      PARTITION BY {g_key} ORDER BY g.step_seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS source_seq
  FROM grid AS g
  LEFT JOIN held AS h ON {_same_key("g", "h", dataset)} AND h.step_seq = g.step_seq
  LEFT JOIN delivered AS d ON {_same_key("g", "d", dataset)} AND d.step_seq = g.step_seq
),
states AS (
  SELECT {s_key}, s.step_seq, NOT s.is_held AS is_deleted,
    {values},
    FALSE AS is_prior
  FROM marked AS s
  LEFT JOIN delivered AS d ON {_same_key("s", "d", dataset)} AND d.step_seq = s.source_seq
  LEFT JOIN prior AS p ON {_same_key("s", "p", dataset)}
  WHERE s.source_seq IS NOT NULL OR p.{day} IS NOT NULL
)"""


def history_sql(dataset: Dataset) -> str:
    """The history of the record years the rows of ``built`` hold (see the module doc)."""
    key = ", ".join(_q(c) for c in version_key(dataset))
    columns = ", ".join(_q(c) for c in dataset.columns)
    values = _values(dataset)
    lags = "".join(f", LAG({_q(c)}) OVER w AS {_q('prev_' + c)}" for c in values)
    differs = "".join(f" OR {_q(c)} IS DISTINCT FROM {_q('prev_' + c)}" for c in values)
    return f"""-- history.{dataset.name}: every distinct version of each key, by manifest seq
WITH {_steps(dataset)},
timeline AS (
  SELECT {columns}, batch_seq AS step_seq, is_deleted, TRUE AS is_prior FROM prior
  UNION ALL
  SELECT {columns}, step_seq, is_deleted, is_prior FROM states
),
compared AS (
  SELECT *, LAG(is_deleted) OVER w AS prev_deleted{lags}
  FROM timeline
  WINDOW w AS (PARTITION BY {key} ORDER BY step_seq)
),
started AS (
  SELECT c.* EXCLUDE (step_seq, is_prior), c.step_seq AS batch_seq,
    t.batch_id, t.ingested_at AS ingestion_timestamp, t.committed_at AS known_from
  FROM compared AS c JOIN batch_times AS t ON t.seq = c.step_seq
  WHERE NOT c.is_prior AND (c.prev_deleted IS NULL OR c.is_deleted <> c.prev_deleted{differs})
),
merged AS (
  SELECT {columns}, batch_id, ingestion_timestamp, batch_seq, known_from, is_deleted
  FROM previous_history
  UNION ALL
  SELECT {columns}, batch_id, ingestion_timestamp, batch_seq, known_from, is_deleted
  FROM started
)
SELECT {columns}, batch_id, ingestion_timestamp, batch_seq, known_from,
  LEAD(known_from) OVER (PARTITION BY {key} ORDER BY batch_seq) AS known_to, is_deleted
FROM merged
"""


def row_key_sql(dataset: Dataset, alias: str = "") -> str:
    """The natural key as a JSON object string, keys in catalog order, values as text."""
    prefix = f"{alias}." if alias else ""
    parts = ", ".join(f"{_lit(c)}, CAST({prefix}{_q(c)} AS VARCHAR)" for c in version_key(dataset))
    return f"CAST(json_object({parts}) AS VARCHAR)"


def revisions_sql(dataset: Dataset) -> str:
    """One row per change in the relation ``history`` (see :data:`REVISION_COLUMNS`).

    ``changed``: a version replaces a live one; one row per column whose value differs, old and
    new value as exact text. ``added``: a key's first version on a record date an earlier batch
    already published, or a key back after a deletion. ``deleted``: a deletion version.
    """
    key = ", ".join(_q(c) for c in version_key(dataset))
    values = _values(dataset)
    day = _q(dataset.date_column)
    lags = "".join(f", LAG({_q(c)}) OVER w AS {_q('prev_' + c)}" for c in values)
    pairs = ", ".join(
        f"{{'column_name': {_lit(c)}, 'old_value': CAST({_q('prev_' + c)} AS VARCHAR), "
        f"'new_value': CAST({_q(c)} AS VARCHAR)}}"
        for c in values
    )
    common = (
        f"{_lit(dataset.name)} AS dataset, {day} AS record_date, {row_key_sql(dataset)} AS row_key"
    )
    tail = "prev_batch_id AS old_batch_id, batch_id AS new_batch_id, known_from AS revised_at, "
    tail += "batch_seq AS new_batch_seq"
    return f"""-- revisions.{dataset.name}: one row per change, derived from the history
WITH ordered AS (
  SELECT *, LAG(is_deleted) OVER w AS prev_deleted, LAG(batch_id) OVER w AS prev_batch_id,
    MIN(batch_seq) OVER (PARTITION BY {day}) AS first_seq_of_date{lags}
  FROM history
  WINDOW w AS (PARTITION BY {key} ORDER BY batch_seq)
),
changed AS (
  SELECT *, UNNEST([{pairs}]) AS pair
  FROM ordered WHERE NOT is_deleted AND prev_deleted = FALSE
)
SELECT {common}, 'changed' AS change, pair.column_name AS column_name,
  pair.old_value AS old_value, pair.new_value AS new_value, {tail}
FROM changed WHERE pair.old_value IS DISTINCT FROM pair.new_value
UNION ALL
SELECT {common}, 'added', NULL, NULL, NULL, {tail}
FROM ordered
WHERE NOT is_deleted AND (prev_deleted OR (prev_deleted IS NULL AND first_seq_of_date < batch_seq))
UNION ALL
SELECT {common}, 'deleted', NULL, NULL, NULL, {tail}
FROM ordered WHERE is_deleted
"""
