"""The analyst workload of ``docs/queries.sql``: named questions with ``:name`` parameters.

The file is a sequence of questions, each starting with a comment line ``-- name: <question>``;
the comment lines after it describe the question, the SQL up to the next ``-- name:`` line is
the query (one statement, ``;`` optional). A parameter is ``:name`` in the SQL and is replaced by a
SQL literal (:func:`literal`) before the query runs, the same text on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from treasury_lakehouse.errors import WarehouseError
from treasury_lakehouse.sql_quote import quote_literal

_NAME_LINE = re.compile(r"^--\s*name:\s*([a-z][a-z0-9_]*)\s*$")
#: ``:name`` not preceded by a colon or a word character (no ``::`` casts in the file)
_PARAMETER = re.compile(r"(?<![:\w]):([a-z][a-z0-9_]*)\b")

Value = int | Decimal | str | date


@dataclass(frozen=True)
class Question:
    """One named question: its description (comment lines) and its SQL with ``:name``s."""

    name: str
    description: str
    sql: str

    @property
    def parameters(self) -> tuple[str, ...]:
        """The parameter names, in order of first use."""
        return tuple(dict.fromkeys(_PARAMETER.findall(self.sql)))

    def render(self, values: dict[str, Value]) -> str:
        """The SQL with every parameter replaced by the literal of its value."""
        missing = [p for p in self.parameters if p not in values]
        if missing:
            raise WarehouseError(
                f"question {self.name} needs a value for {', '.join(missing)}; pass them all"
            )
        return _PARAMETER.sub(lambda m: literal(values[m.group(1)]), self.sql)


def literal(value: Value) -> str:
    """A SQL literal both DuckDB and PostgreSQL read with the value's type."""
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int | Decimal):
        return str(value)
    return quote_literal(value)


def parse_questions(text: str) -> dict[str, Question]:
    """The questions of a workload file's text, by name, in file order."""
    questions: dict[str, Question] = {}
    name: str | None = None
    comments: list[str] = []
    body: list[str] = []

    def close() -> None:
        if name is None:
            return
        sql = "\n".join(body).strip().rstrip(";").strip()
        if not sql or ";" in sql:
            raise WarehouseError(f"question {name} must hold exactly one SQL statement")
        questions[name] = Question(name, "\n".join(comments), sql)

    for line in text.splitlines():
        match = _NAME_LINE.match(line.strip())
        if match:
            close()
            name, comments, body = match.group(1), [], []
            if name in questions:
                raise WarehouseError(f"question {name} is defined twice")
        elif line.lstrip().startswith("--"):
            if name is not None and not body:
                comments.append(line.lstrip()[2:].strip())
        elif name is not None:
            body.append(line)
    close()
    return questions


def read_questions(path: Path) -> dict[str, Question]:
    """The questions of a workload file (``docs/queries.sql``)."""
    return parse_questions(path.read_text(encoding="utf-8"))
