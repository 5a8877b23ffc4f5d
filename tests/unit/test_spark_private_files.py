"""The Spark engine's own files live in a private temporary directory (issue 9, part 7).

No JVM is started: the log4j2 file is written when the engine is made, before any session.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from treasury_lakehouse.engines import spark


def test_the_log4j_file_is_private_and_removed_on_close(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spark, "require_java", lambda: None)  # not what this test is about
    engine = spark.SparkEngine()
    directory = engine.private_dir
    properties = directory / "log4j2.properties"
    assert directory.parent == Path(tempfile.gettempdir())
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert properties.read_text() == spark.LOG4J2_PROPERTIES
    assert engine.conf["spark.driver.extraJavaOptions"] == (
        f"-Dlog4j2.configurationFile=file:{properties}"
    )
    other = spark.SparkEngine()
    assert other.private_dir != directory  # no shared, guessable name in /tmp
    engine.close()
    other.close()
    assert not directory.exists() and not other.private_dir.exists()


def test_the_private_directory_goes_even_without_close(tmp_path: Path) -> None:
    """A process that fails before ``close`` (e.g. no session could start) leaves nothing."""
    code = (
        "from treasury_lakehouse.engines import spark\n"
        "spark.require_java = lambda: None\n"
        "engine = spark.SparkEngine()\n"
        "print(engine.private_dir)\n"
        "raise SystemExit(1)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    directory = Path(run.stdout.strip())
    assert directory.name.startswith("treasury-spark-")
    assert not directory.exists()
