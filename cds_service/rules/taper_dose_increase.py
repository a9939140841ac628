"""taper-dose-increase — a draft opioid order raises the dose during a running taper.

Source: [RJL "Allmänna principer och viktigt att tänka på"] "Öka aldrig dosen under en pågående
nedtrappning! Om abstinensen upplevs för jobbig på ett visst dos-steg kan steget istället förlängas
någon extra vecka"; [RJL "Vilka krav kan jag som läkare ställa?"]; clinical-rules §2–§3.

When
  - a taper is running (active taper plan), and
  - a draft opioid order is part of the hook call, and
  - the patient is not excluded, and
  - the draft raises the opioid dose:
      * a draft of the tapered ingredient whose daily dose exceeds today's step of the plan
        (before the first step: the first step; after the last step: 0 — the plan has ended), or
      * a draft of another opioid whose daily dose exceeds what the record has in effect of that
        opioid today (none in effect: 0) — this raises the total MEDD
Then
  - critical: "Öka aldrig dosen under pågående nedtrappning"; extend the current step instead.
  - Proposal: an *update* of the draft to today's step (``DoseStepChange``), split evenly morning and
    evening, only when the step is givable with the draft's tablet strength (oral, mg, strength known;
    the card layer writes it into the draft as sent, and leaves the suggestion out without it); when
    the plan has ended (step 0), a *delete* of the draft. Otherwise the advice is text only (patches,
    unknown strength): an invented dosage would be worse than none.
When a comparison needs an unknown part (draft dose unknown, step dose unknown, no step for today,
units not comparable) and nothing is shown to rise, an info card says the check could not be done.
The card's words and its suggestion: cds_service/cards/taper_dose_increase.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

from cds_service.domain.model import MG, DoseStep, Form, MedicationOrder, PatientFacts
from cds_service.domain.problems import Problem

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.proposals import DoseStepChange
from cds_service.rules.taper_state import current_daily_dose, in_taper, tapered_ingredient, today_step
from cds_service.rules.drafts import draft_opioids, draft_reference

TOPIC = "taper-dose-increase"
HOOKS = ORDER_HOOKS

_EPS = 1e-6


class Reason(Enum):
    """Why this rule could not compare a draft with the taper (the mapping's own reasons are Problems)."""

    INGREDIENT_UNKNOWN = "ingredient-unknown"  # of the draft or of the taper
    NO_STEP_TODAY = "no-step-today"  # the plan has no dated step for today
    STEP_DOSE_UNKNOWN = "step-dose-unknown"  # today's step has no readable dose
    DRAFT_DOSE_UNKNOWN = "draft-dose-unknown"
    OTHER_FORM_DOSE_UNKNOWN = "other-form-dose-unknown"  # another form of the same opioid kept in effect
    UNITS_DIFFER_FROM_PLAN = "units-differ-from-plan"
    UNITS_DIFFER_FROM_CURRENT = "units-differ-from-current"  # draft and the opioid's current order


@dataclass(frozen=True)
class Comparison:
    """One draft opioid against what the taper allows today."""

    draft: MedicationOrder
    kind: str  # "step" (the tapered ingredient) | "other" (another opioid: total MEDD)
    allowed: float | None  # allowed daily dose today, in ``unit``; None = unknown
    unit: str | None
    amount: float | None = None  # the daily dose the draft leads to (draft + what it adds to), in ``unit``
    added: float = 0.0  # part of ``amount`` from other forms of the same ingredient kept in effect
    step: DoseStep | None = None  # the plan's step used (kind "step")
    plan_ended: bool = False  # today is after the plan's last step
    new_opioid: bool = False  # kind "other": an opioid not in effect at all — any amount raises MEDD
    problem: Problem | Reason | None = None  # why it could not be decided: the mapping's, or this rule's

    @property
    def decided(self) -> bool:
        if self.new_opioid:
            return True
        return self.problem is None and self.allowed is not None and self.amount is not None

    @property
    def exceeds(self) -> bool:
        if self.new_opioid:
            return True
        return self.decided and (self.amount or 0.0) > (self.allowed or 0.0) + _EPS


def allowed_step(facts: PatientFacts, ctx: RuleContext) -> tuple[DoseStep | None, bool]:
    """(the step that sets today's ceiling, plan ended?) for the running plan.

    Before the first step: the first step (the plan's highest dose). After the last dated step:
    (None, True) — the plan has run out, the ceiling is 0. No usable dates: (None, False).
    """
    plan = facts.taper_plan
    step = today_step(plan, ctx.today)
    if step is not None or plan is None or not plan.steps:
        return step, False
    dated = [s for s in plan.steps if s.start is not None]
    if not dated:
        return None, False
    first = min(dated, key=lambda s: s.start or date.min)  # dated: every start is set
    if first.start is not None and ctx.today < first.start:
        return first, False
    ends = [s.end for s in plan.steps if s.end is not None]
    if len(ends) == len(plan.steps) and ctx.today > max(ends):
        return None, True
    return None, False


def _resulting_amount(draft: MedicationOrder, facts: PatientFacts, unit: str | None) -> tuple[float | None, float, Problem | Reason | None]:
    """(draft + other forms of the same ingredient in effect, the added part, problem).

    A draft is taken to *replace* the record's order of the same ingredient and form (a renewal)
    and to *add to* orders of other forms (immediate-release on top of depot): RJL counts the
    total daily dose including as-needed doses.
    """
    if not draft.daily_dose.known:
        return None, 0.0, draft.daily_dose.problem or Reason.DRAFT_DOSE_UNKNOWN
    if draft.daily_dose.unit != unit:
        return None, 0.0, Reason.UNITS_DIFFER_FROM_PLAN
    extras = [
        o for o in facts.regimen.record_opioids
        if o.drug.ingredient == draft.drug.ingredient and o.drug.form != draft.drug.form and o.id != draft.id
    ]
    added = 0.0
    for o in extras:
        if not o.daily_dose.known:
            return None, 0.0, Reason.OTHER_FORM_DOSE_UNKNOWN
        if o.daily_dose.unit != unit:
            return None, 0.0, Reason.UNITS_DIFFER_FROM_PLAN
        added += o.daily_dose.amount or 0.0
    return (draft.daily_dose.amount or 0.0) + added, added, None


def compare(draft: MedicationOrder, facts: PatientFacts, ctx: RuleContext) -> Comparison:
    tapered = tapered_ingredient(facts)
    ingredient = draft.drug.ingredient
    if ingredient is None or tapered is None:
        return Comparison(draft, "step", None, None, problem=Reason.INGREDIENT_UNKNOWN)
    if ingredient == tapered:
        step, ended = allowed_step(facts, ctx)
        if ended:
            # The plan has run out: any amount of the tapered opioid is above today's dose (0).
            return Comparison(draft, "step", 0.0, draft.daily_dose.unit, amount=draft.daily_dose.amount,
                              plan_ended=True, new_opioid=True)
        if step is None:
            return Comparison(draft, "step", None, None, problem=Reason.NO_STEP_TODAY)
        if not step.daily_dose.known:
            return Comparison(draft, "step", None, None, step=step, problem=Reason.STEP_DOSE_UNKNOWN)
        amount, added, problem = _resulting_amount(draft, facts, step.daily_dose.unit)
        return Comparison(draft, "step", step.daily_dose.amount, step.daily_dose.unit, amount=amount,
                          added=added, step=step, problem=problem)
    # Another opioid: any amount beyond what is in effect today raises the total MEDD.
    in_effect = [o for o in facts.regimen.record_opioids if o.drug.ingredient == ingredient]
    if not in_effect:
        return Comparison(draft, "other", 0.0, draft.daily_dose.unit, amount=draft.daily_dose.amount,
                          new_opioid=True)
    current = current_daily_dose(facts, ingredient)
    if not current.known:
        return Comparison(draft, "other", None, None, problem=current.problem)
    if not draft.daily_dose.known:
        return Comparison(draft, "other", current.amount, current.unit,
                          problem=draft.daily_dose.problem or Reason.DRAFT_DOSE_UNKNOWN)
    if draft.daily_dose.unit != current.unit:
        return Comparison(draft, "other", current.amount, current.unit,
                          problem=Reason.UNITS_DIFFER_FROM_CURRENT)
    return Comparison(draft, "other", current.amount, current.unit, amount=draft.daily_dose.amount)


def inclusion_criteria(facts: PatientFacts) -> bool:
    return in_taper(facts) and bool(draft_opioids(facts))


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


# ---------------------------------------------------------------------------------------------------
# What the card proposes


def dose_step_change(c: Comparison) -> DoseStepChange | None:
    """Today's step as a change of the draft, or None when it is not givable with the draft's tablets:
    oral mg, strength known, nothing added from another form, half the daily dose a whole number of
    tablets morning and evening. An invented dosage would be worse than none."""
    drug = c.draft.drug
    if (
        c.draft.id is None
        or draft_reference(c.draft) is None
        or c.step is None
        or c.added
        or c.unit != MG
        or drug.form not in (Form.DEPOT, Form.IMMEDIATE)
        or not drug.strength
        or drug.strength_unit not in (None, MG)
        or not c.allowed
    ):
        return None
    per_admin = c.allowed / 2
    tablets = per_admin / drug.strength
    if abs(tablets - round(tablets)) > _EPS or round(tablets) < 1:
        return None  # not givable as whole tablets of this strength: leave the dosage to the physician
    return DoseStepChange(draft_id=c.draft.id, daily_dose=c.allowed, per_admin=per_admin, unit=MG,
                          step_sequence=c.step.sequence, tablets_per_day=2 * round(tablets))


@dataclass(frozen=True)
class Increase:
    """What the card says: the drafts above today's allowance (a critical card), else those that could
    not be compared (an info card), and what it proposes for the first draft above."""

    exceeding: tuple[Comparison, ...]
    undecided: tuple[Comparison, ...]
    change: DoseStepChange | None = None  # bring the draft down to today's step (givable with its tablets)
    remove: str | None = None  # the draft's reference, to delete: the plan has ended (today's dose 0)


def increase(comparisons: list[Comparison]) -> Increase | None:
    """The drafts that raise the dose, or None when every draft was shown to stay within the taper.
    Only the first draft above gets a proposal: one change is what the card's suggestion offers."""
    exceeding = tuple(c for c in comparisons if c.exceeds)
    undecided = tuple(c for c in comparisons if not c.decided)
    if not exceeding:
        return Increase((), undecided) if undecided else None
    first = exceeding[0]
    if first.plan_ended:
        return Increase(exceeding, undecided, remove=draft_reference(first.draft))
    return Increase(exceeding, undecided, change=dose_step_change(first))


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    comparisons = [compare(d, facts, ctx) for d in draft_opioids(facts)]
    found = increase(comparisons)
    if found is None:
        return []
    first = (found.exceeding or found.undecided)[0]
    today, ended = allowed_step(facts, ctx)
    fact_map: dict[str, Any] = {
        "taperedIngredient": tapered_ingredient(facts),
        "todayStepNumber": today.sequence if today else None,
        "todayStepDose": 0.0 if ended else (today.daily_dose.amount if today else None),
        "draftDailyDose": first.draft.daily_dose.amount,
        "resultingDailyDose": first.amount,
        "unit": first.draft.daily_dose.unit,
        "planEnded": ended,
        "decided": not found.undecided,
    }
    return [
        Finding(
            topic=TOPIC,
            indicator="critical" if found.exceeding else "info",
            guideline=RJL,
            section="Allmänna principer och viktigt att tänka på",
            facts=fact_map,
            data=found,
            override_reasons=(("dose-per-plan", "data-incorrect", "clinical-judgement") if found.exceeding
                              else ("dose-per-plan", "data-incorrect")),
        )
    ]
