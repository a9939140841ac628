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

On patient-view only a running taper counts: nothing is being proposed there.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from cds_service.domain.model import PatientFacts

from cds_service.rules import taper_plan_missing
from cds_service.domain.hooks import ORDER_HOOKS, PATIENT_VIEW
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Action, Finding, RuleContext, Suggestion
from cds_service.rules.proposals import NewRestrictionFlag
from cds_service.rules.common import fmt_date, in_taper, loc, localized, responsible_physician, taper_end

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


def _suggestion(facts: PatientFacts, ctx: RuleContext, start: date, end: date | None) -> Suggestion:
    author, name = responsible_physician(facts, ctx)
    flag = NewRestrictionFlag(
        patient_ref=ctx.patient_ref or f"Patient/{facts.patient_id}",
        author_ref=author,
        author_display=name,
        start=start,
        end=end,
    )
    return Suggestion(
        label=loc("Registrera förskrivningsrestriktion", "Register prescribing restriction"),
        actions=(
            Action(
                "create",
                loc(
                    "Uppmärksamhetssignal med förskrivningsrestriktion",
                    "Alert with prescribing restriction",
                ),
                proposal=flag,
            ),
        ),
        is_recommended=True,
    )


def _detail(facts: PatientFacts, ctx: RuleContext, end: date | None, lang: str) -> str:
    running = in_taper(facts)
    # Without the flags we only know that no restriction was *found* (data gap): say so.
    unsure = "flags" in facts.data_gaps
    margin = ctx.settings.restriction_margin_days
    if lang == "sv":
        state = "Nedtrappning pågår" if running else "Nedtrappning planeras"
        period = (
            f"från i dag till {fmt_date(end, lang)} (nedtrappningens slut + {margin} dagar)"
            if end
            else "från i dag, utan slutdatum – nedtrappningens slut är okänt; ange slutdatum"
        )
        missing = ("ingen förskrivningsrestriktion hittades (uppmärksamhetssignaler kunde inte hämtas)" if unsure
                   else "ingen förskrivningsrestriktion är registrerad")
        return (
            f"**{state} men {missing}.** Registrera en "
            "uppmärksamhetssignal med förskrivningsrestriktion så att vårdgivare inom och utanför regionen "
            "ser att opioider bara förskrivs av ansvarig läkare.\n\n"
            f"- **Förslag:** restriktion {period}.\n"
            + ("- Förslaget *Skapa nedtrappningsplan* registrerar restriktionen för den takt du väljer, "
               "efter patientens samtycke.\n" if not running and taper_suggested(facts, ctx) else "")
            + "- Patientens samtycke till signalen är ett krav för att erbjuda skonsam nedtrappning i "
            "stället för tvärt avbrott."
        )
    state = "A taper is running" if running else "A taper is being planned"
    period = (
        f"from today until {fmt_date(end, lang)} (taper end + {margin} days)"
        if end
        else "from today, open-ended – the taper's end is unknown; set an end date"
    )
    missing = ("no prescribing restriction was found (alerts could not be retrieved)" if unsure
               else "no prescribing restriction is registered")
    return (
        f"**{state} but {missing}.** Register an alert with a prescribing "
        "restriction so that care providers inside and outside the region see that opioids are "
        "prescribed only by the responsible physician.\n\n"
        f"- **Proposal:** restriction {period}.\n"
        + ("- The suggestion *Create taper plan* registers the restriction for the pace you pick, with the "
           "patient's consent.\n" if not running and taper_suggested(facts, ctx) else "")
        + "- The patient's consent to the alert is a requirement for offering a gentle taper instead of an "
        "abrupt stop."
    )


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    start, end = restriction_period(facts, ctx)
    running = in_taper(facts)
    summary = (
        loc(
            "Nedtrappning pågår utan förskrivningsrestriktion – registrera uppmärksamhetssignal",
            "Taper running without a prescribing restriction – register an alert",
        )
        if running
        else loc(
            "Nedtrappning planeras – registrera förskrivningsrestriktion",
            "Taper being planned – register a prescribing restriction",
        )
    )
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
            summary=summary,
            detail=localized(lambda lang: _detail(facts, ctx, end, lang)),
            guideline=RJL,
            section="Vilka krav kan jag som läkare ställa?",
            facts=fact_map,
            # A proposed taper's suggestion registers the restriction for the pace the physician picks
            # (taper-plan-missing); a second Flag here would end on another day.
            suggestions=(_suggestion(facts, ctx, start, end),) if running or not taper_suggested(facts, ctx) else (),
            override_reasons=("restriction-exists", "patient-declines", "clinical-judgement"),
        )
    ]
