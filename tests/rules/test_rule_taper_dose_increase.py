"""taper-dose-increase: never a dose increase during a running taper [RJL "Allmänna principer"]."""
from __future__ import annotations

import pytest

from cds_service.domain.model import MG
from cds_service.rules import taper_dose_increase
from tests.support.worded import Worded
from cds_service.rules.proposals import DoseStepChange
from tests.support.rules_facts import UG_PER_H, Form, check_texts, ctx, draft, facts, order, plan, step

rule = Worded(taper_dose_increase)  # the rule's findings with the card's words

# Oxycodone taper: step 1 40 mg/day (14 days ago .. yesterday), step 2 30 mg/day (today .. +13),
# step 3 20 mg/day (+14 .. +27).
PLAN = plan(step(1, -14, 14, 40), step(2, 0, 14, 30), step(3, 14, 14, 20))


def run(*drafts, taper=PLAN, in_effect=(), exclusions=(), days=120):
    f = facts(drafts=drafts, in_effect=in_effect, days=days, taper_plan=taper, exclusions=exclusions)
    return rule.findings(f, ctx())


def test_fires_when_draft_exceeds_todays_step():
    (card,) = run(draft("oxycodone", 40, strength=5))
    assert card.indicator == "critical"
    assert card.facts["todayStepDose"] == 30  # step 2 is in effect today
    assert card.facts["draftDailyDose"] == 40
    assert card.facts["todayStepNumber"] == 2
    assert "Öka aldrig dosen" in card.summary["sv"]
    check_texts(card)


@pytest.mark.parametrize("amount, fires", [(25, False), (30, False), (35, True)])
def test_threshold_is_todays_step(amount, fires):
    # 30 mg/day is exactly today's step: allowed. 35 (the next givable dose above) is an increase.
    assert bool(run(draft("oxycodone", amount))) is fires


def test_silent_without_running_taper():
    assert run(draft("oxycodone", 60), taper=None) == []


@pytest.mark.parametrize("group", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded(group):
    assert run(draft("oxycodone", 60), exclusions=(group,)) == []


def test_new_opioid_during_taper_raises_total_medd():
    # Morphine is not in effect at all: any amount raises the total MEDD.
    (card,) = run(draft("morphine", 10))
    assert card.indicator == "critical"
    assert "total MEDD ökar" in card.detail["sv"]


@pytest.mark.parametrize("amount, fires", [(100, False), (150, True)])
def test_other_opioid_compared_with_what_is_in_effect(amount, fires):
    tramadol = order("tramadol", 100)
    assert bool(run(draft("tramadol", amount), in_effect=(tramadol,))) is fires


def test_immediate_release_on_top_of_depot_counts_together():
    # Depot 30 mg/day in effect (= today's step) + a new immediate-release 10 mg/day draft: 30 + 10 = 40 > 30.
    depot = order("oxycodone", 30, form=Form.DEPOT)
    (card,) = run(draft("oxycodone", 10, form=Form.IMMEDIATE), in_effect=(depot,))
    assert card.facts["resultingDailyDose"] == 40
    assert card.suggestions == ()  # the draft alone is not the step: no dose rewrite offered


def test_renewal_of_same_form_replaces_the_record_order():
    # Depot renewal at today's step while the old depot order (40) is still in effect: 30 ≤ 30.
    depot = order("oxycodone", 40, form=Form.DEPOT)
    assert run(draft("oxycodone", 30, form=Form.DEPOT), in_effect=(depot,)) == []


def test_unknown_draft_dose_says_it_could_not_be_checked():
    (card,) = run(draft("oxycodone", None))
    assert card.indicator == "info"
    assert card.facts["decided"] is False
    assert "kunde inte" in card.detail["sv"].lower()
    check_texts(card)


def test_after_the_plan_has_ended_any_amount_is_an_increase():
    ended = plan(step(1, -28, 14, 20), step(2, -14, 14, 10))  # last dosing day was yesterday
    (card,) = run(draft("oxycodone", 10), taper=ended)
    assert card.indicator == "critical"
    assert card.facts["planEnded"] is True
    (suggestion,) = card.suggestions
    assert suggestion.actions[0].type == "delete"
    assert suggestion.actions[0].resource_id == "MedicationRequest/draft-oxycodone"


@pytest.mark.parametrize("amount, fires", [(40, False), (45, True)])
def test_before_the_first_step_the_first_step_is_the_ceiling(amount, fires):
    later = plan(step(1, 1, 14, 40), step(2, 15, 14, 30))  # starts tomorrow at 40 mg/day
    assert bool(run(draft("oxycodone", amount), taper=later)) is fires


def test_update_suggestion_keeps_todays_step_in_whole_tablets():
    # Today's step 30 mg/day = 15 mg morning + 15 mg evening = 3 tablets of 5 mg each time.
    d = draft("oxycodone", 40, strength=5, form=Form.DEPOT)
    (card,) = run(d)
    (suggestion,) = card.suggestions
    action = suggestion.actions[0]
    assert action.type == "update" and action.resource is None
    assert action.proposal == DoseStepChange(draft_id="draft-oxycodone", daily_dose=30, per_admin=15, unit=MG,
                                             step_sequence=2, tablets_per_day=6)
    assert "30 mg/dygn" in suggestion.label["sv"]


def test_no_update_when_step_is_not_givable_with_the_strength():
    # 30 mg/day = 15 mg per dose: not whole 10 mg tablets → advice as text only.
    (card,) = run(draft("oxycodone", 40, strength=10))
    assert card.suggestions == ()
    assert "förläng" in card.detail["sv"].lower()


def test_patch_taper_compares_micrograms_per_hour():
    patch_plan = plan(step(1, -7, 14, 20, UG_PER_H), step(2, 7, 14, 15, UG_PER_H), ingredient="buprenorphine")
    assert run(draft("buprenorphine", 20, unit=UG_PER_H, form=Form.PATCH), taper=patch_plan) == []
    (card,) = run(draft("buprenorphine", 25, unit=UG_PER_H, form=Form.PATCH), taper=patch_plan)
    assert "20 µg/h" in card.summary["sv"]
    assert card.suggestions == ()  # no dosage rewrite for patches


def test_units_that_cannot_be_compared_are_said_so():
    (card,) = run(draft("oxycodone", 20, unit=UG_PER_H))
    assert card.indicator == "info"
    assert card.facts["decided"] is False
    assert "utkastet och planen anger dosen i olika enheter" in card.detail["sv"]  # why, in both languages
    assert "draft and plan in different units" in card.detail["en"]


def test_step_dose_in_summary_uses_decimal_comma():
    half = plan(step(1, -3, 7, 7.5))
    (card,) = run(draft("oxycodone", 10), taper=half)
    assert "7,5 mg/dygn" in card.summary["sv"]
    assert "7.5 mg/day" in card.summary["en"]


def test_the_rule_decides_without_words():
    # The rule gives the comparisons and its proposal; the card layer words them (cards/taper_dose_increase.py).
    f = facts(drafts=[draft("oxycodone", 40, strength=5, form=Form.DEPOT)], days=120, taper_plan=PLAN)
    (finding,) = taper_dose_increase.findings(f, ctx())
    assert finding.summary == {} and finding.detail == {} and finding.suggestions == ()
    (c,) = finding.data.exceeding
    assert (c.kind, c.allowed, c.amount) == ("step", 30, 40)
    assert finding.data.change.daily_dose == 30 and finding.data.remove is None
    ended = plan(step(1, -28, 14, 20), step(2, -14, 14, 10))
    f = facts(drafts=[draft("oxycodone", 10)], days=120, taper_plan=ended)
    (finding,) = taper_dose_increase.findings(f, ctx())
    assert finding.data.remove == "MedicationRequest/draft-oxycodone" and finding.data.change is None
    f = facts(drafts=[draft("oxycodone", 20, unit=UG_PER_H)], days=120, taper_plan=PLAN)
    (finding,) = taper_dose_increase.findings(f, ctx())
    (c,) = finding.data.undecided
    assert c.problem is taper_dose_increase.Reason.UNITS_DIFFER_FROM_PLAN
