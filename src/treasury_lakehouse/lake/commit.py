"""Lake commits: the one record of which silver, quarantine and gold versions are published.

Every ``transform`` writes its versions, flushes them to disk, then publishes them all at once by
creating ``<lake>/_commits/<seq:010d>.json``::

    {"seq": 7, "created_at": "...", "run_id": "...", "purpose": "transform", "engine": "duckdb",
     "silver": {dataset: version}, "quarantine": {dataset: version}, "gold": {table: version},
     "history": {dataset: version}, "counts": {...}, "changes": {dataset: [record years] | null}}

``changes`` says what a transform changed relative to the commit it built on: per rebuilt dataset,
the record years whose silver partitions it rewrote (the only ones whose rows can differ), or
``null`` for a full rebuild; a dataset it does not name is unchanged. Checks and loads use
:func:`changes_between` to touch only what changed since the commit they last published.

The current commit is the one with the highest ``seq``; a commit record is created once
(create-if-absent in the lake's commit-log store, :mod:`.commit_log`: in a folder a hard link of a
flushed temporary file, in a bucket a conditional write) and never rewritten. Readers resolve
the commit once and read exactly the versions it names, so a concurrent ``transform`` cannot mix
two versions into one load. Pruning keeps every version the last ``keep`` commits reference.
Writing, adopting a pre-commit lake and pruning hold the commit scope (the ``flock`` of
``<home>/.locks`` for a local log, a lease in the bucket otherwise).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.carried import BUILD_INFO as BUILD_INFO
from treasury_lakehouse.lake.carried import CARRIED as CARRIED
from treasury_lakehouse.lake.carried import carried_by_reference as carried_by_reference
from treasury_lakehouse.lake.carried import carried_versions as carried_versions
from treasury_lakehouse.lake.commit_log import COMMITS, CommitConflictError, commit_log
from treasury_lakehouse.lake.files import LEGACY_POINTER, is_version_name, legacy_current_version
from treasury_lakehouse.lake.remote import mirror_of
from treasury_lakehouse.lake.store import ObjectMissing

log = logging.getLogger(__name__)

Layer = Literal["silver", "quarantine", "gold", "history"]
#: where each layer's tables live under the lake root (``history``: per dataset, the row history
#: and its revisions, :mod:`treasury_lakehouse.history`)
LAYER_DIRS: Mapping[Layer, str] = {
    "silver": "silver",
    "quarantine": "_quarantine",
    "gold": "gold",
    "history": "history",
}
#: pruning keeps the versions of at least this many commits (a load may still read the previous)
MIN_KEEP = 2


@dataclass(frozen=True)
class LakeCommit:
    """One published state of the lake: a version per silver, quarantine and gold table."""

    root: Path
    seq: int
    created_at: str
    run_id: str
    purpose: str
    engine: str
    silver: Mapping[str, str] = field(default_factory=dict)
    quarantine: Mapping[str, str] = field(default_factory=dict)
    gold: Mapping[str, str] = field(default_factory=dict)
    counts: Mapping[str, Any] = field(default_factory=dict)
    #: dataset → version of its row history and revisions (empty in commits written before them)
    history: Mapping[str, str] = field(default_factory=dict)
    #: dataset → record years rebuilt (``None``: all of it); ``None`` for a commit that does not
    #: say (written before incremental transforms, or adopted): treat as everything changed
    changes: Mapping[str, frozenset[int] | None] | None = None

    @property
    def path(self) -> Path:
        """The commit file of a local commit log (:attr:`location` names it in any store)."""
        return commit_path(self.root, self.seq)

    @property
    def location(self) -> str:
        """The commit record's full name in the lake's commit-log store, for messages."""
        return commit_log(self.root).where(self.seq)

    def versions(self, layer: Layer) -> dict[str, Path]:
        """Table name → version directory of one layer (not checked for existence)."""
        names: Mapping[str, str] = getattr(self, layer)
        base = self.root / LAYER_DIRS[layer]
        return {table: base / table / version for table, version in sorted(names.items())}

    def references(self) -> list[Path]:
        """Every version directory this commit names."""
        return [path for layer in LAYER_DIRS for path in self.versions(layer).values()]

    def retained(self) -> list[Path]:
        """The versions this commit needs on disk: those it names, and the older versions whose
        partitions its history versions carry by reference (:func:`carried_versions`)."""
        named = self.references()
        carried = {c for v in self.versions("history").values() for c in carried_versions(v)}
        return named + sorted(carried - set(named))

    def missing(self) -> list[str]:
        """The retained versions that are not on disk, as ``layer/table/version`` (for a lake in
        a bucket, after fetching those the cache lacks)."""
        mirror = mirror_of(self.root)
        if mirror is not None:
            mirror.fetch_versions(self.references())
            mirror.fetch_versions(self.retained())
        return [str(path.relative_to(self.root)) for path in self.retained() if not path.is_dir()]

    def require_readable(self) -> LakeCommit:
        """This commit, if every version it names exists; otherwise one-line :class:`LakeError`."""
        missing = self.missing()
        if missing:
            raise LakeError(
                f"lake commit {self.location} references missing versions: {', '.join(missing)}; "
                "run `treasury transform` to rebuild and commit every table"
            )
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "created_at": self.created_at,
            "run_id": self.run_id,
            "purpose": self.purpose,
            "engine": self.engine,
            "silver": dict(self.silver),
            "quarantine": dict(self.quarantine),
            "gold": dict(self.gold),
            "history": dict(self.history),
            "counts": dict(self.counts),
            "changes": _encode_changes(self.changes),
        }


def commits_dir(root: Path) -> Path:
    return root / COMMITS


def commit_path(root: Path, seq: int) -> Path:
    return commits_dir(root) / f"{seq:010d}.json"


def commit_seqs(root: Path) -> list[int]:
    """The sequence numbers of the commits present, ascending."""
    return commit_log(root).seqs()


def _new_versions(root: Path, base_seq: int, draft: LakeCommit) -> list[Path]:
    """The versions ``draft`` names that its base commit does not: a commit lands only after the
    versions it names are uploaded, so those the base names are in the bucket already (no
    request each to find out). All of them when the base cannot be read."""
    if base_seq == 0:
        return draft.references()
    try:
        published = set(read_commit(root, base_seq).references())
    except LakeError:
        return draft.references()
    return [path for path in draft.references() if path not in published]


def read_commit(root: Path, seq: int) -> LakeCommit:
    """The commit ``seq``; :class:`LakeError` naming the record if it is missing or unreadable."""
    log_ = commit_log(root)
    where = log_.where(seq)
    try:
        data = json.loads(log_.read(seq))
        return LakeCommit(
            root=root,
            seq=int(data["seq"]),
            created_at=str(data["created_at"]),
            run_id=str(data["run_id"]),
            purpose=str(data["purpose"]),
            engine=str(data["engine"]),
            silver=_names(data["silver"]),
            quarantine=_names(data["quarantine"]),
            gold=_names(data["gold"]),
            history=_names(data.get("history") or {}),
            counts=dict(data.get("counts") or {}),
            changes=_decode_changes(data.get("changes")),
        )
    except ObjectMissing:
        raise LakeError(f"lake commit {where} is missing; run `treasury transform`") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise LakeError(
            f"lake commit {where} is unreadable ({type(error).__name__}: {error}); "
            "run `treasury transform` to commit every table anew"
        ) from None


#: what changed, per dataset: the record years rebuilt, or ``None`` for all of them
Changes = dict[str, frozenset[int] | None]


def _encode_changes(changes: Mapping[str, frozenset[int] | None] | None) -> Any:
    if changes is None:
        return None
    return {d: None if y is None else sorted(y) for d, y in sorted(changes.items())}


def _decode_changes(value: Any) -> Changes | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"changes is not a mapping: {value!r}")
    decoded: Changes = {}
    for dataset, years in value.items():
        if years is not None and not (
            isinstance(years, list) and all(isinstance(y, int) for y in years)
        ):
            raise ValueError(f"changes of {dataset!r} are not a list of years: {years!r}")
        decoded[str(dataset)] = None if years is None else frozenset(years)
    return decoded


def changes_between(root: Path, since: int | None, until: LakeCommit) -> Changes | None:
    """What changed from commit ``since`` (exclusive) to ``until`` (inclusive), per dataset.

    The union of the commits' ``changes``: a dataset absent is unchanged, ``None`` for a dataset
    means all of it. Returns ``None`` (everything changed) when ``since`` is ``None``, is not
    older than ``until``, or when a commit in between is missing, unreadable or does not say what
    it changed.
    """
    if since is None or since > until.seq:
        return None
    merged: Changes = {}
    for seq in range(since + 1, until.seq + 1):
        try:
            commit = until if seq == until.seq else read_commit(root, seq)
        except LakeError as error:
            log.info("changes since commit %d unknown, so all: %s", since, error)
            return None
        if commit.changes is None:
            return None
        for dataset, years in commit.changes.items():
            if dataset in merged and merged[dataset] is None:
                continue
            if years is None:
                merged[dataset] = None
            else:
                merged[dataset] = (merged.get(dataset) or frozenset()) | years
    return merged


def _names(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and is_version_name(v) for k, v in value.items()
    ):
        raise ValueError(f"not a mapping of table to version: {value!r}")
    return dict(value)


def head_commit(root: Path) -> LakeCommit | None:
    """The commit with the highest ``seq`` (``None`` if there is none); raises if unreadable."""
    seqs = commit_seqs(root)
    return read_commit(root, seqs[-1]) if seqs else None


def current_commit(root: Path) -> LakeCommit | None:
    """The current commit; a lake written before commits existed is adopted into commit 1."""
    head = head_commit(root)
    if head is not None:
        return head
    if _legacy_pointers(root):
        return adopt_legacy(root)
    # pointers are removed only once commit 1 exists: it may have been adopted just now
    return head_commit(root)


def require_commit(root: Path) -> LakeCommit:
    """The current commit, every version of it on disk; otherwise one line saying what to do."""
    commit = current_commit(root)
    if commit is None:
        if unreferenced_versions(root):
            raise LakeError(
                f"the lake {root} holds table versions but no commit in {commit_log(root).where()} "
                "(the commit record is missing, or a transform stopped before committing); "
                "run `treasury transform`"
            )
        raise LakeError(f"nothing published in {root} yet: run `treasury transform` first")
    return commit.require_readable()


def find_commit(root: Path) -> LakeCommit | None:
    """Like :func:`require_commit`, but ``None`` for a lake that never had a transform."""
    if current_commit(root) is None and not unreferenced_versions(root):
        return None
    return require_commit(root)


def write_commit(
    root: Path,
    *,
    base_seq: int,
    run_id: str,
    purpose: str,
    engine: str,
    silver: Mapping[str, str],
    quarantine: Mapping[str, str],
    gold: Mapping[str, str],
    counts: Mapping[str, Any] | None = None,
    changes: Mapping[str, frozenset[int] | None] | None = None,
    history: Mapping[str, str] | None = None,
) -> LakeCommit:
    """Publish these versions as commit ``base_seq + 1`` (they must be on disk and flushed).

    ``base_seq`` is the commit the caller built on (0 for none): if another commit was written
    meanwhile the caller's carried-forward versions may be stale, so this refuses, with a
    :class:`~.commit_log.CommitConflictError` naming that commit and its run (never retrying at
    a later seq, never overwriting). A create whose answer was lost is recognised as this one.
    """
    log_ = commit_log(root)
    draft = LakeCommit(
        root=root,
        seq=base_seq + 1,
        created_at="",
        run_id=run_id,
        purpose=purpose,
        engine=engine,
        silver=dict(silver),
        quarantine=dict(quarantine),
        gold=dict(gold),
        counts=dict(counts or {}),
        changes=None if changes is None else dict(changes),
        history=dict(history or {}),
    )
    mirror = mirror_of(root)
    if mirror is not None:  # the files first, outside the lease: a commit names only files there
        mirror.upload_versions(_new_versions(root, base_seq, draft))
    with log_.scope(f"commit {run_id}"):
        log_.remove_orphans()
        head = log_.head_seq()
        if head > base_seq:
            raise log_.conflict(base_seq + 1, base_seq)
        if head != base_seq:
            raise LakeError(
                f"lake commit {head} is the newest in {log_.where()}, but this transform built "
                f"on commit {base_seq}; run `treasury transform` again"
            )
        commit = replace(draft, created_at=datetime.now(UTC).isoformat(timespec="seconds"))
        commit.require_readable()
        log_.create(commit.seq, _encode(commit), base_seq)
        _remove_legacy_pointers(root)
    log.info("lake commit %d: %s", commit.seq, commit.location)
    return commit


def _encode(commit: LakeCommit) -> bytes:
    return json.dumps(commit.to_json(), indent=2, sort_keys=True).encode()


# ---------------------------------------------------------------- lakes written before commits


def _table_dirs(root: Path) -> list[tuple[Layer, Path]]:
    found = []
    for layer, name in LAYER_DIRS.items():
        base = root / name
        if base.is_dir():
            found += [(layer, d) for d in sorted(base.iterdir()) if d.is_dir()]
    return found


def _legacy_pointers(root: Path) -> list[Path]:
    return [d / LEGACY_POINTER for _, d in _table_dirs(root) if (d / LEGACY_POINTER).exists()]


def _remove_legacy_pointers(root: Path) -> None:
    """Pointers lose their meaning once a commit exists: one source of truth."""
    for pointer in _legacy_pointers(root):
        pointer.unlink(missing_ok=True)


def adopt_legacy(root: Path) -> LakeCommit | None:
    """Turn the ``_current`` pointers of a pre-commit lake into commit 1 (once, under the lock)."""
    log_ = commit_log(root)
    with log_.scope("adopt the lake's current versions"):
        head = head_commit(root)
        if head is not None:  # adopted meanwhile by another process
            return head
        versions: dict[Layer, dict[str, str]] = {layer: {} for layer in LAYER_DIRS}
        for layer, table_dir in _table_dirs(root):
            version = legacy_current_version(table_dir)
            if version is not None:
                versions[layer][table_dir.name] = version.name
        if not any(versions.values()):
            return None
        commit = LakeCommit(
            root=root,
            seq=1,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            run_id="adopted",
            purpose="adopted from the _current pointers of a lake written before lake commits",
            engine=_engine_of(root, versions),
            silver=versions["silver"],
            quarantine=versions["quarantine"],
            gold=versions["gold"],
        )
        try:
            log_.create(commit.seq, _encode(commit), base_seq=0)
        except CommitConflictError:  # adopted meanwhile by a writer that holds no lock
            return head_commit(root)
        _remove_legacy_pointers(root)
    log.info("adopted the lake's current versions as commit 1: %s", commit.location)
    return commit


def _engine_of(root: Path, versions: Mapping[Layer, Mapping[str, str]]) -> str:
    for layer, tables in versions.items():
        for table, version in tables.items():
            info = root / LAYER_DIRS[layer] / table / version / BUILD_INFO
            if info.exists():
                return str(json.loads(info.read_text()).get("engine", "unknown"))
    return "unknown"


# ---------------------------------------------------------------- pruning


def unreferenced_versions(root: Path, keep_refs: Iterable[Path] = ()) -> list[Path]:
    """Finished version directories not in ``keep_refs``."""
    keep = set(keep_refs)
    return [
        version
        for _, table_dir in _table_dirs(root)
        for version in sorted(table_dir.iterdir())
        if version.is_dir() and is_version_name(version.name) and version not in keep
    ]


def prune_versions(root: Path, keep: int) -> list[Path]:
    """Remove every version no commit among the last ``keep`` (at least 2) retains (names, or
    carries partitions of by reference).

    Runs under the commit lock, after the newest commit is written: the current commit's versions
    and those of the commits before it, which a running load may still read, stay. When one of
    those commits cannot be read nothing is removed. For a lake in a bucket the cache is pruned,
    then the bucket (:meth:`~.remote.RemoteLake.prune`: a version no recent commit keeps goes
    once its grace has passed). Returns the cache's versions removed.
    """
    if keep < MIN_KEEP:
        raise LakeError(f"pruning must keep at least {MIN_KEEP} commits, not {keep}")
    with commit_log(root).scope("prune lake versions"):
        seqs = commit_seqs(root)
        if not seqs:
            return []
        try:
            recent = [read_commit(root, seq) for seq in seqs[-keep:]]
            retained = [p for c in recent for p in c.retained()]
        except LakeError as error:
            log.warning("lake versions not pruned: %s", error)
            return []
        doomed = unreferenced_versions(root, retained)
        for version in doomed:
            shutil.rmtree(version, ignore_errors=True)
        mirror = mirror_of(root)
        if mirror is not None:
            try:
                mirror.prune(retained)
            except LakeError as error:  # the commit stands; the next prune deletes them
                log.warning("lake versions in %s not pruned: %s", mirror.uri, error)
    return doomed
