"""gabapentinoid-caution: [RJL "När det inte går som planerat"] — avoid pregabalin/gabapentin in
substance use disorder (F10–F19)."""
from __future__ import annotations

import pytest

from cds_service.rules import gabapentinoid_caution
from tests.support.worded import Worded
from cds_service.domain.model import Conditions, DrugClass
from tests.support.rules_facts_referral import check_texts, ctx, facts, opioid, other

rule = Worded(gabapentinoid_caution)  # the findings with the words the card shows
PREGABALIN = other(DrugClass.GABAPENTINOID, "Pregabalin 75 mg", id="draft-pgb", atc="N02BF02", draft=True)
SUD = Conditions(substance_use=("F10.2",))


@pytest.mark.parametrize("hook", ["order-sign", "order-select", "medication-prescribe"])
def test_fires_on_drafted_gabapentinoid_with_substance_use(hook):
    [finding] = rule.findings(facts(drafts=(PREGABALIN,), conditions=SUD), ctx(hook))
    assert finding.indicator == "warning"
    assert finding.facts["substanceUseCodes"] == ["F10.2"]
    assert "F10.2" in finding.summary["sv"]
    assert "duloxetin eller amitriptylin" in finding.detail["sv"]
    [suggestion] = finding.suggestions
    [action] = suggestion.actions
    assert action.type == "delete" and action.resource_id == "MedicationRequest/draft-pgb"
    assert suggestion.is_recommended is False
    check_texts(finding)


def test_not_on_patient_view():
    assert "patient-view" not in rule.HOOKS


@pytest.mark.parametrize("code", ["F10.2", "F11.2", "F12.1", "F13.2", "F15.2", "F19.2"])
def test_any_f1x_code_counts(code):
    assert rule.findings(facts(drafts=(PREGABALIN,), conditions=Conditions(substance_use=(code,))), ctx("order-sign"))


def test_silent_without_substance_use_even_with_other_psychiatry():
    c = Conditions(psychiatric=("F32.1", "F41.1"))
    assert rule.findings(facts(drafts=(PREGABALIN,), conditions=c), ctx("order-sign")) == []


def test_gabapentinoid_in_record_only_is_silent():
    in_record = other(DrugClass.GABAPENTINOID, "Neurontin 300 mg", atc="N02BF01")
    assert rule.findings(facts(orders=(in_record,), conditions=SUD), ctx("order-sign")) == []


def test_other_drafts_are_silent():
    duloxetine = other(DrugClass.DULOXETINE, "Duloxetin 30 mg", draft=True)
    oxy = opioid(draft=True, id="d-oxy")
    assert rule.findings(facts(drafts=(duloxetine, oxy), conditions=SUD), ctx("order-sign")) == []


def test_many_codes_keep_the_summary_short():
    c = Conditions(substance_use=("F10.2", "F11.2", "F12.2", "F13.2", "F15.2"), mixed_dependence=True)
    [finding] = rule.findings(facts(drafts=(PREGABALIN,), conditions=c), ctx("order-sign"))
    assert "m.fl." in finding.summary["sv"]
    assert "F15.2" in finding.detail["sv"]
    check_texts(finding)


@pytest.mark.parametrize("exclusion", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded_patients(exclusion):
    f = facts(drafts=(PREGABALIN,), conditions=SUD, exclusions=(exclusion,))
    assert rule.findings(f, ctx("order-sign")) == []
