"""The fake API's /_control endpoints answer only on loopback: a server bound to every address
still serves the API to others, but lets no one else move its date, restate or inject faults.

The non-loopback caller is made without touching any real network: the test runs in a private
network namespace (``unshare -rn``) whose only interface is ``lo`` with a TEST-NET-1 address
(192.0.2.10, a documentation address, not a private range) added to it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import require_or_skip
from treasury_lakehouse.testing.fake_api import _is_loopback

OUTSIDE = "192.0.2.10"

SCRIPT = r"""
import json, sys
import httpx
from treasury_lakehouse.testing import FakeFiscalDataApi
OCB = "v1/accounting/dts/operating_cash_balance"
with FakeFiscalDataApi(sys.argv[1], host="0.0.0.0") as api, httpx.Client(trust_env=False) as http:
    outside, inside = f"http://{sys.argv[2]}:{api.port}", f"http://127.0.0.1:{api.port}"
    day = {"today": "2021-09-01"}
    out = {
        "refused_today": http.post(f"{outside}/_control/today", json=day).json(),
        "refused_health": http.get(f"{outside}/_control/health").status_code,
        "refused_faults": http.post(f"{outside}/_control/faults", json=[{}]).status_code,
        "today_after_refusals": str(api.today),
        "faults_after_refusals": len(api.pending_faults),
        "api_outside": http.get(f"{outside}/services/api/fiscal_service/{OCB}").status_code,
        "health_inside": http.get(f"{inside}/_control/health").status_code,
        "moved_inside": http.post(f"{inside}/_control/today", json=day).status_code,
        "today_after_move": str(api.today),
    }
print(json.dumps(out))
"""


def test_loopback_addresses_are_recognised() -> None:
    assert _is_loopback("127.0.0.1") and _is_loopback("127.8.9.10") and _is_loopback("::1")
    assert _is_loopback("::ffff:127.0.0.1")
    assert not _is_loopback(OUTSIDE) and not _is_loopback("::ffff:192.0.2.10")
    assert not _is_loopback("not an address")


def test_control_answers_only_on_loopback(synthetic_records: Path) -> None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        require_or_skip("needs unshare and ip (util-linux, iproute2) for a private network")
    setup = f'ip link set lo up && ip addr add {OUTSIDE}/32 dev lo && exec "$0" "$@"'
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        ["unshare", "-rn", "sh", "-c", setup, sys.executable, "-c", SCRIPT,
         str(synthetic_records), OUTSIDE],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    if (
        done.returncode != 0
        and "unshare" in done.stderr
        and "Operation not permitted" in done.stderr
    ):
        require_or_skip(f"no private network namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["refused_today"]["message"] == "/_control answers only on loopback"
    assert out["refused_health"] == 403 and out["refused_faults"] == 403
    assert out["today_after_refusals"] == "None" and out["faults_after_refusals"] == 0
    assert out["api_outside"] == 200  # the API itself is public
    assert out["health_inside"] == 200 and out["moved_inside"] == 200
    assert out["today_after_move"] == "2021-09-01"
