"""The shape of a check: a named, pure function of one table's rows, with a severity and a why.

The runner calls :attr:`Check.evaluate` with rows of the table a check names (``silver_<dataset>``,
``bronze_<dataset>`` or a gold table) as dicts: only the rows of :attr:`Check.sql` run over it in
DuckDB when the check has SQL, else the whole table. Nothing in a check touches the disk, so each
one is tested with a handful of hand-written rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from treasury_lakehouse.quality.results import Finding, Severity

Row = Mapping[str, Any]
Rows = Sequence[Row]


@dataclass(frozen=True)
class CheckContext:
    """What a check may know besides its rows: the clock and the window asked for."""

    now: datetime
    #: the last record date asked for (``--end``); freshness does not expect days after it
    end: date | None = None

    @classmethod
    def current(cls, end: date | None = None) -> CheckContext:
        return cls(datetime.now(UTC), end)


@dataclass(frozen=True)
class Scope:
    """What a check's findings depend on, so an incremental check reruns only what can change
    (:mod:`~treasury_lakehouse.quality.incremental`).

    Dataset-wide (the default): rerun whole every time. Period-local: a finding on day d
    depends only on rows of ``datasets`` dated d, up to ``before`` business days before it and
    ``after`` business days after it (plus rows without a date, always reread), and, with
    ``span_of``, on that dataset's first and last record date. Batch-local (``batches_of``): a
    finding is about one committed bronze batch of that dataset, which never changes.
    Window-local (``windows_of``): a finding on day d depends only on the bronze batches of that
    dataset whose requested window contains d or which hold a row dated d.
    """

    datasets: tuple[str, ...] = ()
    before: int = 0
    after: int = 0
    span_of: str | None = None
    batches_of: str | None = None
    windows_of: str | None = None

    @property
    def period_local(self) -> bool:
        return bool(self.datasets)


#: reread whole by every check
DATASET_WIDE = Scope()


def period_local(
    *datasets: str, before: int = 0, after: int = 0, span_of: str | None = None
) -> Scope:
    """The scope of a check whose findings are per day of ``datasets`` (see :class:`Scope`)."""
    return Scope(tuple(datasets), before, after, span_of)


def batch_local(dataset: str) -> Scope:
    """The scope of a check whose findings are each about one bronze batch of ``dataset``."""
    return Scope(batches_of=dataset)


def window_local(dataset: str) -> Scope:
    """The scope of a check whose finding on a day depends only on the batches of ``dataset``
    whose window contains that day or which hold a row of it (see :class:`Scope`)."""
    return Scope(windows_of=dataset)


Evaluate = Callable[[Rows, CheckContext], list[Finding]]
#: the SQL of a check: from its source's SELECT, a SELECT of only the rows its findings need
Narrow = Callable[[str], str]


@dataclass(frozen=True)
class Check:
    """One declarative check: what it is called, what it reads and how bad a finding is."""

    name: str
    table: str
    severity: Severity
    description: str
    tolerance: str
    evaluate: Evaluate
    #: columns the check reads (the runner loads only these); empty = every column
    columns: tuple[str, ...] = ()
    #: the relation the runner reads when it is not ``table`` itself (a view over it)
    reads: str | None = None
    #: when set, the runner hands :attr:`evaluate` only the rows of this query over the source
    #: (see :mod:`~treasury_lakehouse.quality.narrow`), not the whole table
    sql: Narrow | None = None
    #: which findings a change can alter (dataset-wide unless stated)
    scope: Scope = DATASET_WIDE

    @property
    def source(self) -> str:
        """The relation whose rows :attr:`evaluate` gets."""
        return self.reads or self.table


def describe_key(row: Row, columns: Sequence[str]) -> str:
    """``a=1, b=x`` for the given columns of a row (how findings name a row)."""
    return ", ".join(f"{c}={_show(row.get(c))}" for c in columns)


def _show(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def as_date(value: Any) -> date | None:
    """A record date from silver (a date) or bronze (an ISO string)."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None
