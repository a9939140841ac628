"""Where a proposed taper starts: the dose, the default schedule and its alternative paces.

Source: [RJL "När behövs nedtrappning?"] (pace by prior exposure); [RJL "Praktiska tips och trix"]
(a depot formulation of the same opioid; the real consumption of the as-needed doses); [RJL "Allmänna
principer och viktigt att tänka på"] (never a dose increase); clinical-rules §2, §3.

When a renewal needs a taper plan (taper-plan-missing), Then
  - the taper starts from the fixed daily dose of the drafted ingredient in the current regimen (what
    the patient takes regularly today), else the draft's fixed dose; never from the as-needed maxima on
    top of it: depot 20 mg × 2 plus 5 mg as needed starts at 40 mg/dygn, not 60;
  - the default schedule has the exposure's pace and starts today (``cds_service.domain.taper``);
  - one faster and one slower pace are offered beside it, each only when its schedule differs;
  - no schedule is made when the dose or the opioid is unknown, or the strengths cannot give it: the
    reason is one of ``NO_SCHEDULE``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.domain.model import UG_PER_H, DailyDose, Form, MedicationOrder, PatientFacts
from cds_service.domain.problems import Problem
from cds_service.domain.taper import Pace, TaperSchedule, taper_schedule
from cds_service.rules.taper_state import current_daily_dose
from cds_service.rules.drafts import draft_opioids
from cds_service.rules.finding import RuleContext

# Paces from fastest to slowest; tramadol's own pace (4 weeks per step) sits with the slow one.
_PACE_ORDER = ("fast", "weekly", "slow")
_PACE_RANK = {"fast": 0, "weekly": 1, "slow": 2, "tramadol": 2}

#: Why no schedule could be made: the start dose's reasons, then the schedule's own warnings that
#: leave it without steps (cds_service.domain.taper).
NO_SCHEDULE = ("no-dose", "prn-only", "no-ingredient", "dose-below-smallest-strength", "no-strengths-known",
               "unit-mismatch", "dose-implausible")


@dataclass(frozen=True)
class TaperProposal:
    """What taper-plan-missing proposes for one patient: the drafted drug, the dose the taper starts
    from and the default schedule (None when there is none, ``problem`` saying why), plus alternative
    paces."""

    draft: MedicationOrder
    ingredient: str | None
    dose: DailyDose  # the daily dose the schedule starts from (unknown: amount None)
    dose_basis: str  # "record" | "draft" | "prn-only" | "unknown"
    schedule: TaperSchedule | None
    alternatives: tuple[tuple[str, TaperSchedule], ...] = ()  # ("faster" | "slower", schedule)
    problem: str | None = None  # one of NO_SCHEDULE when there is no schedule


def starting_dose(facts: PatientFacts, draft: MedicationOrder) -> tuple[DailyDose, str]:
    """The daily dose the taper starts from and where it came from ("record" | "draft" |
    "prn-only" | "unknown").

    The fixed daily dose, never the as-needed maxima on top of it: a taper must not start above what
    the patient takes regularly [RJL "Praktiska tips och trix": map the real consumption of the
    as-needed doses; clinical-rules §3]. The record's current regimen is preferred (what the patient
    takes today); it is used only when its unit matches the draft's (a patch is not tapered from
    tablets). When the patient takes the opioid only as needed there is no regular dose to start
    from: "prn-only", no schedule until the consumption is known.
    """
    ingredient = draft.drug.ingredient
    record = current_daily_dose(facts, ingredient, fixed_only=True)
    unit_fits = record.known and (draft.daily_dose.unit is None or record.unit == draft.daily_dose.unit)
    if unit_fits and record.amount:
        return record, "record"
    fixed = draft.daily_dose.fixed_amount
    if fixed:
        return DailyDose(fixed, draft.daily_dose.unit, basis=draft.daily_dose.basis), "draft"
    if (unit_fits and record.amount == 0) or (fixed == 0 and not record.known):
        return DailyDose(None, None, basis="unknown", problem=Problem("prn-only")), "prn-only"
    problem = draft.daily_dose.problem or record.problem or Problem("dose-unknown")
    return DailyDose(None, None, basis="unknown", problem=problem), "unknown"


def dose_source(facts: PatientFacts, ingredient: str | None) -> str:
    """Where the record's dose came from, as the physician will look for it: prescriptions ("orders"),
    the medication list ("list"), or — with no prescription in the record — what the pharmacy
    dispensed ("dispensings")."""
    kinds = {o.resource_type for o in facts.regimen.record if o.drug.is_opioid and o.drug.ingredient == ingredient}
    if kinds == {"MedicationDispense"}:
        return "dispensings"
    return "list" if kinds == {"MedicationStatement"} else "orders"


def read_from_text(facts: PatientFacts, prop: TaperProposal) -> tuple[MedicationOrder, ...]:
    """The orders of the tapered ingredient whose dose was read from a dosage written in words: the
    physician checks the start dose against them."""
    return tuple(o for o in (*facts.regimen.record, prop.draft)
                 if o.drug.ingredient == prop.ingredient and o.daily_dose.basis == "free-text")


def schedule_for(draft: MedicationOrder, dose: DailyDose, facts: PatientFacts, ctx: RuleContext,
                 pace: Pace | None = None) -> TaperSchedule:
    form = draft.drug.form if draft.drug.form is not Form.UNKNOWN else (
        Form.PATCH if dose.unit == UG_PER_H else Form.DEPOT
    )
    return taper_schedule(
        ingredient=draft.drug.ingredient,
        form=form,
        daily_dose=dose.amount,
        unit=dose.unit,
        exposure=facts.episode.exposure,
        start=ctx.today,
        pace=pace,
        companions=draft.drug.companions,  # oxycodone/naloxone stays oxycodone/naloxone [RJL "Praktiska tips och trix"]
    )


def pace_value(schedule: TaperSchedule | None) -> str:
    pace = getattr(schedule, "pace", None)
    return getattr(pace, "value", pace) or ""


def _signature(schedule: TaperSchedule) -> tuple:
    return tuple((s.daily_dose, s.days) for s in schedule.steps)


def alternatives(draft: MedicationOrder, dose: DailyDose, facts: PatientFacts, ctx: RuleContext,
                 default: TaperSchedule) -> tuple[tuple[str, TaperSchedule], ...]:
    """One faster and one slower pace than the default, kept only when the schedule differs."""
    rank = _PACE_RANK.get(pace_value(default), 1)
    wanted = []
    if rank > 0:
        wanted.append(("faster", _PACE_ORDER[rank - 1]))
    if pace_value(default) == "tramadol":
        wanted.append(("slower", "slow"))
    elif rank < len(_PACE_ORDER) - 1:
        wanted.append(("slower", _PACE_ORDER[rank + 1]))
    found = []
    for direction, pace in wanted:
        try:
            alt = schedule_for(draft, dose, facts, ctx, pace=Pace(pace))
        except (ValueError, KeyError):
            continue
        if alt.steps and _signature(alt) != _signature(default):
            found.append((direction, alt))
    return tuple(found)


def taper_proposal(facts: PatientFacts, ctx: RuleContext) -> TaperProposal:
    """The taper for the first drafted opioid (the caller has decided that one is needed)."""
    draft = draft_opioids(facts)[0]
    dose, basis = starting_dose(facts, draft)
    if not draft.drug.ingredient:
        return TaperProposal(draft, None, dose, basis, None, (), "no-ingredient")
    if not dose.known:
        reason = "prn-only" if basis == "prn-only" else "no-dose"
        return TaperProposal(draft, draft.drug.ingredient, dose, basis, None, (), reason)
    try:
        schedule = schedule_for(draft, dose, facts, ctx)
    except (ValueError, KeyError):  # a malformed strengths table; the schedule itself never raises
        return TaperProposal(draft, draft.drug.ingredient, dose, basis, None, (), "no-strengths-known")
    if not schedule.steps:
        reason = next((w for w in schedule.warnings if w in NO_SCHEDULE), "no-strengths-known")
        return TaperProposal(draft, draft.drug.ingredient, dose, basis, None, (), reason)
    return TaperProposal(draft, draft.drug.ingredient, dose, basis, schedule,
                         alternatives(draft, dose, facts, ctx, schedule))


def formulation_switch(prop: TaperProposal) -> dict[str, Any] | None:
    """What the schedule gives that differs from the patient's product: another combination (an
    ingredient left out or added) or another form; None when it keeps the product as it is.

    [RJL "Praktiska tips och trix"]: taper with a depot formulation of the opioid the patient uses — a
    switch to depot is the guideline's, a combination the strengths table lacks (paracetamol/codeine for
    acetylsalicylic acid/codeine) is the table's; either is said on the card, never made silently.
    """
    schedule, drug = prop.schedule, prop.draft.drug
    if schedule is None:
        return None
    had, gets = set(drug.companions), set(schedule.combination)
    form_changes = drug.form not in (Form.UNKNOWN, schedule.form)
    if had == gets and not form_changes:
        return None
    return {"from": drug.display, "fromForm": drug.form.value, "to": schedule.display or schedule.ingredient,
            "toForm": schedule.form.value, "leftOut": sorted(had - gets), "added": sorted(gets - had)}
