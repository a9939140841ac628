"""The current-regimen patients (fixtures/requests/regimen.*.json, built by
fixtures/build_regimen_fixtures.py) through the real HTTP service: the topics and the card facts of
each ``.expected.json`` — meddMg never 0 for a patient who takes an opioid, the taper's start dose,
the prescriptions a taper ends."""
from __future__ import annotations

import json

import pytest

from conftest import FIXTURES

REQUESTS = FIXTURES / "requests"
CASES = sorted(p.name.removesuffix(".expected.json") for p in REQUESTS.glob("regimen.*.expected.json"))


def _call(service, name: str, lang: str = "sv") -> list[dict]:
    body = json.loads((REQUESTS / f"{name}.json").read_text(encoding="utf-8"))
    resp = service.post(f"/cds-services/trappa-{body['hook']}", body, headers={"Accept-Language": lang})
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()["cards"]


def _topic(card: dict) -> str:
    return card["source"]["topic"]["code"]


def test_there_are_regimen_patients():
    assert len(CASES) >= 11


@pytest.mark.parametrize("name", CASES)
def test_regimen_patient_gets_its_topics_and_facts(service, name):
    expected = json.loads((REQUESTS / f"{name}.expected.json").read_text(encoding="utf-8"))
    for lang in ("sv", "en"):
        cards = _call(service, name, lang)
        assert sorted(_topic(c) for c in cards) == sorted(expected["topics"]), lang
        for card in cards:
            facts = card["extension"]["trappa"]
            for key, value in expected.get("facts", {}).items():
                assert facts[key] == value, (name, _topic(card), key)
            assert facts["meddMg"] != 0  # every one of these patients takes an opioid
        taper = [c for c in cards if _topic(c) == "taper-plan-missing"]
        for key, value in expected.get("taper", {}).items():
            assert taper and taper[0]["extension"]["trappa"][key] == value, (name, key)


def test_the_taper_ends_the_still_valid_prescriptions(service):
    cards = _call(service, "regimen.still-valid-old-prescription")
    (taper,) = [c for c in cards if _topic(c) == "taper-plan-missing"]
    for suggestion in taper["suggestions"]:
        updates = [a for a in suggestion["actions"] if a["type"] == "update"]
        assert sorted(a["resource"]["id"] for a in updates) == ["in-oxy-7", "in-oxy5-old"]
        for a in updates:
            # the prescription whole, as the record holds it (not the outline the service reads), stopped
            assert a["resource"]["status"] == "stopped"
            assert a["resource"]["subject"] == {"reference": "Patient/inga-nord"}
            assert a["resource"]["dispenseRequest"]["validityPeriod"]
    assert "Makulera giltiga recept" in taper["detail"]


def test_depot_beside_prn_starts_from_the_depot_and_names_the_prn(service):
    cards = _call(service, "regimen.depot-and-prn")
    (taper,) = [c for c in cards if _topic(c) == "taper-plan-missing"]
    steps = taper["extension"]["trappa"]["taperSteps"]
    assert steps[0]["dailyDose"] == 40  # not 60: 50 % more depot than today
    assert "OxyNorm" not in json.dumps(steps)
    assert "Oxikodon 5 mg kapsel: högst 20 mg/dygn" in taper["detail"]
    assert "veckoschema under 1–2 veckor" in taper["detail"]


@pytest.mark.parametrize("name", ["regimen.free-text-1x2", "regimen.patch-var-7-dag"])
def test_a_dosage_in_free_text_only_is_read_and_not_reported_as_free_text(service, name):
    # "1x2" and "1 depotplåster var 7:e dag" are read (fhir_mappings/read/dosage_text.py): the MEDD is known,
    # so no card may say the dosage is only in free text, in either language.
    for lang, words in (("sv", "fritext"), ("en", "free text")):
        cards = _call(service, name, lang)
        assert words not in json.dumps(cards, ensure_ascii=False), lang
        assert "medd-unknown" not in [_topic(c) for c in cards]


def _medication_requests(card: dict) -> list[dict]:
    return [a["resource"] for s in card.get("suggestions", []) for a in s["actions"]
            if a["type"] == "create" and a["resource"]["resourceType"] == "MedicationRequest"]


def test_the_sandbox_draft_gets_a_schedule_from_20_mg_and_no_medd_unknown(service):
    """The CDS Hooks sandbox's own draft: RxNorm 1049502, 1 {pill} twice daily (frequency 2, period 1 d)."""
    for lang in ("sv", "en"):
        cards = _call(service, "regimen.sandbox-pill", lang)
        assert "medd-unknown" not in [_topic(c) for c in cards]
        (taper,) = [c for c in cards if _topic(c) == "taper-plan-missing"]
        assert taper["extension"]["trappa"]["taperSteps"][0]["dailyDose"] == 20
        assert ("20 mg/dygn" if lang == "sv" else "20 mg/day") in taper["detail"]
        assert len(taper["suggestions"]) == 3  # the default pace, a faster and a slower one
        assert sorted(taper["extension"]["trappa"]["alternativePaces"]) == ["fast", "slow"]
        for request in _medication_requests(taper):
            first = request["medicationCodeableConcept"]["coding"][0]  # what the sandbox keeps as its draft
            assert (first["system"], first["code"]) == ("http://www.nlm.nih.gov/research/umls/rxnorm", "1049502")


def test_the_targiniq_taper_keeps_oxycodone_naloxone(service):
    cards = _call(service, "regimen.targiniq")
    (taper,) = [c for c in cards if _topic(c) == "taper-plan-missing"]
    requests = _medication_requests(taper)
    assert len(requests) == 3
    for request in requests:
        product = request["medicationCodeableConcept"]
        assert product["text"] == "Oxikodon/naloxon depottablett"
        assert [c["code"] for c in product["coding"]] == ["N02AA55"]  # the draft's system, the combination's code
    assert "Byte av beredning" not in taper["detail"]
    assert taper["extension"]["trappa"]["taperSteps"][0]["medd"] == 40  # the oxycodone part: 20 mg × 2


def test_a_product_coded_by_npl_id_only_is_named_as_identified_by_name(service):
    cards = _call(service, "regimen.npl-only")
    (unknown,) = [c for c in cards if _topic(c) == "medd-unknown"]
    facts = unknown["extension"]["trappa"]
    assert facts["lowConfidence"] == ["Dolcontin 30 mg depottablett"]
    assert facts["lowConfidenceStrengths"] == [
        {"display": "Dolcontin 30 mg depottablett", "strength": 30, "unit": "mg", "source": "text"}]
    assert "identifierad enbart via namnet" in unknown["summary"]
    assert "30 mg per enhet enligt produktnamnet" in unknown["detail"]


def test_citodon_once_daily_beside_oxycodone_30_mg_is_over_60(service):
    """Oxycodone 30 mg/dygn (60 MEDD) and Citodon one tablet a day: 30 mg codeine × 0.15 = 4.5 → 64.5 MEDD,
    over the referral limit (the Citodon used to be 'styrka per enhet är okänd')."""
    body = json.loads((REQUESTS / "regimen.citodon.json").read_text(encoding="utf-8"))
    orders = [e["resource"] for e in body["prefetch"]["medicationRequests"]["entry"]]
    orders += [e["resource"] for e in body["context"]["draftOrders"]["entry"]]
    for order in orders:
        if order["id"].startswith("es-cit"):
            order["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = 1
            order["dosageInstruction"][0]["text"] = "1 tablett dagligen"
            if "dispenseRequest" in order:
                order["dispenseRequest"]["quantity"]["value"] = 30
    resp = service.post("/cds-services/trappa-order-sign", body)
    assert resp.status_code == 200, resp.text[:300]
    cards = resp.json()["cards"]
    assert "referral-psychiatry" in [_topic(c) for c in cards]
    assert {c["extension"]["trappa"]["meddMg"] for c in cards} == {64.5}


# The requests that carry their record (the no-prefetch ones fetch it: tests/protocol/test_fhir_fallback.py).
ALL_REQUESTS = sorted(p for p in REQUESTS.glob("*.json")
                      if not p.name.endswith(".expected.json") and json.loads(p.read_text(encoding="utf-8")).get("prefetch"))


@pytest.mark.parametrize("path", ALL_REQUESTS, ids=[p.name for p in ALL_REQUESTS])
def test_no_fixture_patient_who_takes_an_opioid_shows_medd_zero(path):
    from cds_service.web.config import Settings
    from cds_service.protocol.evaluate import draft_orders, evaluate_request, today_for
    from cds_service.protocol.gather import gather
    from cds_service.protocol.validate import with_bare_ids
    from cds_service.protocol.services import SERVICES
    from fhir_mappings.read.facts import build_patient_facts

    body = json.loads(path.read_text(encoding="utf-8"))
    settings = Settings(allow_clock_override=True, auth_required=False)
    service = next(s for s in SERVICES.values() if s.hook == body["hook"])
    bare = with_bare_ids(body)
    facts = build_patient_facts(bare["context"]["patientId"], gather(bare, settings, None).resources,
                                draft_orders(bare, service.hook), today_for(bare, settings))
    cards = evaluate_request(service, body, settings, None, "sv").response["cards"]
    for card in cards:
        medd = card["extension"]["trappa"]["meddMg"]
        if facts.regimen.takes_opioid:
            assert medd != 0, (path.name, card["source"]["topic"]["code"])
        else:
            assert medd == 0, (path.name, card["source"]["topic"]["code"])
