"""Flushing a version to disk: one fsync per entry for a small tree, one syncfs for a big one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from treasury_lakehouse.lake import files
from treasury_lakehouse.lake.files import SYNCFS_ENTRIES, fsync_tree


def _tree(root: Path, partitions: int) -> Path:
    for year in range(partitions):
        partition = root / f"record_year={year}"
        partition.mkdir(parents=True)
        (partition / "data_0.parquet").write_bytes(b"x")
    return root


def _count_fsync(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counted(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(files.os, "fsync", counted)
    return calls


def test_a_small_version_is_flushed_entry_by_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_fsync(monkeypatch)
    fsync_tree(_tree(tmp_path / "v", 3))
    assert len(calls) == 3 + 3 + 1  # three files, three partitions, the version itself


def test_a_version_of_many_partitions_is_flushed_with_one_syncfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_fsync(monkeypatch)
    fsync_tree(_tree(tmp_path / "v", SYNCFS_ENTRIES))
    # syncfs is Linux's (the platform this project runs and is tested on); elsewhere, per entry
    assert len(calls) == (0 if sys.platform.startswith("linux") else 2 * SYNCFS_ENTRIES + 1)


def test_without_syncfs_a_big_version_is_flushed_entry_by_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_fsync(monkeypatch)
    monkeypatch.setattr(files, "_syncfs", lambda directory: False)
    fsync_tree(_tree(tmp_path / "v", SYNCFS_ENTRIES))
    assert len(calls) == 2 * SYNCFS_ENTRIES + 1
