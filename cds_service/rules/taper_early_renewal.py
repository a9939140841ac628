"""taper-early-renewal — an opioid renewal during a taper before the previous supply runs out.

Source: [RJL "Allmänna principer och viktigt att tänka på"] "Ersätt aldrig borttappat läkemedel! Under
nedtrappning är förskriven opioid en värdehandling"; [RJL "Vilka krav kan jag som läkare ställa?"]
("Borttappade läkemedel ersätts inte med extra-recept"); [RJL "Praktiska tips och trix"] (small
dispensings with a set interval); clinical-rules §2–§3.

When
  - a taper is running, and
  - a draft opioid order renews one of the record's current orders — the same ingredient and form
    (a new as-needed add-on by an on-call doctor is no renewal: taper-prn speaks of it), and
  - the record's supply of that ingredient and form (the latest known supply end, exclusive; not a
    prescription's validity) lasts more than ``settings.early_renewal_margin_days`` (default 3, env
    ``TRAPPA_EARLY_RENEWAL_MARGIN_DAYS``) days beyond the day the renewal can first be collected (its
    validity start, else today), and
  - the patient is not excluded
Then
  - warn: renewal before the previous supply runs out — lost medication is not replaced;
  - propose (not recommended) removing the renewal draft.
When the supply end is unknown, an info card says the check could not be done (no dispensing or
supply data), instead of assuming the supply has run out. The card says "uttag" only when the supply
end comes from dispensings (MedicationDispense); from prescriptions it says "recept".
The card's words and its suggestion: cds_service/cards/taper_early_renewal.py.

The margin lets the physician prescribe the next step a few days ahead (RJL: prescribe 1–2 steps at a
time, at the follow-up).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from cds_service.domain.episodes import previous_supply_end
from cds_service.domain.model import MedicationOrder, PatientFacts
from cds_service.domain.model import MEDICATION_DISPENSE
from cds_service.domain.regimen import ingredient_key

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.taper_state import in_taper
from cds_service.rules.drafts import draft_opioids, draft_reference


TOPIC = "taper-early-renewal"
HOOKS = ORDER_HOOKS


@dataclass(frozen=True)
class Renewal:
    draft: MedicationOrder
    supply_end: date | None  # exclusive end of the record's supply of the same ingredient and form
    dispensed: bool  # that end comes from a dispensing (uttag), not a prescription
    collectable: date  # the first day the renewal can be collected


def renewal(facts: PatientFacts, ctx: RuleContext) -> Renewal | None:
    """The first draft that renews a current record order of the same ingredient and form."""
    for draft in draft_opioids(facts):
        same = [o for o in facts.orders if o.drug.is_opioid and ingredient_key(o) == ingredient_key(draft)
                and o.drug.form == draft.drug.form]
        if not any(o in same for o in facts.regimen.replaced):
            continue
        end = previous_supply_end(same, facts.episode, ctx.today)
        dispensed = any(o.supply_end == end and o.resource_type == MEDICATION_DISPENSE for o in same)
        collectable = max(draft.start or ctx.today, ctx.today)
        return Renewal(draft, end, dispensed, collectable)
    return None


def days_left(facts: PatientFacts, ctx: RuleContext) -> int | None:
    """Days of the record's supply left after the renewal can be collected; None when unknown."""
    found = renewal(facts, ctx)
    if found is None or found.supply_end is None:
        return None
    return (found.supply_end - found.collectable).days


def inclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    return in_taper(facts) and facts.is_renewal is True and renewal(facts, ctx) is not None


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts, ctx: RuleContext) -> bool:
    return inclusion_criteria(facts, ctx) and not exclusion_criteria(facts)


def is_early(facts: PatientFacts, ctx: RuleContext, margin: int | None = None) -> bool | None:
    """True/False; None when the supply end is unknown."""
    left = days_left(facts, ctx)
    if left is None:
        return None
    return left > (ctx.settings.early_renewal_margin_days if margin is None else margin)


@dataclass(frozen=True)
class Verdict:
    """What the card says: the renewal, how early it is, and the draft to remove."""

    renewal: Renewal
    days_left: int | None  # of the record's supply once the renewal can be collected; None: unknown
    from_today: bool  # the renewal can be collected today (no later validity start)
    remove: str | None  # the draft's reference, to delete (the early card's proposal)


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    found = renewal(facts, ctx)
    if found is None:  # is_applicable found one; said again for the reader and the type checker
        return []
    early = is_early(facts, ctx)
    if early is False:
        return []
    left = days_left(facts, ctx)
    fact_map: dict[str, Any] = {
        "previousSupplyEnd": found.supply_end.isoformat() if found.supply_end else None,
        "supplyFrom": "dispensing" if found.dispensed else "prescription",
        "supplyDaysLeft": left,
        "marginDays": ctx.settings.early_renewal_margin_days,
        "decided": early is not None,
    }
    return [
        Finding(
            topic=TOPIC,
            indicator="warning" if early else "info",
            guideline=RJL,
            section="Allmänna principer och viktigt att tänka på",
            facts=fact_map,
            data=Verdict(found, left, found.collectable == ctx.today, draft_reference(found.draft) if early else None),
            override_reasons=(("new-step-strength", "data-incorrect", "clinical-judgement") if early
                              else ("new-step-strength", "data-incorrect")),
        )
    ]
