"""Cross-dataset checks of the public debt (ARCHITECTURE 6c).

The grading follows :mod:`~treasury_lakehouse.quality.treasury`: an identity between rounded
figures that holds exactly is no finding, a difference within the rounding is a ``warn`` (counted,
not blocking), beyond it an ``error``; an identity between the same figure published twice, or
exact to the cent, has no tolerance.

* **debt_identity** — on every day in both Table III-C (``debt_subject_to_limit``) and Table III-A
  (``public_debt_transactions``): the change of total public debt outstanding, close − open of
  the rows 'Debt Held by the Public' and 'Intragovernmental Holdings', equals net issuance,
  Σ Issues − Σ Redemptions of ``transaction_today_amt``; tolerance ±10 (some 25 rounded figures).
  A day of both tables lacking a holding row or balance is an error.
* **debt_continuity** — each row of Table III-C but 'Statutory Debt Limit' (a figure set by law,
  changed between two days when it is raised) opens at the previous business day's close of the
  same row; one figure published twice: no tolerance. Only pairs of days both present.
* **debt_to_penny_vs_statement** — Debt to the Penny's total (dollars and cents) / 10^6 equals the
  statement's total public debt outstanding (the two holdings' close, whole millions) of the same
  day; tolerance ±1 (two figures each rounded to a million). Exact decimals, never floats. Within
  the tolerance is no finding at all, not a warning: exact dollars against rounded millions
  differ on nearly every day, so a warning would say nothing.
* **debt_to_penny_parts** — held by the public + intragovernmental = total, to the cent, wherever
  both parts are given (the 1993 records give only the total).
* **headroom** — in ``gold_daily_debt_limit``, while the limit is in force, statutory limit − debt
  subject to limit is never negative, and is the ``headroom_usd_mil`` gold publishes.

The two checks that join tables read a view of one row per day, built by the runner from the
silver tables it has (:data:`CROSS_VIEWS`): a check runs only when all its datasets are present.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from treasury_lakehouse.calendar import previous_business_day
from treasury_lakehouse.catalog import (
    DEBT_SUBJECT_TO_LIMIT,
    DEBT_TO_PENNY,
    PUBLIC_DEBT_TRANSACTIONS,
)
from treasury_lakehouse.quality import narrow
from treasury_lakehouse.quality.results import Finding
from treasury_lakehouse.quality.spec import (
    Check,
    CheckContext,
    Row,
    Rows,
    as_date,
    describe_key,
    period_local,
)
from treasury_lakehouse.quality.treasury import grade
from treasury_lakehouse.sql_quote import quote_literal as _lit

HELD_BY_PUBLIC = "Debt Held by the Public"
INTRAGOVERNMENTAL = "Intragovernmental Holdings"
STATUTORY_LIMIT = "Statutory Debt Limit"
ISSUES, REDEMPTIONS = "Issues", "Redemptions"

#: millions of USD
DEBT_IDENTITY_TOLERANCE = 10
PENNY_TOLERANCE = Decimal(1)

DEBT_LIMIT_SILVER = f"silver_{DEBT_SUBJECT_TO_LIMIT.name}"
PENNY_SILVER = f"silver_{DEBT_TO_PENNY.name}"
DEBT_TX_SILVER = f"silver_{PUBLIC_DEBT_TRANSACTIONS.name}"
DEBT_LIMIT_GOLD = "gold_daily_debt_limit"

#: one row per day of both Table III-C and Table III-A: the holdings and the day's issuance
DEBT_DAYS = "debt_identity_days"
#: one row per day of both Debt to the Penny and Table III-C: the penny total and the holdings
PENNY_DAYS = "penny_statement_days"

_LINE = ("debt_catg", "debt_catg_desc")
_HOLDINGS = {"public": HELD_BY_PUBLIC, "intragov": INTRAGOVERNMENTAL}


def _mil(value: int) -> str:
    return f"{value:,} million USD"


def _holding_columns(balances: tuple[str, ...]) -> str:
    """Per holding and balance (``open``, ``close``), its ``<balance>_today_bal`` on the day as
    ``<holding>_<balance>`` (NULL when the row is missing)."""
    return ", ".join(
        f"MAX({b}_today_bal) FILTER (WHERE debt_catg = {_lit(name)}) AS {key}_{b}"
        for key, name in _HOLDINGS.items()
        for b in balances
    )


def debt_days_sql(sources: Mapping[str, str]) -> str:
    """:data:`DEBT_DAYS` over the silver SELECTs in ``sources``."""
    return f"""
WITH debt AS (SELECT record_date, {_holding_columns(("open", "close"))}
              FROM ({sources[DEBT_LIMIT_SILVER]}) AS d GROUP BY record_date),
tx AS (SELECT record_date,
              COALESCE(SUM(transaction_today_amt)
                       FILTER (WHERE transaction_type = {_lit(ISSUES)}), 0) AS issues,
              COALESCE(SUM(transaction_today_amt)
                       FILTER (WHERE transaction_type = {_lit(REDEMPTIONS)}), 0) AS redemptions
       FROM ({sources[DEBT_TX_SILVER]}) AS t GROUP BY record_date)
SELECT debt.*, tx.issues, tx.redemptions FROM debt JOIN tx USING (record_date)
WHERE record_date IS NOT NULL
"""


def penny_days_sql(sources: Mapping[str, str]) -> str:
    """:data:`PENNY_DAYS` over the silver SELECTs in ``sources``."""
    return f"""
WITH debt AS (SELECT record_date, {_holding_columns(("close",))}
              FROM ({sources[DEBT_LIMIT_SILVER]}) AS d GROUP BY record_date)
SELECT p.record_date, p.tot_pub_debt_out_amt, debt.public_close, debt.intragov_close
FROM ({sources[PENNY_SILVER]}) AS p JOIN debt USING (record_date)
WHERE record_date IS NOT NULL
"""


#: the views the runner adds to its sources: name → (the tables it needs, its SELECT)
CROSS_VIEWS: Mapping[str, tuple[tuple[str, ...], Callable[[Mapping[str, str]], str]]] = {
    DEBT_DAYS: ((DEBT_LIMIT_SILVER, DEBT_TX_SILVER), debt_days_sql),
    PENNY_DAYS: ((DEBT_LIMIT_SILVER, PENNY_SILVER), penny_days_sql),
}


def add_cross_views(sources: dict[str, str]) -> None:
    """Add to ``sources`` each view of :data:`CROSS_VIEWS` whose tables are all there."""
    for name, (needs, build) in CROSS_VIEWS.items():
        if all(table in sources for table in needs):
            sources[name] = build(sources)


def _missing_holdings(row: Row, balances: tuple[str, ...]) -> str:
    missing = [
        f"{name} {balance} balance"
        for key, name in _HOLDINGS.items()
        for balance in balances
        if row.get(f"{key}_{balance}") is None
    ]
    return " and ".join(missing)


def _day_of(row: Row) -> date:
    day = as_date(row["record_date"])
    assert day is not None  # the views keep dated rows only
    return day


# --------------------------------------------------------------------------- debt identity


def debt_identity(rows: Rows, ctx: CheckContext) -> list[Finding]:
    """Per row of :data:`DEBT_DAYS`: Δ(held by the public + intragovernmental) = issues −
    redemptions, within :data:`DEBT_IDENTITY_TOLERANCE` (a warning)."""
    findings = []
    for r in sorted(rows, key=_day_of):
        day = _day_of(r)
        where = f"record_date={day.isoformat()}, {HELD_BY_PUBLIC} + {INTRAGOVERNMENTAL}"
        missing = _missing_holdings(r, ("open", "close"))
        if missing:
            findings.append(
                Finding("error", day, where,
                        f"the day has public debt transactions but no {missing} in "
                        f"{DEBT_LIMIT_SILVER} (a missing or quarantined row)")
            )  # fmt: skip
            continue
        public = int(r["public_close"]) - int(r["public_open"])
        intragov = int(r["intragov_close"]) - int(r["intragov_open"])
        issues, redemptions = int(r["issues"]), int(r["redemptions"])
        difference = (public + intragov) - (issues - redemptions)
        severity = grade(difference, DEBT_IDENTITY_TOLERANCE)
        if severity:
            findings.append(
                Finding(severity, day, where,
                        f"change in total public debt outstanding {public + intragov:+,} "
                        f"({HELD_BY_PUBLIC} {r['public_open']:,} -> {r['public_close']:,}, "
                        f"{INTRAGOVERNMENTAL} {r['intragov_open']:,} -> {r['intragov_close']:,}) "
                        f"!= net issuance {issues - redemptions:+,} (issues {issues:,} - "
                        f"redemptions {redemptions:,}), off by {difference:+,}")
            )  # fmt: skip
    return findings


def _unbalanced_debt_days(source: str) -> str:
    change = "(public_close - public_open) + (intragov_close - intragov_open)"
    nulls = " OR ".join(f"{key}_{b} IS NULL" for key in _HOLDINGS for b in ("open", "close"))
    return f"SELECT * FROM ({source}) AS t WHERE {nulls} OR {change} - (issues - redemptions) <> 0"


# --------------------------------------------------------------------------- continuity


def debt_continuity(rows: Rows, ctx: CheckContext) -> list[Finding]:
    """Each row but the statutory limit opens at its close of the previous business day."""
    index: dict[tuple[Any, ...], Row] = {}
    for r in rows:
        if r.get("debt_catg") != STATUTORY_LIMIT:
            index[(as_date(r["record_date"]), *(r.get(c) for c in _LINE))] = r
    findings = []
    for (day, *line), r in sorted(index.items(), key=lambda kv: str(kv[0])):
        if day is None or r.get("open_today_bal") is None:
            continue
        previous = previous_business_day(day)
        before = index.get((previous, *line))
        if before is None or before.get("close_today_bal") is None:
            continue  # only pairs of consecutive business days both present are checked
        opening, closing = int(r["open_today_bal"]), int(before["close_today_bal"])
        if opening != closing:
            findings.append(
                Finding("error", day, describe_key(r, ("record_date", *_LINE)),
                        f"open_today_bal {_mil(opening)} != close_today_bal {_mil(closing)} "
                        f"of {previous} (previous business day), off by {opening - closing:+,}")
            )  # fmt: skip
    return findings


# --------------------------------------------------------------------------- Debt to the Penny


def _usd(value: Decimal) -> str:
    return f"{value:,.2f} USD"


def penny_vs_statement(rows: Rows, ctx: CheckContext) -> list[Finding]:
    """Per row of :data:`PENNY_DAYS`: penny total / 10^6 = held by the public + intragovernmental
    of the statement, within :data:`PENNY_TOLERANCE`. No warning level: an exact figure against
    two rounded ones differs on almost every day (61 of the 61 real ones), which tells nothing."""
    findings = []
    for r in sorted(rows, key=_day_of):
        day, total = _day_of(r), r.get("tot_pub_debt_out_amt")
        where = f"record_date={day.isoformat()}, tot_pub_debt_out_amt"
        if total is None:
            continue  # nothing to compare; a NULL total with parts is debt_to_penny_parts'
        missing = _missing_holdings(r, ("close",))
        if missing:
            findings.append(
                Finding("error", day, where,
                        f"Debt to the Penny has the day but the statement has no {missing} "
                        f"in {DEBT_LIMIT_SILVER} (a missing or quarantined row)")
            )  # fmt: skip
            continue
        public, intragov = int(r["public_close"]), int(r["intragov_close"])
        penny = Decimal(total).scaleb(-6)  # exact: dollars to millions
        difference = penny - (public + intragov)
        if abs(difference) > PENNY_TOLERANCE:
            findings.append(
                Finding("error", day, where,
                        f"Debt to the Penny {_usd(Decimal(total))} = {penny:,} million USD != "
                        f"the statement's total public debt outstanding "
                        f"{_mil(public + intragov)} ({HELD_BY_PUBLIC} {public:,} + "
                        f"{INTRAGOVERNMENTAL} {intragov:,}), off by {difference:+,}")
            )  # fmt: skip
    return findings


def _penny_off_statement(source: str) -> str:
    statement = "CAST(public_close + intragov_close AS DECIMAL(38, 2)) * 1000000"
    return (
        f"SELECT * FROM ({source}) AS t WHERE tot_pub_debt_out_amt IS NOT NULL AND "
        f"(public_close IS NULL OR intragov_close IS NULL OR tot_pub_debt_out_amt <> {statement})"
    )


def penny_parts(rows: Rows, ctx: CheckContext) -> list[Finding]:
    """Held by the public + intragovernmental = total, to the cent, where both parts are given."""
    findings = []
    for r in rows:
        public, intragov = r.get("debt_held_public_amt"), r.get("intragov_hold_amt")
        if public is None or intragov is None:
            continue
        day, total = as_date(r["record_date"]), r.get("tot_pub_debt_out_amt")
        parts = Decimal(public) + Decimal(intragov)
        if total is not None and parts == Decimal(total):
            continue
        stated = "NULL" if total is None else _usd(Decimal(total))
        off = "" if total is None else f", off by {parts - Decimal(total):+,.2f}"
        findings.append(
            Finding("error", day, describe_key(r, ("record_date",)),
                    f"debt_held_public_amt {_usd(Decimal(public))} + intragov_hold_amt "
                    f"{_usd(Decimal(intragov))} = {_usd(parts)} != tot_pub_debt_out_amt "
                    f"{stated}{off}")
        )  # fmt: skip
    return findings


def _unbalanced_penny(source: str) -> str:
    return (
        f"SELECT * FROM ({source}) AS t WHERE debt_held_public_amt IS NOT NULL AND "
        "intragov_hold_amt IS NOT NULL AND (tot_pub_debt_out_amt IS NULL OR "
        "debt_held_public_amt + intragov_hold_amt <> tot_pub_debt_out_amt)"
    )


# --------------------------------------------------------------------------- headroom

_GOLD_LIMIT = ("statutory_debt_limit_usd_mil", "debt_subject_to_limit_usd_mil")


def headroom(rows: Rows, ctx: CheckContext) -> list[Finding]:
    """Rows of ``gold_daily_debt_limit`` with the limit in force whose limit − debt subject to
    limit is negative, or is not the ``headroom_usd_mil`` gold publishes, or cannot be computed
    (no debt subject to limit)."""
    findings = []
    for r in rows:
        limit, debt = (r.get(c) for c in _GOLD_LIMIT)
        if r.get("limit_suspended") or limit is None:
            continue  # suspended: no limit, no headroom
        day = as_date(r["record_date"])
        where = f"record_date={day}, headroom_usd_mil" if day else "headroom_usd_mil"
        if debt is None:
            findings.append(
                Finding("error", day, where,
                        f"the limit {_mil(int(limit))} is in force but gold has no debt subject "
                        "to limit (a holding row of Table III-C is missing or quarantined)")
            )  # fmt: skip
            continue
        room, published = int(limit) - int(debt), r.get("headroom_usd_mil")
        if room < 0:
            findings.append(
                Finding("error", day, where,
                        f"debt subject to limit {_mil(int(debt))} exceeds the statutory limit "
                        f"{_mil(int(limit))} in force: headroom {room:+,}")
            )  # fmt: skip
        if published is None or int(published) != room:
            findings.append(
                Finding("error", day, where,
                        f"gold publishes headroom {published} but limit {int(limit):,} - debt "
                        f"subject to limit {int(debt):,} = {room:,}")
            )  # fmt: skip
    return findings


def _bad_headroom(source: str) -> str:
    limit, debt = _GOLD_LIMIT
    return (
        f"SELECT * FROM ({source}) AS t WHERE NOT COALESCE(limit_suspended, FALSE) AND "
        f"{limit} IS NOT NULL AND ({debt} IS NULL OR {limit} - {debt} < 0 OR "
        f"headroom_usd_mil IS DISTINCT FROM {limit} - {debt})"
    )


# --------------------------------------------------------------------------- the registry


def debt_checks() -> list[Check]:
    """The cross-dataset debt checks, declared once."""
    dsl, pdt, penny = DEBT_SUBJECT_TO_LIMIT.name, PUBLIC_DEBT_TRANSACTIONS.name, DEBT_TO_PENNY.name
    line_columns = ("record_date", *_LINE, "open_today_bal", "close_today_bal")
    penny_columns = ("record_date", "debt_held_public_amt", "intragov_hold_amt",
                     "tot_pub_debt_out_amt")  # fmt: skip
    return [
        Check("debt_identity", DEBT_LIMIT_SILVER, "error",
              f"change in total public debt outstanding (close - open of {HELD_BY_PUBLIC} + "
              f"{INTRAGOVERNMENTAL}, {dsl}) = net issuance (issues - redemptions, {pdt}), on "
              "every day of both tables",
              f"±{DEBT_IDENTITY_TOLERANCE} million USD is a warning",
              debt_identity, reads=DEBT_DAYS, sql=_unbalanced_debt_days,
              scope=period_local(dsl, pdt)),
        Check("debt_continuity", DEBT_LIMIT_SILVER, "error",
              f"each row but {STATUTORY_LIMIT} opens at its close of the previous business day",
              "0 (the same figure published twice)", debt_continuity, line_columns,
              sql=narrow.broken_line_continuity(
                  _LINE, "open_today_bal", "close_today_bal",
                  f"debt_catg IS DISTINCT FROM {_lit(STATUTORY_LIMIT)}", line_columns),
              scope=period_local(dsl, before=1)),
        Check("debt_to_penny_vs_statement", PENNY_SILVER, "error",
              "Debt to the Penny's total / 10^6 = the statement's total public debt outstanding "
              f"({HELD_BY_PUBLIC} + {INTRAGOVERNMENTAL} close, {dsl}), on every day of both",
              f"±{PENNY_TOLERANCE} million USD (exact decimals; within it no finding)",
              penny_vs_statement, reads=PENNY_DAYS, sql=_penny_off_statement,
              scope=period_local(penny, dsl)),
        Check("debt_to_penny_parts", PENNY_SILVER, "error",
              "held by the public + intragovernmental = total, wherever both parts are given",
              "0 (to the cent)", penny_parts, penny_columns, sql=_unbalanced_penny,
              scope=period_local(penny)),
        Check("headroom", DEBT_LIMIT_GOLD, "error",
              "statutory limit - debt subject to limit is never negative while the limit is in "
              "force, and is the headroom gold publishes", "none", headroom,
              ("record_date", *_GOLD_LIMIT, "limit_suspended", "headroom_usd_mil"),
              sql=_bad_headroom, scope=period_local(dsl)),
    ]  # fmt: skip
