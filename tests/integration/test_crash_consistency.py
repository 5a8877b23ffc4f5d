"""Crash consistency (issue #9): 100 SIGKILLs at random moments of ingest, transform, check and
load into the embedded DuckDB warehouse, each followed by an in-process ``pipeline.run``.

After every rerun: gold in the warehouse equals the independent computation over the records the
fake API serves (restatements included), silver keys are unique, the row accounting holds,
``verify`` finds no damage and no temporary file is left in the home. The API's ``today`` moves
forward as the kills go on (new bronze batches), every tenth kill restates a value inside the
lookback window, and a new home starts every 25 kills. ``TREASURY_CRASH_SEED`` (default 20261202)
and ``TREASURY_CRASH_KILLS`` (100) change the seed and the number of kills; both are printed with
the histogram of kill points.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import make_settings
from crash_harness import MODES, REQUIRED_STAGES, Kill, Timeline, forkserver, kill_at_random
from debt_restatement import shift_public_debt
from independent_gold import Row, apply_restatement, expected_gold, read_records
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.config import Settings
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.lake.layout import Lake, read_build_info
from treasury_lakehouse.testing import FakeFiscalDataApi

PDT, OCB = "public_debt_transactions", "operating_cash_balance"
FIRST, LAST = date(2022, 3, 1), date(2022, 5, 31)
#: the API's first ``today``; a home's second window re-reads the lookback (7 days) before its
#: first ``today``, so a home started then holds every record from EARLIEST on
FIRST_TODAY = date(2022, 3, 4)
LOOKBACK = timedelta(days=7)
EARLIEST = FIRST_TODAY - LOOKBACK
#: a new home every this many kills: bronze batches pile up (one per ingest), and a rerun reads
#: them all, so one home for all the kills would cost twice the time
KILLS_PER_HOME = 25
#: how often each kill mode is drawn: whole runs, and each facade step on its own
MODE_WEIGHTS = {"run": 4, "ingest": 2, "transform": 2, "check": 1, "load": 2}
RESTATE_EVERY = 10

#: 100 kills and reruns over all eight datasets took 895 s here on 2 loaded cores, at the suite's
#: 900 s hang guard; this test's guard is wider (speed is measured by make bench, not here)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]


def _next_business_day(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


class Expected:
    """The records the fake API serves, with the same restatements applied."""

    def __init__(self, records: Path) -> None:
        self.rows = {name: read_records(records, name, EARLIEST, LAST) for name in (PDT, OCB)}
        self.restated = 0
        #: the first record date the current home holds
        self.since = EARLIEST

    def served(self, name: str, today: date) -> list[Row]:
        since, until = self.since.isoformat(), today.isoformat()
        return [r for r in self.rows[name] if since <= r["record_date"] <= until]

    def restate(self, api: FakeFiscalDataApi, today: date, rng: random.Random) -> None:
        """Move an amount between two consecutive days of one key, the first dated in the few days
        before ``today`` (inside the lookback), the next in the same month: the running totals
        (month and fiscal year to date) stay consistent, and so does the debt between the two days
        (:func:`debt_restatement.shift_public_debt`), so the quality gate passes."""
        since, keys = (today - timedelta(days=5)).isoformat(), get_dataset(PDT).natural_key
        rows = sorted(self.rows[PDT], key=lambda r: r["record_date"])
        following: dict[tuple[str, ...], Row] = {}
        pairs = []
        for row in reversed(rows):
            key = tuple(row[k] for k in keys[1:])
            after = following.get(key)
            following[key] = row
            if since <= row["record_date"] <= today.isoformat() and after is not None:
                same_month = after["record_date"][:7] == row["record_date"][:7]
                if same_month and _amounts(row, after) and _movable(row, after):
                    pairs.append((row, after))
        first, second = rng.choice(sorted(pairs, key=lambda p: [p[0][k] for k in keys]))
        amounts = (int(first["transaction_today_amt"]), int(second["transaction_today_amt"]))
        low, high = -max(amounts[0], 0), max(amounts[1], 0)  # no positive amount turns negative
        delta = _delta(rng, low, high)
        changes = [
            (first, {f: str(int(first[f]) + delta) for f in _AMOUNTS}),
            (second, {"transaction_today_amt": str(int(second["transaction_today_amt"]) - delta)}),
        ]
        for row, change in changes:
            match = {k: row[k] for k in keys}
            assert api.restate(PDT, match, change) == 1
            assert apply_restatement(self.rows[PDT], match, change) == 1
        # the debt table and Debt to the Penny carry the moved issuance from the first day to the
        # second (the debt identity and continuity checks hold)
        first_day, second_day = (date.fromisoformat(r["record_date"]) for r in (first, second))
        issued = delta if first["transaction_type"] == "Issues" else -delta  # redemptions lower it
        shift_public_debt(api, first_day, issued, until=second_day)
        self.restated += 1


_AMOUNTS = ("transaction_today_amt", "transaction_mtd_amt", "transaction_fytd_amt")


def _delta(rng: random.Random, low: int, high: int) -> int:
    """A random non-zero amount in ``low..high`` (``low <= 0 <= high``, not both zero)."""
    options = ([rng.randint(low, -1)] if low < 0 else []) + ([rng.randint(1, high)] if high else [])
    return rng.choice(options)


def _movable(first: Row, second: Row) -> bool:
    """Some amount can move from the first day to the second or back (none goes negative)."""
    return int(first["transaction_today_amt"]) > 0 or int(second["transaction_today_amt"]) > 0


def _amounts(*rows: Row) -> bool:
    return all(r[f].strip().lstrip("-").isdigit() for r in rows for f in _AMOUNTS)


def _check_gold(settings: Settings, expected: Expected, today: date) -> None:
    gold = expected_gold(expected.served(PDT, today), expected.served(OCB, today))
    with duckdb.connect(str(settings.duckdb_warehouse_path), read_only=True) as warehouse:
        tables = {t: warehouse.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in gold}
    for table, rows in gold.items():
        got = sorted(tables[table])
        extra, missing = sorted(set(got) - set(rows)), sorted(set(rows) - set(got))
        assert got == rows, (
            f"{table} (today {today}): unexpected {extra[:3]}, missing {missing[:3]}"
        )


def _query(sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect() as con:
        return con.execute(sql).fetchall()


def _check_silver(settings: Settings) -> None:
    """Unique natural keys, and rows_in = silver + superseded + deleted + quarantined = the rows
    of every committed bronze batch, in the commit and in each version's build info."""
    commit = Lake(settings.lake).require_commit()
    bronze = BronzeStore(settings.lake)
    for name, version in commit.versions("silver").items():
        keys = ", ".join(get_dataset(name).natural_key)
        files = f"{version}/**/*.parquet"
        duplicates = _query(
            f"SELECT {keys}, count(*) FROM read_parquet('{files}') GROUP BY ALL HAVING count(*) > 1"
        )
        assert duplicates == [], f"{name}: duplicate keys in silver {version.name}"
        info, counts = read_build_info(version), commit.counts["silver"].get(name)
        accounting = {
            k: info[k] for k in ("rows_in", "silver", "superseded", "deleted", "quarantined")
        }
        assert counts is not None, f"{name}: no row accounting in lake commit {commit.seq}"
        assert accounting.items() <= counts.items(), f"{name}: commit {counts} vs {accounting}"
        parts = info["silver"] + info["superseded"] + info["deleted"] + info["quarantined"]
        assert info["rows_in"] == parts, f"{name}: rows_in {info['rows_in']} != {accounting}"
        bronze_rows = sum(b.rows for b in bronze.batches(name))
        assert info["rows_in"] == bronze_rows, f"{name}: rows_in != {bronze_rows} bronze rows"
        silver_rows = _query(f"SELECT count(*) FROM read_parquet('{files}')")
        assert silver_rows == [(info["silver"],)], f"{name}: silver rows != build info"


def _leftovers(home: Path) -> list[str]:
    return sorted(
        str(p.relative_to(home))
        for p in home.rglob("*")
        if ".tmp-" in p.name or "building" in p.name or p.name.endswith(".wal")
    )


def _check_rerun(settings: Settings, expected: Expected, today: date) -> None:
    _check_gold(settings, expected, today)
    _check_silver(settings)
    report = pipeline.verify(settings)
    assert report.ok, [d.summary() for d in report.damaged]
    assert _leftovers(settings.home) == [], "temporary files left after the rerun"


class Aim:
    """Draws kill modes and moments: half the kills a random delay from the child's start, the
    others a random moment inside the stage of the mode killed least so far (or inside its first
    step), as long as that stage or step lasted in the last rerun."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.hits = rng, Counter[str]()
        self.durations: dict[str, float] = {}
        self.first_steps: dict[str, float] = {}

    def draw(self) -> tuple[str, str, float]:
        modes, weights = zip(*MODE_WEIGHTS.items(), strict=True)
        mode = self.rng.choices(modes, weights)[0]
        stages = MODES[mode]
        if self.rng.random() < 0.5:
            total = sum(self.durations.get(s, 0.5) for s in stages)
            return mode, "start", self.rng.uniform(0.0, total * 1.05)
        after = min(stages[1:], key=lambda s: (self.hits[s], self.rng.random()))
        # within the whole stage, or within its first step (the commit's write, not its prune)
        lasted = self.rng.choice([self.durations, self.first_steps]).get(after, 0.2)
        return mode, after, self.rng.uniform(0.0, lasted)


@pytest.fixture
def timeline() -> Iterator[Timeline]:
    logger = logging.getLogger("treasury_lakehouse")
    level, handler = logger.level, Timeline()
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _rerun(settings: Settings, kill: Kill, timeline: Timeline) -> None:
    timeline.begin()
    try:
        pipeline.run(settings)
    except Exception as error:
        pytest.fail(f"the rerun after a kill in {kill} failed: {type(error).__name__}: {error}")
    timeline.end()


class Spent(Counter[str]):
    """Seconds spent per phase of the loop, and iterations (a child may end before its kill)."""

    def tick(self, phase: str, since: float) -> float:
        now = time.monotonic()
        self[phase] += now - since  # type: ignore[assignment]
        self[f"{phase} n"] += 1
        return now

    def __str__(self) -> str:
        phases = ("child", "rerun", "checks")
        return f"{self['child n']} iterations; seconds: " + ", ".join(
            f"{p} {self[p]:.1f}" for p in phases
        )


def _detail(kill: Kill) -> str:
    """The kill point without run ids: ``silver operating_cash_balance``, ``commit write``..."""
    words = kill.point.split()
    if kill.stage == "commit" and words[1:] != ["prune"]:
        return "commit write"
    return " ".join(words[:2]) if kill.stage != "exit" else "exit"


def _report(seed: int, kills: list[Kill], seconds: float, expected: Expected, days: int) -> str:
    stages = Counter(k.stage for k in kills)
    points = Counter(f"{k.stage} {k.mode}" for k in kills)
    details = Counter(_detail(k) for k in kills)
    lines = [
        f"crash test: seed {seed}, {len(kills)} SIGKILLs, {seconds:.1f} s, "
        f"{expected.restated} restatements, {days} business days advanced",
        "kill points by stage: " + ", ".join(f"{s} {n}" for s, n in sorted(stages.items())),
        "by stage and mode: " + ", ".join(f"{p} {n}" for p, n in sorted(points.items())),
        "by marker: " + ", ".join(f"{p} {n}" for p, n in sorted(details.items())),
    ]
    return "\n".join(lines)


def _new_home(
    home: Path, api: FakeFiscalDataApi, timeline: Timeline, **more: Any
) -> tuple[Settings, dict[str, Any]]:
    """A fresh home with a first (unkilled) run; its settings, and as keywords for the child
    (``more``: other settings, such as a lake in a bucket)."""
    settings = make_settings(home, api, initial_start=FIRST, **more)
    kwargs = {
        "home": settings.home,
        "api_url": settings.api_url,
        "initial_start": FIRST,
        "retry_budget_s": settings.retry_budget_s,
        "timeout_s": settings.timeout_s,
        **more,
    }
    timeline.begin()
    pipeline.run(settings)
    timeline.end()
    return settings, kwargs


def test_sigkill_at_random_moments_then_rerun_keeps_the_lake_and_warehouse_consistent(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path, timeline: Timeline
) -> None:
    started = time.monotonic()
    seed = int(os.environ.get("TREASURY_CRASH_SEED", "20261202"))
    wanted = int(os.environ.get("TREASURY_CRASH_KILLS", "100"))
    print(f"crash test seed {seed} (TREASURY_CRASH_SEED), {wanted} kills")
    rng, context = random.Random(seed), forkserver()
    expected = Expected(synthetic_records)
    today = fake_api.today = FIRST_TODAY
    aim, kills, days, spent, homes = Aim(rng), list[Kill](), 0, Spent(), 0
    while len(kills) < wanted:
        if len(kills) >= homes * KILLS_PER_HOME:
            settings, kwargs = _new_home(tmp_path / f"home{homes}", fake_api, timeline)
            expected.since, homes = min(FIRST, today - LOOKBACK), homes + 1
        if rng.random() < 0.6 and _next_business_day(today) <= LAST:
            today = fake_api.today = _next_business_day(today)
            days += 1
        if len(kills) // RESTATE_EVERY > expected.restated:
            expected.restate(fake_api, today, rng)
        aim.durations, aim.first_steps = timeline.durations(), timeline.first_steps()
        mode, after, delay = aim.draw()
        phase = time.monotonic()
        kill = kill_at_random(context, kwargs, mode, after, delay, tmp_path / "marker")
        phase = spent.tick("child", phase)
        assert not kill.point.startswith("failed"), f"the {mode} step failed unkilled: {kill}"
        if kill.killed:
            kills.append(kill)
            aim.hits[kill.stage] += 1
        _rerun(settings, kill, timeline)
        phase = spent.tick("rerun", phase)
        try:
            _check_rerun(settings, expected, today)
        except AssertionError as error:
            raise AssertionError(f"after a kill in {kill}: {error}") from error
        spent.tick("checks", phase)
    report = _report(seed, kills, time.monotonic() - started, expected, days)
    report += f"\n{spent}; {homes} homes of up to {KILLS_PER_HOME} kills"
    print(report)
    stages = Counter(k.stage for k in kills)
    assert [s for s in REQUIRED_STAGES if stages[s] == 0] == [], report
    assert expected.restated >= wanted // RESTATE_EVERY - 1, report
