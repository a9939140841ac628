"""exit-plan: a new opioid start needs a plan for stopping from the start [VGR "Iatrogent
läkemedelsberoende"]."""
from __future__ import annotations

from datetime import date

import pytest

from cds_service.rules import exit_plan
from cds_service.domain.settings import ClinicalSettings
from cds_service.rules.proposals import PlannedEnd
from tests.support.rules_facts import TODAY, check_texts, ctx, draft, facts
from tests.support.worded import Worded

rule = Worded(exit_plan)  # the findings with the words the card shows


def run(*, has_end=False, is_renewal=False, days=0, exclusions=(), draft_id="draft-oxycodone"):
    d = draft("oxycodone", 20, has_planned_end=has_end, id=draft_id)
    f = facts(drafts=[d], days=days, is_renewal=is_renewal, exclusions=exclusions)
    return rule.findings(f, ctx())


def test_default_is_seven_days():
    assert ClinicalSettings().exit_plan_days == 7


def test_the_configured_number_of_days_is_proposed():
    d = draft("oxycodone", 20)
    (card,) = rule.findings(facts(drafts=[d]), ctx(settings=ClinicalSettings(exit_plan_days=5)))
    # 5 days from 2026-11-23: the last dosing day is 2026-11-27.
    assert card.suggestions[0].actions[0].proposal == PlannedEnd("draft-oxycodone", TODAY, date(2026, 11, 27), 5)
    assert (card.facts["proposedDays"], card.facts["proposedEnd"]) == (5, "2026-11-27")
    assert "5 dagar" in card.detail["sv"] and "5 days" in card.detail["en"]


def test_new_start_without_end_proposes_a_planned_end_of_the_draft():
    (card,) = run()
    assert card.indicator == "info"
    (suggestion,) = card.suggestions
    (action,) = suggestion.actions
    assert action.type == "update" and action.resource is None
    # 7 days from 2026-11-23: the last dosing day is 2026-11-29.
    assert action.proposal == PlannedEnd(draft_id="draft-oxycodone", start=TODAY, last=date(2026, 11, 29), days=7)
    assert card.facts["proposedEnd"] == "2026-11-29"
    check_texts(card)


def test_without_a_valid_draft_id_advice_only():
    (card,) = run(draft_id="a/b")
    assert card.suggestions == ()


def test_silent_when_the_draft_has_a_planned_end():
    assert run(has_end=True) == []


def test_silent_for_a_renewal():
    assert run(is_renewal=True, days=13) == []


@pytest.mark.parametrize("group", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded(group):
    assert run(exclusions=(group,)) == []

