"""The referral criteria (rules/referrals.py) and the cards' referral words: what a proposed referral is pre-filled with ([VGR "Organisation på fyra
vårdnivåer"] "En remiss … ska innehålla"; clinical-rules §5) and the shared readings of the record."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.web.config import Settings
from cds_service.protocol.evaluate import evaluate_request
from cds_service.protocol.services import SERVICES

from cds_service.rules import referral_pain_clinic, referral_psychiatry
from cds_service.cards.referrals import referral_content, referral_suggestion_for
from cds_service.rules.finding import ReferralProposal
from cds_service.rules.referrals import Versus, existing_referral, medd_versus, treatments_tried
from cds_service.rules.taper_state import taper_progress
from cds_service.domain.model import Conditions, DrugClass, TotalMedd
from fhir_mappings.codes.systems import TRAPPA_REFERRAL
from fhir_mappings.read.referrals import read_referral
from tests.support.rules_facts_referral import TODAY, ctx, day, facts, opioid, other, plan, step

QUESTION = {"sv": "Hjälp med nedtrappning?", "en": "Help with the taper?"}

HISTORY = (
    other(DrugClass.PARACETAMOL, "Alvedon 665 mg", start=day(-400), supply_end=day(-300), status="completed", amount=3990),
    other(DrugClass.NSAID, "Ibuprofen 400 mg", start=day(-350), supply_end=day(-340), status="stopped", amount=1200),
    other(DrugClass.GABAPENTINOID, "Gabapentin 300 mg", start=day(-250), supply_end=day(-200), status="stopped"),
)
FAILED = plan((step(1, -500, 60, 30),), status="stopped", outcome="failed", id="old-1")
DONE = plan((step(1, -900, 60, 30),), status="completed", outcome="completed", id="old-2")


def rich_facts():
    return facts(
        opioids=(opioid(amount=45, medd=90.0),),  # oxycodone 45 mg × 2 = 90 MEDD
        orders=HISTORY,
        days=800,
        previous_tapers=(FAILED, DONE),
        conditions=Conditions(long_term_pain=True, substance_use=("F11.2",), opioid_dependence=True,
                              psychiatric=("F32.1",)),
    )


def test_content_holds_what_vgr_requires():
    text = referral_content(rich_facts(), QUESTION)["sv"]
    assert text.startswith("Frågeställning: Hjälp med nedtrappning?")
    # current opioids and doses, MEDD, duration
    assert "- Oxykodon depot 20 mg: 45 mg/dygn (90 MEDD)" in text
    assert "Total MEDD: 90 MEDD" in text
    assert "800 dagar i följd" in text
    # treatments tried with dose levels, as far as the record shows; the effect never shows
    assert "- Paracetamol: förskrivet 2025-10-19–2026-01-26, 3990 mg/dygn – effekt framgår inte av journalen" in text
    assert "- NSAID: förskrivet 2025-12-08–2025-12-17, 1200 mg/dygn" in text
    assert "- Duloxetin: framgår inte av journalen" in text
    assert "- Gabapentin/pregabalin: förskrivet" in text
    # previous tapers and how they ended
    assert "oxikodon: avbruten utan att nå målet" in text
    assert "oxikodon: genomförd (opioiden utsatt)" in text
    # diagnoses
    assert "Substansbruk: F11.2" in text and "Psykiatrisk samsjuklighet: F32.1" in text
    # checklist of what the record cannot show
    for item in ("motivation", "Smärtutredning", "sjukskrivning", "vårdgarantin"):
        assert item in text


def test_content_is_honest_about_unknown_medd():
    fent = opioid("Fentanyl plåster", "fentanyl", None, None, None, id="f")
    text = referral_content(facts(opioids=(opioid(amount=10, medd=20.0), fent)), QUESTION)
    assert "Total MEDD: minst 20 MEDD" in text["sv"]
    assert "MEDD kunde inte beräknas för: Fentanyl plåster" in text["sv"]
    assert "Total MEDD: at least 20 MEDD" in text["en"]


def test_suggestion_is_a_valid_draft_service_request_in_swedish():
    s = referral_suggestion_for(rich_facts(), ReferralProposal("psychiatry", "Patient/pat-1", "Practitioner/dr-a"), QUESTION)
    assert s is not None and s.is_recommended is False
    [action] = s.actions
    assert action.type == "create"
    sr = action.resource
    ServiceRequest.model_validate(sr)
    assert sr["status"] == "draft" and sr["intent"] == "proposal"
    assert {"system": TRAPPA_REFERRAL, "code": "psychiatry"}.items() <= sr["code"]["coding"][0].items()
    assert sr["subject"] == {"reference": "Patient/pat-1"}
    assert sr["requester"] == {"reference": "Practitioner/dr-a"}
    assert sr["reasonCode"][0]["text"] == "Hjälp med nedtrappning?"
    assert "Prövade behandlingar enligt journalen" in sr["note"][0]["text"]
    assert "beroendemottagning" in s.label["sv"]


def test_cards_carry_the_referral_suggestion():
    from tests.support.worded import with_words
    [psych] = [with_words(f, rich_facts()) for f in referral_psychiatry.findings(rich_facts(), ctx())]
    [s] = psych.suggestions
    assert s.actions[0].resource["code"]["coding"][0]["code"] == "psychiatry"
    taper = plan((step(1, -6, 14, 20),))
    pain_facts = facts(opioids=(opioid(amount=30, medd=60.0),), taper_plan=taper)
    [pain] = [with_words(f, pain_facts) for f in referral_pain_clinic.findings(pain_facts, ctx())]
    [s] = pain.suggestions
    assert s.actions[0].resource["code"]["coding"][0]["code"] == "pain-clinic"
    assert "30 mg/dygn, planerat 20 mg/dygn" in s.actions[0].resource["reasonCode"][0]["text"]


def test_existing_referral_only_open_and_to_the_same_target():
    sr = {"resourceType": "ServiceRequest", "status": "active",
          "code": {"coding": [{"system": TRAPPA_REFERRAL, "code": "psychiatry"}]}}
    f = facts(service_requests=(sr, {"resourceType": "ServiceRequest"}, "not a dict"))
    assert existing_referral(f, "psychiatry") == read_referral(sr)
    assert existing_referral(f, "psychiatry").by_trappa
    assert existing_referral(f, "pain-clinic") is None
    assert existing_referral(facts(service_requests=(dict(sr, status="revoked"),)), "psychiatry") is None


def test_treatments_tried_reads_record_not_drafts():
    f = facts(orders=HISTORY, drafts=(other(DrugClass.DULOXETINE, "Duloxetin 30 mg", draft=True),))
    tried = {t.treatment.key: t.tried for t in treatments_tried(f)}
    assert tried == {"paracetamol": True, "nsaid": True, "duloxetine": False, "amitriptyline": False,
                     "gabapentinoid": True}


def test_medd_versus_limit():
    assert medd_versus(TotalMedd(61.0, True), 60) is Versus.ABOVE
    assert medd_versus(TotalMedd(60.0, True), 60) is Versus.AT_OR_BELOW
    assert medd_versus(TotalMedd(61.0, False, ("x",)), 60) is Versus.ABOVE
    assert medd_versus(TotalMedd(60.0, False, ("x",)), 60) is Versus.UNDECIDED
    assert medd_versus(TotalMedd(None, False, ("x",)), 60) is Versus.UNDECIDED
    assert medd_versus(TotalMedd(None, True), 60) is Versus.AT_OR_BELOW  # no opioid at all


def test_taper_progress_today_and_next():
    p = taper_progress(
        facts(opioids=(opioid(amount=30, medd=60.0),),
              taper_plan=plan((step(1, -7, 7, 30), step(2, 0, 7, 27), step(3, 7, 7, 24)))),
        TODAY,
    )
    assert (p.step_number, p.steps, p.target, p.current) == (2, 3, 27, 30)
    assert p.stalled is True
    assert p.next_step.start == day(7) and p.next_step.daily_dose.amount == 24
    assert taper_progress(facts(), TODAY) is None


# --- R2's fixtures (fixtures/requests/<topic>.json), evaluated in-process -----------------------------

REQUESTS = Path(__file__).resolve().parents[2] / "fixtures" / "requests"
R2_TOPICS = ("referral-psychiatry", "referral-pain-clinic", "co-sedatives", "gabapentinoid-caution",
             "pain-diagnosis-missing", "opioid-review", "taper-status", "medd-unknown")


def _evaluate(topic: str, lang: str):
    body = json.loads((REQUESTS / f"{topic}.json").read_text(encoding="utf-8"))
    service = next(s for s in SERVICES.values() if s.hook == body["hook"])
    return body, evaluate_request(service, body, Settings(allow_clock_override=True, auth_required=False), None, lang)


@pytest.mark.parametrize("topic", R2_TOPICS)
def test_fixture_gives_expected_topics(topic):
    expected = json.loads((REQUESTS / f"{topic}.expected.json").read_text(encoding="utf-8"))["topics"]
    assert topic in expected
    for lang in ("sv", "en"):
        body, result = _evaluate(topic, lang)
        assert body["extension"]["trappa"]["today"] == "2026-11-23"
        assert sorted(result.topics) == sorted(expected), lang
        for card in result.response["cards"]:
            assert len(card["summary"]) < 140
            for s in card.get("suggestions", []):
                for a in s["actions"]:
                    if a.get("resource", {}).get("resourceType") == "ServiceRequest":
                        ServiceRequest.model_validate(a["resource"])


def _card(topic: str, lang: str = "sv") -> dict:
    _, result = _evaluate(topic, lang)
    return next(c for c in result.response["cards"] if c["source"]["topic"]["code"] == topic)


def test_fixture_psychiatry_card_content():
    # Karl Provsson: OxyContin 20 mg twice daily = 40 mg/day × 2 = 80 MEDD; two revoked taper plans; F11.2
    card = _card("referral-psychiatry")
    trappa = card["extension"]["trappa"]
    assert trappa["criteriaMet"] == ["highMedd", "failedTapers", "opioidDependence"]
    assert trappa["meddMg"] == 80
    [suggestion] = card["suggestions"]
    assert suggestion["actions"][0]["resource"]["code"]["coding"][0]["code"] == "psychiatry"


def test_fixture_pain_clinic_card_content():
    # Maja: OxyContin 15 mg twice daily = 30 mg/day (60 MEDD); plan 30, 27, 24, 21 … weekly from
    # 2026-11-02 → 2026-11-23 is step 4 = 21 mg/day; paracetamol in the history, no NSAID
    trappa = _card("referral-pain-clinic")["extension"]["trappa"]
    assert (trappa["currentDailyDose"], trappa["todayStepDose"], trappa["stepNumber"]) == (30, 21, 4)
    assert trappa["checklist"]["paracetamol"] == "met" and trappa["checklist"]["nsaid"] == "not-shown"


def test_fixture_medd_unknown_for_an_excluded_patient():
    # Stina (palliative care): fentanyl patch dosed in free text; oxycodone 20 mg/day = 40 MEDD known
    card = _card("medd-unknown")
    assert card["extension"]["trappa"]["excluded"] == ["palliative"]
    assert "minst 40" in card["summary"]
    assert "dosering endast i fritext" in card["detail"]
