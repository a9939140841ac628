"""Every fixture request rolled far from the day it is written for (+400 days, demo/roll.py) gets the
same cards through the real server as on that day: the same topics and the same facts (meddMg,
opioidDays, exposure, the taper steps' daily doses and days …), the dates among them 400 days on. The
requests with prefetch carry their own rolled ``extension.trappa.today`` (the session server, in
development mode, honours it); those without fetch the patients, rolled too, from a FHIR test server
of their own. Written for any fixture file: new ones are picked up by the glob."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import FIXTURES, without_prefetch
from demo.roll import REFERENCE_DATE, fixture_date, roll
from demo.run import collect
from tests.support.rolling import card_essence, topics

SHIFT = 400  # more than a year: every history, taper and supply lands on other weekdays and months
REQUESTS = sorted(p for p in (FIXTURES / "requests").glob("*.json") if not p.name.endswith(".expected.json"))


def _load(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


PREFETCHED = [p for p in REQUESTS if _load(p).get("prefetch")]
FETCHED = [p for p in REQUESTS if not _load(p).get("prefetch")]


@pytest.fixture(scope="module")
def rolled_fhir_server():
    """The FHIR test server as the session's (same base path and page size), holding every fixture
    patient rolled by SHIFT days, loaded as ``./trappa demo`` loads them."""
    from tests.support.fhir_server import FhirTestServer

    with FhirTestServer(base_path="/fhir/r4", default_count=5) as server:
        for _source, bundle in collect(REFERENCE_DATE + timedelta(days=SHIFT)).bundles:
            server.load(bundle)
        yield server


@pytest.fixture(scope="module")
def reference_fhir_server(fhir_server):
    """The session's FHIR test server with the fixture patients as conftest loaded them: loaded again
    (PUT, so nothing else changes), since a module before this one may have reset it
    (tests/web/test_no_secrets_in_logs.py keeps only a renamed Anna)."""
    for path in sorted((FIXTURES / "patients").glob("*.json")):
        fhir_server.load(_load(path))
    return fhir_server


def _cards(service, body) -> list[dict]:
    resp = service.post(f"/cds-services/trappa-{body['hook']}", body)
    assert resp.status_code == 200, resp.text[:500]
    return resp.json()["cards"]


def test_there_are_fixtures_of_both_kinds():
    assert len(PREFETCHED) >= 20 and len(FETCHED) >= 12


@pytest.mark.parametrize("path", PREFETCHED, ids=[p.name for p in PREFETCHED])
def test_a_rolled_request_gets_the_cards_of_the_reference_day(service, path):
    body = _load(path)
    rolled = roll(body, SHIFT)
    assert fixture_date(rolled) == fixture_date(body) + timedelta(days=SHIFT)
    reference, got = _cards(service, body), _cards(service, rolled)
    assert topics(got) == topics(reference)
    assert card_essence(got, SHIFT) == card_essence(reference)


@pytest.mark.parametrize("path", FETCHED, ids=[p.name for p in FETCHED])
def test_a_rolled_request_without_prefetch_fetches_the_rolled_patient_and_gets_the_same_cards(
        service, reference_fhir_server, rolled_fhir_server, path):
    relpath = str(path.relative_to(FIXTURES))
    reference = _cards(service, without_prefetch(relpath, reference_fhir_server.base_url))
    rolled = dict(roll(_load(path), SHIFT), fhirServer=rolled_fhir_server.base_url)
    rolled_fhir_server.clear_log()
    got = _cards(service, rolled)
    assert any("MedicationRequest" in r["path"] for r in rolled_fhir_server.requests_log())  # really fetched
    assert reference, "the no-prefetch fixtures are built to get cards"
    assert topics(got) == topics(reference)
    assert card_essence(got, SHIFT) == card_essence(reference)
