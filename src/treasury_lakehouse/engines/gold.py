"""How a gold table is built: carried forward, incrementally or in full (every engine).

:func:`plan_gold` decides from what changed in silver and from the previous version's
``_build.json``; the engines' ``build_gold`` then reads only the silver partitions the plan needs
(:func:`partitions_to_read`). The SQL is :mod:`treasury_lakehouse.models.incremental`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from treasury_lakehouse.engines.base import PARTITION_COLUMN, partition_dirs, partition_name
from treasury_lakehouse.errors import EngineError
from treasury_lakehouse.lake.layout import read_build_info
from treasury_lakehouse.models.incremental import definition_fingerprint, partitions_needed
from treasury_lakehouse.models.registry import GoldModel

#: a full recompute is cheaper once the changed years need more than this share of the silver's
#: partitions (an incremental build also reads and rewrites the previous version)
FULL_BEYOND_SHARE = 0.5

GoldMode = Literal["carried", "incremental", "full"]


def silver_years(silver_dir: Path) -> frozenset[int]:
    """The record years of a silver version: its ``record_year=<year>`` directories."""
    return frozenset(partition_dirs(silver_dir))


def partitions_to_read(silver_dir: Path, years: Iterable[int]) -> tuple[list[Path], bool]:
    """The partition directories of ``years`` that exist, and whether they hold any wanted row.

    When none exists, one other partition is returned (``False``): read it for its columns only,
    so the model still sees a typed, empty table.
    """
    wanted = [silver_dir / partition_name(y) for y in sorted(set(years))]
    present = [d for d in wanted if d.is_dir()]
    if present:
        return present, True
    donors = list(partition_dirs(silver_dir).values())
    if not donors:
        raise EngineError(f"silver {silver_dir} has no {PARTITION_COLUMN} partition to read")
    return donors[:1], False


def incremental_inputs(
    years: frozenset[int] | None, previous: Path | None
) -> tuple[frozenset[int], Path] | None:
    """``build_gold``'s ``years`` and ``previous``: both (incremental) or neither (full)."""
    if years is None and previous is None:
        return None
    if years is None or previous is None:
        raise EngineError("an incremental gold build needs both the changed years and the base")
    return years, previous


@dataclass(frozen=True)
class GoldPlan:
    """How one gold table is built, and why (recorded in its ``_build.json``)."""

    mode: GoldMode
    reason: str
    #: the changed record years (incremental and carried only)
    years: frozenset[int] | None = None
    #: the previous version (incremental: the base; carried: the version kept)
    previous: Path | None = None
    #: the silver record years an incremental build reads
    partitions: frozenset[int] | None = None

    def build_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"mode": self.mode, "mode_reason": self.reason}
        if self.mode == "incremental":
            assert self.years is not None and self.previous is not None
            info["years"] = sorted(self.years)
            info["partitions_read"] = sorted(self.partitions or ())
            info["previous_version"] = self.previous.name
        return info


def _previous_problem(model: GoldModel, previous: Path | None) -> str | None:
    """Why ``previous`` cannot be the base of an incremental build (``None``: it can)."""
    if previous is None:
        return "no previous version"
    if not (previous / f"{model.name}.parquet").is_file():
        return f"the previous version {previous.name} is not on disk"
    try:
        built_by = read_build_info(previous).get("definition")
    except (OSError, ValueError) as error:
        return f"the previous version's build record is unreadable ({error})"
    if built_by != definition_fingerprint(model):
        return f"the previous version {previous.name} was built by another model definition"
    return None


def plan_gold(
    model: GoldModel,
    silver_dirs: Mapping[str, Path],
    changed: frozenset[int] | None,
    previous: Path | None,
) -> GoldPlan:
    """Carry ``previous`` forward when no source year changed, build incrementally when few did,
    else in full. ``changed``: the record years whose silver changed since ``previous`` was
    built (``None``: unknown, so all)."""
    problem = _previous_problem(model, previous)
    if problem is not None:
        return GoldPlan("full", problem)
    if changed is None:
        return GoldPlan("full", "the changed record years are unknown")
    if not changed:
        return GoldPlan("carried", "no source record year changed", changed, previous)
    present = frozenset().union(*(silver_years(d) for d in silver_dirs.values()))
    needed = partitions_needed(model, changed) & present
    if len(needed) > FULL_BEYOND_SHARE * len(present):
        return GoldPlan(
            "full", f"the changed years need {len(needed)} of {len(present)} silver partitions"
        )
    reason = f"the changed years need {len(needed)} of {len(present)} silver partitions"
    return GoldPlan("incremental", reason, changed, previous, needed)
