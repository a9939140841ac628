"""co-sedatives: [RJL "Allmänna principer"] — opioids first, then benzodiazepines, z-drugs last."""
from __future__ import annotations

import pytest

from cds_service.rules import co_sedatives
from tests.support.worded import Worded
from cds_service.domain.model import DrugClass
from tests.support.rules_facts_referral import check_texts, ctx, day, facts, opioid, other, plan, step

rule = Worded(co_sedatives)  # the findings with the words the card shows
OXY = opioid()  # oxycodone 40 mg/day in effect
DIAZEPAM = other(DrugClass.BENZODIAZEPINE, "Stesolid 5 mg", atc="N05BA01", amount=10)
ZOPICLONE = other(DrugClass.Z_DRUG, "Zopiklon 7,5 mg", atc="N05CF01", amount=7.5)


@pytest.mark.parametrize("hook", ["patient-view", "order-sign", "order-select", "medication-prescribe"])
def test_fires_for_long_term_opioid_and_benzodiazepine(hook):
    [finding] = rule.findings(facts(opioids=(OXY,), orders=(DIAZEPAM,), days=200), ctx(hook))
    assert finding.indicator == "warning"
    assert finding.facts["benzodiazepines"] == ["Stesolid 5 mg"]
    assert "sedan bensodiazepinen" in finding.summary["sv"]
    assert "Stesolid 5 mg: 10 mg/dygn" in finding.detail["sv"]
    assert "alimemazin" in finding.detail["sv"]
    check_texts(finding)


def test_z_drug_last_and_both():
    [z] = rule.findings(facts(opioids=(OXY,), orders=(ZOPICLONE,)), ctx())
    assert z.facts["zDrugs"] == ["Zopiklon 7,5 mg"] and z.facts["benzodiazepines"] == []
    assert "sömnläkemedlet sist" in z.summary["sv"]
    [both] = rule.findings(facts(opioids=(OXY,), orders=(DIAZEPAM, ZOPICLONE)), ctx())
    assert both.facts["benzodiazepines"] and both.facts["zDrugs"]
    check_texts(z)
    check_texts(both)


def test_opioid_exposure_threshold_13_vs_14_days():
    assert rule.findings(facts(opioids=(OXY,), orders=(DIAZEPAM,), days=13), ctx()) == []
    assert rule.findings(facts(opioids=(OXY,), orders=(DIAZEPAM,), days=14), ctx())


def test_short_use_counts_when_an_opioid_is_being_ordered():
    draft = opioid(draft=True, id="d1")
    assert rule.findings(facts(orders=(DIAZEPAM,), drafts=(draft,), days=0), ctx("order-sign"))


def test_drafted_sedative_counts_on_order_hooks():
    draft = other(DrugClass.BENZODIAZEPINE, "Oxascand 10 mg", atc="N05BA04", draft=True)
    [finding] = rule.findings(facts(opioids=(OXY,), drafts=(draft,)), ctx("order-select"))
    assert finding.facts["sedativeDrafted"] is True
    assert "Oxascand 10 mg (ordineras nu)" in finding.detail["sv"]


def test_drafted_sedative_during_taper_is_left_to_withdrawal_sedative():
    taper = plan((step(1, -6, 14, 40),))
    draft = other(DrugClass.Z_DRUG, "Zopiklon 5 mg", atc="N05CF01", draft=True)
    assert rule.findings(facts(opioids=(OXY,), drafts=(draft,), taper_plan=taper), ctx("order-sign")) == []
    # but a sedative already in the record during a taper still gets the order-of-tapering advice
    assert rule.findings(facts(opioids=(OXY,), orders=(ZOPICLONE,), taper_plan=taper), ctx())


def test_sedative_not_in_effect_is_silent():
    # ended more than the episode gap (30 days) ago: no longer taken (cds_service.domain.regimen "Reach")
    ended = other(DrugClass.BENZODIAZEPINE, "Stesolid 5 mg", start=day(-90), supply_end=day(-31))
    stopped = other(DrugClass.BENZODIAZEPINE, "Sobril 10 mg", status="stopped", start=day(-20), supply_end=day(10))
    future = other(DrugClass.Z_DRUG, "Imovane 7,5 mg", start=day(1), supply_end=day(30))
    assert rule.findings(facts(opioids=(OXY,), orders=(ended, stopped, future)), ctx()) == []
    # a supply that ran out 10 days ago is a late renewal, not an end: still taken
    late = other(DrugClass.BENZODIAZEPINE, "Stesolid 5 mg", start=day(-40), supply_end=day(-10))
    assert rule.findings(facts(opioids=(OXY,), orders=(late,)), ctx())
    # supply ends tomorrow (exclusive end day(1)): still in effect today
    last_day = other(DrugClass.BENZODIAZEPINE, "Stesolid 5 mg", start=day(-29), supply_end=day(1))
    assert rule.findings(facts(opioids=(OXY,), orders=(last_day,)), ctx())
    # the last day of supply (exclusive end today) and 30 days after it: still taken (renewal due);
    # 31 days after: ended
    for end, taken in ((0, True), (-30, True), (-31, False)):
        supply = other(DrugClass.BENZODIAZEPINE, "Stesolid 5 mg", start=day(end - 30), supply_end=day(end))
        assert bool(rule.findings(facts(opioids=(OXY,), orders=(supply,)), ctx())) is taken, end


def test_other_drug_classes_do_not_count():
    gaba = other(DrugClass.GABAPENTINOID, "Lyrica 75 mg")
    mirta = other(DrugClass.WITHDRAWAL_SUPPORT, "Mirtazapin 15 mg")
    assert rule.findings(facts(opioids=(OXY,), orders=(gaba, mirta)), ctx()) == []


def test_no_opioid_no_card():
    assert rule.findings(facts(orders=(DIAZEPAM,)), ctx()) == []


@pytest.mark.parametrize("exclusion", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded_patients(exclusion):
    assert rule.findings(facts(opioids=(OXY,), orders=(DIAZEPAM,), exclusions=(exclusion,)), ctx()) == []


def test_drafted_opioid_is_marked_as_being_ordered():
    draft = opioid(draft=True, id="d-oxy")
    [finding] = rule.findings(facts(opioids=(OXY,), orders=(DIAZEPAM,), drafts=(draft,)), ctx("order-sign"))
    # the renewal replaces the record order (current regimen): listed once, 40 mg oxycodone × 2 = 80 MEDD
    assert "Oxykodon depot 20 mg: 40 mg/dygn (80 MEDD) (ordineras nu)" in finding.detail["sv"]
    assert finding.detail["sv"].count("Oxykodon depot 20 mg") == 1
