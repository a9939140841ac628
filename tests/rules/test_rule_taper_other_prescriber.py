"""taper-other-prescriber: only the responsible physician prescribes opioids during a taper [RJL "Vilka
krav kan jag som läkare ställa?"]."""
from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.rules import taper_other_prescriber
from tests.support.worded import Worded
from tests.support.rules_facts import USER, check_texts, ctx, draft, facts, order, plan, sedative, step

rule = Worded(taper_other_prescriber)  # the findings with the words the card shows


def run(author, *, user=USER, drafts=None, taper="plan", exclusions=()):
    drafts = [draft("oxycodone", 30)] if drafts is None else drafts
    p = plan(step(1, -7, 14, 30), author=author) if taper == "plan" else None
    f = facts(drafts=drafts, in_effect=[order("oxycodone", 30)], days=120, taper_plan=p, exclusions=exclusions)
    return rule.findings(f, ctx(user=user))


def test_warns_when_another_physician_runs_the_taper():
    (card,) = run("Practitioner/dr-berg")
    assert card.indicator == "warning"
    assert card.facts["responsiblePhysician"] == "Practitioner/dr-berg"
    assert card.facts["orderingPhysician"] == USER
    check_texts(card)


def test_names_the_responsible_physician():
    (card,) = run("Practitioner/dr-berg")
    assert "det är Practitioner/dr-berg" in card.detail["sv"]  # no name in the record: the reference
    f = facts(drafts=[draft("oxycodone", 30)], in_effect=[order("oxycodone", 30)], days=120,
              taper_plan=replace(plan(step(1, -7, 14, 30), author="Practitioner/dr-berg"),
                                 author_display="Karin Berg"))
    (card,) = rule.findings(f, ctx())
    assert "det är Karin Berg" in card.detail["sv"] and "Kontakta Karin Berg" in card.detail["sv"]
    assert card.facts["responsiblePhysicianName"] == "Karin Berg"


def test_silent_for_the_responsible_physician():
    assert run(USER) == []
    # the same practitioner as an absolute reference
    assert run("https://ehr.example.se/fhir/Practitioner/dr-lind") == []


def test_unknown_author_is_info_not_a_warning():
    (card,) = run(None)
    assert card.indicator == "info"
    assert card.facts["decided"] is False
    assert "anger ingen ansvarig läkare" in card.detail["sv"]
    check_texts(card)


def test_unknown_user_is_info():
    (card,) = run("Practitioner/dr-berg", user=None)
    assert card.indicator == "info"


def test_silent_without_taper_or_without_opioid_draft():
    assert run("Practitioner/dr-berg", taper=None) == []
    assert run("Practitioner/dr-berg", drafts=[sedative()]) == []


@pytest.mark.parametrize("group", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded(group):
    assert run("Practitioner/dr-berg", exclusions=(group,)) == []
