"""Test support: a fake Fiscal Data API server and a synthetic DTS record generator.

Used by the test suite, the demo and the benchmarks; nothing here talks to the real API.
"""

from __future__ import annotations

from treasury_lakehouse.testing.fake_api import FakeFiscalDataApi, Fault
from treasury_lakehouse.testing.generator import generate_records

__all__ = ["FakeFiscalDataApi", "Fault", "generate_records"]
