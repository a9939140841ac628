"""taper-plan-missing — a renewal of ongoing opioid use without a taper plan.

Source: [RJL, opening] "Receptförnyelse innebär samma ansvar som vid insättning" and
[RJL "När behövs nedtrappning?"] (pace by prior exposure); clinical-rules §1–§2.

When
  - a draft opioid order is part of the hook call, and
  - it continues the current opioid episode (renewal), and
  - the episode is at least subacute (≥ 14 days), and
  - there is no active taper plan, and
  - the patient is not excluded (cancer, palliative care, LARO, under 18)
Then
  - warn: propose a taper plan.

(First slice; the clinical-rules issue deepens it with the schedule and suggestions.)
"""
from __future__ import annotations

from fhir_mappings.model import Exposure, PatientFacts

from .base import ORDER_HOOKS, RJL, Finding, RuleContext

TOPIC = "taper-plan-missing"
HOOKS = ORDER_HOOKS

ONGOING = (Exposure.SUBACUTE, Exposure.LONG_TERM, Exposure.MULTI_YEAR)


def draft_opioids(facts: PatientFacts):
    return [d for d in facts.drafts if d.drug.is_opioid]


def inclusion_criteria(facts: PatientFacts) -> bool:
    return bool(draft_opioids(facts)) and facts.is_renewal is True and facts.episode.exposure in ONGOING


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or facts.taper_plan is not None


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    drug = draft_opioids(facts)[0].drug.display
    days = facts.episode.days
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            summary={
                "sv": f"Förnyelse av opioid efter {days} dagars användning – nedtrappningsplan saknas",
                "en": f"Opioid renewal after {days} days of use – no taper plan",
            },
            detail={
                "sv": f"Patienten har använt opioider i {days} dagar ({drug}). "
                "Receptförnyelse innebär samma ansvar som insättning: gör en nedtrappningsplan "
                "tillsammans med patienten.",
                "en": f"The patient has used opioids for {days} days ({drug}). "
                "Renewing carries the same responsibility as starting: agree a taper plan with the patient.",
            },
            guideline=RJL,
            section="När behövs nedtrappning?",
            override_reasons=("not-long-term", "plan-elsewhere", "palliative"),
        )
    ]
