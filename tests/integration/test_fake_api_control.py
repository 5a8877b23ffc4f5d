"""The fake API's /_control endpoints answer only on loopback: a server bound to every address
still serves the API to others, but lets no one else move its date, restate or inject faults."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from treasury_lakehouse.testing import FakeFiscalDataApi

OCB = "v1/accounting/dts/operating_cash_balance"


def _non_loopback_address() -> str:
    """This host's address on its default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only selects the outgoing interface
        except OSError:
            pytest.skip("no non-loopback IPv4 interface to reach the server from")
        address: str = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("no non-loopback IPv4 interface to reach the server from")
    return address


def test_control_answers_only_on_loopback(synthetic_records: Path) -> None:
    address = _non_loopback_address()
    with (
        FakeFiscalDataApi(synthetic_records, host="0.0.0.0") as api,
        httpx.Client(trust_env=False) as http,  # straight to the address, never via a proxy
    ):
        outside = f"http://{address}:{api.port}"
        inside = f"http://127.0.0.1:{api.port}"
        refused = http.post(f"{outside}/_control/today", json={"today": "2021-09-01"})
        assert refused.status_code == 403
        assert refused.json()["message"] == "/_control answers only on loopback"
        assert http.get(f"{outside}/_control/health").status_code == 403
        assert http.post(f"{outside}/_control/faults", json=[{"status": 500}]).status_code == 403
        assert api.today is None and api.pending_faults == []
        served = http.get(f"{outside}/services/api/fiscal_service/{OCB}")
        assert served.status_code == 200 and served.json()["data"]  # the API itself is public
        assert http.get(f"{inside}/_control/health").status_code == 200
        moved = http.post(f"{inside}/_control/today", json={"today": "2021-09-01"})
        assert moved.status_code == 200 and str(api.today) == "2021-09-01"
