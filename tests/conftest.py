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


PATIENTS = ("anna-testsson", "bob-example", "carl-prov")


@pytest.fixture(scope="session")
def fhir_server():
    """The real FHIR R4 test server with the fixture patients loaded. A small default page size (5)
    makes every search of a fixture patient's history span several pages, so paging is always exercised."""
    from tests.support.fhir_server import FhirTestServer

    with FhirTestServer(base_path="/fhir/r4", default_count=5) as server:
        for name in PATIENTS:
            server.load(load_fixture(f"patients/{name}.json"))
        yield server


def without_prefetch(relpath: str, fhir_base: str) -> dict:
    """A no-prefetch fixture request pointed at the given FHIR server."""
    body = load_fixture(relpath)
    body["fhirServer"] = fhir_base
    return body


@pytest.fixture(scope="session")
def service():
    """The production server (gunicorn, 2 workers) in development mode (auth off)."""
    with ServiceProcess() as proc:
        yield proc
