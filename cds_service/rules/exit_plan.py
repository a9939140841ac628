"""exit-plan — a new opioid start without a planned end.

Source: [VGR "Iatrogent läkemedelsberoende"] "Vid insättning av beroendeframkallande läkemedel till
exempel opioider för akut smärta ska särskild försiktighet iakttas och det ska från början finnas en
plan för utsättning. Som huvudregel skall den som förskriver ansvara för utsättning";
[RJL "När behövs nedtrappning?"] (after short acute use the treatment can usually stop at once);
clinical-rules §7.

When
  - a draft opioid order starts opioids anew (no opioid in the current episode:
    ``facts.is_renewal is False``), and
  - the draft has no planned end (no dosage bounds end, no validity end, no supply duration), and
  - the patient is not excluded
Then
  - info: set a plan for stopping from the start;
  - suggest an *update* of the draft with a planned end (``PlannedEnd``): supply for
    ``settings.exit_plan_days`` days, dosing today … today + ``settings.exit_plan_days`` − 1 (the card
    layer writes it into the draft as the EHR sent it: ``fhir_mappings.write.amend``).
    Default 7 days (env ``TRAPPA_EXIT_PLAN_DAYS``): a common course for acute pain, well under the
    2 weeks after which withdrawal may appear on stopping [RJL "När behövs nedtrappning?"]. The
    number is the service's default, not a guideline figure; the physician adjusts it.
    Without the draft as sent (or with one too large to echo) the card gives the advice without a
    suggestion.
    The card's words and its suggestion: cds_service/cards/exit_plan.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds_service.domain.model import MedicationOrder, PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import VGR
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.drafts import draft_opioids, draft_reference
from cds_service.rules.proposals import PlannedEnd


TOPIC = "exit-plan"
HOOKS = ORDER_HOOKS


def drafts_without_end(facts: PatientFacts) -> list[MedicationOrder]:
    return [d for d in draft_opioids(facts) if not d.has_planned_end]


def inclusion_criteria(facts: PatientFacts) -> bool:
    return facts.is_renewal is False and bool(drafts_without_end(facts))


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def planned_end(draft: MedicationOrder, ctx: RuleContext) -> PlannedEnd | None:
    """The proposed end of the draft: ``settings.exit_plan_days`` days from today; None without a
    valid draft id (the update could not name the draft)."""
    if draft.id is None or draft_reference(draft) is None:
        return None
    days = ctx.settings.exit_plan_days
    return PlannedEnd(draft_id=draft.id, start=ctx.today, last=ctx.today + timedelta(days=days - 1), days=days)


@dataclass(frozen=True)
class ExitPlan:
    """What the card says: the opioid started and the course proposed for it."""

    ingredient: str | None  # the first draft without a planned end (MEDD-table key)
    days: int  # settings.exit_plan_days
    last: date  # the last dosing day of that course


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    draft = drafts_without_end(facts)[0]
    proposal = planned_end(draft, ctx)
    days = ctx.settings.exit_plan_days
    last = ctx.today + timedelta(days=days - 1)
    fact_map: dict[str, Any] = {
        "isRenewal": False,
        "proposedDays": days,
        "proposedEnd": last.isoformat(),
    }
    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            guideline=VGR,
            section="Iatrogent läkemedelsberoende",
            facts=fact_map,
            data=ExitPlan(ingredient=draft.drug.ingredient, days=days, last=last),
            proposals=(proposal,) if proposal else (),
            override_reasons=("exit-plan-elsewhere", "clinical-judgement"),
        )
    ]
