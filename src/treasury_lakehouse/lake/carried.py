"""Versions that carry partitions of older versions of their table by reference.

A history version (:mod:`treasury_lakehouse.history`) that did not rebuild a record year carries
the older version's partition by reference; its ``_build.json`` names that version, so pruning
(:func:`~.commit.prune_versions`) keeps it.
"""

from __future__ import annotations

import json
from pathlib import Path

from treasury_lakehouse.errors import LakeError

#: what a version was built from, beside its files (:func:`~.layout.read_build_info`)
BUILD_INFO = "_build.json"
#: the ``_build.json`` entry of a version that carries partitions of older versions of its table
#: by reference: record year → the name of the sibling version whose directory holds it
CARRIED = "carried"


def carried_by_reference(version: Path) -> dict[int, Path]:
    """Record year → the older sibling version holding the partition of that year that
    ``version`` carries by reference (its layer names the partition, e.g.
    :func:`treasury_lakehouse.history.history_partitions`); ``{}`` for a version that holds every
    partition itself (or is missing).

    Raises :class:`LakeError` when the version's ``_build.json`` is missing or cannot be read
    (every history version writes one): pruning must not guess which versions it may remove."""
    info_path = version / BUILD_INFO
    if not version.is_dir():
        return {}
    if not info_path.exists():
        raise LakeError(f"{info_path} is missing: which versions {version.name} carries is unknown")
    try:
        carried = json.loads(info_path.read_bytes()).get(CARRIED) or {}
        return {int(year): version.parent / name for year, name in carried.items()}
    except (OSError, ValueError, AttributeError, TypeError) as error:
        raise LakeError(f"{info_path} cannot be read ({type(error).__name__}: {error})") from None


def carried_versions(version: Path) -> set[Path]:
    """The older sibling versions whose partitions ``version`` carries by reference."""
    return set(carried_by_reference(version).values())
