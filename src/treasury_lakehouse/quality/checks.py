"""Declarative checks per dataset and per gold table, kept beside the catalog and the models.

Generic checks (keys not null and unique, accepted and known values, rows per business day) are
built from the catalog entry of each dataset and the gold registry; the Treasury identities live in
:mod:`treasury_lakehouse.quality.treasury`, the cross-dataset debt checks in
:mod:`treasury_lakehouse.quality.debt`, the tax refund categories in
:mod:`treasury_lakehouse.quality.tax_refunds` and the calendar checks in
:mod:`treasury_lakehouse.quality.completeness`. :func:`all_checks` lists them all.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date

from treasury_lakehouse.catalog import DATASETS, Dataset, era_of
from treasury_lakehouse.models.registry import GOLD_MODELS, GoldModel
from treasury_lakehouse.quality import narrow
from treasury_lakehouse.quality.results import Finding, Severity
from treasury_lakehouse.quality.spec import (
    Check,
    CheckContext,
    Evaluate,
    Row,
    Rows,
    as_date,
    batch_local,
    describe_key,
    period_local,
    window_local,
)
from treasury_lakehouse.quality.vanished import vanished_record_dates

#: values seen in the real statements; a new one is flagged (warn), never dropped
KNOWN_VALUES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "public_debt_transactions": {
        "security_type": (
            "Bills",
            "Notes",
            "Bonds",
            "Inflation-Protected Securities Increment",
            "Federal Financing Bank",
            "United States Savings Securities",
            "Government Account Series",
            "Hope Bonds",
            "Domestic Series",
            "Foreign Series",
            "State and Local Series",
            "Other",
        ),
    },
    # the row names of every layout era, for each dataset that has them
    **{
        d.name: {d.row_name_column: d.row_names()}
        for d in DATASETS.values()
        if d.row_name_column and d.eras
    },
}

#: (min, max) rows per business day, by layout era (None = the dataset has no eras): the catalog's
#: measured bounds (:meth:`~treasury_lakehouse.catalog.Dataset.row_bounds`)
ROWS_PER_DAY: Mapping[str, Mapping[str | None, tuple[int, int]]] = {
    d.name: d.row_bounds() for d in DATASETS.values() if d.row_bounds()
}


# --------------------------------------------------------------------------- generic checks


def not_null(columns: Sequence[str], key: Sequence[str]) -> Evaluate:
    """Rows where one of ``columns`` is NULL (error)."""

    def evaluate(rows: Rows, ctx: CheckContext) -> list[Finding]:
        return [
            Finding("error", as_date(row.get("record_date")), describe_key(row, key),
                    f"{column} is NULL")
            for row in rows
            for column in columns
            if row.get(column) is None
        ]  # fmt: skip

    return evaluate


def unique(key: Sequence[str], within: str | None = None) -> Evaluate:
    """Keys that appear more than once (per value of ``within``, e.g. per bronze batch)."""

    def evaluate(rows: Rows, ctx: CheckContext) -> list[Finding]:
        counts = Counter(
            (row.get(within) if within else None, tuple(row.get(c) for c in key)) for row in rows
        )
        findings = []
        for (group, values), count in sorted(counts.items(), key=lambda kv: str(kv[0])):
            if count > 1:
                row = dict(zip(key, values, strict=True))
                where = f" in batch {group}" if within else ""
                findings.append(
                    Finding("error", as_date(row.get("record_date")), describe_key(row, key),
                            f"natural key appears {count} times{where}")
                )  # fmt: skip
        return findings

    return evaluate


def accepted_values(
    column: str, values: Sequence[str], key: Sequence[str], severity: Severity
) -> Evaluate:
    """Rows whose ``column`` is not one of ``values`` (NULL is left to the not-null check)."""
    allowed = frozenset(values)

    def evaluate(rows: Rows, ctx: CheckContext) -> list[Finding]:
        return [
            Finding(severity, as_date(row.get("record_date")), describe_key(row, key),
                    f"{column} {row[column]!r} is not one of the known values")
            for row in rows
            if row.get(column) is not None and row[column] not in allowed
        ]  # fmt: skip

    return evaluate


def rows_per_day(dataset: Dataset, bounds: Mapping[str | None, tuple[int, int]]) -> Evaluate:
    """Days whose row count is outside the bounds of their layout era."""

    def evaluate(rows: Rows, ctx: CheckContext) -> list[Finding]:
        per_day: Counter[date] = Counter()
        for row in rows:
            day = as_date(row.get(dataset.date_column))
            if day is not None:
                per_day[day] += int(row.get(narrow.ROWS, 1))
        findings = []
        for day, count in sorted(per_day.items()):
            era = era_of(dataset, day)
            low, high = bounds.get(era.name if era else None, bounds.get(None, (1, 10**9)))
            if not low <= count <= high:
                era_name = f" ({era.name} layout)" if era else ""
                findings.append(
                    Finding("error", day, f"{dataset.date_column}={day.isoformat()}",
                            f"{count} rows, expected {low}..{high}{era_name}")
                )  # fmt: skip
        return findings

    return evaluate


def gold_fed_by(dataset: Dataset) -> tuple[str, ...]:
    """The gold tables whose sources include ``dataset``'s silver table."""
    silver = f"silver_{dataset.name}"
    return tuple(m.name for m in GOLD_MODELS if silver in m.sources)


#: silver's reasons: ``column: not a TYPE: value`` or ``column: natural key is missing``
_BAD_VALUE = re.compile(r"(?P<column>[^:;]+): not a (?P<type>[A-Z0-9]+): (?P<value>.*)", re.DOTALL)


def describe_reason(reason: object) -> str:
    """Silver's quarantine reason on one line, each part as ``column <c> raw value '<v>' ...``."""
    parts = []
    for part in str(reason).split("; "):
        bad = _BAD_VALUE.fullmatch(part)
        if bad:
            column, value, api_type = bad["column"], bad["value"], bad["type"]
            parts.append(f"column {column} raw value {value!r} is not a {api_type}")
        else:
            parts.append(part.replace("\n", "\\n"))
    return "; ".join(parts)


def is_outstanding(row: Row) -> bool:
    """A quarantined row still waiting for the source (silver's ``quarantine_status``; a
    quarantine written before that column existed is all outstanding)."""
    return row.get("quarantine_status") in (None, "outstanding")


def quarantined_rows(dataset: Dataset) -> Evaluate:
    """One finding per quarantined row, naming the dataset, day, key, column and raw value.

    An outstanding row of a dataset that feeds gold is an ``error``: its day would be missing
    or wrong in gold. A resolved row (a newer version reached silver), or any row of a dataset
    that feeds no gold, is a ``warn``.
    """
    feeds = gold_fed_by(dataset)

    def evaluate(rows: Rows, ctx: CheckContext) -> list[Finding]:
        findings = []
        for row in rows:
            outstanding = is_outstanding(row)
            blocking = outstanding and bool(feeds)
            effect = (
                f"; it feeds {', '.join(feeds)}, so gold would be wrong for that day"
                if blocking
                else ("" if outstanding else "; resolved: a newer version is in silver")
            )
            findings.append(
                Finding("error" if blocking else "warn", as_date(row.get(dataset.date_column)),
                        describe_key(row, dataset.natural_key),
                        f"{dataset.name} row quarantined: "
                        f"{describe_reason(row.get('quarantine_reason'))}{effect}")
            )  # fmt: skip
        return findings

    return evaluate


# --------------------------------------------------------------------------- the registry


def dataset_checks(dataset: Dataset) -> list[Check]:
    """The generic checks of one dataset's bronze and silver tables."""
    silver, bronze, key = f"silver_{dataset.name}", f"bronze_{dataset.name}", dataset.natural_key
    # a silver finding is about one day's rows (the key holds the date): period-local
    day = period_local(dataset.name)
    checks = [
        Check("not_null_key", silver, "error",
              "required natural-key columns are present", "none",
              not_null(dataset.required_key_columns, key),
              sql=narrow.null_rows(dataset.required_key_columns), scope=day),
        Check("unique_key", silver, "error",
              "one silver row per natural key", "none", unique(key),
              sql=narrow.duplicate_rows(key), scope=day),
        Check("unique_key", bronze, "error",
              "the API sent each natural key once per answer (else silver picks one arbitrarily)",
              "none", unique(key, within="batch_id"), (*key, "batch_id"),
              sql=narrow.duplicate_rows(key, "batch_id", (*key, "batch_id")),
              scope=batch_local(dataset.name)),
    ]  # fmt: skip
    for column, values in dataset.accepted_values.items():
        checks.append(
            Check(f"accepted_values:{column}", silver, "error",
                  f"{column} is one of {', '.join(values)}", "none",
                  accepted_values(column, values, key, "error"), (*key, column),
                  sql=narrow.rows_outside(column, values, (*key, column)), scope=day)
        )  # fmt: skip
    for column, values in KNOWN_VALUES.get(dataset.name, {}).items():
        checks.append(
            Check(f"known_values:{column}", silver, "warn",
                  f"{column} is one already seen in the statements (a new one is kept, flagged)",
                  "none", accepted_values(column, values, key, "warn"), (*key, column),
                  sql=narrow.rows_outside(column, values, (*key, column)), scope=day)
        )  # fmt: skip
    if dataset.name in ROWS_PER_DAY:
        bounds = ROWS_PER_DAY[dataset.name]
        checks.append(
            Check("rows_per_day", f"received_{dataset.name}", "error",
                  "rows per business day (silver plus quarantined keys) within the bounds of "
                  "the table's layout era",
                  ", ".join(f"{era or 'all'} {lo}..{hi}" for era, (lo, hi) in bounds.items()),
                  rows_per_day(dataset, bounds), key,
                  sql=narrow.rows_per_value(dataset.date_column, bounds), scope=day)
        )  # fmt: skip
    feeds = gold_fed_by(dataset)
    checks.append(
        Check("quarantined_rows", f"quarantine_{dataset.name}", "error" if feeds else "warn",
              "rows kept aside by silver typing (bad value or missing key), with the reason; "
              + ("an outstanding one blocks publishing (the dataset feeds gold)" if feeds
                 else "a warning (the dataset feeds no gold)"),
              "none", quarantined_rows(dataset))
    )  # fmt: skip
    checks.append(
        Check("vanished_record_date", f"vanished_{dataset.name}", "error",
              "every record date of bronze is held by the newest batch whose window covers it",
              "none", vanished_record_dates(dataset), scope=window_local(dataset.name))
    )  # fmt: skip
    return checks


def gold_checks(model: GoldModel) -> list[Check]:
    """The generic checks of one gold table: its primary key is present and unique."""
    key = model.primary_key
    return [
        Check("not_null_key", model.name, "error", "primary key columns are present", "none",
              not_null(key, key), key, sql=narrow.null_rows(key, key)),
        Check("unique_key", model.name, "error", "one row per grain", "none", unique(key), key,
              sql=narrow.duplicate_rows(key, None, key)),
    ]  # fmt: skip


def all_checks() -> list[Check]:
    """Every check, generic and Treasury-specific, in the order the runner runs them."""
    from treasury_lakehouse.quality.completeness import calendar_checks
    from treasury_lakehouse.quality.debt import debt_checks
    from treasury_lakehouse.quality.tax_refunds import tax_refund_checks
    from treasury_lakehouse.quality.treasury import treasury_checks

    checks: list[Check] = []
    for dataset in DATASETS.values():
        checks += dataset_checks(dataset)
    for model in GOLD_MODELS:
        checks += gold_checks(model)
    return checks + treasury_checks() + debt_checks() + tax_refund_checks() + calendar_checks()


def by_table(checks: Sequence[Check]) -> dict[str, list[Check]]:
    """Checks grouped by the relation they read (so each is loaded once)."""
    grouped: dict[str, list[Check]] = defaultdict(list)
    for check in checks:
        grouped[check.source].append(check)
    return dict(grouped)
