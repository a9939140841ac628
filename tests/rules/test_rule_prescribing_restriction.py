"""prescribing-restriction: a taper planned or running needs an uppmärksamhetssignal with
förskrivningsrestriktion [RJL "Vilka krav kan jag som läkare ställa?"]."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from cds_service.rules import prescribing_restriction
from cds_service.rules import taper_plan_missing
from cds_service.domain.hooks import ORDER_SIGN, PATIENT_VIEW
from cds_service.domain.settings import ClinicalSettings
from cds_service.rules.proposals import NewRestrictionFlag
from tests.support.rules_facts import PATIENT, USER, check_texts, ctx, day, draft, facts, flag, order, plan, step
from tests.support.worded import Worded

rule = Worded(prescribing_restriction)  # the findings with the words the card shows

# Running taper: last dosing day TODAY + 27 (steps 14 days each from day -14, 0, 14).
RUNNING = plan(step(1, -14, 14, 40), step(2, 0, 14, 30), step(3, 14, 14, 20))


def running(hook=PATIENT_VIEW, **kw):
    f = facts(in_effect=[order("oxycodone", 30)], days=200, taper_plan=RUNNING, **kw)
    return rule.findings(f, ctx(hook))


def planned(hook=ORDER_SIGN, amount=40.0, **kw):
    d = draft("oxycodone", amount)
    f = facts(drafts=[d], in_effect=[order("oxycodone", amount)], days=120, **kw)
    return f, rule.findings(f, ctx(hook))


@pytest.mark.parametrize("margin", [0, 30])
def test_the_configured_margin_sets_the_flags_end(margin):
    f = facts(in_effect=[order("oxycodone", 30)], days=200, taper_plan=RUNNING)
    (card,) = rule.findings(f, ctx(PATIENT_VIEW, settings=ClinicalSettings(restriction_margin_days=margin)))
    # the plan's last dosing day is TODAY + 27
    assert card.facts["restrictionEnd"] == day(27 + margin).isoformat()
    assert card.facts["restrictionMarginDays"] == margin
    assert card.suggestions[0].actions[0].proposal.end == day(27 + margin)
    assert f"+ {margin} dagar" in card.detail["sv"] and f"+ {margin} days" in card.detail["en"]


def test_running_taper_on_patient_view_proposes_the_flag():
    (card,) = running()
    assert card.indicator == "info"
    # end = the plan's last dosing day (TODAY + 27) + 14 days margin = TODAY + 41
    assert card.facts["restrictionEnd"] == day(41).isoformat()
    assert card.facts["restrictionStart"] == day(0).isoformat()
    (suggestion,) = card.suggestions
    (action,) = suggestion.actions
    assert action.type == "create" and action.resource is None
    assert action.proposal == NewRestrictionFlag(patient_ref=PATIENT, author_ref=USER, author_display=None,
                                                 start=date(2026, 11, 23), end=date(2027, 1, 3))
    check_texts(card)


def test_running_taper_with_explicit_plan_end():
    p = plan(step(1, -14, 14, 40), end=date(2027, 2, 1))
    f = facts(in_effect=[order("oxycodone", 30)], days=200, taper_plan=p)
    (card,) = rule.findings(f, ctx(PATIENT_VIEW))
    assert card.facts["restrictionEnd"] == (date(2027, 2, 1) + timedelta(days=14)).isoformat()


def test_running_taper_without_known_end_is_open_ended():
    undated = plan(step(1, -14, 14, 40), step(2, 0, None, 30))  # last step open-ended
    f = facts(in_effect=[order("oxycodone", 30)], days=200, taper_plan=undated)
    (card,) = rule.findings(f, ctx(PATIENT_VIEW))
    assert card.facts["restrictionEnd"] is None
    assert card.suggestions[0].actions[0].proposal.end is None
    assert "utan slutdatum" in card.detail["sv"]


def test_planned_taper_on_order_hook_ends_with_the_proposed_schedule():
    f, found = planned()
    (card,) = found
    (proposal_card,) = taper_plan_missing.findings(f, ctx(ORDER_SIGN))
    projected = date.fromisoformat(proposal_card.facts["projectedEnd"])
    assert card.facts["restrictionEnd"] == (projected + timedelta(days=14)).isoformat()
    assert card.facts["taperRunning"] is False
    assert "planeras" in card.summary["sv"]
    # the taper's own suggestion registers the Flag for the pace picked: not a second one here
    assert card.suggestions == ()
    assert "registrerar restriktionen för den takt du väljer" in card.detail["sv"]
    check_texts(card)


def test_planned_taper_with_unknown_dose_is_open_ended():
    _, (card,) = planned(amount=None)
    assert card.facts["restrictionEnd"] is None


def test_nothing_planned_on_patient_view():
    # Long-term use without a plan: on patient-view nothing is being proposed → no restriction card.
    _, found = planned(hook=PATIENT_VIEW)
    assert found == []


def test_silent_when_a_restriction_flag_exists():
    assert running(restriction=flag()) == []
    _, found = planned(restriction=flag())
    assert found == []


def test_silent_without_taper_planned_or_running():
    # 13 days of use: acute, no taper proposed.
    d = draft("oxycodone", 20)
    f = facts(drafts=[d], in_effect=[order("oxycodone", 20)], days=13)
    assert rule.findings(f, ctx(ORDER_SIGN)) == []


@pytest.mark.parametrize("group", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded(group):
    assert running(exclusions=(group,)) == []
    _, found = planned(exclusions=(group,))
    assert found == []


def test_missing_flags_are_not_called_no_restriction():
    (card,) = running(data_gaps=("flags",))
    assert "ingen förskrivningsrestriktion hittades" in card.detail["sv"]
    (complete,) = running()
    assert "ingen förskrivningsrestriktion är registrerad" in complete.detail["sv"]
    check_texts(card)
