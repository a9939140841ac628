"""exit-plan: a new opioid start needs a plan for stopping from the start [VGR "Iatrogent
läkemedelsberoende"]."""
from __future__ import annotations

import pytest

from cds_service.rules import exit_plan as rule
from cds_service.domain.settings import ClinicalSettings
from tests.support.rules_facts import check_texts, ctx, draft, facts


def run(*, has_end=False, is_renewal=False, days=0, exclusions=(), raw=True):
    d = draft("oxycodone", 20, has_planned_end=has_end)
    f = facts(drafts=[d], days=days, is_renewal=is_renewal, exclusions=exclusions)
    return rule.findings(f, ctx(drafts=[d] if raw else []))


def test_default_is_seven_days():
    assert ClinicalSettings().exit_plan_days == 7


def test_the_configured_number_of_days_is_proposed():
    d = draft("oxycodone", 20)
    (card,) = rule.findings(facts(drafts=[d]), ctx(drafts=[d], settings=ClinicalSettings(exit_plan_days=5)))
    resource = card.suggestions[0].actions[0].resource
    assert resource["dispenseRequest"]["expectedSupplyDuration"]["value"] == 5
    # 5 days from 2026-11-23: the last dosing day is 2026-11-27.
    assert resource["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"] == "2026-11-27"
    assert (card.facts["proposedDays"], card.facts["proposedEnd"]) == (5, "2026-11-27")
    assert "5 dagar" in card.detail["sv"] and "5 days" in card.detail["en"]


def test_new_start_without_end_gets_an_update_with_a_planned_end():
    (card,) = run()
    assert card.indicator == "info"
    (suggestion,) = card.suggestions
    (action,) = suggestion.actions
    assert action.type == "update"
    resource = action.resource
    assert resource["id"] == "draft-oxycodone" and resource["resourceType"] == "MedicationRequest"
    supply = resource["dispenseRequest"]["expectedSupplyDuration"]
    assert (supply["value"], supply["code"]) == (7, "d")
    assert resource["dispenseRequest"]["quantity"]["value"] == 100  # the rest of the draft is kept
    bounds = resource["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]
    # 7 days from 2026-11-23: the last dosing day is 2026-11-29.
    assert bounds == {"start": "2026-11-23", "end": "2026-11-29"}
    assert resource["dosageInstruction"][0]["timing"]["repeat"]["frequency"] == 2
    assert card.facts["proposedEnd"] == "2026-11-29"
    check_texts(card)


def test_update_does_not_modify_the_raw_draft():
    d = draft("oxycodone", 20)
    c = ctx(drafts=[d])
    rule.findings(facts(drafts=[d], is_renewal=False), c)
    assert "expectedSupplyDuration" not in c.drafts_raw["draft-oxycodone"]["dispenseRequest"]


def test_without_raw_draft_advice_only():
    (card,) = run(raw=False)
    assert card.suggestions == ()


def test_silent_when_the_draft_has_a_planned_end():
    assert run(has_end=True) == []


def test_silent_for_a_renewal():
    assert run(is_renewal=True, days=13) == []


@pytest.mark.parametrize("group", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded(group):
    assert run(exclusions=(group,)) == []

