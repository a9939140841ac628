"""withdrawal-sedative: never benzodiazepines, zopiclone or zolpidem during an opioid taper [RJL
"Tillfällig symptomlindrande läkemedelsbehandling"]."""
from __future__ import annotations

import pytest

from cds_service.rules import withdrawal_sedative
from tests.support.worded import Worded
from tests.support.rules_facts import check_texts, ctx, draft, facts, order, plan, sedative, step

rule = Worded(withdrawal_sedative)  # the findings with the words the card shows
PLAN = plan(step(1, -7, 14, 30))


def run(*drafts, taper=PLAN, days=120, exclusions=()):
    f = facts(drafts=drafts, in_effect=[order("oxycodone", 30)], days=days, taper_plan=taper, exclusions=exclusions)
    return rule.findings(f, ctx())


def test_zopiclone_during_taper_is_critical_and_names_alternatives():
    (card,) = run(sedative("Zopiklon 7,5 mg"))
    assert card.indicator == "critical"
    sv = card.detail["sv"]
    assert "alimemazin" in sv and "mirtazapin" in sv
    assert "Erbjud aldrig bensodiazepiner, zopiklon eller zolpidem" in sv
    (suggestion,) = card.suggestions
    (action,) = suggestion.actions
    assert action.type == "delete" and action.resource_id == "MedicationRequest/draft-sedative"
    check_texts(card)


def test_benzodiazepine_during_taper():
    (card,) = run(sedative("Oxazepam 10 mg", z_drug=False, atc="N05BA04"))
    assert card.summary["sv"].startswith("Bensodiazepin")
    check_texts(card)


def test_a_benzodiazepine_and_a_z_drug_drafted_together_are_both_named():
    (card,) = run(sedative("Zopiklon 7,5 mg", id="d-z"), sedative("Oxazepam 10 mg", z_drug=False, atc="N05BA04", id="d-b"))
    assert card.summary["sv"].startswith("Bensodiazepin och sömnläkemedel (zopiklon/zolpidem) under opioidnedtrappning")
    assert card.summary["en"].startswith("Benzodiazepine and z-drug")
    (suggestion,) = card.suggestions
    assert [a.resource_id for a in suggestion.actions] == ["MedicationRequest/d-z", "MedicationRequest/d-b"]
    check_texts(card)


def test_silent_without_running_taper_even_in_long_term_use():
    assert run(sedative(), taper=None, days=400) == []


def test_silent_for_opioid_draft_only():
    assert run(draft("oxycodone", 30)) == []


@pytest.mark.parametrize("group", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded(group):
    assert run(sedative(), exclusions=(group,)) == []
