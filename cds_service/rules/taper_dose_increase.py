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
  - Suggestion (decision): an *update* of the draft to today's step (``DoseStepChange``), split evenly
    morning and evening, offered only when the step is givable with the draft's tablet strength (oral,
    mg, strength known; the card layer writes it into the draft as sent, and leaves the suggestion out
    without it); when the plan has ended (step 0), a *delete* of the draft.
    Otherwise the advice is text only (patches, unknown strength): an invented dosage would be
    worse than none.
When a comparison needs an unknown part (draft dose unknown, step dose unknown, no step for today,
units not comparable) and nothing is shown to rise, an info card says the check could not be done.
"""
from __future__ import annotations

from datetime import date

from cds_service.domain.problems import Problem

from dataclasses import dataclass
from typing import Any

from cds_service.domain.model import MG, DoseStep, Form, MedicationOrder, PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Action, Finding, RuleContext, Suggestion
from cds_service.rules.proposals import DoseStepChange
from cds_service.rules.common import (
    current_daily_dose,
    draft_opioids,
    draft_reference,
    fmt_daily_dose,
    in_taper,
    ingredient_name,
    loc,
    tapered_ingredient,
    today_step,
)

TOPIC = "taper-dose-increase"
HOOKS = ORDER_HOOKS

_EPS = 1e-6


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
    problem: Problem | str | None = None  # why it could not be decided: the mapping's Problem, or this rule's (English)

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


def _resulting_amount(draft: MedicationOrder, facts: PatientFacts, unit: str | None) -> tuple[float | None, float, Problem | str | None]:
    """(draft + other forms of the same ingredient in effect, the added part, problem).

    A draft is taken to *replace* the record's order of the same ingredient and form (a renewal)
    and to *add to* orders of other forms (immediate-release on top of depot): RJL counts the
    total daily dose including as-needed doses.
    """
    if not draft.daily_dose.known:
        return None, 0.0, draft.daily_dose.problem or "draft daily dose unknown"
    if draft.daily_dose.unit != unit:
        return None, 0.0, "draft and plan in different units"
    extras = [
        o for o in facts.regimen.record_opioids
        if o.drug.ingredient == draft.drug.ingredient and o.drug.form != draft.drug.form and o.id != draft.id
    ]
    added = 0.0
    for o in extras:
        if not o.daily_dose.known:
            return None, 0.0, "daily dose of another order of the same opioid unknown"
        if o.daily_dose.unit != unit:
            return None, 0.0, "draft and plan in different units"
        added += o.daily_dose.amount or 0.0
    return (draft.daily_dose.amount or 0.0) + added, added, None


def compare(draft: MedicationOrder, facts: PatientFacts, ctx: RuleContext) -> Comparison:
    tapered = tapered_ingredient(facts)
    ingredient = draft.drug.ingredient
    if ingredient is None or tapered is None:
        return Comparison(draft, "step", None, None, problem="ingredient of draft or taper unknown")
    if ingredient == tapered:
        step, ended = allowed_step(facts, ctx)
        if ended:
            # The plan has run out: any amount of the tapered opioid is above today's dose (0).
            return Comparison(draft, "step", 0.0, draft.daily_dose.unit, amount=draft.daily_dose.amount,
                              plan_ended=True, new_opioid=True)
        if step is None:
            return Comparison(draft, "step", None, None, problem="no step of the plan for today")
        if not step.daily_dose.known:
            return Comparison(draft, "step", None, None, step=step, problem="dose of today's step unknown")
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
                          problem=draft.daily_dose.problem or "draft daily dose unknown")
    if draft.daily_dose.unit != current.unit:
        return Comparison(draft, "other", current.amount, current.unit,
                          problem="draft and current order in different units")
    return Comparison(draft, "other", current.amount, current.unit, amount=draft.daily_dose.amount)


def inclusion_criteria(facts: PatientFacts) -> bool:
    return in_taper(facts) and bool(draft_opioids(facts))


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


# ---------------------------------------------------------------------------------------------------
# Suggestion


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


def _update_to_step(c: Comparison) -> Suggestion | None:
    if c.plan_ended:
        ref = draft_reference(c.draft)
        if not ref:
            return None
        return Suggestion(
            label=loc("Ta bort ordinationen – nedtrappningen är avslutad", "Remove the order – the taper has ended"),
            actions=(Action("delete", loc("Ta bort utkastet", "Remove the draft"), resource_id=ref),),
        )
    change = dose_step_change(c)
    if change is None:
        return None
    return Suggestion(
        label=loc(
            f"Behåll dagens dos-steg: {fmt_daily_dose(change.daily_dose, MG, 'sv')}",
            f"Keep today's dose step: {fmt_daily_dose(change.daily_dose, MG, 'en')}",
        ),
        actions=(
            Action(
                "update",
                loc(
                    f"Ändra utkastet till {fmt_daily_dose(change.daily_dose, MG, 'sv')} (dagens dos-steg)",
                    f"Change the draft to {fmt_daily_dose(change.daily_dose, MG, 'en')} (today's dose step)",
                ),
                proposal=change,
            ),
        ),
        is_recommended=True,
    )


# ---------------------------------------------------------------------------------------------------
# Text


def _line(c: Comparison, lang: str) -> str:
    name = ingredient_name(c.draft.drug.ingredient, lang)
    draft = fmt_daily_dose(c.draft.daily_dose.amount, c.draft.daily_dose.unit, lang)
    if not c.draft.daily_dose.known:
        draft = f"({draft})"
    if c.added and c.amount is not None:
        total = fmt_daily_dose(c.amount, c.unit, lang)
        other = fmt_daily_dose(c.added, c.unit, lang)
        draft = (f"{draft} utöver {other} i annan beredning = {total}" if lang == "sv"
                 else f"{draft} on top of {other} in another form = {total}")
    allowed = fmt_daily_dose(c.allowed, c.unit, lang)
    sv = lang == "sv"
    if c.kind == "step":
        if c.plan_ended:
            return (f"{name} {draft} – nedtrappningen är enligt planen avslutad (dagens dos 0)." if sv
                    else f"{name} {draft} – per the plan the taper has ended (today's dose 0).")
        number = c.step.sequence if c.step else "?"
        return (f"{name} {draft} – dagens dos-steg ({number}) är {allowed}." if sv
                else f"{name} {draft} – today's dose step ({number}) is {allowed}.")
    if c.allowed == 0:
        return (f"{name} {draft} – ny opioid under nedtrappningen; total MEDD ökar." if sv
                else f"{name} {draft} – a new opioid during the taper; total MEDD rises.")
    return (f"{name} {draft} – i dag {allowed}; total MEDD ökar." if sv
            else f"{name} {draft} – today {allowed}; total MEDD rises.")


def _summary(c: Comparison) -> dict[str, str]:
    if c.plan_ended:
        return loc(
            "Öka aldrig dosen: nedtrappningen är enligt planen avslutad (dagens dos 0)",
            "Never increase the dose: per the plan the taper has ended (today's dose 0)",
        )
    if c.kind == "other":
        return loc(
            f"Öka aldrig dosen under pågående nedtrappning: {ingredient_name(c.draft.drug.ingredient, 'sv')} "
            "höjer total MEDD",
            f"Never increase the dose during a taper: {ingredient_name(c.draft.drug.ingredient, 'en')} "
            "raises the total MEDD",
        )
    return loc(
        f"Öka aldrig dosen under pågående nedtrappning: utkastet ger mer än dagens steg "
        f"({fmt_daily_dose(c.allowed, c.unit, 'sv')})",
        f"Never increase the dose during a taper: the draft exceeds today's step "
        f"({fmt_daily_dose(c.allowed, c.unit, 'en')})",
    )


def _undecided_line(c: Comparison, lang: str) -> str:
    name = ingredient_name(c.draft.drug.ingredient, lang)
    reasons_sv = {
        "no step of the plan for today": "planen saknar dos-steg med datum för i dag",
        "dose of today's step unknown": "dagens dos-steg saknar läsbar dos",
        "draft and step in different units": "utkastet och planen anger dosen i olika enheter",
        "draft and current order in different units": "utkastet och aktuell ordination har olika enheter",
        "ingredient of draft or taper unknown": "substansen i utkastet eller planen är okänd",
    }
    if lang == "sv":
        # This rule's own reasons have Swedish words here; a dose the mapping could not read is said plainly.
        reason = (reasons_sv.get(c.problem, "dygnsdosen kunde inte läsas ut") if isinstance(c.problem, str)
                  else "dygnsdosen kunde inte läsas ut")
        return f"{name}: kunde inte jämföras – {reason}."
    return f"{name}: could not be compared – {c.problem}."


def _step_advice(exceeding: list[Comparison], lang: str) -> str:
    steps = [c for c in exceeding if c.kind == "step" and c.step is not None]
    if steps:
        dose = fmt_daily_dose(steps[0].allowed, steps[0].unit, lang)
        return (f"Om abstinensen är för svår: förläng i stället nuvarande dos-steg ({dose}) en eller några veckor."
                if lang == "sv"
                else f"If withdrawal is too hard: extend the current dose step ({dose}) by a week or more instead.")
    return ("Om abstinensen är för svår: förläng i stället nuvarande dos-steg en eller några veckor; lägg inte "
            "till någon opioid." if lang == "sv"
            else "If withdrawal is too hard: extend the current dose step by a week or more; add no opioid.")


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    comparisons = [compare(d, facts, ctx) for d in draft_opioids(facts)]
    exceeding = [c for c in comparisons if c.exceeds]
    undecided = [c for c in comparisons if not c.decided]
    first = exceeding[0] if exceeding else undecided[0] if undecided else None
    today, ended = allowed_step(facts, ctx)
    fact_map: dict[str, Any] = {
        "taperedIngredient": tapered_ingredient(facts),
        "todayStepNumber": today.sequence if today else None,
        "todayStepDose": 0.0 if ended else (today.daily_dose.amount if today else None),
        "draftDailyDose": first.draft.daily_dose.amount if first else None,
        "resultingDailyDose": first.amount if first else None,
        "unit": first.draft.daily_dose.unit if first else None,
        "planEnded": ended,
        "decided": not undecided,
    }
    if exceeding:
        suggestions = tuple(s for s in (_update_to_step(c) for c in exceeding[:1]) if s is not None)
        c = exceeding[0]
        summary = _summary(c)
        detail = {
            lang: (
                ("**Öka aldrig dosen under pågående nedtrappning.** Utkastet ger mer opioid än planen tillåter i dag."
                 if lang == "sv" else
                 "**Never increase the dose during a taper.** The draft gives more opioid than the plan allows today.")
                + "\n\n"
                + "\n".join(f"- {_line(x, lang)}" for x in exceeding)
                + f"\n- {_step_advice(exceeding, lang)}\n- "
                + ("Vid ökad smärta: se över övrig smärtbehandling; i svåra fall kontakta smärtenhet."
                   if lang == "sv" else
                   "If pain increases: review other pain treatment; in hard cases contact the pain unit.")
            )
            for lang in ("sv", "en")
        }
        return [
            Finding(
                topic=TOPIC,
                indicator="critical",
                summary=summary,
                detail=detail,
                guideline=RJL,
                section="Allmänna principer och viktigt att tänka på",
                facts=fact_map,
                suggestions=suggestions,
                override_reasons=("dose-per-plan", "data-incorrect", "clinical-judgement"),
            )
        ]
    if undecided:
        detail = {
            lang: (
                ("**Kunde inte kontrollera att dosen inte ökar.** Nedtrappning pågår; jämför utkastet med dagens "
                 "dos-steg innan du signerar." if lang == "sv" else
                 "**Could not check that the dose does not rise.** A taper is running; compare the draft with "
                 "today's dose step before signing.")
                + "\n\n"
                + "\n".join(f"- {_undecided_line(x, lang)}" for x in undecided)
            )
            for lang in ("sv", "en")
        }
        return [
            Finding(
                topic=TOPIC,
                indicator="info",
                summary=loc(
                    "Nedtrappning pågår – kunde inte kontrollera att utkastet inte ökar dosen",
                    "Taper running – could not check that the draft does not raise the dose",
                ),
                detail=detail,
                guideline=RJL,
                section="Allmänna principer och viktigt att tänka på",
                facts=fact_map,
                override_reasons=("dose-per-plan", "data-incorrect"),
            )
        ]
    return []
