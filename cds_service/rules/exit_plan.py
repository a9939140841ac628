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
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from cds_service.domain.model import MedicationOrder, PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import VGR
from cds_service.rules.finding import Action, Finding, RuleContext, Suggestion
from cds_service.rules.common import draft_opioids, draft_reference, fmt_date, ingredient_name, loc
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


def _suggestion(draft: MedicationOrder, ctx: RuleContext) -> Suggestion | None:
    proposal = planned_end(draft, ctx)
    if proposal is None:
        return None
    days, last = proposal.days, proposal.last
    return Suggestion(
        label=loc(
            f"Begränsa till {days} dagar (till {fmt_date(last, 'sv')})",
            f"Limit to {days} days (until {fmt_date(last, 'en')})",
        ),
        actions=(
            Action(
                "update",
                loc(
                    f"Lägg till planerat slut i ordinationen ({days} dagar)",
                    f"Add a planned end to the order ({days} days)",
                ),
                proposal=proposal,
            ),
        ),
        is_recommended=True,
    )


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    draft = drafts_without_end(facts)[0]
    suggestion = _suggestion(draft, ctx)
    sv_name = ingredient_name(draft.drug.ingredient, "sv")
    en_name = ingredient_name(draft.drug.ingredient, "en")
    days = ctx.settings.exit_plan_days
    fact_map: dict[str, Any] = {
        "isRenewal": False,
        "proposedDays": days,
        "proposedEnd": (ctx.today + timedelta(days=days - 1)).isoformat(),
    }
    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            summary=loc(
                f"Nyinsatt {sv_name} utan planerat slut – planera utsättningen från start",
                f"New {en_name} without a planned end – plan the stop from the start",
            ),
            detail={
                "sv": f"**Ange när behandlingen ska avslutas.** Vid insättning av opioider för akut smärta ska "
                "det från början finnas en plan för utsättning, och den som förskriver ansvarar för "
                "utsättningen.\n\n"
                f"- **Förslag:** {days} dagar; anpassa förpackningsstorleken efter det.\n"
                "- Efter kort behandling (under 2 veckor) kan opioiden vanligen sättas ut tvärt.\n"
                "- Komplettera med paracetamol och vid behov NSAID.",
                "en": "**State when the treatment is to end.** When opioids are started for acute pain there "
                "must be a plan for stopping from the start, and the prescriber is responsible for "
                "stopping.\n\n"
                f"- **Proposal:** {days} days; size the pack accordingly.\n"
                "- After short treatment (under 2 weeks) the opioid can usually be stopped at once.\n"
                "- Add paracetamol and, if needed, an NSAID.",
            },
            guideline=VGR,
            section="Iatrogent läkemedelsberoende",
            facts=fact_map,
            suggestions=(suggestion,) if suggestion else (),
            override_reasons=("exit-plan-elsewhere", "clinical-judgement"),
        )
    ]
