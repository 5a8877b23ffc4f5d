"""Restating public debt as Treasury would: when a day's net issuance (Table III-A) is restated, the
debt it adds shows in the debt table (Table III-C) and in Debt to the Penny too.

Tests that restate ``public_debt_transactions`` amounts use :func:`shift_public_debt` on the fake
API beside it, so the cross-dataset checks (debt identity, continuity, Debt to the Penny against
the statement) hold on the restated data and the quality gate still passes.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from treasury_lakehouse.testing import FakeFiscalDataApi

DEBT_TABLE = "debt_subject_to_limit"
PENNY = "debt_to_penny"
HOLDING = "Debt Held by the Public"
#: Debt to the Penny is in dollars and cents, the statement in millions
MILLION = Decimal(1_000_000)


def shift_public_debt(
    api: FakeFiscalDataApi, first: date, delta: int, until: date | None = None
) -> int:
    """Debt Held by the Public closes ``delta`` million higher on every record date from ``first``
    up to (not including) ``until`` (forever when None), and opens ``delta`` higher on every record
    date after ``first`` up to and including ``until``; Debt to the Penny's total and public part
    move with the close. That is a net issuance of +``delta`` on ``first`` (and of -``delta`` on
    ``until``). Returns the number of rows restated."""
    start, stop = first.isoformat(), until.isoformat() if until else "9999-12-31"
    restated = 0
    for row in api.records(DEBT_TABLE):
        day = row["record_date"]
        if row["debt_catg"] != HOLDING or not start <= day <= stop:
            continue
        changes = {}
        if day < stop:
            changes["close_today_bal"] = str(int(row["close_today_bal"]) + delta)
        if day > start:
            changes["open_today_bal"] = str(int(row["open_today_bal"]) + delta)
        if changes:
            restated += api.restate(DEBT_TABLE, {"record_date": day, "debt_catg": HOLDING}, changes)
    for row in api.records(PENNY):
        day = row["record_date"]
        if not start <= day < stop:
            continue
        changes = {
            field: str(Decimal(row[field]) + delta * MILLION)
            for field in ("tot_pub_debt_out_amt", "debt_held_public_amt")
            if row[field] != "null"
        }
        restated += api.restate(PENNY, {"record_date": day}, changes)
    return restated
