"""Shared fixtures: the real FHIR test server and the real Trappa server process (session-wide)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.service import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def load_fixture(relpath: str) -> dict:
    return json.loads((FIXTURES / relpath).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def fhir_server():
    from tests.support.fhir_server import FhirTestServer

    with FhirTestServer() as server:
        yield server


@pytest.fixture(scope="session")
def service():
    """The production server (gunicorn, 2 workers) in development mode (auth off)."""
    with ServiceProcess() as proc:
        yield proc
