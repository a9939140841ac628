"""pain-diagnosis-missing: [VGR "Diagnoskoder för långvarig smärta"] — ≥ 90 days of opioids without
R52.1 / R52.2* / MG30."""
from __future__ import annotations

import pytest

from cds_service.rules import pain_diagnosis_missing
from tests.support.worded import Worded
from cds_service.domain.model import Conditions
from tests.support.rules_facts_referral import check_texts, ctx, facts, opioid

rule = Worded(pain_diagnosis_missing)  # the findings with the words the card shows


@pytest.mark.parametrize("hook", ["patient-view", "order-sign", "order-select", "medication-prescribe"])
def test_fires_at_90_days_without_code(hook):
    [finding] = rule.findings(facts(opioids=(opioid(),), days=90), ctx(hook))
    assert finding.indicator == "info"
    assert finding.facts["opioidDays"] == 90
    assert "90 dagar" in finding.summary["sv"]
    assert "R52.2 A, B eller C" in finding.detail["sv"] and "MG30" in finding.detail["sv"]
    assert finding.suggestions == ()
    assert finding.guideline.key == "VGR"
    check_texts(finding)


def test_silent_at_89_days():
    assert rule.findings(facts(opioids=(opioid(),), days=89), ctx()) == []


def test_fires_for_multi_year_use():
    [finding] = rule.findings(facts(opioids=(opioid(),), days=1200), ctx())
    assert "1200 dagar" in finding.summary["sv"]


def test_silent_with_long_term_pain_code():
    f = facts(opioids=(opioid(),), days=400, conditions=Conditions(long_term_pain=True))
    assert rule.findings(f, ctx()) == []


def test_silent_when_diagnoses_could_not_be_read():
    f = facts(opioids=(opioid(),), days=400, data_gaps=("conditions",))
    assert rule.findings(f, ctx()) == []
    # another gap does not stop it
    assert rule.findings(facts(opioids=(opioid(),), days=400, data_gaps=("flags",)), ctx())


@pytest.mark.parametrize("exclusion", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded_patients(exclusion):
    assert rule.findings(facts(opioids=(opioid(),), days=400, exclusions=(exclusion,)), ctx()) == []
