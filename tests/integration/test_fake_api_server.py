"""The fake Fiscal Data API over real HTTP (httpx against a server on an ephemeral port)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from treasury_lakehouse.calendar import business_days
from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.testing import FakeFiscalDataApi, Fault, generate_records
from treasury_lakehouse.testing.records import NoMatchingRecordsError

PDT = "v1/accounting/dts/public_debt_transactions"
OCB = "v1/accounting/dts/operating_cash_balance"
START, END = date(2024, 1, 2), date(2024, 3, 29)
DAYS = len(business_days(START, END))  # 62


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("records")
    generate_records(out, START, END, seed=1)
    return out


@pytest.fixture
def api(records_dir: Path) -> Iterator[FakeFiscalDataApi]:
    with FakeFiscalDataApi(records_dir) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


def _get(
    client: httpx.Client, api: FakeFiscalDataApi, endpoint: str, **params: str
) -> httpx.Response:
    return client.get(api.base_url + endpoint, params=params)


def test_base_url_and_health(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    assert api.base_url.startswith("http://127.0.0.1:")
    assert api.base_url.endswith("/services/api/fiscal_service/")
    health = client.get(api.root_url + "/_control/health")
    assert health.status_code == 200
    assert health.json()["datasets"] == sorted(DATASETS)  # the generator serves every dataset


def test_paging_meta_and_links(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    response = _get(client, api, PDT, **{"page[number]": "2", "page[size]": "100"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    total = DAYS * 23
    assert body["meta"]["count"] == 100
    assert body["meta"]["total-count"] == total
    assert body["meta"]["total-pages"] == 15
    assert body["meta"]["dataTypes"]["transaction_today_amt"] == "CURRENCY0"
    assert body["links"] == {
        "self": "&page%5Bnumber%5D=2&page%5Bsize%5D=100",
        "first": "&page%5Bnumber%5D=1&page%5Bsize%5D=100",
        "prev": "&page%5Bnumber%5D=1&page%5Bsize%5D=100",
        "next": "&page%5Bnumber%5D=3&page%5Bsize%5D=100",
        "last": "&page%5Bnumber%5D=15&page%5Bsize%5D=100",
    }
    last = _get(client, api, PDT, **{"page[number]": "15"}).json()
    assert last["meta"]["count"] == total - 1400 == 26
    assert last["links"]["next"] is None
    default = _get(client, api, PDT).json()
    assert default["data"][0]["record_date"] == "2024-01-02"  # oldest first by default
    assert list(default["data"][0])[:2] == ["record_date", "transaction_type"]


def test_all_pages_add_up(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    seen: list[tuple[str, str]] = []
    for number in range(1, 5):
        params = {"sort": "record_date,src_line_nbr", "page[size]": "400"}
        page = _get(client, api, PDT, **params, **{"page[number]": str(number)}).json()
        seen.extend((r["record_date"], r["src_line_nbr"]) for r in page["data"])
    assert len(seen) == len(set(seen)) == DAYS * 23


def test_filters_in_and_sort_descending(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    body = _get(
        client,
        api,
        OCB,
        filter=(
            "record_date:in:(2024-02-01,2024-02-02),account_type:eq:Total TGA Deposits (Table II)"
        ),
        sort="-record_date",
    ).json()
    assert [r["record_date"] for r in body["data"]] == ["2024-02-02", "2024-02-01"]
    body = _get(
        client,
        api,
        PDT,
        filter="record_date:gte:2024-03-01,record_date:lte:2024-03-05,transaction_today_amt:gt:1000",
        sort="-transaction_today_amt",
    ).json()
    amounts = [int(r["transaction_today_amt"]) for r in body["data"]]
    assert amounts == sorted(amounts, reverse=True)
    assert amounts and min(amounts) > 1000
    assert {r["record_date"] for r in body["data"]} <= {"2024-03-01", "2024-03-04", "2024-03-05"}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"page[size]": "10001"}, "page[size]"),
        ({"filter": "bogus_field:eq:1"}, "bogus_field"),
        ({"sort": "-nope"}, "nope"),
        ({"filter": "record_date:between:2024-01-01"}, "between"),
        ({"fields": "record_date,transaction_today_amt"}, "Partial field lists"),
    ],
)
def test_bad_parameters_are_400_json(
    api: FakeFiscalDataApi, client: httpx.Client, params: dict[str, str], fragment: str
) -> None:
    response = _get(client, api, PDT, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid Query Param"
    assert fragment in body["message"]


def test_unknown_endpoint_is_html_404(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    response = _get(client, api, "v1/accounting/dts/no_such_table")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text and "Not Found" in response.text
    assert client.post(api.base_url + PDT).status_code == 405


def test_today_cut_off(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    api.today = date(2024, 1, 3)
    body = _get(client, api, PDT, sort="-record_date").json()
    assert body["meta"]["total-count"] == 2 * 23
    assert body["data"][0]["record_date"] == "2024-01-03"
    response = client.post(api.root_url + "/_control/today", json={"today": "2024-01-05"})
    assert response.status_code == 200
    assert api.today == date(2024, 1, 5)
    assert _get(client, api, PDT).json()["meta"]["total-count"] == 4 * 23
    client.post(api.root_url + "/_control/today", json={"today": None})
    assert _get(client, api, PDT).json()["meta"]["total-count"] == DAYS * 23


def test_restate(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    match = {"record_date": "2024-01-02", "account_type": "Total TGA Deposits (Table II)"}
    assert api.restate("operating_cash_balance", match, {"open_today_bal": "123"}) == 1
    row = _get(client, api, OCB, filter="record_date:eq:2024-01-02").json()["data"][1]
    assert (row["account_type"], row["open_today_bal"]) == (match["account_type"], "123")
    with pytest.raises(NoMatchingRecordsError):
        api.restate("operating_cash_balance", {"record_date": "1999-01-01"}, {"table_nbr": "X"})
    response = client.post(
        api.root_url + "/_control/restate",
        json={
            "dataset": "operating_cash_balance",
            "match": match,
            "changes": {"open_today_bal": "7"},
        },
    )
    assert response.json() == {"changed": 1}
    row = _get(client, api, OCB, filter="record_date:eq:2024-01-02").json()["data"][1]
    assert row["open_today_bal"] == "7"
    bad = client.post(
        api.root_url + "/_control/restate",
        json={"dataset": "operating_cash_balance", "match": {"record_date": "x"}, "changes": {}},
    )
    assert bad.status_code == 400


def test_fault_status_with_retry_after(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    api.inject_faults([Fault(status=503, retry_after="2", times=2), Fault(status=429)])
    first = _get(client, api, PDT)
    assert (first.status_code, first.headers["retry-after"]) == (503, "2")
    assert _get(client, api, PDT).status_code == 503
    too_many = _get(client, api, PDT)
    assert too_many.status_code == 429 and "retry-after" not in too_many.headers
    assert _get(client, api, PDT).status_code == 200
    assert len(api.requests) == 4
    assert all(PDT in path for path in api.requests)
    api.clear_requests()
    assert api.requests == []


def test_fault_latency(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    api.inject_faults([Fault(latency_s=0.3)])
    started = time.monotonic()
    response = _get(client, api, PDT)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    api.inject_faults([Fault(latency_s=1.0)])
    with pytest.raises(httpx.ReadTimeout):
        client.get(api.base_url + PDT, timeout=0.2)


def test_fault_truncated_body(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    api.inject_faults([Fault(truncate=True)])
    response = _get(client, api, PDT)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_fault_html_200(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    api.inject_faults([Fault(html_200=True)])
    response = _get(client, api, PDT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


def test_fault_drop_connection(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    api.inject_faults([Fault(drop_connection=True)])
    with pytest.raises(httpx.RemoteProtocolError):
        _get(client, api, PDT)
    assert _get(client, api, PDT).status_code == 200


def test_fault_targets_a_path(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    api.inject_faults([Fault(status=500, path_contains="operating_cash_balance")])
    assert _get(client, api, PDT).status_code == 200
    assert _get(client, api, OCB).status_code == 500
    assert api.pending_faults == []


def test_faults_over_control_endpoint(api: FakeFiscalDataApi, client: httpx.Client) -> None:
    response = client.post(
        api.root_url + "/_control/faults",
        json=[{"status": 502, "times": 1}, {"drop_connection": True}],
    )
    assert response.json() == {"queued": 2}
    assert _get(client, api, PDT).status_code == 502
    with pytest.raises(httpx.RemoteProtocolError):
        _get(client, api, PDT)
    bad = client.post(api.root_url + "/_control/faults", json=[{"explode": True}])
    assert bad.status_code == 400 and "explode" in bad.json()["message"]


def test_cli_serve_prints_base_url(records_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    command = [sys.executable, "-m", "treasury_lakehouse.testing", "serve", "--quiet"]
    command += ["--records", str(records_dir), "--port", "0", "--today", "2024-01-03"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.endswith("/services/api/fiscal_service/")
        body = httpx.get(base_url + PDT, timeout=5).json()
        assert body["meta"]["total-count"] == 2 * 23
    finally:
        process.terminate()
        process.wait(timeout=5)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def shared_data(shared_records: Path) -> Path:
    """The real Fiscal Data records folder (conftest's fixture skips when it is absent)."""
    return shared_records


@pytest.mark.shared_data
def test_serves_real_data_like_recorded_responses(shared_data: Path, client: httpx.Client) -> None:
    with FakeFiscalDataApi(shared_data) as api:
        recorded = json.loads(
            (
                shared_data / "responses" / "operating_cash_balance_2025-07-07_2025-07-11.json"
            ).read_text()
        )
        params = {
            "filter": "record_date:gte:2025-07-07,record_date:lte:2025-07-11",
            "sort": "record_date",
            "page[number]": "1",
            "page[size]": "10000",
        }
        assert _get(client, api, OCB, **params).json() == recorded

        default_page = json.loads(
            (shared_data / "responses" / "debt_to_penny_default_page1.json").read_text()
        )
        body = _get(client, api, "v2/accounting/od/debt_to_penny").json()
        assert body["data"] == default_page["data"]
        assert body["links"]["next"] == default_page["links"]["next"]
