"""Where the patient's taper stands: whether one runs, today's step, its end, the tapered ingredient,
the record's daily dose of it, the failed tapers, the progress of the running one, the responsible
physician (clinical-rules §2, §3). Pure functions of domain values."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds_service.domain.model import (
    DailyDose,
    DoseStep,
    PatientFacts,
    TaperPlan,
)
from cds_service.domain.problems import Problem
from cds_service.domain.regimen import daily_dose as regimen_daily_dose
from cds_service.rules.drafts import draft_opioids, same_reference
from cds_service.rules.finding import RuleContext


def in_taper(facts: PatientFacts) -> bool:
    """A taper is running: the record holds an active taper plan (``facts.taper_plan``)."""
    return facts.taper_plan is not None


def today_step(plan: TaperPlan | None, day: date) -> DoseStep | None:
    """The plan's step in effect on ``day``; None before the first step or when dates are missing."""
    if plan is None:
        return None
    return plan.step_on(day)


def taper_end(plan: TaperPlan | None) -> date | None:
    """The plan's end: ``plan.end``, else the last step's end, else None (unknown)."""
    if plan is None:
        return None
    if plan.end is not None:
        return plan.end
    ends = [s.end for s in plan.steps if s.end is not None]
    if ends and len(ends) == len(plan.steps):
        return max(ends)
    return None


def tapered_ingredient(facts: PatientFacts) -> str | None:
    """The ingredient being tapered: the plan's, else the only opioid ingredient the record's current
    regimen holds, else None."""
    plan = facts.taper_plan
    if plan is not None and plan.ingredient:
        return plan.ingredient
    ingredients = {o.drug.ingredient for o in facts.regimen.record_opioids if o.drug.ingredient}
    if len(ingredients) == 1:
        return next(iter(ingredients))
    return None


def current_daily_dose(facts: PatientFacts, ingredient: str | None, *, fixed_only: bool = False) -> DailyDose:
    """The record's daily dose of ``ingredient`` in the current regimen (before this call's drafts).

    Summed over its orders: as-needed orders at their maximum (RJL "Praktiska tips": the total daily
    dose including PRN doses), or — ``fixed_only`` — the regular dose alone, the one a taper starts
    from. Unknown (amount None, with a problem) when no order of that ingredient is current, when any
    part is unknown, or when the units differ — never a partial sum (:func:`cds_service.domain.regimen.daily_dose`).
    """
    return regimen_daily_dose(facts.regimen.record, ingredient, fixed_only=fixed_only)


def opioid_ingredients(facts: PatientFacts) -> list[str]:
    """Distinct opioid ingredients of the current regimen (drafts applied), in first-seen order.

    An opioid whose ingredient is unknown counts under its display name, so that "several opioids"
    is never missed because one could not be identified.
    """
    seen: list[str] = []
    for order in facts.regimen.opioids:
        key = order.drug.ingredient or order.drug.display
        if key not in seen:
            seen.append(key)
    return seen


def responsible_physician(facts: PatientFacts, ctx: RuleContext) -> tuple[str | None, str | None]:
    """(reference, name) of the physician responsible for the taper [RJL "Vilka krav kan jag som läkare
    ställa?": one prescriber]: a running plan's author; for a taper proposed now, the ordering
    physician (``context.userId``), named by the draft's requester display when it is the same person."""
    plan = facts.taper_plan
    if plan is not None:
        return plan.author, plan.author_display
    draft = next(iter(draft_opioids(facts)), None)
    ref = ctx.user_ref or (draft.requester if draft else None)
    name = None
    if draft is not None and draft.requester_display and (
        ctx.user_ref is None or same_reference(draft.requester, ctx.user_ref) is not False
    ):
        name = draft.requester_display
    return ref, name


def failed_tapers(facts: PatientFacts) -> tuple[TaperPlan, ...]:
    return tuple(p for p in facts.previous_tapers if p.outcome == "failed")


@dataclass(frozen=True)
class TaperProgress:
    plan: TaperPlan
    today: date
    step: DoseStep | None  # the step in effect today (None before the start or after the end)
    step_number: int | None  # 1-based position among the plan's steps
    steps: int
    target: float | None  # today's planned daily dose (0 after the last step; None before the start)
    unit: str | None
    next_step: DoseStep | None
    last_end: date | None  # the schedule's last day
    current: float | None  # record's daily dose of the tapered ingredient in effect today
    current_problem: Problem | None  # why ``current`` is unknown, or why it cannot be compared

    @property
    def running(self) -> bool:
        return self.step is not None

    @property
    def ended(self) -> bool:
        return self.step is None and self.last_end is not None and self.today > self.last_end

    @property
    def stalled(self) -> bool | None:
        """Current dose still above today's step: True / False / None (cannot be decided)."""
        if self.target is None or self.current is None:
            return None
        return self.current > self.target + 1e-9


def taper_progress(facts: PatientFacts, today: date) -> TaperProgress | None:
    """Where the active taper plan stands today, or None when there is no active plan.

    ``current`` is the record's daily dose of the tapered ingredient prescribed for today — the current
    regimen's orders whose supply covers today (an honest sum, unknown when any part is unknown); a unit that
    differs from the plan's makes the comparison impossible (``current`` None, with a problem).
    """
    plan = facts.taper_plan
    if plan is None:
        return None
    steps = tuple(plan.steps)
    step = today_step(plan, today)
    number = steps.index(step) + 1 if step is not None and step in steps else None
    last_end = taper_end(plan)
    unit = step.daily_dose.unit if step else (steps[0].daily_dose.unit if steps else None)
    if step is not None:
        target = step.daily_dose.amount
    elif last_end is not None and today > last_end:
        target = 0.0  # the schedule ends at zero
    else:
        target = None  # before the start, or dates missing
    later = [s for s in steps if s.start and s.start > today]
    nxt = min(later, key=lambda s: s.start or date.min) if later else None  # later: every start is set

    # Only prescriptions whose supply covers today say whether the taper follows the plan: the last
    # step's order runs out on the day the next step starts, and that is the plan, not a stall.
    covering = [o for o in facts.regimen.record
                if o.supply_end is None or o.supply_end > today]
    record = regimen_daily_dose(covering, tapered_ingredient(facts))
    current, problem = record.amount, record.problem
    if current is not None and unit and record.unit != unit:
        current, problem = None, Problem("record-unit-differs")
    return TaperProgress(
        plan=plan,
        today=today,
        step=step,
        step_number=number,
        steps=len(steps),
        target=target,
        unit=unit,
        next_step=nxt,
        last_end=last_end,
        current=current,
        current_problem=problem,
    )
