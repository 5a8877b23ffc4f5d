"""The DAG bundle for a managed Airflow (Amazon MWAA, Google Cloud Composer).

``python -m treasury_lakehouse.orchestration.bundle`` (what ``make dags-bundle`` runs) writes::

    dist/dags-bundle/
        dags/treasury_medallion.py    every DAG file of dags/, unchanged
        requirements.txt              treasury-lakehouse==<version> and its runtime dependencies

``python -m treasury_lakehouse.orchestration.bundle publish URI [--bundle DIR]`` uploads that
folder to ``s3://bucket/prefix`` or ``gs://bucket/prefix`` (:func:`publish_bundle`, what the CI
job ``publish-dags-bundle`` runs): the bucket an MWAA environment or a Composer environment reads
its DAG folder from.

Every line of ``requirements.txt`` is pinned with ``==``. The names are the closure of the
project's own dependencies (``pyproject.toml``, plus the extras asked for: ``postgres`` by default,
for a warehouse on RDS or Cloud SQL), walked through the installed distributions' metadata with
this interpreter's markers; the versions are those of ``constraints.txt``, the set ``make setup``
installs and the test suite runs on. Airflow is left out: the managed environment brings its own,
and it should run the Airflow version of ``constraints.txt``.

The closure is computed by plain functions over a ``requires`` callable, so it is tested with
dicts; only :func:`build_bundle` reads the installed metadata and writes files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from treasury_lakehouse.errors import ConfigError, LakeError

PROJECT = "treasury-lakehouse"
DEFAULT_EXTRAS: tuple[str, ...] = ("postgres",)
DEFAULT_OUT = Path("dist/dags-bundle")
#: what the managed environment provides itself: pinning these would fight its own constraints
PROVIDED_BY_ENVIRONMENT = ("apache-airflow",)
REQUIREMENTS_FILE = "requirements.txt"
DAGS_DIR = "dags"

#: how the installed metadata of a distribution is read: its ``Requires-Dist`` lines
Requires = Callable[[str], list[str]]


@dataclass(frozen=True)
class Bundle:
    """What :func:`build_bundle` wrote."""

    directory: Path
    dag_files: tuple[str, ...]
    requirements: tuple[str, ...]


def read_pins(constraints: str) -> dict[str, str]:
    """``constraints.txt`` as canonical name → ``Name==version``; comments and blanks skipped."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(constraints.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip():
            raise ConfigError(f"constraints line {number}: {raw.strip()!r} is not name==version")
        pins[canonicalize_name(name.strip())] = f"{name.strip()}=={version.strip()}"
    return pins


def project_requirements(pyproject: Mapping[str, Any], extras: Iterable[str]) -> list[str]:
    """The ``[project]`` dependencies plus those of ``extras`` (an unknown extra is an error)."""
    project = pyproject["project"]
    optional: Mapping[str, list[str]] = project.get("optional-dependencies", {})
    requirements = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in optional:
            known = ", ".join(sorted(optional))
            raise ConfigError(f"pyproject.toml has no extra {extra!r} (known: {known})")
        requirements += optional[extra]
    return requirements


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether ``requirement`` holds here, for a distribution asked for with ``extras``."""
    if requirement.marker is None:
        return True
    marker = requirement.marker
    environment: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    return any(marker.evaluate({**environment, "extra": extra}) for extra in extras | {""})


def runtime_closure(roots: Iterable[str], requires: Requires) -> list[str]:
    """Canonical names of ``roots`` and everything they require here, sorted; the distributions
    of :data:`PROVIDED_BY_ENVIRONMENT` (and what only they need) are left out."""
    wanted: dict[str, frozenset[str]] = {}
    queue = [Requirement(r) for r in roots]
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        if name.startswith(PROVIDED_BY_ENVIRONMENT):
            continue
        extras = wanted.get(name, frozenset()) | frozenset(requirement.extras)
        if wanted.get(name) == extras:
            continue
        wanted[name] = extras
        for line in requires(name):
            child = Requirement(line)
            if _applies(child, extras):
                queue.append(child)
    return sorted(wanted)


def pinned_requirements(names: Iterable[str], pins: Mapping[str, str]) -> list[str]:
    """``Name==version`` for each name, from ``pins``; a name without a pin is an error."""
    missing = [n for n in names if n not in pins]
    if missing:
        raise ConfigError(
            f"constraints.txt pins no version of {', '.join(missing)}: add them (pip freeze "
            "after make setup shows the versions installed)"
        )
    return [pins[n] for n in names]


def installed_requires(name: str) -> list[str]:
    """The ``Requires-Dist`` lines of an installed distribution."""
    try:
        return metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"{name} is not installed, so its dependencies are unknown: run make setup"
        ) from None


def requirements_text(
    version: str, extras: Iterable[str], pinned: Iterable[str], airflow_pin: str | None
) -> str:
    header = [
        f"# {PROJECT} {version} (extras: {', '.join(extras) or 'none'}) and its runtime "
        "dependencies, pinned as constraints.txt pins them.",
        "# Written by `make dags-bundle`; do not edit. Airflow is the environment's own"
        + (f" (tested with {airflow_pin})." if airflow_pin else "."),
    ]
    return "\n".join([*header, f"{PROJECT}=={version}", *pinned]) + "\n"


def _clear(out: Path) -> None:
    """Remove a previous bundle at ``out``; refuse to remove a folder that is something else."""
    if not out.exists():
        return
    if not out.is_dir() or not set(p.name for p in out.iterdir()) <= {DAGS_DIR, REQUIREMENTS_FILE}:
        raise ConfigError(f"{out} exists and is not a DAG bundle: choose another --out")
    shutil.rmtree(out)


def build_bundle(
    repo: Path, out: Path, extras: Iterable[str] = DEFAULT_EXTRAS, requires: Requires | None = None
) -> Bundle:
    """Write the bundle of the project at ``repo`` into ``out`` (replacing an earlier bundle)."""
    extras = tuple(extras)
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    pins = read_pins((repo / "constraints.txt").read_text())
    roots = project_requirements(pyproject, extras)
    names = runtime_closure(roots, requires or installed_requires)
    pinned = pinned_requirements(names, pins)
    dag_files = sorted((repo / DAGS_DIR).glob("*.py"))
    if not dag_files:
        raise ConfigError(f"no DAG file in {repo / DAGS_DIR}")
    _clear(out)
    (out / DAGS_DIR).mkdir(parents=True)
    for dag_file in dag_files:
        shutil.copy2(dag_file, out / DAGS_DIR / dag_file.name)
    version = str(pyproject["project"]["version"])
    text = requirements_text(version, extras, pinned, pins.get("apache-airflow"))
    (out / REQUIREMENTS_FILE).write_text(text)
    return Bundle(out, tuple(f.name for f in dag_files), (f"{PROJECT}=={version}", *pinned))


def bundle_files(bundle: Path) -> list[str]:
    """The files of a bundle folder as ``/``-separated paths, ``requirements.txt`` first."""
    if not (bundle / REQUIREMENTS_FILE).is_file() or not (bundle / DAGS_DIR).is_dir():
        raise ConfigError(
            f"{bundle} is not a DAG bundle (no {REQUIREMENTS_FILE} and {DAGS_DIR}/): "
            "run make dags-bundle first"
        )
    dag_files = sorted(
        p.relative_to(bundle).as_posix() for p in (bundle / DAGS_DIR).rglob("*") if p.is_file()
    )
    return [REQUIREMENTS_FILE, *dag_files]


def publish_bundle(bundle: Path, uri: str) -> list[str]:
    """Upload the bundle folder to the bucket prefix ``uri`` (through
    :mod:`treasury_lakehouse.lake.store`, credentials from the provider's standard chain) and
    remove the DAG files a previous bundle left there; the keys written, in order.

    ``requirements.txt`` goes first, so a DAG file never arrives before the pins it was built
    with. A bundle is replaced as a whole on purpose, so each file is written unconditionally.
    """
    from treasury_lakehouse.lake.store import open_store

    if "://" not in uri:
        raise ConfigError(f"publish to a bucket (s3://bucket/prefix or gs://...), not {uri!r}")
    keys = bundle_files(bundle)
    store = open_store(uri)
    for key in keys:
        store.put(key, (bundle / key).read_bytes())
    for stale in sorted(set(store.list(f"{DAGS_DIR}/")) - set(keys)):
        store.delete(stale)
    return keys


def _publish(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m treasury_lakehouse.orchestration.bundle publish",
        description="Upload a DAG bundle to the bucket of MWAA or Cloud Composer.",
    )
    parser.add_argument("uri", help="s3://bucket/prefix or gs://bucket/prefix")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    try:
        keys = publish_bundle(args.bundle, args.uri)
    except (ConfigError, LakeError, OSError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(f"{args.uri.rstrip('/')}: {len(keys)} file(s) published from {args.bundle}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["publish"]:
        return _publish(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m treasury_lakehouse.orchestration.bundle",
        description="Write the DAG files and a pinned requirements.txt for MWAA or Cloud Composer.",
        epilog="`publish URI [--bundle DIR]` uploads a bundle to s3://bucket/prefix or gs://...",
    )
    parser.add_argument("--repo", type=Path, default=Path("."), help="the project's folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument(
        "--extra",
        dest="extras",
        action="append",
        help="an extra of pyproject.toml to include (repeatable) [default: postgres]",
    )
    args = parser.parse_args(argv)
    try:
        bundle = build_bundle(args.repo, args.out, args.extras or DEFAULT_EXTRAS)
    except (ConfigError, OSError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(
        f"{bundle.directory}: {len(bundle.dag_files)} DAG file(s), "
        f"{len(bundle.requirements)} pinned requirements"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
