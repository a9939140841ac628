"""taper-plan-missing — a renewal of ongoing opioid use without a taper plan.

Source: [RJL, opening] "Receptförnyelse innebär samma ansvar som vid insättning";
[RJL "När behövs nedtrappning?"] (pace by prior exposure); [RJL "Vilka krav kan jag som läkare
ställa?"] (the rules the patient agrees to); [RJL "Allmänna principer och viktigt att tänka på"],
[RJL "Praktiska tips och trix"] (depot, dispensing, several opioids); [RJL "Tillfällig
symptomlindrande läkemedelsbehandling"]; clinical-rules §1–§3, §6.

When
  - a draft opioid order is part of the hook call, and
  - it continues the current opioid episode (renewal), and
  - the episode is at least subacute (≥ 14 days), and
  - there is no active taper plan, and
  - the patient is not excluded (cancer, palliative care, LARO, under 18)
Then
  - warn, with the default taper schedule for the drafted drug (pace by exposure; start today,
    ``rules.taper_start``), the pace and why, the projected end (warning beyond ~6 months), the rules
    the patient agrees to, dispensing advice and withdrawal support;
  - suggest "Skapa nedtrappningsplan" (recommended): create the CarePlan and the stepped
    MedicationRequest, remove the renewal draft the taper prescription replaces, end the record's other
    still-valid prescriptions of the opioid (so the old dose cannot be collected beside the schedule:
    "Glöm inte att makulera giltiga recept", [RJL "Praktiska tips och trix"]) and register the
    prescribing restriction; alternative paces (faster / slower, when their schedule differs) as
    further suggestions, at most one chosen (``TaperOption``).
  - When the daily dose cannot be read (neither the record nor the draft): warn all the same, say
    that no schedule could be computed, and offer no suggestion.
The card's words: cds_service/cards/taper_plan_missing.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cds_service.domain.guidelines import RJL
from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.model import Exposure, MedicationOrder, PatientFacts
from cds_service.domain.regimen import ingredient_key
from cds_service.domain.taper import TaperSchedule, default_pace
from cds_service.rules.taper_state import opioid_ingredients, responsible_physician
from cds_service.rules.drafts import draft_opioids, draft_reference, valid_prescriptions
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.proposals import (NewRestrictionFlag, StopPrescription, TaperOption, TaperPlanProposal,
                                         TaperScheduleOrder)
from cds_service.rules.taper_start import (TaperProposal, dose_source, formulation_switch, pace_value, read_from_text,
                                           taper_proposal)

TOPIC = "taper-plan-missing"
HOOKS = ORDER_HOOKS

ONGOING = (Exposure.SUBACUTE, Exposure.LONG_TERM, Exposure.MULTI_YEAR)


def inclusion_criteria(facts: PatientFacts) -> bool:
    return bool(draft_opioids(facts)) and facts.is_renewal is True and facts.episode.exposure in ONGOING


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or facts.taper_plan is not None


def is_applicable(facts: PatientFacts) -> bool:
    """The predicate other rules reuse (prescribing-restriction: "a taper is being proposed")."""
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def renews(facts: PatientFacts, draft: MedicationOrder) -> bool:
    """The draft continues what the patient takes (same ingredient and form); a draft of a form the
    patient does not take yet (an as-needed add-on) is a new order."""
    key = ingredient_key(draft)
    return any(ingredient_key(o) == key and o.drug.form == draft.drug.form for o in facts.regimen.replaced)


def too_long(schedule: TaperSchedule | None, ctx: RuleContext) -> bool:
    """Longer than half a year (``settings.long_taper_days``): an overly drawn-out taper causes needless
    suffering [RJL "När behövs nedtrappning?"]."""
    return schedule is not None and schedule.total_days is not None and schedule.total_days > ctx.settings.long_taper_days


def proposal(facts: PatientFacts, ctx: RuleContext) -> TaperProposal | None:
    """The taper this rule proposes, or None when the rule does not apply. Computed once per hook call:
    prescribing-restriction and the planner build on it too."""
    cached = ctx.memo.get("taper-proposal")
    if cached is not None and cached[0] is facts:  # identity, not id(): a context may outlive facts
        return cached[1]
    result = taper_proposal(facts, ctx) if is_applicable(facts) else None
    ctx.memo["taper-proposal"] = (facts, result)
    return result


@dataclass(frozen=True)
class MissingPlan:
    """What the card says beside the proposed taper."""

    taper: TaperProposal
    renews: bool  # the draft continues what the patient takes (same ingredient and form): else a new order
    pace: str | None  # the schedule's pace, or without a schedule the exposure's default
    several_opioids: bool  # the patient chooses which opioid to taper first
    as_needed: tuple[MedicationOrder, ...]  # named, their real consumption asked for [RJL "Praktiska tips och trix"]
    dose_source: str  # the record's dose read from "orders" | "list" | "dispensings"
    read_from_text: tuple[MedicationOrder, ...]  # orders whose dose was read from the dosage text: check it
    valid: tuple[MedicationOrder, ...]  # still-valid prescriptions the schedule replaces
    long_taper: bool  # too_long


def _options(prop: TaperProposal, valid: tuple[MedicationOrder, ...], facts: PatientFacts,
             ctx: RuleContext) -> tuple[TaperOption, ...]:
    """Each pace's suggestion. The restriction lasts until the schedule's end plus the margin (acute
    withdrawal, 1–2 weeks), naming the responsible physician [RJL "Vilka krav kan jag som läkare
    ställa?", "Praktiska tips och trix"]: each pace has its own."""
    if prop.schedule is None:
        return ()
    patient = ctx.patient_ref or f"Patient/{facts.patient_id}"
    author, name = responsible_physician(facts, ctx)
    stops = tuple(StopPrescription(o) for o in valid if o.id != prop.draft.id)  # the renewal itself, if echoed

    def option(direction: str | None, schedule: TaperSchedule) -> TaperOption:
        end = max(schedule.end, ctx.today) + timedelta(days=ctx.settings.restriction_margin_days)
        flag = None if facts.restriction_flag is not None else NewRestrictionFlag(patient, author, name, ctx.today, end)
        return TaperOption(direction, schedule, TaperPlanProposal(schedule, patient, ctx.user_ref),
                           TaperScheduleOrder(schedule, patient, ctx.user_ref, prop.draft.drug.code_systems),
                           draft_reference(prop.draft), stops, flag)

    return (option(None, prop.schedule), *(option(d, s) for d, s in prop.alternatives))


def _facts(prop: TaperProposal, valid: tuple[MedicationOrder, ...], facts: PatientFacts,
           ctx: RuleContext) -> dict[str, Any]:
    schedule = prop.schedule
    drug = prop.draft.drug
    out: dict[str, Any] = {
        "exposureDays": facts.episode.days,
        "draftDailyDose": prop.draft.daily_dose.amount,
        "startDailyDose": prop.dose.amount,
        "unit": prop.dose.unit,
        "doseBasis": prop.dose_basis,
        "opioidCount": len(opioid_ingredients(facts)),
        "taperSteps": schedule.as_extension() if schedule is not None else None,
        "pace": pace_value(schedule) if schedule is not None else None,
        "projectedEnd": schedule.end.isoformat() if schedule is not None and schedule.end else None,
        "taperDays": schedule.total_days if schedule is not None else None,
        "alternativePaces": [pace_value(s) for _, s in prop.alternatives],
        "asNeeded": [
            {"display": o.drug.display, "maxDailyDose": o.daily_dose.prn_amount, "unit": o.daily_dose.unit}
            for o in facts.regimen.prn_opioids
        ],
        "validPrescriptionsEnded": [o.id for o in valid],
        # The draft's strength per unit and where it came from, when its dose was counted in units
        # (fhir_mappings.read.medication: Medication, RxNorm, text, products table).
        "draftStrength": None if drug.strength is None else {
            "strength": drug.strength, "unit": drug.strength_unit, "source": drug.strength_source,
            "counted": prop.draft.daily_dose.counted},
        "formulationSwitch": formulation_switch(prop),
    }
    if schedule is not None and schedule.total_days is not None:
        out["longTaper"] = too_long(schedule, ctx)
    return out


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    prop = proposal(facts, ctx)
    if prop is None:
        return []
    schedule = prop.schedule
    default = default_pace(facts.episode.exposure, prop.ingredient)
    valid = tuple(valid_prescriptions(facts, prop.ingredient))
    said = MissingPlan(
        taper=prop,
        renews=renews(facts, prop.draft),
        pace=pace_value(schedule) if schedule is not None else getattr(default, "value", None),
        several_opioids=len(opioid_ingredients(facts)) >= 2,
        as_needed=tuple(facts.regimen.prn_opioids),
        dose_source=dose_source(facts, prop.ingredient),
        read_from_text=read_from_text(facts, prop),
        valid=valid,
        long_taper=too_long(schedule, ctx),
    )
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            guideline=RJL,
            section="När behövs nedtrappning?",
            facts=_facts(prop, valid, facts, ctx),
            data=said,
            proposals=_options(prop, valid, facts, ctx),
            selection_behavior="at-most-one",
            override_reasons=("not-long-term", "plan-elsewhere", "patient-declines", "palliative", "clinical-judgement"),
        )
    ]
