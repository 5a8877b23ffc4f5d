"""The human output of ``treasury explain``: the gold row, its silver rows, the bronze pages and
the reconciliation, as readable sections (``--json`` prints :meth:`Explanation.to_json`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.explain import Explanation, json_value
from treasury_lakehouse.explain.recipes import get_recipe

#: columns shown with thousands separators (amounts); years, months and counts are not
_AMOUNT_SUFFIXES = ("_usd_mil", "_amt", "_bal")


def _text(value: Any, column: str = "") -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool) and column.endswith(_AMOUNT_SUFFIXES):
        return f"{value:,}"
    return str(json_value(value))


def _table(header: list[str], rows: list[list[str]]) -> Iterator[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for line in [header, *rows]:
        yield "  " + "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()


def _silver_columns(explanation: Explanation, dataset: str) -> list[str]:
    """The columns worth showing: the natural key, the columns the recipe reads, lineage."""
    recipe = get_recipe(explanation.table)
    read = set().union(*(f.needs("span").get(dataset, set()) for f in recipe.figures.values()))
    key = list(get_dataset(dataset).natural_key)
    amounts = sorted(read - set(key))
    return [*key, *amounts, "batch_id", "bronze_file"]


def render(explanation: Explanation) -> Iterator[str]:
    """The lines of the human output."""
    key = " ".join(f"{c}={json_value(v)}" for c, v in explanation.key.items())
    yield f"explain    {explanation.table} {key} (lake commit {explanation.commit_seq})"
    yield ""
    yield "gold row"
    width = max(len(c) for c in explanation.gold)
    for column, value in explanation.gold.items():
        yield f"  {column:<{width}}  {_text(value, column)}"
    datasets = list(dict.fromkeys(r["dataset"] for r in explanation.silver))
    for dataset in datasets:
        rows = [r for r in explanation.silver if r["dataset"] == dataset]
        yield ""
        yield f"silver rows: {dataset} ({len(rows)})"
        columns = _silver_columns(explanation, dataset)
        yield from _table(columns, [[_text(r.get(c), c) for c in columns] for r in rows])
    if not datasets:
        yield ""
        yield "silver rows: none"
    yield ""
    yield f"bronze pages ({len(explanation.bronze)})"
    for evidence in explanation.bronze:
        yield (
            f"  batch {evidence.batch_id} (seq {evidence.seq}, ingested {evidence.ingested_at})"
            f"  {evidence.file or '(page not found in bronze)'}"
        )
        yield f"    GET {evidence.request_url or '-'}"
    yield ""
    yield "reconciliation"
    width = max(len(c.column) for c in explanation.checks)
    for check in explanation.checks:
        verdict = "ok" if check.ok else "MISMATCH"
        yield (
            f"  {check.column:<{width}}  gold {_text(check.gold, check.column):>20}  silver "
            f"{_text(check.silver, check.column):>20}  {verdict}"
        )
        yield f"  {'':<{width}}  = {check.rule}"
    yield ""
    verdict = (
        "yes"
        if explanation.reconciled
        else "NO: " + ", ".join(c.column for c in explanation.mismatches)
    )
    yield f"reconciled {verdict}"
