"""An incremental check gives the full check's report: same checks, findings and statuses.

A lake of synthetic records over three record years (2020-11..2022-03: a year in the middle that
is whole, the first business days of 2021 and 2022 after a year's last) is built once through the
pipeline. Then random sequences of "transforms" inject faults into one or two record years of a
dataset's silver — running totals off by a rounding or beyond, a day or a row gone, a duplicated
key, an unknown or refused value, a NULL key, a row moved to a Saturday, a TGA balance changed
(gold rebuilt from the new silver), a negative balance, the last weeks of Table I cut (its span
moves) — or restore a year, each published as a lake commit naming the years it rebuilt; and
sometimes a new bronze batch (a key twice in one answer, days of its window vanished). After
each (or some) commits the checks run both ways and the reports must be equal; the incremental
one starts from the previous check's kept state, so states carried over several commits are
tested too.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from bronze_pages import PDT_ROW
from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.calendar import iter_business_days, next_business_day
from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.config import Settings
from treasury_lakehouse.engines.duckdb import DuckDBEngine, silver_view_sql
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.ingest.paging import Page, Window
from treasury_lakehouse.lake.commit import LakeCommit, changes_between, write_commit
from treasury_lakehouse.lake.files import new_version
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.quality import CheckContext, QualityReport
from treasury_lakehouse.quality.runner import run_checks
from treasury_lakehouse.quality.store import baseline_from_state, state_document
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.testing.generator import generate_records

#: each test copies a home's folder (its lake) and works on the copy
pytestmark = pytest.mark.folder_lake

PDT, OCB = "public_debt_transactions", "operating_cash_balance"
START, END = date(2020, 11, 2), date(2022, 3, 31)
YEARS = (2020, 2021, 2022)
CASH_ROWS = ("Federal Reserve Account", "Treasury General Account (TGA)")


@pytest.fixture(scope="module")
def base_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ingested and transformed once (lake commit 1); each test works on a copy."""
    root = tmp_path_factory.mktemp("incremental")
    generate_records(root / "records", START, END, seed=11)
    with FakeFiscalDataApi(root / "records") as api:
        settings = make_settings(root / "home", api, start=START, end=END)
        pipeline.ingest(settings)
        pipeline.transform(settings)
    return root / "home"


def days_of(year: int) -> list[date]:
    days = list(iter_business_days(max(date(year, 1, 1), START), min(date(year, 12, 31), END)))
    return [days[0], days[-1], days[1], days[len(days) // 2]]  # the year's edges first


Fault = Callable[[duckdb.DuckDBPyConnection, random.Random, int], None]


def _one_row(con: duckdb.DuckDBPyConnection, rng: random.Random, day: date) -> int:
    """A row of ``day``, or of its year when an earlier fault removed the day."""
    for where in ("record_date = ?", "year(record_date) = year(?)"):
        rows = con.execute(f"SELECT rowid FROM t WHERE {where} ORDER BY rowid", [day]).fetchall()
        if rows:
            return int(rng.choice(rows)[0])
    raise AssertionError(f"no rows left in {day.year}")


def off(column: str, amounts: tuple[int, ...] = (1, -2, 3, 50)) -> Fault:
    def fault(con: duckdb.DuckDBPyConnection, rng: random.Random, year: int) -> None:
        row = _one_row(con, rng, rng.choice(days_of(year)))
        amount = rng.choice(amounts)  # a rounding (warn) or beyond (error)
        con.execute(f"UPDATE t SET {column} = {column} + {amount} WHERE rowid = {row}")

    return fault


def set_value(column: str, value: str | None) -> Fault:
    def fault(con: duckdb.DuckDBPyConnection, rng: random.Random, year: int) -> None:
        row = _one_row(con, rng, rng.choice(days_of(year)))
        con.execute(f"UPDATE t SET {column} = ? WHERE rowid = {row}", [value])

    return fault


def drop_day(con: duckdb.DuckDBPyConnection, rng: random.Random, year: int) -> None:
    con.execute("DELETE FROM t WHERE record_date = ?", [rng.choice(days_of(year))])


def drop_row(con: duckdb.DuckDBPyConnection, rng: random.Random, year: int) -> None:
    con.execute(f"DELETE FROM t WHERE rowid = {_one_row(con, rng, rng.choice(days_of(year)))}")


def duplicate_row(con: duckdb.DuckDBPyConnection, rng: random.Random, year: int) -> None:
    row = _one_row(con, rng, rng.choice(days_of(year)))
    con.execute(f"INSERT INTO t SELECT * FROM t WHERE rowid = {row}")


def to_saturday(con: duckdb.DuckDBPyConnection, rng: random.Random, year: int) -> None:
    day = rng.choice(days_of(year))
    saturday = day + timedelta(days=(5 - day.weekday()) % 7)
    if saturday.year != year:  # stay in the year the commit says it changed
        saturday -= timedelta(days=7)
    con.execute(f"UPDATE t SET record_date = ? WHERE rowid = {_one_row(con, rng, day)}", [saturday])


def cash_balance(column: str) -> Fault:
    """A TGA balance changed: a closing no longer the next business day's opening (a changed
    opening is a finding on the day before, maybe in the year before)."""

    def fault(con: duckdb.DuckDBPyConnection, rng: random.Random, year: int) -> None:
        listed = ", ".join(f"'{n}'" for n in CASH_ROWS)
        con.execute(
            f"UPDATE t SET {column} = {column} + {rng.choice((1, 700))} "
            f"WHERE record_date = ? AND account_type IN ({listed})",
            [rng.choice(days_of(year))],
        )

    return fault


def negative(con: duckdb.DuckDBPyConnection, rng: random.Random, year: int) -> None:
    con.execute(
        f"UPDATE t SET open_month_bal = -5 WHERE rowid = "
        f"{_one_row(con, rng, rng.choice(days_of(year)))}"
    )


def cut_tail(con: duckdb.DuckDBPyConnection, rng: random.Random, year: int) -> None:
    """Table I loses its last weeks of the year: the span of statement days moves."""
    cut = days_of(year)[1] - timedelta(days=20)
    con.execute("DELETE FROM t WHERE record_date >= ? AND year(record_date) = ?", [cut, year])


FAULTS: dict[str, list[Fault]] = {
    PDT: [off("transaction_mtd_amt"), off("transaction_fytd_amt"), drop_day, drop_row,
          duplicate_row, to_saturday, set_value("security_type", "Moon Bonds"),
          set_value("transaction_type", "Swaps"), set_value("transaction_type", None)],
    OCB: [cash_balance("close_today_bal"), cash_balance("open_today_bal"), negative, drop_day,
          drop_row, cut_tail, set_value("account_type", "Moon Account")],
}  # fmt: skip
DEBT, PENNY, REFUNDS = "debt_subject_to_limit", "debt_to_penny", "income_tax_refunds_issued"
#: faults of the cross-dataset checks (quality/debt.py): each joins two datasets, or reads the
#: previous business day, or gold rebuilt from Table III-C
CROSS_FAULTS: dict[str, list[Fault]] = {
    DEBT: [off("close_today_bal", (1, 12, 3_000_000)), off("open_today_bal"), drop_day, drop_row,
           set_value("debt_catg", "Moon Debt")],
    PDT: [off("transaction_today_amt", (2, 40)), drop_day],
    PENNY: [off("tot_pub_debt_out_amt", (1, 5_000_000)), off("intragov_hold_amt"), drop_day],
    REFUNDS: [set_value("tax_refund_type", "Moon Refunds"), drop_row],
}  # fmt: skip


class Lakehouse:
    """The copied lake: publishes silver versions with faults as lake commits."""

    def __init__(self, home: Path, base: Path) -> None:
        shutil.copytree(base, home)
        self.settings = Settings(home=home, engine="duckdb")
        self.lake = Lake(self.settings.lake)
        self.base = self.lake.require_commit()

    def publish(self, rng: random.Random, faults: dict[str, list[Fault]] = FAULTS) -> LakeCommit:
        """One "transform": faults (or a restore) in one or two years of one dataset."""
        name = rng.choice(tuple(faults))
        years = frozenset(rng.sample(YEARS, rng.choice((1, 1, 2))))

        def edit(con: duckdb.DuckDBPyConnection) -> None:
            for year in sorted(years):
                if rng.random() < 0.2:  # restore the year as first transformed
                    base = silver_view_sql(get_dataset(name), self.version(self.base, name))
                    con.execute("DELETE FROM t WHERE year(record_date) = ?", [year])
                    con.execute(f"INSERT INTO t SELECT * FROM ({base}) WHERE year(record_date) = ?",
                                [year])  # fmt: skip
                else:
                    for fault in rng.choices(faults[name], k=3):
                        fault(con, rng, year)

        return self.rewrite(name, edit, years)

    def rewrite(
        self, name: str, edit: Callable[[duckdb.DuckDBPyConnection], object], years: frozenset[int]
    ) -> LakeCommit:
        """A new silver version of ``name`` (``edit`` changes table ``t``), gold rebuilt from it,
        published as a lake commit that names ``years`` as rebuilt."""
        head = self.lake.require_commit()
        with duckdb.connect() as con:
            view = silver_view_sql(get_dataset(name), self.version(head, name))
            con.execute(f"CREATE TABLE t AS {view}")
            edit(con)
            with new_version(self.lake.silver_dir(name)) as out:
                con.execute(
                    "COPY (SELECT *, CAST(year(record_date) AS INTEGER) AS record_year FROM t) "
                    f"TO '{out.directory}' (FORMAT PARQUET, PARTITION_BY (record_year))"
                )
        silver = {**head.silver, name: out.name}
        engine = DuckDBEngine()
        try:
            _, gold = pipeline._build_gold(engine, self.lake, silver)
        finally:
            engine.close()
        return write_commit(self.lake.root, base_seq=head.seq, run_id=f"faults-{head.seq}",
                            purpose="transform", engine="duckdb", silver=silver,
                            quarantine=head.quarantine, gold=gold,
                            changes={name: years})  # fmt: skip

    def ingest(self, rng: random.Random) -> None:
        """A bronze batch of one public debt day, sometimes with a key twice in the answer, its
        window sometimes wider than the day (the other days of it vanish)."""
        day = rng.choice(days_of(rng.choice(YEARS)))
        rows = [{**PDT_ROW, "record_date": day.isoformat()}]
        if rng.random() < 0.5:
            rows.append(dict(rows[0]))
        window = Window(day, day + timedelta(days=rng.choice((0, 6))))
        page = Page(1, rows, {"total-count": len(rows), "total-pages": 1}, "http://fake/pdt")
        assert BronzeStore(self.lake.root).write_batch(get_dataset(PDT), [page], window)

    def version(self, commit: LakeCommit, name: str) -> Path:
        return commit.versions("silver")[name]


def results(report: QualityReport) -> list[tuple[object, ...]]:
    return [
        (r.check, r.table, r.status, r.rows_checked, [f.describe() for f in r.findings])
        for r in report.results
    ]


def rechecked(
    home: Lakehouse, previous: QualityReport, commit: LakeCommit
) -> tuple[QualityReport, QualityReport]:
    """The full and the incremental report of ``commit``, the latter from ``previous``."""
    assert previous.checked is not None and previous.checked.lake_commit is not None
    state = json.loads(json.dumps(state_document(previous)))  # as kept in the lake
    changes = changes_between(home.lake.root, previous.checked.lake_commit, commit)
    assert changes is not None
    full = run_checks(home.lake.root, "full", CTX, commit=commit)
    incremental = run_checks(home.lake.root, "incremental", CTX, commit=commit,
                             baseline=baseline_from_state(state, changes))  # fmt: skip
    return full, incremental


CTX = CheckContext.current(end=END)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_faults_incremental_report_equals_full(
    base_lake: Path, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    home = Lakehouse(tmp_path / "home", base_lake)
    previous = run_checks(home.lake.root, "first", CTX, commit=home.base)
    assert previous.passed, previous.gate_message()
    carried_findings = 0
    for _ in range(7):
        if rng.random() < 0.3:
            home.ingest(rng)
        commit = home.publish(rng)
        if rng.random() < 0.25:
            continue  # not checked: the next check starts from a state two commits back
        full, incremental = rechecked(home, previous, commit)
        assert incremental.checked is not None and incremental.checked.mode == "incremental"
        assert results(incremental) == results(full)
        assert incremental.results == full.results
        carried_findings += sum(len(r.findings) for r in full.results)
        previous = incremental
    assert carried_findings, "the faults should have produced findings"


@pytest.mark.parametrize("seed", [4, 5])
def test_cross_dataset_faults_incremental_report_equals_full(
    base_lake: Path, tmp_path: Path, seed: int
) -> None:
    """The same, with faults in the debt tables, Debt to the Penny and the tax refunds."""
    rng = random.Random(seed)
    home = Lakehouse(tmp_path / "home", base_lake)
    previous = run_checks(home.lake.root, "first", CTX, commit=home.base)
    assert previous.passed, previous.gate_message()
    cross = {"debt_identity", "debt_continuity", "debt_to_penny_vs_statement",
             "debt_to_penny_parts", "headroom", "tax_refund_category"}  # fmt: skip
    found: set[str] = set()
    for _ in range(7):
        commit = home.publish(rng, CROSS_FAULTS)
        full, incremental = rechecked(home, previous, commit)
        assert incremental.checked is not None and incremental.checked.mode == "incremental"
        assert results(incremental) == results(full)
        assert incremental.results == full.results
        found |= {r.check for r in full.results if r.findings and r.check in cross}
        previous = incremental
    assert len(found) >= 3, found


def test_a_fault_in_an_unchanged_year_is_carried_and_its_fix_found(
    base_lake: Path, tmp_path: Path
) -> None:
    """Year boundaries by hand: a running total broken on the first business day of 2022 (its
    previous day is in 2021), then 2021 rebuilt so that the pair holds again."""
    home = Lakehouse(tmp_path / "home", base_lake)
    first = date(2022, 1, 3)
    assert next_business_day(date(2021, 12, 31)) == first
    previous = run_checks(home.lake.root, "first", CTX, commit=home.base)

    def rewrite(sql: str, year: int) -> LakeCommit:
        return home.rewrite(PDT, lambda con: con.execute(sql), frozenset({year}))

    # fiscal-year-to-date of 2021-12-31 off by 9 on every line: that day's pair and 2022-01-03's
    # (the same fiscal year) break; 2022 is not rebuilt, yet its finding must appear
    broken = rewrite("UPDATE t SET transaction_fytd_amt = transaction_fytd_amt + 9 "
                     "WHERE record_date = DATE '2021-12-31'", 2021)  # fmt: skip
    full, incremental = rechecked(home, previous, broken)
    assert incremental.results == full.results
    days = {f.day for f in full.result("running_total_fytd").findings}
    assert days == {date(2021, 12, 31), first}
    previous = incremental
    fixed = rewrite("UPDATE t SET transaction_fytd_amt = transaction_fytd_amt - 9 "
                    "WHERE record_date = DATE '2021-12-31'", 2021)  # fmt: skip
    full, incremental = rechecked(home, previous, fixed)
    assert incremental.results == full.results
    assert full.result("running_total_fytd").findings == ()


def test_table_one_ending_earlier_rechecks_the_days_it_no_longer_spans(
    base_lake: Path, tmp_path: Path
) -> None:
    """Table I loses December 2021 (2021 rebuilt): public debt days of December have no TGA
    balance, errors of 2021. Then Table I loses 2022 (only 2022 rebuilt): its last day moves
    into 2021, so those December days are no longer statement days of its span: the findings
    of an unchanged year go away."""
    home = Lakehouse(tmp_path / "home", base_lake)
    previous = run_checks(home.lake.root, "first", CTX, commit=home.base)
    cut = home.rewrite(OCB, lambda con: con.execute(
        "DELETE FROM t WHERE record_date >= DATE '2021-12-01' AND year(record_date) = 2021"
    ), frozenset({2021}))  # fmt: skip
    full, incremental = rechecked(home, previous, cut)
    assert incremental.results == full.results
    days = {f.day for f in full.result("tga_continuity").findings}
    assert days and all(d is not None and (d.year, d.month) == (2021, 12) for d in days)
    gone = home.rewrite(OCB, lambda con: con.execute(
        "DELETE FROM t WHERE year(record_date) = 2022"), frozenset({2022}))  # fmt: skip
    full, incremental = rechecked(home, incremental, gone)
    assert incremental.results == full.results
    assert full.result("tga_continuity").findings == ()


def test_pipeline_check_starts_from_the_last_passing_report(
    base_lake: Path, tmp_path: Path
) -> None:
    home = Lakehouse(tmp_path / "home", base_lake)
    settings = Settings(home=home.settings.home, engine="duckdb", end=END, memory_limit="256MB")
    first = pipeline.check(settings)
    assert first.checked is not None and first.checked.mode == "full"  # commit 1 says no changes
    assert first.passed
    head = home.lake.require_commit()
    same = write_commit(home.lake.root, base_seq=head.seq, run_id="same", purpose="transform",
                        engine="duckdb", silver=head.silver, quarantine=head.quarantine,
                        gold=head.gold, changes={PDT: frozenset({2021})})  # fmt: skip
    second = pipeline.check(settings)
    assert second.checked is not None
    assert (second.checked.mode, second.checked.since, second.checked.lake_commit) == (
        "incremental", head.seq, same.seq)  # fmt: skip
    assert second.results == run_checks(home.lake.root, "full", CTX, commit=same).results
    kept = json.loads(sorted((home.lake.root / "_quality").glob("*_check.json"))[-1].read_text())
    assert (kept["lake_commit"], kept["mode"], kept["since"]) == (same.seq, "incremental", 1)
    assert len(list((home.lake.root / "_quality").glob("*.state.json.gz"))) == 1
    assert list((settings.home / "tmp").iterdir()) == []  # the spill folder was removed

    # a commit that does not say what it changed: full again
    unknown = write_commit(home.lake.root, base_seq=same.seq, run_id="unknown",
                           purpose="transform", engine="duckdb", silver=head.silver,
                           quarantine=head.quarantine, gold=head.gold)  # fmt: skip
    third = pipeline.check(settings)
    assert third.checked is not None
    assert (third.checked.mode, third.checked.lake_commit) == ("full", unknown.seq)


def test_a_year_whose_quarantine_changed_is_rechecked_even_if_the_commit_omits_it(
    base_lake: Path, tmp_path: Path
) -> None:
    """A commit whose ``changes`` name nothing, yet a Table I row of 2021-12-15 is newly
    quarantined: the day has one row too many and the row is a finding; both are found."""
    home = Lakehouse(tmp_path / "home", base_lake)
    previous = run_checks(home.lake.root, "first", CTX, commit=home.base)
    head = home.lake.require_commit()
    old = head.versions("quarantine")[OCB]
    with duckdb.connect() as con, new_version(home.lake.quarantine_dir(OCB)) as out:
        con.execute(f"CREATE TABLE q AS SELECT * FROM read_parquet('{old}/*.parquet')")
        con.execute(
            "INSERT INTO q (record_date, account_type, quarantine_reason, quarantine_status) "
            "VALUES ('2021-12-15', 'Moon Account', 'open_today_bal: not a CURRENCY0: 1,2', "
            "'outstanding')"
        )
        con.execute(f"COPY q TO '{out.directory / 'quarantine.parquet'}' (FORMAT PARQUET)")
    commit = write_commit(home.lake.root, base_seq=head.seq, run_id="quarantine",
                          purpose="transform", engine="duckdb", silver=head.silver,
                          quarantine={**head.quarantine, OCB: out.name}, gold=head.gold,
                          changes={})  # fmt: skip
    full, incremental = rechecked(home, previous, commit)
    assert incremental.results == full.results
    [extra] = full.result("rows_per_day", f"received_{OCB}").findings
    assert extra.day == date(2021, 12, 15)
