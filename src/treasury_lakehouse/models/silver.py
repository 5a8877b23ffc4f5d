"""The silver model, rendered from the catalog (one SELECT per dataset, DuckDB dialect).

Staging only trims, handles ``"null"``, casts by the API's ``dataTypes`` and ranks versions. Every
cast is guarded by a pattern, so a bad value becomes a quarantine reason instead of an error or a
silent NULL, on every engine (Spark's ANSI casts would otherwise fail the whole job).

The rendered SELECT reads the relation ``bronze`` and returns every catalog column typed, the raw
strings as ``raw_<column>``, the lineage columns, ``quarantine_reason`` (NULL for a good row) and
``version_rank`` (1 = the version silver keeps; NULL for quarantined rows).
"""

from __future__ import annotations

from treasury_lakehouse.catalog import Dataset

#: a value of each API type must match this pattern before it is cast
PATTERNS = {
    "DATE": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "CURRENCY0": r"^-?[0-9]{1,18}$",
    "CURRENCY": r"^-?[0-9]{1,18}(\.[0-9]{1,2})?$",
    "NUMBER": r"^-?[0-9]{1,30}(\.[0-9]{1,6})?$",
    "PERCENTAGE": r"^-?[0-9]{1,30}(\.[0-9]{1,6})?$",
    "INTEGER": r"^-?[0-9]{1,9}$",
    "YEAR": r"^[0-9]{4}$",
    "QUARTER": r"^[1-4]$",
    "MONTH": r"^(0?[1-9]|1[0-2])$",
    "DAY": r"^(0?[1-9]|[12][0-9]|3[01])$",
}

LINEAGE_COLUMNS = ("batch_id", "ingestion_timestamp", "page_number", "row_index")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _clean(column: str) -> str:
    """Trimmed raw string, NULL for the API's "null" and for empty strings."""
    return f"NULLIF(NULLIF(TRIM({_q(column)}), 'null'), '')"


def _typed(dataset: Dataset, column: str) -> str:
    api_type = dataset.columns[column]
    clean = f"{_q('clean_' + column)}"
    if api_type == "STRING":
        return clean
    sql_type = dataset.silver_type(column)
    pattern = PATTERNS[api_type]
    cast = "TRY_CAST" if api_type == "DATE" else "CAST"  # a date can match and still not exist
    return f"CASE WHEN REGEXP_MATCHES({clean}, '{pattern}') THEN {cast}({clean} AS {sql_type}) END"


def _reasons(dataset: Dataset) -> str:
    parts = []
    for column in dataset.required_key_columns:
        parts.append(
            f"CASE WHEN {_q('clean_' + column)} IS NULL THEN '{column}: natural key is missing' END"
        )
    for column, api_type in dataset.columns.items():
        if api_type == "STRING":
            continue
        parts.append(
            f"CASE WHEN {_q('clean_' + column)} IS NOT NULL AND {_q(column)} IS NULL "
            f"THEN CONCAT('{column}: not a {api_type}: ', {_q('clean_' + column)}) END"
        )
    return f"NULLIF(CONCAT_WS('; ', {', '.join(parts)}), '')"


def silver_sql(dataset: Dataset) -> str:
    """The staging SELECT of ``dataset`` over the relation ``bronze``."""
    columns = list(dataset.columns)
    clean = ",\n    ".join(f"{_clean(c)} AS {_q('clean_' + c)}" for c in columns)
    raw = ",\n    ".join(f"{_q(c)} AS {_q('raw_' + c)}" for c in columns)
    lineage = ", ".join(_q(c) for c in LINEAGE_COLUMNS)
    typed = ",\n    ".join(f"{_typed(dataset, c)} AS {_q(c)}" for c in columns)
    keep = ", ".join(_q(c) for c in columns)
    raw_names = ", ".join(_q("raw_" + c) for c in columns)
    key = ", ".join(_q(c) for c in dataset.natural_key)
    return f"""-- silver.{dataset.name}: typed, trimmed, "null" as NULL, versions ranked
-- grain: one row per natural key ({", ".join(dataset.natural_key)}) among rank-1 rows
WITH cleaned AS (
  SELECT
    {clean},
    {raw},
    {lineage}
  FROM bronze
),
typed AS (
  SELECT
    {typed},
    {raw_names},
    {lineage},
    {"{clean_names}"}
  FROM cleaned
),
checked AS (
  SELECT {keep}, {raw_names}, {lineage}, {_reasons(dataset)} AS quarantine_reason
  FROM typed
)
SELECT
  *,
  CASE WHEN quarantine_reason IS NULL THEN ROW_NUMBER() OVER (
    PARTITION BY quarantine_reason IS NULL, {key}
    ORDER BY ingestion_timestamp DESC, batch_id DESC, page_number DESC, row_index DESC
  ) END AS version_rank
FROM checked
""".replace("{clean_names}", ", ".join(_q("clean_" + c) for c in columns))


def silver_columns(dataset: Dataset) -> list[str]:
    """The columns of the published silver table: the catalog's, then lineage."""
    return [*dataset.columns, "batch_id", "ingestion_timestamp"]
