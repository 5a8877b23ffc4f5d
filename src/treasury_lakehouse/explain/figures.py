"""Figures: how one gold column is recomputed from the silver rows that feed its row.

Plain Python over exact integers (and Decimals), independent of the gold SQL: a gold file that
disagrees with its silver rows is found, whatever wrote it. Each figure mirrors the NULL rules of
its SQL: an empty sum is 0 where the SQL coalesces and ``None`` (NULL) where it does not, and
arithmetic on ``None`` is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

Row = Mapping[str, Any]
Value = int | Decimal | bool | None
#: ``span``: the rows of the gold row's own period; ``through``: those of every record date up
#: to the end of that period (for running sums)
Scope = Literal["span", "through"]


@dataclass(frozen=True)
class Rows:
    """The silver rows figures read, per dataset: the gold row's own (``span``) and, for running
    sums, those of every record date up to the end of its period (``through``)."""

    span: Mapping[str, Sequence[Row]]
    through: Mapping[str, Sequence[Row]] = field(default_factory=dict)

    def of(self, dataset: str, scope: Scope) -> Sequence[Row]:
        return (self.span if scope == "span" else self.through).get(dataset, ())


@dataclass(frozen=True)
class Where:
    """A row condition: ``column`` is one of ``values`` or starts with one of ``prefixes``."""

    column: str
    values: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()

    def __call__(self, row: Row) -> bool:
        value = row.get(self.column)
        if not isinstance(value, str):
            return False
        return value in self.values or (bool(self.prefixes) and value.startswith(self.prefixes))

    def describe(self) -> str:
        options = [repr(v) for v in self.values] + [f"{p!r}…" for p in self.prefixes]
        if len(options) == 1:
            return f"{self.column} = {options[0]}"
        return f"{self.column} in ({', '.join(options)})"


def where(column: str, *values: str, prefixes: tuple[str, ...] = ()) -> Where:
    return Where(column, tuple(values), prefixes)


class Figure:
    """A gold column's value from silver rows; :meth:`needs` names the columns it reads."""

    def value(self, rows: Rows) -> Value:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def needs(self, scope: Scope) -> dict[str, set[str]]:
        """Dataset → the silver columns this figure reads from rows of ``scope``."""
        return {}


@dataclass(frozen=True)
class Total(Figure):
    """The sum of ``amount`` over the rows matching every condition (NULL amounts skipped);
    ``empty`` when no row has one (0 as ``COALESCE(SUM(...), 0)``, ``None`` as bare ``SUM``)."""

    dataset: str
    amount: str
    conditions: tuple[Where, ...] = ()
    empty: Literal[0] | None = 0
    scope: Scope = "span"

    def value(self, rows: Rows) -> Value:
        amounts = [
            r[self.amount]
            for r in rows.of(self.dataset, self.scope)
            if r.get(self.amount) is not None and all(c(r) for c in self.conditions)
        ]
        return sum(amounts) if amounts else self.empty

    def describe(self) -> str:
        conditions = " and ".join(c.describe() for c in self.conditions)
        rows = "every row" if self.scope == "span" else "every row of this and earlier periods"
        text = f"sum of {self.dataset}.{self.amount} over {rows}"
        text += f" where {conditions}" if conditions else ""
        return text + (", NULL if none" if self.empty is None else ", 0 if none")

    def needs(self, scope: Scope) -> dict[str, set[str]]:
        if scope != self.scope:
            return {}
        return {self.dataset: {self.amount, *(c.column for c in self.conditions)}}


@dataclass(frozen=True)
class DistinctDays(Figure):
    """The number of distinct record dates among the rows."""

    dataset: str

    def value(self, rows: Rows) -> Value:
        return len({r["record_date"] for r in rows.of(self.dataset, "span")})

    def describe(self) -> str:
        return f"distinct record dates of {self.dataset}"

    def needs(self, scope: Scope) -> dict[str, set[str]]:
        return {self.dataset: {"record_date"}} if scope == "span" else {}


@dataclass(frozen=True)
class Largest(Figure):
    """The largest value among the rows named in ``picks`` (row name → the column to take),
    NULL if none; ``nonzero`` skips zeros (a limit of 0 means suspended)."""

    dataset: str
    name_column: str
    picks: Mapping[str, str]
    nonzero: bool = False

    def value(self, rows: Rows) -> Value:
        values = [
            r[self.picks[r[self.name_column]]]
            for r in rows.of(self.dataset, "span")
            if r.get(self.name_column) in self.picks
        ]
        found = [v for v in values if v is not None and not (self.nonzero and v == 0)]
        return max(found) if found else None

    def describe(self) -> str:
        picks = ", ".join(f"{column} of {name!r}" for name, column in self.picks.items())
        zeros = " other than 0" if self.nonzero else ""
        return f"largest{zeros} of {self.dataset}: {picks}; NULL if none"

    def needs(self, scope: Scope) -> dict[str, set[str]]:
        if scope != "span":
            return {}
        return {self.dataset: {self.name_column, *self.picks.values()}}


@dataclass(frozen=True)
class Combined(Figure):
    """``terms`` added with their signs (+1 or -1); NULL when any term is NULL."""

    terms: tuple[tuple[int, Figure], ...]
    label: str

    def value(self, rows: Rows) -> Value:
        total: int | Decimal = 0
        for sign, term in self.terms:
            value = term.value(rows)
            if value is None or isinstance(value, bool):
                return None
            total += sign * value
        return total

    def describe(self) -> str:
        return self.label

    def needs(self, scope: Scope) -> dict[str, set[str]]:
        return merge_needs(term.needs(scope) for _, term in self.terms)


def plus(label: str, *terms: Figure) -> Combined:
    return Combined(tuple((1, t) for t in terms), label)


def minus(label: str, left: Figure, right: Figure) -> Combined:
    return Combined(((1, left), (-1, right)), label)


@dataclass(frozen=True)
class IsNull(Figure):
    """True exactly when ``figure`` is NULL."""

    figure: Figure
    label: str

    def value(self, rows: Rows) -> Value:
        return self.figure.value(rows) is None

    def describe(self) -> str:
        return self.label

    def needs(self, scope: Scope) -> dict[str, set[str]]:
        return self.figure.needs(scope)


def merge_needs(parts: Any) -> dict[str, set[str]]:
    merged: dict[str, set[str]] = {}
    for part in parts:
        for dataset, columns in part.items():
            merged.setdefault(dataset, set()).update(columns)
    return merged
