"""What an incremental check reruns: the changed years widened by each check's reach."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

from treasury_lakehouse.calendar import iter_business_days
from treasury_lakehouse.quality.checks import all_checks
from treasury_lakehouse.quality.incremental import (
    BUSINESS_DAY_REACH,
    Plan,
    fingerprint,
    merge,
    merge_counts,
    plan,
    window_plan,
    within,
)
from treasury_lakehouse.quality.spec import period_local

Y2021 = (date(2021, 1, 1), date(2021, 12, 31))


def test_the_reach_holds_the_next_business_day_in_every_year_checked() -> None:
    days = list(iter_business_days(date(1900, 1, 1), date(2199, 12, 31)))
    widest = max(b - a for a, b in pairwise(days))
    assert widest <= timedelta(days=4) < BUSINESS_DAY_REACH


def test_a_day_local_check_rereads_and_rechecks_the_changed_years_only() -> None:
    rerun = plan(period_local("d"), {"d": frozenset({2021}), "other": None}, None, None)
    assert rerun == Plan((Y2021,), (Y2021,), frozenset({2021}))
    assert plan(period_local("d"), {"d": None}, None, None) is None  # all of it: full
    assert plan(period_local("d"), {}, None, None) == Plan((), (), frozenset())  # unchanged


def test_a_look_back_rechecks_the_next_year_start_and_reads_the_year_before_end() -> None:
    reach = BUSINESS_DAY_REACH
    rerun = plan(period_local("d", before=1), {"d": frozenset({2021})}, None, None)
    assert rerun is not None
    assert rerun.recheck == ((Y2021[0], Y2021[1] + reach),)
    assert rerun.read == ((Y2021[0] - reach, Y2021[1] + reach),)
    assert rerun.rechecks(date(2022, 1, 3)) and not rerun.rechecks(date(2020, 12, 31))
    assert rerun.rechecks(None)  # findings without a day are always recomputed


def test_a_moved_span_is_rechecked_between_its_old_and_new_end() -> None:
    scope = period_local("a", "b", after=1, span_of="a")
    old, new = (date(2019, 5, 1), date(2023, 3, 1)), (date(2019, 5, 1), date(2022, 6, 30))
    rerun = plan(scope, {"a": frozenset({2023})}, old, new)
    assert rerun is not None and rerun.rechecks(date(2022, 7, 1))
    assert rerun.count_years == frozenset({2022, 2023})
    assert plan(scope, {}, old, (None, None)) is None  # an empty table: full


def test_helpers() -> None:
    assert merge([(date(2021, 1, 5), date(2021, 2, 1)), (date(2021, 1, 1), date(2021, 1, 4))]) == (
        (date(2021, 1, 1), date(2021, 2, 1)),
    )
    assert within("record_date", [Y2021]) == (
        "(\"record_date\" BETWEEN DATE '2021-01-01' AND DATE '2021-12-31' OR "
        '"record_date" IS NULL)'
    )
    carried = {"2020": 5, "2021": 7, "": 1}
    assert merge_counts(carried, {"2021": 3}, frozenset({2021})) == {"2020": 5, "2021": 3}
    assert fingerprint(all_checks()) == fingerprint(all_checks())
    assert fingerprint(all_checks()) != fingerprint(all_checks()[1:])


def test_vanished_days_are_rejudged_over_the_new_batches_windows_and_dates_only() -> None:
    old = ("a", (date(2024, 1, 2), date(2024, 1, 31)), (date(2024, 1, 2), date(2024, 1, 31)))
    new = ("b", (date(2024, 3, 1), date(2024, 3, 8)), (date(2024, 3, 1), date(2024, 3, 6)))
    stray = ("c", (date(2024, 5, 1), date(2024, 5, 2)), (date(2023, 12, 29), date(2024, 5, 2)))
    rerun = window_plan(["a"], [old, new, stray])
    assert rerun is not None
    assert rerun.recheck == ((date(2023, 12, 29), date(2024, 5, 2)),)
    only_new = window_plan(["a", "c"], [old, new, stray])
    assert only_new is not None and only_new.recheck == ((date(2024, 3, 1), date(2024, 3, 8)),)
    assert only_new.rechecks(date(2024, 3, 8)) and not only_new.rechecks(date(2024, 1, 15))
    assert only_new.rechecks(None)  # a finding without a day is always recomputed
    nothing_new = window_plan(["a", "b", "c"], [old, new, stray])
    assert nothing_new is not None and nothing_new.recheck == ()


def test_vanished_days_run_whole_for_an_open_window_or_a_batch_set_aside() -> None:
    old = ("a", (date(2024, 1, 2), date(2024, 1, 31)), None)
    assert window_plan(["a"], [old, ("b", None, None)]) is None  # window open on a side
    assert window_plan(["a", "gone"], [old]) is None  # repair set a batch aside
    assert window_plan(None, [old]) is None  # the baseline did not see the dataset
