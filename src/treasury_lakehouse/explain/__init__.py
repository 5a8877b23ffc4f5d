"""``treasury explain``: one gold row, the silver rows it aggregates, the bronze pages they came
from, and whether each of its columns equals its recomputation from those silver rows.

Everything is read from one lake commit (the published state). The recomputation follows the
declarations of :mod:`.recipes`, in Python, independent of the gold SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import ConfigError, LakeError
from treasury_lakehouse.explain.figures import Rows, Value
from treasury_lakehouse.explain.lake_rows import (
    Evidence,
    Row,
    bronze_evidence,
    gold_rows,
    silver_rows,
)
from treasury_lakehouse.explain.recipes import Recipe, get_recipe
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.models.registry import GoldModel, get_gold


class KeyProblem(ConfigError):
    """The key given does not name a row of the table (bad column, value, or no such row)."""


@dataclass(frozen=True)
class Check:
    """One gold column against its recomputation from silver."""

    column: str
    gold: Value
    silver: Value
    rule: str

    @property
    def ok(self) -> bool:
        same_kind = isinstance(self.gold, bool) == isinstance(self.silver, bool)
        return same_kind and self.gold == self.silver


@dataclass(frozen=True)
class Explanation:
    table: str
    commit_seq: int
    key: dict[str, Any]
    gold: Row
    #: the silver rows, each with its ``dataset`` and the page file it came from
    silver: list[Row]
    bronze: list[Evidence]
    checks: list[Check]

    @property
    def reconciled(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def mismatches(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        """The shape of ``treasury explain --json`` (dates ISO, amounts integers or decimal
        strings, never floats)."""
        return {
            "table": self.table,
            "key": json_values(self.key),
            "gold": json_values(self.gold),
            "silver": [json_values(r) for r in self.silver],
            "bronze": [e.to_json() for e in self.bronze],
            "reconciled": self.reconciled,
        }


def json_value(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return str(value)
    return value


def json_values(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: json_value(value) for name, value in row.items()}


_KINDS = {"DATE": "date (YYYY-MM-DD)", "INTEGER": "whole number", "VARCHAR": "text"}
_PARSERS: dict[str, Callable[[str], Any]] = {
    "DATE": date.fromisoformat,
    "INTEGER": int,
    "VARCHAR": str,
}


def parse_key(model: GoldModel, pairs: Sequence[str]) -> dict[str, Any]:
    """``COL=VALUE`` pairs → the typed primary key of ``model``; :class:`KeyProblem` naming what
    is wrong (a pair without ``=``, a column not in the key, a bad value, a missing column)."""
    key_types = {c.name: c.sql_type for c in model.columns if c.name in model.primary_key}
    expected = " ".join(f"{c}=..." for c in model.primary_key)
    key: dict[str, Any] = {}
    for pair in pairs:
        column, sep, text = pair.partition("=")
        if not sep:
            raise KeyProblem(f"{pair!r} is not COL=VALUE; {model.name} needs {expected}")
        if column not in key_types:
            raise KeyProblem(
                f"{column!r} is not a key column of {model.name}; its key is {expected}"
            )
        try:
            key[column] = _PARSERS[key_types[column]](text)
        except ValueError:
            raise KeyProblem(f"{column}={text!r} is not a {_KINDS[key_types[column]]}") from None
    missing = [c for c in model.primary_key if c not in key]
    if missing:
        raise KeyProblem(
            f"{model.name} needs its whole key {expected}; missing {', '.join(missing)}"
        )
    return {c: key[c] for c in model.primary_key}


def _key_text(key: Mapping[str, Any]) -> str:
    return " ".join(f"{c}={json_value(v)}" for c, v in key.items())


def _silver(commit: LakeCommit, recipe: Recipe, key: Mapping[str, Any]) -> tuple[Rows, list[Row]]:
    """The silver rows feeding the gold row (and, for running sums, the earlier ones)."""
    first, last = recipe.grain.span(key)
    span: dict[str, list[Row]] = {}
    listed: list[Row] = []
    for source in recipe.sources:
        rows = [
            r
            for r in silver_rows(commit, source.dataset, first, last)
            if recipe.fed_by(key, source, r)
        ]
        span[source.dataset] = rows
        listed += [{"dataset": source.dataset, **r} for r in rows]
    through: dict[str, list[Row]] = {}
    for dataset, columns in recipe.needs_through().items():
        source = next(s for s in recipe.sources if s.dataset == dataset)
        needed = {"record_date", *columns, *recipe.grain.same}
        needed |= {c.column for c in source.conditions}
        through[dataset] = [
            r
            for r in silver_rows(commit, dataset, None, last, sorted(needed))
            if recipe.fed_by(key, source, r, through=True)
        ]
    return Rows(span, through), listed


def explain_row(settings: Settings, table: str, pairs: Sequence[str]) -> Explanation:
    """Explain the published row of gold ``table`` whose key the ``COL=VALUE`` pairs give."""
    model = get_gold(table)
    recipe = get_recipe(table)
    key = parse_key(model, pairs)
    lake = Lake(settings.lake)
    commit = lake.require_commit()
    found = gold_rows(commit, model, key)
    if not found:
        raise KeyProblem(f"{table} has no row {_key_text(key)} in lake commit {commit.seq}")
    if len(found) > 1:
        raise LakeError(f"{table} holds {len(found)} rows with the key {_key_text(key)}")
    rows, listed = _silver(commit, recipe, key)
    bronze: list[Evidence] = []
    for source in recipe.sources:
        of_dataset = [r for r in listed if r["dataset"] == source.dataset]
        evidence, files = bronze_evidence(settings.lake, source.dataset, of_dataset)
        bronze += evidence
        for row, file in zip(of_dataset, files, strict=True):
            row["bronze_file"] = file
    gold = found[0]
    checks = [
        Check(column, gold[column], figure.value(rows), figure.describe())
        for column, figure in recipe.figures.items()
    ]
    return Explanation(table, commit.seq, key, gold, listed, bronze, checks)


__all__ = ["Explanation", "KeyProblem", "explain_row", "parse_key"]
