"""referral-psychiatry: [RJL "Hjälp och kontaktvägar"] — over 60 MEDD, ≥ 2 failed tapers, F11/F13,
mixed dependence."""
from __future__ import annotations

from cds_service.domain.problems import Problem

import pytest

from cds_service.rules import referral_psychiatry
from tests.support.worded import Worded
from cds_service.domain.model import Conditions
from fhir_mappings.codes.systems import TRAPPA_REFERRAL
from cds_service.domain.model import Form
from tests.support.rules_facts_referral import MG, check_texts, ctx, facts, opioid, plan, step

rule = Worded(referral_psychiatry)  # the findings with the words the card shows


def oxy(mg_per_day: float, **kw):
    # oxycodone factor 2 (clinical-rules §4): MEDD = 2 × mg/day, computed here by hand
    return opioid(amount=mg_per_day, medd=2 * mg_per_day, **kw)


def failed(n: int):
    return tuple(
        plan((step(1, -400 + 100 * i, 30, 20),), outcome="failed", status="stopped", id=f"old-{i}")
        for i in range(n)
    )


@pytest.mark.parametrize("hook", ["patient-view", "order-sign", "order-select", "medication-prescribe"])
def test_fires_over_60_medd_on_every_hook(hook):
    # 31 mg oxycodone = 62 MEDD > 60
    f = facts(opioids=(oxy(31),))
    [finding] = rule.findings(f, ctx(hook))
    assert finding.indicator == "warning"
    assert finding.facts["criteriaMet"] == ["highMedd"]
    assert "62 MEDD" in finding.detail["sv"]
    assert "över 60" in finding.summary["sv"]
    check_texts(finding)


def test_silent_at_exactly_60_medd():
    # 30 mg oxycodone = 60 MEDD: not "över 60"
    assert rule.findings(facts(opioids=(oxy(30),)), ctx()) == []


def test_fires_at_61_medd_silent_at_60_with_morphine():
    # morphine factor 1: 61 mg = 61 MEDD fires, 60 mg = 60 MEDD does not
    m61 = opioid("Morfin depot 30 mg", "morphine", 61, MG, 61.0, atc="N02AA01")
    m60 = opioid("Morfin depot 30 mg", "morphine", 60, MG, 60.0, atc="N02AA01")
    assert rule.findings(facts(opioids=(m61,)), ctx())
    assert rule.findings(facts(opioids=(m60,)), ctx()) == []


def test_threshold_is_configurable():
    # 25 mg oxycodone = 50 MEDD: silent at the default 60, fires with a regional limit of 40
    f = facts(opioids=(oxy(25),))
    assert rule.findings(f, ctx()) == []
    [finding] = rule.findings(f, ctx(referral_medd=40))
    assert "över 40" in finding.summary["sv"]


def test_incomplete_total_with_known_part_over_60_fires():
    # known: 35 mg oxycodone = 70 MEDD; plus an opioid with unknown MEDD → "minst 70 MEDD"
    unknown = opioid("Okänd opioidlösning", "morphine", None, None, None, id="mr-x",
                     dose_problem=Problem("free-text-only"))
    [finding] = rule.findings(facts(opioids=(oxy(35), unknown)), ctx())
    assert finding.facts["meddCriterion"] == "above"
    assert "minst 70 MEDD" in finding.summary["sv"]
    assert "at least 70 MEDD" in finding.summary["en"]


def test_incomplete_total_with_known_part_under_60_is_undecided_and_silent():
    # known: 20 mg oxycodone = 40 MEDD ≤ 60, one part unknown: undecided → no warning on a guess
    unknown = opioid("Fentanyl plåster", "fentanyl", None, None, None, id="mr-f")
    f = facts(opioids=(oxy(20), unknown))
    assert rule.medd_criterion(f, ctx()).value == "undecided"
    assert rule.findings(f, ctx()) == []


def test_undecided_medd_is_said_when_another_criterion_fires():
    unknown = opioid("Fentanyl plåster", "fentanyl", None, None, None, id="mr-f")
    f = facts(opioids=(oxy(20), unknown), conditions=Conditions(opioid_dependence=True, substance_use=("F11.2",)))
    [finding] = rule.findings(f, ctx())
    assert finding.facts["criteriaMet"] == ["opioidDependence"]
    assert finding.facts["meddCriterion"] == "undecided"
    assert "MEDD-gränsen kunde inte bedömas" in finding.detail["sv"]
    assert "minst 40 MEDD" in finding.detail["sv"]


def test_two_failed_tapers_fire_one_does_not():
    low = (oxy(10),)  # 20 MEDD: no dose criterion
    assert rule.findings(facts(opioids=low, previous_tapers=failed(1)), ctx()) == []
    [finding] = rule.findings(facts(opioids=low, previous_tapers=failed(2)), ctx())
    assert finding.facts["failedTapers"] == 2
    assert "2 misslyckade nedtrappningar" in finding.summary["sv"]


def test_completed_or_unknown_outcomes_are_not_failures():
    low = (oxy(10),)
    others = (
        plan((step(1, -300, 30, 20),), outcome="completed", status="completed", id="c1"),
        plan((step(1, -200, 30, 20),), outcome=None, status="stopped", id="c2"),
        plan((step(1, -100, 30, 20),), outcome="failed", status="stopped", id="c3"),
    )
    assert rule.findings(facts(opioids=low, previous_tapers=others), ctx()) == []


@pytest.mark.parametrize(
    "conditions,key",
    [
        (Conditions(opioid_dependence=True, substance_use=("F11.2",)), "opioidDependence"),
        (Conditions(sedative_dependence=True, substance_use=("F13.2",)), "sedativeDependence"),
        (Conditions(mixed_dependence=True, substance_use=("F19.2",)), "mixedDependence"),
    ],
)
def test_dependence_diagnoses_fire(conditions, key):
    [finding] = rule.findings(facts(opioids=(oxy(10),), conditions=conditions), ctx())
    assert finding.facts["criteriaMet"] == [key]
    check_texts(finding)


def test_alcohol_use_alone_does_not_fire():
    # F10 is a substance use disorder but not one of the referral criteria (F11/F13/mixed)
    f = facts(opioids=(oxy(10),), conditions=Conditions(substance_use=("F10.2",)))
    assert rule.findings(f, ctx()) == []


def test_several_criteria_listed_and_team_conference_with_long_term_pain():
    f = facts(
        opioids=(oxy(45),),  # 90 MEDD
        previous_tapers=failed(2),
        conditions=Conditions(opioid_dependence=True, substance_use=("F11.2",), long_term_pain=True,
                              psychiatric=("F32.1",)),
    )
    [finding] = rule.findings(f, ctx())
    assert finding.facts["criteriaMet"] == ["highMedd", "failedTapers", "opioidDependence"]
    assert finding.facts["teamConference"] is True
    assert "teamkonferens" in finding.detail["sv"]
    assert "F32.1" in finding.detail["sv"]
    for text in ("90 MEDD", "Upprepade misslyckade nedtrappningsförsök: 2", "opioidberoende (F11)"):
        assert text.lower() in finding.detail["sv"].lower()
    check_texts(finding)


def test_no_team_conference_without_long_term_pain():
    [finding] = rule.findings(facts(opioids=(oxy(45),)), ctx())
    assert finding.facts["teamConference"] is False
    assert "teamkonferens" not in finding.detail["sv"]


@pytest.mark.parametrize("exclusion", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded_patients(exclusion):
    f = facts(opioids=(oxy(45),), previous_tapers=failed(2),
              conditions=Conditions(opioid_dependence=True), exclusions=(exclusion,))
    assert rule.findings(f, ctx()) == []


def test_silent_when_an_open_psychiatry_referral_exists():
    sr = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "code": {"coding": [{"system": TRAPPA_REFERRAL, "code": "psychiatry"}]},
    }
    assert rule.findings(facts(opioids=(oxy(45),), service_requests=(sr,)), ctx()) == []
    # a completed one, or one to the pain clinic, does not silence it
    done = dict(sr, status="completed")
    pain = dict(sr, code={"coding": [{"system": TRAPPA_REFERRAL, "code": "pain-clinic"}]})
    assert rule.findings(facts(opioids=(oxy(45),), service_requests=(done, pain)), ctx())


def test_the_draft_is_part_of_the_current_regimen():
    draft = oxy(40, draft=True, id="draft-1")  # 40 mg × 2 = 80 MEDD
    # a new start at a high dose is not hard-to-treat dependence: established use is required
    assert rule.findings(facts(drafts=(draft,), days=0), ctx("order-sign")) == []
    # 20 days of use with the record empty (opioids from elsewhere): the draft is the current total
    [finding] = rule.findings(facts(drafts=(draft,), days=20), ctx("order-sign"))
    assert "80 MEDD" in finding.summary["sv"]
    # record 10 mg (20 MEDD) renewed at 40 mg: the renewal replaces the record's order, 80 MEDD
    [finding] = rule.findings(facts(opioids=(oxy(10),), drafts=(draft,)), ctx("order-sign"))
    assert "80 MEDD" in finding.summary["sv"]
    # the reverse: record 40 mg renewed at 10 mg is 20 MEDD, no card
    assert rule.findings(facts(opioids=(oxy(40),), drafts=(oxy(10, draft=True, id="d2"),)), ctx("order-sign")) == []


def test_two_opioids_one_renewed_count_together():
    # oxycodone 20 mg/day (40 MEDD) renewed + morphine 40 mg/day (40 MEDD) in the record: 80 MEDD
    morphine = opioid("Morfin depot 20 mg", "morphine", 40, medd=40.0, id="mo-1")
    [finding] = rule.findings(facts(opioids=(oxy(20), morphine), drafts=(oxy(20, draft=True, id="d1"),)),
                              ctx("order-sign"))
    assert "80 MEDD" in finding.summary["sv"]


def test_dependence_without_a_current_opioid_gives_no_card():
    f = facts(conditions=Conditions(opioid_dependence=True, substance_use=("F11.2",)), days=0)
    assert rule.findings(f, ctx()) == []


def test_summary_and_detail_in_both_languages():
    [finding] = rule.findings(facts(opioids=(oxy(45),)), ctx())
    assert "beroendemottagning" in finding.summary["sv"]
    assert "addiction clinic" in finding.summary["en"]
    assert finding.guideline.key == "RJL" and finding.section == "Hjälp och kontaktvägar"
    assert "already-referred" in finding.override_reasons


def test_all_criteria_at_once_keep_the_summary_short():
    unknown = opioid("Fentanyl plåster", "fentanyl", None, None, None, id="mr-f")
    f = facts(
        opioids=(oxy(61.75), unknown),  # 61.75 × 2 = 123.5 MEDD known, incomplete
        previous_tapers=failed(3),
        conditions=Conditions(opioid_dependence=True, sedative_dependence=True, mixed_dependence=True,
                              substance_use=("F11.2", "F13.2")),
    )
    [finding] = rule.findings(f, ctx())
    assert len(finding.facts["criteriaMet"]) == 5
    for lang in ("sv", "en"):
        assert len(finding.summary[lang]) < 140
    assert "minst 123,5 MEDD" in finding.detail["sv"]
    assert "at least 123.5 MEDD" in finding.detail["en"]
    check_texts(finding)


def test_an_open_referral_written_in_the_ehr_silences_the_card():
    # not Trappa's coding: a referral the EHR wrote, recognised by its words
    sr = {"resourceType": "ServiceRequest", "id": "sr-ehr", "status": "active", "intent": "order",
          "code": {"text": "Remiss till beroendemottagningen"}}
    assert rule.findings(facts(opioids=(oxy(45),), service_requests=(sr,)), ctx()) == []
    # a referral to something else does not
    other = dict(sr, code={"text": "Remiss till fysioterapeut"})
    assert rule.findings(facts(opioids=(oxy(45),), service_requests=(other,)), ctx())
    # in progress at the receiving clinic (performer type names it), still open
    taken = dict(sr, code={"text": "Remiss"}, status="on-hold",
                 performerType={"text": "Psykiatrisk klinik"})
    assert rule.findings(facts(opioids=(oxy(45),), service_requests=(taken,)), ctx()) == []


def test_an_as_needed_add_on_drafted_beside_the_regimen_is_not_what_the_referral_judges():
    # record 20 mg/day (40 MEDD); an on-call doctor drafts 20 mg/day more as needed (40 MEDD): 80 with it,
    # but taper-prn asks to remove that draft — the referral is judged on the 40
    prn = opioid("Oxikodon 5 mg kapsel", "oxycodone", 20, medd=40.0, id="d-prn", draft=True, prn=True,
                 form=Form.IMMEDIATE)
    assert rule.findings(facts(opioids=(oxy(20),), drafts=(prn,)), ctx("order-sign")) == []
    # a renewal of an as-needed order the patient has counts at its maximum, as the regimen does
    record_prn = opioid("Oxikodon 5 mg kapsel", "oxycodone", 20, medd=40.0, id="r-prn", prn=True, form=Form.IMMEDIATE)
    [finding] = rule.findings(facts(opioids=(oxy(20), record_prn), drafts=(prn,)), ctx("order-sign"))
    assert "80 MEDD" in finding.summary["sv"]
