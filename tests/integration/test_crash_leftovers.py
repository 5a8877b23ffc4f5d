"""What the crash test (test_crash_consistency.py) showed a kill can leave behind, reproduced
deterministically: a quality report half-written in ``lake/_quality``, and the ``.wal`` of a
quality sync killed after its commit and before its checkpoint."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.quality.store import quality_dir
from treasury_lakehouse.testing import FakeFiscalDataApi


def test_a_report_half_written_by_a_killed_check_is_removed_by_the_next_check(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    fake_api.today = date(2022, 3, 8)
    settings = make_settings(tmp_path, fake_api, start=date(2022, 3, 1))
    pipeline.run(settings)
    half_written = quality_dir(settings.lake) / "20220308T000000000000Z_x_check.json.tmp-0123abcd"
    half_written.write_text('{"run_id": ')

    pipeline.check(settings)

    assert not half_written.exists()
    assert len(list(quality_dir(settings.lake).glob("*.json"))) == 2


def _commit_without_checkpoint(warehouse: Path) -> None:
    """A process that commits into the warehouse in place, then dies before its checkpoint."""
    code = f"""
        import os, duckdb
        con = duckdb.connect({str(warehouse)!r})
        con.execute("SET checkpoint_threshold = '1GB'")
        con.execute("INSERT INTO quality_results SELECT * REPLACE ('killed-sync' AS run_id) "
                    "FROM quality_results LIMIT 1")
        os._exit(0)
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True)


def test_a_wal_left_by_a_killed_sync_is_settled_before_the_warehouse_is_replaced(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    fake_api.today = date(2022, 3, 8)
    settings = make_settings(tmp_path, fake_api, start=date(2022, 3, 1))
    pipeline.run(settings)
    warehouse = settings.duckdb_warehouse_path
    _commit_without_checkpoint(warehouse)
    assert Path(f"{warehouse}.wal").exists()

    pipeline.run(settings)

    assert not Path(f"{warehouse}.wal").exists()
    assert pipeline.verify(settings).ok
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kept = con.execute("SELECT count(*) FROM quality_results WHERE run_id = 'killed-sync'")
        assert kept.fetchall() == [(1,)]  # committed before the kill: kept
