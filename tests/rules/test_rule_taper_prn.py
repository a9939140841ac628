"""taper-prn: no as-needed opioid doses during a taper or in long-term use [RJL "Allmänna principer"]."""
from __future__ import annotations

import pytest

from cds_service.rules import taper_prn
from tests.support.worded import Worded
from tests.support.rules_facts import check_texts, ctx, draft, facts, order, plan, step

rule = Worded(taper_prn)  # the findings with the words the card shows

PLAN = plan(step(1, -7, 14, 30))


def run(days, *, prn=True, taper=None, exclusions=()):
    d = draft("oxycodone", 20, prn=prn)
    f = facts(drafts=[d], in_effect=[order("oxycodone", 30)], days=days, taper_plan=taper, exclusions=exclusions)
    return rule.findings(f, ctx())


def test_fires_for_prn_during_taper():
    (card,) = run(30, taper=PLAN)
    assert card.indicator == "warning"
    assert card.facts["taperRunning"] is True
    assert card.facts["prnMaxDailyDose"] == 20
    assert "under pågående nedtrappning" in card.summary["sv"]
    check_texts(card)


@pytest.mark.parametrize("days, fires", [(89, False), (90, True)])
def test_long_term_threshold_without_taper(days, fires):
    found = run(days)
    assert bool(found) is fires
    if fires:
        assert "efter 90 dagars användning" in found[0].summary["sv"]
        check_texts(found[0])


def test_fixed_dose_order_is_silent():
    assert run(200, prn=False) == []
    assert run(30, prn=False, taper=PLAN) == []


@pytest.mark.parametrize("group", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded(group):
    assert run(200, exclusions=(group,)) == []
    assert run(30, taper=PLAN, exclusions=(group,)) == []


def test_suggests_removing_the_prn_draft():
    (card,) = run(200)
    (suggestion,) = card.suggestions
    (action,) = suggestion.actions
    assert action.type == "delete"
    assert action.resource_id == "MedicationRequest/draft-oxycodone"
    assert "fast dygnsdos" in card.detail["sv"]
