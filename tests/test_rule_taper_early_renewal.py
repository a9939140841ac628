"""taper-early-renewal: lost medication is not replaced during a taper [RJL "Allmänna principer"]."""
from __future__ import annotations

import pytest

from cds_service.rules import taper_early_renewal as rule
from cds_service.rules.base import ClinicalSettings
from tests.rules_facts import check_texts, ctx, day, draft, facts, order, plan, step

PLAN = plan(step(1, -7, 14, 30))


def run(supply_end_offset, *, taper=PLAN, is_renewal="auto", exclusions=(), settings=None):
    d = draft("oxycodone", 30)
    end = day(supply_end_offset) if supply_end_offset is not None else None
    f = facts(drafts=[d], in_effect=[order("oxycodone", 30)], days=120, taper_plan=taper,
              previous_supply_end=end, is_renewal=is_renewal, exclusions=exclusions)
    return rule.findings(f, ctx(drafts=[d], settings=settings))


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
