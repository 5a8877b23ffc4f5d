"""What a range of lake commits changed (`changes_between`), and the record's round trip."""

from __future__ import annotations

import json
from pathlib import Path

from treasury_lakehouse.lake.commit import changes_between, commit_path, read_commit, write_commit


def _commit(root: Path, seq: int, changes: dict[str, frozenset[int] | None] | None) -> None:
    version = root / "silver" / "d" / f"v{seq}"
    version.mkdir(parents=True)
    write_commit(
        root,
        base_seq=seq - 1,
        run_id=f"r{seq}",
        purpose="transform",
        engine="duckdb",
        silver={"d": version.name},
        quarantine={},
        gold={},
        changes=changes,
    )


def test_changes_are_the_union_of_the_commits_after_since(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    _commit(root, 1, {"a": None, "b": None})
    _commit(root, 2, {"a": frozenset({2024})})
    _commit(root, 3, {"a": frozenset({2023}), "b": frozenset({2025})})
    _commit(root, 4, {})
    head = read_commit(root, 4)
    assert changes_between(root, 1, head) == {"a": {2023, 2024}, "b": {2025}}
    assert changes_between(root, 3, head) == {}
    assert changes_between(root, 4, head) == {}
    assert changes_between(root, 0, head) == {"a": None, "b": None}  # a full build in range
    assert changes_between(root, None, head) is None  # nothing published yet: everything
    assert changes_between(root, 5, head) is None  # a state the lake does not know
    assert json.loads(commit_path(root, 2).read_text())["changes"] == {"a": [2024]}


def test_a_commit_that_does_not_say_or_is_gone_means_everything(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    _commit(root, 1, {"a": frozenset({2024})})
    _commit(root, 2, None)  # written before incremental transforms
    _commit(root, 3, {"a": frozenset({2024})})
    head = read_commit(root, 3)
    assert changes_between(root, 1, head) is None
    assert changes_between(root, 2, head) == {"a": {2024}}
    commit_path(root, 2).unlink()  # a commit in the range is gone
    assert changes_between(root, 1, read_commit(root, 3)) is None
