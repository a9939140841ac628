"""opioid-review — long-term opioid use without a taper plan (patient-view).

Source: [RJL, opening] "Ifrågasätt alltid behovet av och nyttan med att förlänga en opioidbehandling";
[RJL "När behövs nedtrappning?"]; clinical-rules §1.

When
  - opioid use has lasted 90 days or more (long-term or multi-year), and
  - there is no active taper plan, and
  - the patient is not excluded
Then
  - warn: review the treatment (goals, effect, taper).

(First slice; the clinical-rules issue deepens it.)
"""
from __future__ import annotations

from fhir_mappings.model import Exposure, PatientFacts

from .base import PATIENT_VIEW, RJL, Finding, RuleContext

TOPIC = "opioid-review"
HOOKS = frozenset({PATIENT_VIEW})


def inclusion_criteria(facts: PatientFacts) -> bool:
    return facts.episode.exposure in (Exposure.LONG_TERM, Exposure.MULTI_YEAR)


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or facts.taper_plan is not None


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    days = facts.episode.days
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            summary={
                "sv": f"Opioider i {days} dagar utan nedtrappningsplan – ompröva behandlingen",
                "en": f"Opioids for {days} days without a taper plan – review the treatment",
            },
            detail={
                "sv": "Ompröva behov och nytta av opioidbehandlingen och planera nedtrappning "
                "tillsammans med patienten.",
                "en": "Review the need for and benefit of the opioid treatment and plan a taper "
                "with the patient.",
            },
            guideline=RJL,
            section="Att tänka på som läkare ansvarig för nedtrappning av opioider",
            override_reasons=("not-long-term", "plan-elsewhere", "palliative"),
        )
    ]
