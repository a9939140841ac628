"""taper-early-renewal: lost medication is not replaced during a taper [RJL "Allmänna principer"]."""
from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.rules import taper_early_renewal
from tests.support.worded import Worded
from cds_service.domain.settings import ClinicalSettings
from tests.support.rules_facts import Form, check_texts, ctx, day, draft, facts, order, plan, step

rule = Worded(taper_early_renewal)  # the rule's findings with the card's words

PLAN = plan(step(1, -7, 14, 30))


def run(supply_end_offset, *, taper=PLAN, is_renewal="auto", exclusions=(), settings=None, d=None,
        record_type="MedicationRequest"):
    d = d or draft("oxycodone", 30)
    end = day(supply_end_offset) if supply_end_offset is not None else None
    record = replace(order("oxycodone", 30), supply_end=end, resource_type=record_type,
                     status="completed" if record_type == "MedicationDispense" else "active")
    f = facts(drafts=[d], in_effect=[record], days=120, taper_plan=taper,
              is_renewal=is_renewal, exclusions=exclusions)
    return rule.findings(f, ctx(settings=settings))


def test_margin_default_is_three_days():
    assert ClinicalSettings().early_renewal_margin_days == 3


@pytest.mark.parametrize("offset, fires", [(8, True), (7, False)])
def test_the_configured_margin_moves_the_boundary(offset, fires):
    found = run(offset, settings=ClinicalSettings(early_renewal_margin_days=7))
    assert bool(found) is fires
    if found:
        assert found[0].facts["marginDays"] == 7


def test_fires_when_supply_lasts_ten_more_days():
    (card,) = run(10)
    assert card.indicator == "warning"
    assert card.facts["supplyDaysLeft"] == 10
    assert card.facts["previousSupplyEnd"] == day(10).isoformat()
    assert "borttappade läkemedel ersätts" in card.detail["sv"].lower()
    (suggestion,) = card.suggestions
    assert not suggestion.is_recommended
    assert suggestion.actions[0].resource_id == "MedicationRequest/draft-oxycodone"
    check_texts(card)


@pytest.mark.parametrize("offset, fires", [(4, True), (3, False), (0, False), (-5, False)])
def test_margin_boundary(offset, fires):
    # Supply ends (exclusive) `offset` days from today; renewing ≤ 3 days ahead is on time.
    found = run(offset)
    assert bool(found) is fires
    if found:
        assert found[0].indicator == "warning"


def test_unknown_supply_end_says_it_could_not_be_decided():
    (card,) = run(None)
    assert card.indicator == "info"
    assert card.facts["decided"] is False
    check_texts(card)


def test_silent_without_taper():
    assert run(10, taper=None) == []


def test_silent_when_not_a_renewal():
    assert run(10, is_renewal=False) == []


@pytest.mark.parametrize("group", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded(group):
    assert run(10, exclusions=(group,)) == []


def test_a_new_as_needed_add_on_is_no_renewal():
    # an on-call doctor adds immediate-release oxycodone as needed beside the tapered depot: another form
    prn = draft("oxycodone", 20, form=Form.IMMEDIATE, prn=True, id="draft-prn")
    assert run(10, d=prn) == []


def test_the_renewal_counts_from_the_day_it_can_be_collected():
    # supply lasts 10 more days; the renewal may be collected only from day 8: 2 days early, on time
    later = replace(draft("oxycodone", 30), start=day(8))
    assert run(10, d=later) == []
    (card,) = run(10, d=replace(draft("oxycodone", 30), start=day(5)))  # 5 days early
    assert card.facts["supplyDaysLeft"] == 5
    assert "från det att förnyelsen kan hämtas ut" in card.detail["sv"]


def test_says_recept_for_prescriptions_and_uttag_for_dispensings():
    (card,) = run(10)
    assert "tidigare recept räcker" in card.summary["sv"] and "uttag räcker" not in card.summary["sv"]
    assert "the previous prescription lasts" in card.summary["en"]
    assert card.facts["supplyFrom"] == "prescription"
    (card,) = run(10, record_type="MedicationDispense")
    assert "tidigare uttag räcker" in card.summary["sv"]
    assert "the last dispensing lasts" in card.summary["en"]
    assert card.facts["supplyFrom"] == "dispensing"


def test_the_rule_decides_without_words():
    # The rule gives the renewal, the days left and the draft to remove; cards/taper_early_renewal.py words them.
    record = replace(order("oxycodone", 30), supply_end=day(10))
    f = facts(drafts=[draft("oxycodone", 30)], in_effect=[record], days=120, taper_plan=PLAN)
    (finding,) = taper_early_renewal.findings(f, ctx())
    assert finding.summary == {} and finding.detail == {} and finding.suggestions == ()
    v = finding.data
    assert (v.days_left, v.from_today, v.remove) == (10, True, "MedicationRequest/draft-oxycodone")
    assert v.renewal.supply_end == day(10) and not v.renewal.dispensed
