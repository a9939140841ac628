"""taper-prn — an as-needed (PRN) opioid order during a taper or in long-term use.

Source: [RJL "Allmänna principer och viktigt att tänka på"] "Ordinera inte extra-tabletter eller vid
behovs-doser av opioid! Sådana bidrar på flera sätt till att underhålla beroendet. En fast
dygnsdosering minskar både abstinens och psykologiskt beroende"; [RJL "Vilka krav kan jag som läkare
ställa?"] (no PRN of the tapered or any other opioid); clinical-rules §2–§3.

When
  - a draft opioid order is as needed (PRN), and
  - a taper is running, or opioid use has lasted 90 days or more (long-term or multi-year), and
  - the patient is not excluded
Then
  - warn: no as-needed opioid doses; a fixed daily dose instead;
  - suggest removing the PRN draft (CDS Hooks delete action on the draft).
The card's words and its suggestion: cds_service/cards/taper_prn.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.domain.model import Exposure, MedicationOrder, PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.taper_state import in_taper
from cds_service.rules.drafts import draft_opioids, draft_reference

TOPIC = "taper-prn"
HOOKS = ORDER_HOOKS

LONG_TERM = (Exposure.LONG_TERM, Exposure.MULTI_YEAR)


def prn_drafts(facts: PatientFacts) -> list[MedicationOrder]:
    return [d for d in draft_opioids(facts) if d.daily_dose.prn]


def inclusion_criteria(facts: PatientFacts) -> bool:
    return bool(prn_drafts(facts)) and (in_taper(facts) or facts.episode.exposure in LONG_TERM)


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


@dataclass(frozen=True)
class PrnDraft:
    """The as-needed draft the card speaks of, and why it is a concern."""

    ingredient: str | None
    max_daily_dose: float | None  # the draft's as-needed maximum, a day
    unit: str | None
    taper_running: bool  # else: long-term use (``days``)
    days: int  # of opioid use
    draft_ref: str | None  # what the suggestion removes (a CDS Hooks delete); None: no valid id


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    draft = prn_drafts(facts)[0]
    running = in_taper(facts)
    days = facts.episode.days
    fact_map: dict[str, Any] = {
        "taperRunning": running,
        "exposureDays": days,
        "prnMaxDailyDose": draft.daily_dose.amount,
        "unit": draft.daily_dose.unit,
    }
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            guideline=RJL,
            section="Allmänna principer och viktigt att tänka på",
            facts=fact_map,
            data=PrnDraft(ingredient=draft.drug.ingredient, max_daily_dose=draft.daily_dose.amount,
                          unit=draft.daily_dose.unit, taper_running=running, days=days,
                          draft_ref=draft_reference(draft)),
            override_reasons=("not-long-term", "not-in-taper", "clinical-judgement"),
        )
    ]
