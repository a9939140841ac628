"""taper-other-prescriber — during a taper, an opioid is ordered by someone other than the responsible physician.

Source: [RJL "Vilka krav kan jag som läkare ställa?"] "Opioider förskrivs enbart av den läkare som
ansvarar för nedtrappningen (eller av denne utsedd kollega)"; [RJL "Praktiska tips och trix"]
("Opioider bör förskrivas enbart av den läkare som ansvarar för nedtrappningen!"); clinical-rules §3.

When
  - a taper is running, and
  - a draft opioid order is part of the hook call, and
  - the patient is not excluded
Then
  - the ordering physician (context.userId) and the plan's responsible physician (CarePlan.author /
    the taper MedicationRequest's requester) are both known and differ → warn: contact the
    responsible physician; only they (or a named colleague) prescribe opioids during the taper;
  - either is unknown → info: the check could not be done (decision: an unknown author is not
    treated as "different" — no warning — but the card says the responsible physician is not on
    the plan, so it can be registered);
  - the same → nothing.
References compare by type and id ("Practitioner/1" equals "https://ehr/fhir/Practitioner/1").
The card's words: cds_service/cards/taper_other_prescriber.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.domain.model import PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.taper_state import in_taper
from cds_service.rules.drafts import draft_opioids, same_reference
from cds_service.domain.bounded import clip

TOPIC = "taper-other-prescriber"
HOOKS = ORDER_HOOKS


def inclusion_criteria(facts: PatientFacts) -> bool:
    return in_taper(facts) and bool(draft_opioids(facts))


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def is_other_prescriber(facts: PatientFacts, ctx: RuleContext) -> bool | None:
    """True when the orderer is not the taper's responsible physician; None when either is unknown."""
    author = facts.taper_plan.author if facts.taper_plan else None
    same = same_reference(ctx.user_ref, author)
    return None if same is None else not same


def responsible_name(facts: PatientFacts) -> str | None:
    """The responsible physician as a card names them: the record's display, else the reference."""
    plan = facts.taper_plan
    if plan is None:
        return None
    return clip(plan.author_display, 80) or clip(plan.author, 100) or None


@dataclass(frozen=True)
class Prescriber:
    """Who runs the taper, as far as the record and the call tell."""

    other: bool | None  # the orderer is not the responsible physician; None: either is unknown
    author_known: bool  # the plan names its responsible physician (else the orderer is unknown)
    name: str | None  # the responsible physician as the card names them


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    other = is_other_prescriber(facts, ctx)
    author = facts.taper_plan.author if facts.taper_plan else None
    name = responsible_name(facts)
    fact_map: dict[str, Any] = {
        "responsiblePhysician": clip(author, 100) or None,
        "responsiblePhysicianName": name,
        "orderingPhysician": clip(ctx.user_ref, 100) or None,
        "decided": other is not None,
    }
    if other is False:
        return []
    return [
        Finding(
            topic=TOPIC,
            indicator="info" if other is None else "warning",
            guideline=RJL,
            section="Vilka krav kan jag som läkare ställa?",
            facts=fact_map,
            data=Prescriber(other=other, author_known=bool(author), name=name),
            override_reasons=("agreed-with-responsible", "data-incorrect"),
        )
    ]
