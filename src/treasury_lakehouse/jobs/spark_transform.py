"""``treasury transform`` as a Spark application, for ``spark-submit`` and its managed forms.

::

    spark-submit --master spark://127.0.0.1:7077 \\
        --py-files treasury_lakehouse-0.1.0-py3-none-any.whl \\
        spark_transform.py --home /lakehouse

EMR Serverless and Dataproc Serverless run it the same way: this file as the entry point, the
wheel as ``--py-files`` (its dependencies in the job's Python environment). The session comes from
``spark-submit``'s settings (master, driver, executors); the job reads the lake from ``--home`` or
``TREASURY_HOME`` (and the other ``TREASURY_*`` settings), builds silver and gold with the Spark
engine on that session and publishes them as one lake commit, exactly as ``treasury transform
--engine spark`` does. It prints one summary line; on an error, one ``Error: ...`` line on stderr
and exit code 1.

``--lake`` (``TREASURY_LAKE``) names the lake when it is not ``<home>/lake``: a folder, or a bucket
(``s3a://``, ``s3://`` or ``gs://``). For a bucket the job first checks that the session has the
Hadoop connector of its scheme (:func:`.spark_connectors.require_connector`, a one-line error
naming the missing jar); the executors then read and write the bucket by URI
(:mod:`.engines.spark_lake`) while the driver keeps its cache under ``--home`` and commits through
the object store's conditional writes, as ``treasury transform --lake`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import treasury_lakehouse
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.config import settings_from_env
from treasury_lakehouse.engines.spark_connectors import (
    CONNECTOR_SCHEMES,
    location_scheme,
    require_connector,
    shown_location,
)
from treasury_lakehouse.engines.spark_lake import spark_lake_uri
from treasury_lakehouse.errors import ConfigError, EngineError, TreasuryError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from treasury_lakehouse.pipeline import TransformResult

APP_NAME = "treasury-transform"
LAKE_VARIABLE = "TREASURY_LAKE"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="spark_transform.py",
        description="Build silver and gold of the lake on the Spark session spark-submit "
        "configured, and publish them as one lake commit.",
    )
    parser.add_argument(
        "--home", type=Path, help="the lake's home folder [env TREASURY_HOME; default ./data]"
    )
    parser.add_argument(
        "--lake",
        metavar="URI",
        help="the lake, when not <home>/lake: a folder, s3a://bucket/prefix (or s3://) or "
        f"gs://bucket/prefix [env {LAKE_VARIABLE}]",
    )
    parser.add_argument(
        "--dataset",
        dest="datasets",
        action="append",
        choices=sorted(DATASETS),
        help="dataset to rebuild (repeatable) [env TREASURY_DATASETS; default: all]",
    )
    parser.add_argument(
        "--full", action="store_true", help="rebuild every silver partition, not only new years"
    )
    return parser.parse_args(argv)


def submitted_session() -> SparkSession:
    """The session of ``spark-submit``'s settings (no master of our own: the submitter's)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise EngineError(f"spark_transform needs pyspark (spark-submit's): {error}") from None
    try:
        return SparkSession.builder.appName(APP_NAME).getOrCreate()
    except Exception as error:  # py4j or pyspark, with a JVM stack after the first line
        first = (str(error).strip().splitlines() or [repr(error)])[0]
        raise EngineError(f"spark: cannot start the submitted session: {first}") from error


def lake_location(args: argparse.Namespace) -> str | None:
    """The ``--lake`` (or ``TREASURY_LAKE``) of the job as the settings name it (``s3a://`` is
    ``s3://`` there), checked before any JVM starts; ``None``: ``<home>/lake``. Another scheme
    is a :class:`ConfigError`."""
    lake = args.lake or os.environ.get(LAKE_VARIABLE) or None
    if lake is None:
        return None
    scheme = location_scheme(lake)
    if scheme in ("", "file"):
        return lake
    if scheme not in CONNECTOR_SCHEMES:
        raise ConfigError(
            f"--lake {shown_location(lake)}: scheme {scheme!r} is not supported "
            "(a folder, s3a://, s3:// or gs://)"
        )
    return "s3://" + lake.removeprefix("s3a://") if scheme == "s3a" else lake


def transform(
    session: SparkSession, args: argparse.Namespace, lake: str | None = None
) -> TransformResult:
    """:func:`pipeline.transform` with the Spark engine on ``session``'s master, on the lake
    ``lake`` (:func:`lake_location`)."""
    if lake is not None and location_scheme(lake) in CONNECTOR_SCHEMES:
        require_connector(session, spark_lake_uri(lake))
    settings = settings_from_env(
        home=args.home,
        lake_uri=lake,
        datasets=tuple(args.datasets) if args.datasets else None,
        engine="spark",
        spark_master=session.sparkContext.master,
        full_rebuild=True if args.full else None,
    )
    return pipeline.transform(settings)


def summary(result: TransformResult) -> str:
    silver = sum(c.silver for c in result.silver)
    gold = ", ".join(f"{name} {rows:,}" for name, rows in sorted(result.gold.items()))
    where = Path(treasury_lakehouse.__file__).parent.parent
    return (
        f"lake commit {result.commit}: silver {silver:,} rows, gold {gold} "
        f"in {result.seconds:.1f}s (treasury-lakehouse {treasury_lakehouse.__version__} "
        f"from {where})"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        lake = lake_location(args)
        session = submitted_session()
        try:
            result = transform(session, args, lake)
        finally:
            session.stop()
    except TreasuryError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"Error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    print(summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
