"""taper-status — where a running taper stands, or follow-up after a recent one (patient-view).

Source: [RJL "Allmänna principer och viktigt att tänka på"] "Tät uppföljning och coaching … vid en kort
avstämning varje vecka", "Öka aldrig dosen under en pågående nedtrappning! … kan steget istället
förlängas", "Uppföljning bör ske även efter utsättning … Den akuta opioidabstinensen är vanligen över
inom 1-2 veckor. I vissa fall kvarstår s.k. post-abstinens i upp till 6 månader … nedstämdhet,
energilöshet och svårigheter att känna lust, motivation och glädje"; clinical-rules §2.

When (patient not excluded)
  - an active taper plan exists and its schedule has not ended → "running" (a step in effect today:
    step n of N, today's dose, next change date and dose, weekly check-in every
    ``settings.follow_up_days`` days) or "planned" (first step still ahead), or
  - a taper ended within ``settings.post_withdrawal_days`` (about 6 months): the active plan's schedule
    is over, or a previous taper ended (outcome not "failed") → "ended": post-withdrawal follow-up
Then
  - info with the status: the step, dose and dates (``Running``, ``Planned``), or the end and what to
    follow up (``Ended``). The card's words: cds_service/cards/taper_status.py.

Decisions: a failed taper is not followed up as post-withdrawal (the patient is likely still on the
opioid; referral cards deal with failures). When the record's dose of the tapered ingredient differs
from today's step, the status says so (the referral-pain-clinic card judges the stall). Only the most
recent ended taper is shown.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds_service.domain.model import DoseStep, PatientFacts, TaperPlan

from cds_service.domain.hooks import PATIENT_VIEW
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.taper_state import taper_end
from cds_service.rules.taper_state import TaperProgress, taper_progress

TOPIC = "taper-status"
HOOKS = frozenset({PATIENT_VIEW})

RUNNING, PLANNED, ENDED = "running", "planned", "ended"


def recent_end(facts: PatientFacts, ctx: RuleContext) -> tuple[TaperPlan, date] | None:
    """The most recent taper that ended within the post-withdrawal window (not failed)."""
    window = ctx.settings.post_withdrawal_days
    candidates = []
    plans = list(facts.previous_tapers)
    if facts.taper_plan is not None:
        plans.append(facts.taper_plan)
    for p in plans:
        end = taper_end(p)
        if p.outcome == "failed" or end is None:
            continue
        if end < ctx.today and (ctx.today - end).days <= window:
            candidates.append((p, end))
    return max(candidates, key=lambda c: c[1]) if candidates else None


def phase(facts: PatientFacts, ctx: RuleContext) -> str | None:
    p = taper_progress(facts, ctx.today)
    if p is not None and p.running:
        return RUNNING
    if p is not None and not p.ended and p.plan.steps and p.plan.steps[0].start and p.plan.steps[0].start > ctx.today:
        return PLANNED
    if recent_end(facts, ctx) is not None:
        return ENDED
    return None


def inclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    return phase(facts, ctx) is not None


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts, ctx: RuleContext) -> bool:
    return inclusion_criteria(facts, ctx) and not exclusion_criteria(facts)


#: Within this many days of the end the acute withdrawal may still be under way: "Den akuta
#: opioidabstinensen är vanligen över inom 1-2 veckor" [RJL "Allmänna principer och viktigt att tänka på"].
ACUTE_WITHDRAWAL_DAYS = 14


@dataclass(frozen=True)
class Running:
    """A step is in effect today: where the taper stands and what comes next."""

    ingredient: str | None
    step_number: int | None
    steps: int
    dose: float | None  # today's step, a day
    unit: str | None
    next_step: DoseStep | None  # None on the last step
    step_end: date | None  # the step in effect today ends (the last step: then stopped)
    plan_end: date | None
    follow_up_days: int  # a short check-in this often (settings.follow_up_days)
    record_dose: float | None  # the record's daily dose, when it differs from today's step
    record_above: bool  # that dose is above today's step (else below)


@dataclass(frozen=True)
class Planned:
    """The plan's first step is still ahead."""

    ingredient: str | None
    start: date | None
    dose: float | None  # the first step's, a day
    unit: str | None
    steps: int
    plan_end: date | None
    follow_up_days: int


@dataclass(frozen=True)
class Ended:
    """A taper ended within the post-withdrawal window: follow up."""

    ingredient: str | None
    ended: date
    days_since: int
    acute: bool  # within ACUTE_WITHDRAWAL_DAYS of the end
    plan_open: bool  # the plan is still active in the record
    still_in_effect: bool  # the record still shows the tapered ingredient in effect


def _running(p: TaperProgress, ctx: RuleContext) -> Running:
    current, target = p.current, p.target
    differs = current is not None and target is not None and not abs(current - target) < 1e-9
    return Running(
        ingredient=p.plan.ingredient, step_number=p.step_number, steps=p.steps, dose=target, unit=p.unit,
        next_step=p.next_step, step_end=p.step.end if p.step else None, plan_end=p.last_end,
        follow_up_days=ctx.settings.follow_up_days, record_dose=current if differs else None,
        record_above=differs and current is not None and target is not None and current > target,
    )


def _planned(p: TaperProgress, ctx: RuleContext) -> Planned:
    first = p.plan.steps[0]
    return Planned(ingredient=p.plan.ingredient, start=first.start, dose=first.daily_dose.amount,
                   unit=first.daily_dose.unit, steps=p.steps, plan_end=p.last_end,
                   follow_up_days=ctx.settings.follow_up_days)


def _ended(facts: PatientFacts, ctx: RuleContext, plan: TaperPlan, end: date) -> Ended:
    since = (ctx.today - end).days
    still = any(plan.ingredient is None or o.drug.ingredient == plan.ingredient for o in facts.regimen.record_opioids)
    return Ended(ingredient=plan.ingredient, ended=end, days_since=since, acute=since <= ACUTE_WITHDRAWAL_DAYS,
                 plan_open=plan.status == "active", still_in_effect=still)


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    ph = phase(facts, ctx)
    p = taper_progress(facts, ctx.today)
    out_facts: dict = {"phase": ph, "followUpDays": ctx.settings.follow_up_days}
    if ph == RUNNING:
        assert p is not None
        data: Running | Planned | Ended = _running(p, ctx)
        out_facts.update(
            stepNumber=p.step_number,
            steps=p.steps,
            todayStepDose=p.target,
            unit=p.unit,
            nextStepDate=p.next_step.start.isoformat() if p.next_step and p.next_step.start else None,
            nextStepDose=p.next_step.daily_dose.amount if p.next_step else None,
            planEnd=p.last_end.isoformat() if p.last_end else None,
            currentDailyDose=p.current,
        )
    elif ph == PLANNED:
        assert p is not None
        data = _planned(p, ctx)
        first = p.plan.steps[0]
        out_facts.update(
            steps=p.steps,
            startDate=first.start.isoformat() if first.start else None,
            startDose=first.daily_dose.amount,
            unit=first.daily_dose.unit,
            planEnd=p.last_end.isoformat() if p.last_end else None,
        )
    else:
        found = recent_end(facts, ctx)
        assert found is not None
        plan, end = found
        data = _ended(facts, ctx, plan, end)
        out_facts.update(endedOn=end.isoformat(), daysSinceEnd=data.days_since, postWithdrawalDays=ctx.settings.post_withdrawal_days)
    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            guideline=RJL,
            section="Allmänna principer och viktigt att tänka på",
            facts=out_facts,
            data=data,
            override_reasons=("follow-up-planned", "data-incorrect"),
        )
    ]
