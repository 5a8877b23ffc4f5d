"""Where each layer lives under ``<home>/lake`` and which version of a table is published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.files import current_version

BUILD_INFO = "_build.json"


class Lake:
    """Paths of the lake's layers; silver, gold and quarantine are published as versions."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def silver_dir(self, dataset: str) -> Path:
        return self.root / "silver" / dataset

    def quarantine_dir(self, dataset: str) -> Path:
        return self.root / "_quarantine" / dataset

    def gold_dir(self, table: str) -> Path:
        return self.root / "gold" / table

    def current_silver(self, dataset: str) -> Path | None:
        return current_version(self.silver_dir(dataset))

    def current_quarantine(self, dataset: str) -> Path | None:
        return current_version(self.quarantine_dir(dataset))

    def current_gold(self, table: str) -> Path | None:
        return current_version(self.gold_dir(table))

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

    def _published(self, layer: str) -> dict[str, Path]:
        base = self.root / layer
        if not base.is_dir():
            return {}
        versions = {d.name: current_version(d) for d in sorted(base.iterdir()) if d.is_dir()}
        return {name: v for name, v in versions.items() if v is not None}


def read_build_info(version: Path | None) -> dict[str, Any]:
    """What a published version was built from (bronze batches, row counts); ``{}`` if none."""
    if version is None or not (version / BUILD_INFO).exists():
        return {}
    info: dict[str, Any] = json.loads((version / BUILD_INFO).read_text())
    return info
