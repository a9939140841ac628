"""prescribing-restriction — a taper is planned or running and no prescribing restriction is registered.

Source: [RJL "Vilka krav kan jag som läkare ställa?"] (consent to an uppmärksamhetssignal with
förskrivningsrestriktion is a requirement for a gentle taper) and [RJL "Praktiska tips och trix"]
("registrera en förskrivningsrestriktion … enligt Rekommenderat arbetssätt"); clinical-rules §3.

When
  - a taper is running (an active taper plan in the record), or — on order hooks only — a taper is
    being proposed (the taper-plan-missing predicate holds for this call), and
  - no active prescribing-restriction Flag exists, and
  - the patient is not excluded
Then
  - info: register an uppmärksamhetssignal with förskrivningsrestriktion;
  - suggest creating the Flag (``NewRestrictionFlag``; the card layer writes it): the patient, the
    ordering physician as author, from today until the taper's end plus a margin (default 14 days:
    acute withdrawal usually passes within 1–2 weeks [RJL "Allmänna principer"];
    ``TRAPPA_RESTRICTION_MARGIN_DAYS``). The end of a running taper is the
    plan's end (or its last step's end); of a proposed one, the default schedule's end. When no end
    is known the Flag is left open-ended and the card says so.

On patient-view only a running taper counts: nothing is being proposed there. When a taper is being
proposed with a schedule, that suggestion registers the restriction for the pace the physician picks
(taper-plan-missing): the card then says so and proposes no second Flag, which would end on another day.
The card's words and its suggestion: cds_service/cards/prescribing_restriction.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds_service.domain.model import PatientFacts

from cds_service.rules import taper_plan_missing
from cds_service.domain.hooks import ORDER_HOOKS, PATIENT_VIEW
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.proposals import NewRestrictionFlag
from cds_service.rules.taper_state import in_taper, responsible_physician, taper_end

TOPIC = "prescribing-restriction"
HOOKS = ORDER_HOOKS | {PATIENT_VIEW}


def taper_suggested(facts: PatientFacts, ctx: RuleContext) -> bool:
    """The taper card of this call offers a schedule (whose suggestion creates the Flag)."""
    prop = taper_plan_missing.proposal(facts, ctx) if ctx.hook in ORDER_HOOKS else None
    return prop is not None and prop.schedule is not None


def taper_planned(facts: PatientFacts, ctx: RuleContext) -> bool:
    """A taper plan is being proposed in this call (same predicate as taper-plan-missing)."""
    return ctx.hook in ORDER_HOOKS and taper_plan_missing.is_applicable(facts)


def inclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    return in_taper(facts) or taper_planned(facts, ctx)


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or facts.restriction_flag is not None


def is_applicable(facts: PatientFacts, ctx: RuleContext) -> bool:
    return inclusion_criteria(facts, ctx) and not exclusion_criteria(facts)


def restriction_period(facts: PatientFacts, ctx: RuleContext) -> tuple[date, date | None]:
    """(start, end) of the proposed Flag: today until the taper's end + margin; end None if unknown."""
    if in_taper(facts):
        end = taper_end(facts.taper_plan)
    else:
        prop = taper_plan_missing.proposal(facts, ctx)
        end = prop.schedule.end if prop is not None and prop.schedule is not None else None
    if end is None:
        return ctx.today, None
    return ctx.today, max(end, ctx.today) + timedelta(days=ctx.settings.restriction_margin_days)


def restriction_flag(facts: PatientFacts, ctx: RuleContext, start: date, end: date | None) -> NewRestrictionFlag:
    """The Flag to register: the patient's, by the physician responsible for the taper [RJL "Vilka krav
    kan jag som läkare ställa?": one prescriber]."""
    author, name = responsible_physician(facts, ctx)
    return NewRestrictionFlag(
        patient_ref=ctx.patient_ref or f"Patient/{facts.patient_id}",
        author_ref=author,
        author_display=name,
        start=start,
        end=end,
    )


@dataclass(frozen=True)
class Restriction:
    """What the card says: the taper's state and the period proposed for the restriction."""

    running: bool  # a taper is running (else: being planned in this call)
    end: date | None  # the proposed Flag's end; None: open-ended, the taper's end unknown
    margin_days: int  # settings.restriction_margin_days, added to the taper's end
    unsure: bool  # the flags could not be read: no restriction was *found*, not "none registered"
    by_taper_suggestion: bool  # the proposed taper's suggestion registers the restriction itself


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    start, end = restriction_period(facts, ctx)
    running = in_taper(facts)
    by_taper = not running and taper_suggested(facts, ctx)
    fact_map: dict[str, Any] = {
        "taperRunning": running,
        "restrictionStart": start.isoformat(),
        "restrictionEnd": end.isoformat() if end else None,
        "restrictionMarginDays": ctx.settings.restriction_margin_days,
    }
    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            guideline=RJL,
            section="Vilka krav kan jag som läkare ställa?",
            facts=fact_map,
            data=Restriction(running=running, end=end, margin_days=ctx.settings.restriction_margin_days,
                             unsure="flags" in facts.data_gaps, by_taper_suggestion=by_taper),
            proposals=() if by_taper else (restriction_flag(facts, ctx, start, end),),
            override_reasons=("restriction-exists", "patient-declines", "clinical-judgement"),
        )
    ]
