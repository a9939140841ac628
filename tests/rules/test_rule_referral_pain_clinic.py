"""referral-pain-clinic: [RJL "Hjälp och kontaktvägar"] — a stalled taper at ≤ 60 MEDD, with the
pain clinic's entry criteria checked against the record."""
from __future__ import annotations

from cds_service.domain.problems import Problem

import pytest

from cds_service.rules import referral_pain_clinic
from cds_service.domain.model import Conditions, DrugClass, Form
from fhir_mappings.codes.systems import TRAPPA_REFERRAL
from tests.support.rules_facts_referral import UG_PER_H, check_texts, ctx, day, facts, opioid, other, plan, step
from tests.support.worded import Worded

rule = Worded(referral_pain_clinic)

# A weekly oxycodone plan: 30 → 27 → 24 → 21 mg/day; today (offset 0) is in step 3 (offsets -6..0),
# so today's planned dose is 24 mg/day.
PLAN = plan((step(1, -20, 7, 30), step(2, -13, 7, 27), step(3, -6, 7, 24), step(4, 1, 7, 21)))


def oxy(mg_per_day, **kw):
    return opioid(amount=mg_per_day, medd=2 * mg_per_day, **kw)  # oxycodone factor 2


HISTORY = (
    other(DrugClass.PARACETAMOL, "Alvedon 665 mg", start=day(-400), supply_end=day(-300), status="completed"),
    other(DrugClass.AMITRIPTYLINE, "Saroten 10 mg", start=day(-250), supply_end=day(-200), status="stopped"),
)


def test_fires_when_the_record_dose_is_above_todays_step():
    # record 30 mg/day (60 MEDD, within the limit) while the plan says 24 mg/day today
    [finding] = rule.findings(facts(opioids=(oxy(30),), taper_plan=PLAN, orders=HISTORY), ctx())
    assert finding.indicator == "info"
    assert finding.facts["currentDailyDose"] == 30
    assert finding.facts["todayStepDose"] == 24
    assert finding.facts["stepNumber"] == 3 and finding.facts["steps"] == 4
    assert "30 mg/dygn" in finding.summary["sv"] and "24 mg/dygn" in finding.summary["sv"]
    assert "steg 3 av 4" in finding.detail["sv"]
    check_texts(finding)


@pytest.mark.parametrize("hook", ["order-sign", "order-select", "medication-prescribe"])
def test_fires_on_order_hooks_too(hook):
    assert rule.findings(facts(opioids=(oxy(30),), taper_plan=PLAN), ctx(hook))


def test_near_miss_on_the_dose_on_schedule_or_below():
    assert rule.findings(facts(opioids=(oxy(24),), taper_plan=PLAN), ctx()) == []  # exactly on the step
    assert rule.findings(facts(opioids=(oxy(21),), taper_plan=PLAN), ctx()) == []  # ahead of the plan
    assert rule.findings(facts(opioids=(oxy(25),), taper_plan=PLAN), ctx())  # 1 mg above: stalled


def test_medd_limit_60_fires_61_silent():
    # morphine factor 1; plan today 50 mg/day, record 60 / 61 mg/day
    mplan = plan((step(1, -6, 14, 50),), ingredient="morphine")
    m60 = opioid("Morfin depot 30 mg", "morphine", 60, medd=60.0, atc="N02AA01")
    m61 = opioid("Morfin depot 30 mg", "morphine", 61, medd=61.0, atc="N02AA01")
    [finding] = rule.findings(facts(opioids=(m60,), taper_plan=mplan), ctx())
    assert finding.facts["checklist"]["meddAtMostLimit"] == "met"
    assert rule.findings(facts(opioids=(m61,), taper_plan=mplan), ctx()) == []


def test_incomplete_total_within_limit_fires_with_undecided_medd_requirement():
    # known part: oxycodone 30 mg = 60 MEDD; an unconvertible fentanyl order → "minst 60 MEDD"
    fent = opioid("Fentanyl plåster", "fentanyl", None, None, None, id="mr-f", form=Form.PATCH)
    [finding] = rule.findings(facts(opioids=(oxy(30), fent), taper_plan=PLAN), ctx())
    assert finding.facts["checklist"]["meddAtMostLimit"] == "undecided"
    assert finding.facts["meddCriterion"] == "undecided"
    assert "minst 60 MEDD" in finding.detail["sv"]
    assert "kan inte avgöras" in finding.detail["sv"]


def test_checklist_against_the_record():
    [finding] = rule.findings(facts(opioids=(oxy(30),), taper_plan=PLAN, orders=HISTORY), ctx())
    checklist = finding.facts["checklist"]
    assert checklist["paracetamol"] == "met"
    assert checklist["nsaid"] == "not-shown"
    assert checklist["neuropathic"] == "met"  # amitriptyline, stopped, still tried
    for key in ("motivation", "multimodal", "painSchool", "physiotherapy", "painWorkUp", "comorbidityManaged"):
        assert checklist[key] == "unknowable"
    assert "| Basalt smärtläkemedel prövat: NSAID | framgår inte av journalen |" in finding.detail["sv"]
    assert "Smärtskola".lower() in finding.detail["sv"].lower()


def test_drafts_are_not_treatments_tried():
    draft_nsaid = other(DrugClass.NSAID, "Ibuprofen 400 mg", draft=True)
    [finding] = rule.findings(facts(opioids=(oxy(30),), taper_plan=PLAN, drafts=(draft_nsaid,)), ctx("order-sign"))
    assert finding.facts["checklist"]["nsaid"] == "not-shown"


def test_schedule_ended_but_opioid_still_in_effect_is_stalled():
    ended = plan((step(1, -30, 14, 20), step(2, -16, 14, 10)))  # last day: offset -3
    [finding] = rule.findings(facts(opioids=(oxy(10),), taper_plan=ended), ctx())
    assert finding.facts["todayStepDose"] == 0
    assert "schemat är slut" in finding.detail["sv"]


def test_silent_without_plan_or_before_its_start():
    assert rule.findings(facts(opioids=(oxy(30),)), ctx()) == []
    later = plan((step(1, 3, 7, 24), step(2, 10, 7, 21)))
    assert rule.findings(facts(opioids=(oxy(30),), taper_plan=later), ctx()) == []


def test_silent_when_the_record_dose_is_unknown_or_in_another_unit():
    unknown = opioid(amount=None, medd=None, dose_problem=Problem("free-text-only"))
    assert rule.findings(facts(opioids=(unknown,), taper_plan=PLAN), ctx()) == []
    patch_plan = plan((step(1, -6, 14, 10, unit=UG_PER_H),), ingredient="oxycodone")
    assert rule.findings(facts(opioids=(oxy(30),), taper_plan=patch_plan), ctx()) == []


@pytest.mark.parametrize("exclusion", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded_patients(exclusion):
    assert rule.findings(facts(opioids=(oxy(30),), taper_plan=PLAN, exclusions=(exclusion,)), ctx()) == []


def test_silent_when_a_pain_clinic_referral_is_open():
    sr = {"resourceType": "ServiceRequest", "status": "draft",
          "category": [{"coding": [{"system": TRAPPA_REFERRAL, "code": "pain-clinic"}]}]}
    assert rule.findings(facts(opioids=(oxy(30),), taper_plan=PLAN, service_requests=(sr,)), ctx()) == []


def test_dependence_in_record_points_to_psychiatry_first():
    f = facts(opioids=(oxy(30),), taper_plan=PLAN, conditions=Conditions(opioid_dependence=True, substance_use=("F11.2",)))
    [finding] = rule.findings(f, ctx())
    assert "i första hand psykiatrin" in finding.detail["sv"]
    assert "F11.2" in finding.detail["sv"]
    check_texts(finding)
