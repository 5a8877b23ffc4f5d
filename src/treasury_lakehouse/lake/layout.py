"""Where each layer lives under ``<home>/lake`` and which version of a table is published.

What is published is what the current lake commit names (:mod:`treasury_lakehouse.lake.commit`).
A step that reads several tables (``check``, ``load``) resolves :meth:`Lake.require_commit` once
and reads that commit's versions; the per-table helpers below resolve the commit on each call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.commit import BUILD_INFO as BUILD_INFO
from treasury_lakehouse.lake.commit import (
    LAYER_DIRS,
    LakeCommit,
    Layer,
    current_commit,
    find_commit,
    require_commit,
)


class Lake:
    """Paths of the lake's layers; silver, gold and quarantine versions are published by commits."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def silver_dir(self, dataset: str) -> Path:
        return self.root / LAYER_DIRS["silver"] / dataset

    def quarantine_dir(self, dataset: str) -> Path:
        return self.root / LAYER_DIRS["quarantine"] / dataset

    def gold_dir(self, table: str) -> Path:
        return self.root / LAYER_DIRS["gold"] / table

    def history_dir(self, dataset: str) -> Path:
        return self.root / LAYER_DIRS["history"] / dataset

    def commit(self) -> LakeCommit | None:
        """The current commit (``None`` before the first transform); not checked for damage."""
        return current_commit(self.root)

    def require_commit(self) -> LakeCommit:
        """The current commit with every version it names on disk, or one-line LakeError."""
        return require_commit(self.root)

    def find_commit(self) -> LakeCommit | None:
        """The current, undamaged commit; ``None`` if the lake never had a transform."""
        return find_commit(self.root)

    def _current(self, layer: Layer, table: str) -> Path | None:
        commit = self.commit()
        if commit is None:
            return None
        version = commit.versions(layer).get(table)
        if version is not None and not version.is_dir():
            raise LakeError(
                f"lake commit {commit.path} names {layer} {table} version {version.name}, "
                "which does not exist; run `treasury transform`"
            )
        return version

    def current_silver(self, dataset: str) -> Path | None:
        return self._current("silver", dataset)

    def current_quarantine(self, dataset: str) -> Path | None:
        return self._current("quarantine", dataset)

    def current_gold(self, table: str) -> Path | None:
        return self._current("gold", table)

    def require_silver(self, dataset: str) -> Path:
        version = self.current_silver(dataset)
        if version is None:
            raise LakeError(f"no silver {dataset} in {self.root}; run `treasury transform` first")
        return version

    def published_silver(self) -> dict[str, Path]:
        """Every published silver table, keyed by its warehouse name ``silver_<dataset>``."""
        return {f"silver_{name}": v for name, v in self._published("silver").items()}

    def published_gold(self) -> dict[str, Path]:
        """Every published gold table's current version, keyed by table name."""
        return self._published("gold")

    def published_history(self) -> dict[str, Path]:
        """Every published history version (history and revisions), keyed by dataset."""
        return self._published("history")

    def published_quarantine(self) -> dict[str, Path]:
        """Every published quarantine version, keyed by dataset."""
        return self._published("quarantine")

    def _published(self, layer: Layer) -> dict[str, Path]:
        commit = self.commit()
        return commit.versions(layer) if commit is not None else {}


def read_build_info(version: Path | None) -> dict[str, Any]:
    """What a published version was built from (bronze batches, row counts); ``{}`` if none."""
    if version is None or not (version / BUILD_INFO).exists():
        return {}
    info: dict[str, Any] = json.loads((version / BUILD_INFO).read_text())
    return info
