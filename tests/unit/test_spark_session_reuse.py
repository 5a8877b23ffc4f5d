"""The Spark engine on a session the process already runs (spark-submit's): used, never stopped.

No JVM: ``SparkSession`` is replaced by a stand-in that records what the engine asks of it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from treasury_lakehouse.engines import spark
from treasury_lakehouse.errors import EngineError

CLUSTER = "spark://127.0.0.1:7077"


class StandInSession:
    def __init__(self, master: str) -> None:
        self.sparkContext = SimpleNamespace(master=master, setLogLevel=lambda level: None)
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


class StandInBuilder:
    def __init__(self, session: StandInSession) -> None:
        self.session = session

    def appName(self, name: str) -> StandInBuilder:
        return self

    def master(self, master: str) -> StandInBuilder:
        return self

    def config(self, key: str, value: str) -> StandInBuilder:
        return self

    def getOrCreate(self) -> StandInSession:
        return self.session


def engine_with(
    monkeypatch: pytest.MonkeyPatch, active: StandInSession | None, created: StandInSession
) -> Any:
    monkeypatch.setattr(spark, "require_java", lambda: None)
    stand_in = SimpleNamespace(getActiveSession=lambda: active, builder=StandInBuilder(created))
    monkeypatch.setattr(spark, "SparkSession", stand_in)
    return spark.SparkEngine(master=CLUSTER)


def test_an_active_session_on_the_same_master_is_used_and_left_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submitted = StandInSession(CLUSTER)
    engine = engine_with(monkeypatch, active=submitted, created=submitted)
    assert engine.session is submitted
    engine.close()
    assert not submitted.stopped  # its owner (the job) stops it


def test_a_session_the_engine_started_is_stopped_by_close(monkeypatch: pytest.MonkeyPatch) -> None:
    started = StandInSession(CLUSTER)
    engine = engine_with(monkeypatch, active=None, created=started)
    assert engine.session is started
    engine.close()
    assert started.stopped


def test_an_active_session_on_another_master_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    other = StandInSession("local[*]")
    engine = engine_with(monkeypatch, active=other, created=other)
    with pytest.raises(EngineError, match=r"already runs a Spark session on local\[\*\]"):
        _ = engine.session
    engine.close()
    assert not other.stopped
