"""Dispensings (MedicationDispense, *uthämtade läkemedel*) and the medication list (MedicationStatement)
reach the evaluation: asked for in discovery's prefetch, fetched on the fallback path from the real FHIR
test server in the same budget as the rest, used from prefetch without fetching, and — when they cannot
be had — named on the cards, never a 412.

The patients (``tests/support/dispense_records.py``) are synthetic: Dora's oxycodone is known only from six
months of dispensings; Erik's LARO (Suboxone) only from his dispensings or only from his medication list.
All calls go through the real server process and the real FHIR server (session fixtures, conftest.py).
"""
from __future__ import annotations

import time

import pytest
import requests

from cds_service.protocol.gather import render_query
from tests.support.dispense_records import (
    DORA,
    LARO_PATIENTS,
    OXYCONTIN,
    dora,
    laro_patient,
    order_sign,
    transaction,
)

SERVICE = "/cds-services/trappa-order-sign"
NEW_KEYS = {
    "medicationDispenses": "MedicationDispense?patient={{context.patientId}}&_include=MedicationDispense:medication",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication",
}
TAPER_TOPICS = {"taper-plan-missing", "prescribing-restriction"}
GAP_SV = "uthämtade läkemedel (apoteksuttag"
GAP_EN = "dispensed medications (pharmacy collections"


@pytest.fixture(scope="module")
def fhir(fhir_server):
    """The session's FHIR server with the dispense patients loaded (next to the fixture patients)."""
    fhir_server.load(transaction(dora()))
    for where, pid in LARO_PATIENTS.items():
        fhir_server.load(transaction(laro_patient(pid, where)))
    yield fhir_server
    fhir_server.clear_failures()


def _topics(resp) -> set[str]:
    return {c["source"]["topic"]["code"] for c in resp.json()["cards"]}


def _essence(cards):
    """What must not differ between prefetch and fetch: topics, indicators, summaries and decision facts."""
    return sorted(((c["source"]["topic"]["code"], c["indicator"], c["summary"],
                    sorted(c["extension"]["trappa"].items(), key=str)) for c in cards), key=str)


def _queries(log, rtype: str) -> list[str]:
    return [r["path"] for r in log if r["path"].split("?")[0].endswith("/" + rtype)]


def test_discovery_asks_for_dispenses_and_statements_and_the_fhir_server_answers_the_queries(service, fhir):
    services = service.get("/cds-services").json()["services"]
    assert len(services) == 4
    for s in services:
        assert {k: s["prefetch"].get(k) for k in NEW_KEYS} == NEW_KEYS
        assert "MedicationDispense" in s["usageRequirements"] and "MedicationStatement" in s["usageRequirements"]
    # Each template, filled as an EHR (or the sandbox) would, is a search the FHIR server answers: the
    # _include names an R4 search parameter (a rejected one would be a 400 here).
    for key, template in services[0]["prefetch"].items():
        url = f"{fhir.base_url}/{render_query(template, {'patientId': DORA})}"
        resp = requests.get(url, timeout=10)
        assert resp.status_code == 200 and resp.json()["resourceType"] in ("Bundle", "Patient"), (key, resp.text[:300])
    first_page = requests.get(f"{fhir.base_url}/{render_query(NEW_KEYS['medicationDispenses'], {'patientId': DORA})}",
                              timeout=10).json()
    assert first_page["total"] == 6
    included = [e["resource"]["id"] for e in first_page["entry"] if e["search"]["mode"] == "include"]
    assert included == [OXYCONTIN["id"]]


def test_a_dispense_only_history_is_fetched_and_counted(service, fhir):
    """No prefetch: Dora's six months of oxycodone are in her dispensings only. Fetched (both pages, the
    server pages by 5), they make the renewal a long-term one; without them it would look like a start."""
    fhir.clear_log()
    resp = service.post(SERVICE, order_sign(DORA, fhir_server=fhir.base_url))
    assert resp.status_code == 200, resp.text[:500]
    dispense_queries = _queries(fhir.requests_log(), "MedicationDispense")
    assert len(dispense_queries) == 2, dispense_queries
    assert "_include=MedicationDispense%3Amedication" in dispense_queries[0] or \
        "_include=MedicationDispense:medication" in dispense_queries[0]
    cards = resp.json()["cards"]
    assert cards
    for card in cards:
        facts = card["extension"]["trappa"]
        assert facts["opioidDays"] > 150 and facts["exposure"] == "long-term", facts
        assert "dataGaps" not in facts
    # 1 tablet of 10 mg twice daily, as dispensed and as renewed: 20 mg oxycodone = 40 MEDD. (The history
    # is what the dispensings add: without them the renewal is a new start with a planned end, no cards.)
    assert {c["extension"]["trappa"]["meddMg"] for c in cards} == {40}
    assert "taper-plan-missing" in _topics(resp)


def test_prefetched_dispenses_are_used_without_fetching(service, fhir):
    fetched = service.post(SERVICE, order_sign(DORA, fhir_server=fhir.base_url))
    fhir.clear_log()
    prefetched = service.post(SERVICE, order_sign(DORA, fhir_server=fhir.base_url, resources=dora()))
    assert prefetched.status_code == 200, prefetched.text[:500]
    assert fhir.requests_log() == []  # every key prefetched, the Medication included: nothing to fetch
    assert _essence(prefetched.json()["cards"]) == _essence(fetched.json()["cards"])
    assert "taper-plan-missing" in _topics(prefetched)


def test_a_medication_that_dispenses_refer_to_is_fetched_when_the_ehr_left_it_out(service, fhir):
    """An EHR that ignores ``_include`` sends the dispensings without their Medication: it is fetched
    (one ``Medication?_id=`` query) and the cards are those of the complete prefetch."""
    full = service.post(SERVICE, order_sign(DORA, resources=dora()))
    body = order_sign(DORA, fhir_server=fhir.base_url, resources=dora())
    bundle = body["prefetch"]["medicationDispenses"]
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Medication"]
    fhir.clear_log()
    resp = service.post(SERVICE, body)
    assert [r["path"].split("/fhir/r4/")[1] for r in fhir.requests_log()] == [f"Medication?_id={OXYCONTIN['id']}"]
    assert _essence(resp.json()["cards"]) == _essence(full.json()["cards"])


@pytest.mark.parametrize("where", sorted(LARO_PATIENTS))
def test_laro_known_only_from_dispenses_or_the_medication_list_excludes_from_taper_cards(service, fhir, where):
    pid = LARO_PATIENTS[where]
    fhir.clear_log()
    resp = service.post(SERVICE, order_sign(pid, fhir_server=fhir.base_url))
    assert resp.status_code == 200, resp.text[:500]
    assert _queries(fhir.requests_log(), where), "the type holding the LARO was fetched"
    # Excluded patients get no taper cards (only medd-unknown, and the MEDD here is known).
    assert _topics(resp) <= {"medd-unknown"}, _topics(resp)


@pytest.mark.parametrize("failure,lang", [({"status": 500}, "sv"), ({"delay_ms": 4000}, "en")],
                         ids=["http-500", "timeout"])
def test_a_failing_dispense_query_is_a_named_gap_on_the_cards_not_a_412(service, fhir, failure, lang):
    """Erik's Suboxone is in his dispensings only. When the FHIR server fails for MedicationDispense
    (and for nothing else), the renewal still gets its cards — which say that the dispensings could not
    be checked, the very data that would have excluded him."""
    pid = LARO_PATIENTS["MedicationDispense"]
    fhir.set_failure("MedicationDispense", **failure)
    try:
        started = time.monotonic()
        resp = service.post(SERVICE, order_sign(pid, fhir_server=fhir.base_url), headers={"Accept-Language": lang})
        elapsed = time.monotonic() - started
    finally:
        fhir.clear_failures()
    assert resp.status_code == 200, resp.text[:500]
    assert elapsed < 3.0, elapsed  # a timeout is bounded by TRAPPA_FHIR_TIMEOUT (1.5 s), not the server
    cards = resp.json()["cards"]
    assert TAPER_TOPICS <= _topics(resp)
    for card in cards:
        assert card["extension"]["trappa"]["dataGaps"] == ["medicationDispenses"]
        assert (GAP_SV if lang == "sv" else GAP_EN) in card["detail"]
