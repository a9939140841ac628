"""taper-early-renewal — an opioid renewal during a taper before the previous supply runs out.

Source: [RJL "Allmänna principer och viktigt att tänka på"] "Ersätt aldrig borttappat läkemedel! Under
nedtrappning är förskriven opioid en värdehandling"; [RJL "Vilka krav kan jag som läkare ställa?"]
("Borttappade läkemedel ersätts inte med extra-recept"); [RJL "Praktiska tips och trix"] (small
dispensings with a set interval); clinical-rules §2–§3.

When
  - a taper is running, and
  - a draft opioid order renews the current episode, and
  - the record's opioid supply (``facts.previous_supply_end``, exclusive) lasts more than
    ``settings.early_renewal_margin_days`` (default 3, env ``TRAPPA_EARLY_RENEWAL_MARGIN_DAYS``) days
    beyond today, and
  - the patient is not excluded
Then
  - warn: renewal before the previous supply runs out — lost medication is not replaced;
  - suggest (not recommended) removing the renewal draft.
When the supply end is unknown, an info card says the check could not be done (no dispensing or
supply data), instead of assuming the supply has run out.

The margin lets the physician prescribe the next step a few days ahead (RJL: prescribe 1–2 steps at a
time, at the follow-up).
"""
from __future__ import annotations

from typing import Any

from fhir_mappings.model import PatientFacts

from .base import ORDER_HOOKS, RJL, Action, Finding, RuleContext, Suggestion
from .common import draft_opioids, draft_reference, fmt_date, fmt_days, in_taper, loc


TOPIC = "taper-early-renewal"
HOOKS = ORDER_HOOKS


def days_left(facts: PatientFacts, ctx: RuleContext) -> int | None:
    """Days of the record's supply left after today (exclusive end − today); None when unknown."""
    if facts.previous_supply_end is None:
        return None
    return (facts.previous_supply_end - ctx.today).days


def inclusion_criteria(facts: PatientFacts) -> bool:
    return in_taper(facts) and bool(draft_opioids(facts)) and facts.is_renewal is True


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def is_early(facts: PatientFacts, ctx: RuleContext, margin: int | None = None) -> bool | None:
    """True/False; None when the supply end is unknown."""
    left = days_left(facts, ctx)
    if left is None:
        return None
    return left > (ctx.settings.early_renewal_margin_days if margin is None else margin)


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    early = is_early(facts, ctx)
    left = days_left(facts, ctx)
    fact_map: dict[str, Any] = {
        "previousSupplyEnd": facts.previous_supply_end.isoformat() if facts.previous_supply_end else None,
        "supplyDaysLeft": left,
        "marginDays": ctx.settings.early_renewal_margin_days,
        "decided": early is not None,
    }
    if early is None:
        return [
            Finding(
                topic=TOPIC,
                indicator="info",
                summary=loc(
                    "Nedtrappning pågår – kunde inte se när tidigare uttag tar slut",
                    "Taper running – could not see when the previous supply runs out",
                ),
                detail={
                    "sv": "**Kontrollera uthämtade läkemedel innan du förnyar.** Journalen visar inte när "
                    "patientens tidigare opioiduttag tar slut, så det gick inte att avgöra om förnyelsen "
                    "är tidig. Under nedtrappning ersätts inte borttappade läkemedel.",
                    "en": "**Check dispensed medication before renewing.** The record does not show when the "
                    "patient's previous opioid supply runs out, so whether this renewal is early could not "
                    "be decided. During a taper, lost medication is not replaced.",
                },
                guideline=RJL,
                section="Allmänna principer och viktigt att tänka på",
                facts=fact_map,
                override_reasons=("new-step-strength", "data-incorrect"),
            )
        ]
    if not early:
        return []
    end = facts.previous_supply_end
    ref = draft_reference(draft_opioids(facts)[0])
    suggestions = ()
    if ref:
        suggestions = (
            Suggestion(
                label=loc("Ta bort förnyelsen", "Remove the renewal"),
                actions=(Action("delete", loc("Ta bort utkastet", "Remove the draft"), resource_id=ref),),
            ),
        )
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            summary=loc(
                f"Tidig förnyelse under nedtrappning: tidigare uttag räcker till {fmt_date(end, 'sv')}",
                f"Early renewal during a taper: the previous supply lasts until {fmt_date(end, 'en')}",
            ),
            detail={
                "sv": f"**Tidigare uttag räcker {fmt_days(left, 'sv')} till (till {fmt_date(end, 'sv')}).** "
                "Under nedtrappning är förskriven opioid en värdehandling: borttappade läkemedel ersätts "
                "inte med extra-recept.\n\n"
                "- Förnya först när uttaget är slut (små uttag, högst 1–2 veckor av schemat, med angivet "
                "intervall).\n"
                "- Vid upprepade tidiga förnyelser: överväg dosdispensering och uppföljande samtal om "
                "överenskommelsen.",
                "en": f"**The previous supply lasts another {fmt_days(left, 'en')} (until {fmt_date(end, 'en')}).** "
                "During a taper the prescribed opioid is a thing of value: lost medication is not replaced "
                "with extra prescriptions.\n\n"
                "- Renew only when the supply has run out (small dispensings, at most 1–2 weeks of the "
                "schedule, with a set interval).\n"
                "- On repeated early renewals: consider multi-dose dispensing and a follow-up talk about "
                "the agreement.",
            },
            guideline=RJL,
            section="Allmänna principer och viktigt att tänka på",
            facts=fact_map,
            suggestions=suggestions,
            override_reasons=("new-step-strength", "data-incorrect", "clinical-judgement"),
        )
    ]
