"""opioid-review: [RJL, opening; "När behövs nedtrappning?"] — ≥ 90 days of opioids, no taper plan."""
from __future__ import annotations

from cds_service.domain.problems import Problem

import pytest

from cds_service.rules import opioid_review
from tests.support.rules_facts_referral import MG, UG_PER_H, check_texts, ctx, facts, opioid, plan, step
from tests.support.worded import Worded

rule = Worded(opioid_review)  # the findings with the words the card shows

OXY = opioid("Oxykodon depot 10 mg", "oxycodone", 20, MG, 40.0)  # 20 mg × factor 2 = 40 MEDD
TRAMADOL = opioid("Tramadol depot 100 mg", "tramadol", 200, MG, 40.0, id="mr-tram", atc="N02AX02")  # 200 × 0.2


def test_fires_at_90_days_with_opioids_and_total():
    f = facts(opioids=(OXY, TRAMADOL), days=90)
    [finding] = rule.findings(f, ctx())
    assert finding.indicator == "warning"
    # total 40 + 40 = 80 MEDD
    assert "(80 MEDD)" in finding.summary["sv"]
    assert finding.facts["totalMedd"] == 80 and finding.facts["totalMeddComplete"] is True
    assert finding.facts["opioids"] == [
        {"display": "Oxykodon depot 10 mg", "dailyDose": 20, "unit": "mg", "medd": 40.0},
        {"display": "Tramadol depot 100 mg", "dailyDose": 200, "unit": "mg", "medd": 40.0},
    ]
    assert finding.facts["exposure"] == "long-term" and finding.facts["episodeDays"] == 90
    sv = finding.detail["sv"]
    assert "| Oxykodon depot 10 mg | 20 mg/dygn | 40 |" in sv
    assert "| **Totalt** | | **80** |" in sv
    assert "10 % av dygnsdosen per vecka ned till 30 %" in sv
    assert "tramadol: 4 veckor på varje dos-steg" in sv
    assert "skattningsskala" in sv and "tidsplan" in sv
    assert "Över 60 MEDD" in sv  # 80 > 60: points to the referral card
    check_texts(finding)


def test_silent_at_89_days():
    assert rule.findings(facts(opioids=(OXY,), days=89), ctx()) == []


def test_multi_year_pace_from_730_days():
    [finding] = rule.findings(facts(opioids=(OXY,), days=730), ctx())
    assert finding.facts["exposure"] == "multi-year"
    assert "10 % av dygnsdosen var fjärde vecka" in finding.detail["sv"]
    assert "tramadol" not in finding.detail["sv"]
    [lt] = rule.findings(facts(opioids=(OXY,), days=729), ctx())
    assert lt.facts["exposure"] == "long-term"


def test_incomplete_total_is_a_lower_bound():
    patch = opioid("Fentanyl plåster 25 µg/h", "fentanyl", None, UG_PER_H, None, id="mr-f",
                   dose_problem=Problem("free-text-only"))
    [finding] = rule.findings(facts(opioids=(OXY, patch), days=200), ctx())
    assert "minst 40 MEDD" in finding.summary["sv"]
    assert "at least 40 MEDD" in finding.summary["en"]
    assert finding.facts["totalMeddComplete"] is False
    assert "Fentanyl plåster 25 µg/h: totalen är ett minimum" in finding.detail["sv"]
    assert "| Fentanyl plåster 25 µg/h | okänd dygnsdos | okänd |" in finding.detail["sv"]
    assert "Över 60 MEDD" not in finding.detail["sv"]  # 40 known, not decided over the limit
    check_texts(finding)


def test_at_60_no_referral_pointer():
    oxy30 = opioid(amount=30, medd=60.0)
    [finding] = rule.findings(facts(opioids=(oxy30,), days=200), ctx())
    assert "Över 60 MEDD" not in finding.detail["sv"]


def test_silent_with_active_taper_plan():
    taper = plan((step(1, -6, 14, 15),))
    assert rule.findings(facts(opioids=(OXY,), days=400, taper_plan=taper), ctx()) == []


def test_patient_view_only():
    assert rule.HOOKS == frozenset({"patient-view"})


@pytest.mark.parametrize("exclusion", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded_patients(exclusion):
    assert rule.findings(facts(opioids=(OXY,), days=400, exclusions=(exclusion,)), ctx()) == []
