"""Shared reading of the record for the referral cards and R2's rules (clinical-rules §4, §5).

What a referral must contain, per [VGR "Organisation på fyra vårdnivåer"] ("En remiss till smärtvård
på specialistnivå 3 och 4 ska innehålla") and clinical-rules §5: current opioids and doses, MEDD,
duration, treatments tried and their results *as far as the record shows* — basic analgesics
(paracetamol, NSAID), neuropathic drugs (duloxetine, amitriptyline, gabapentinoids), previous tapers and
how they ended — and a checklist of what the record cannot show (motivation, pain work-up, rehab plan,
sick leave). The same pieces serve the pain clinic's entry criteria [RJL "Hjälp och kontaktvägar"].

Everything here is a pure function of :class:`~fhir_mappings.model.PatientFacts`. Unknown stays
unknown: a dose we cannot read is "okänd", an incomplete MEDD total is "minst X", never zero.

Texts come in both languages (``{"sv": ..., "en": ...}``). The referral itself — its pre-filled
content and its ServiceRequest — is written by the card layer (``cds_service.cards.referrals``) from a
rule's :class:`~cds_service.rules.finding.ReferralProposal`; whether one is already open is
:func:`existing_referral`, on the record's referrals as the domain reads them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import Iterable, Sequence

from cds_service.domain.problems import Problem
from cds_service.domain.model import (
    DailyDose,
    DoseStep,
    DrugClass,
    Exposure,
    PAIN_CLINIC,
    PSYCHIATRY,
    MedicationOrder,
    PatientFacts,
    Referral,
    TaperPlan,
    TotalMedd,
)
from cds_service.domain.regimen import daily_dose as regimen_daily_dose

from cds_service.rules.finding import Localized, RuleContext
from cds_service.rules.common import (
    LANGS,
    exposure_text,
    fmt_date,
    fmt_daily_dose,
    fmt_medd,
    ingredient_name,
    loc,
    taper_end,
    tapered_ingredient,
    today_step,
)

SV, EN = "sv", "en"

ONGOING = (Exposure.SUBACUTE, Exposure.LONG_TERM, Exposure.MULTI_YEAR)
LONG_TERM = (Exposure.LONG_TERM, Exposure.MULTI_YEAR)


# ---------------------------------------------------------------------------------------------------
# Texts (formatting itself lives in ``common``)


def dose_text(dose: DailyDose | None, lang: str = SV) -> str:
    """"40 mg/dygn", "25 µg/h", PRN marked as the maximum; unknown → "okänd dygnsdos" (never 0)."""
    if dose is None:
        return fmt_daily_dose(None, None, lang)
    text = fmt_daily_dose(dose.amount, dose.unit, lang)
    if dose.known and dose.prn:
        text += " vid behov (max)" if lang == SV else " as needed (max)"
    return text


def total_medd_text(total: TotalMedd, lang: str = SV) -> str:
    """The total as it should be read: "90 MEDD", "minst 45 MEDD" (incomplete), "okänd MEDD"; a
    complete total with no part is a true zero (no opioid in effect)."""
    if total.value is None and total.complete:
        return fmt_medd(0, lang)
    return fmt_medd(total.value, lang, complete=total.complete)


def duration_text(facts: PatientFacts, lang: str = SV) -> str:
    """"412 dagar i följd, sedan 2025-10-07 – långvarig användning, …" (exposure words from common)."""
    ep = facts.episode
    if ep.exposure is Exposure.NONE:
        return exposure_text(Exposure.NONE, lang)
    since = ""
    if ep.start:
        since = f", sedan {fmt_date(ep.start)}" if lang == SV else f", since {fmt_date(ep.start)}"
    days = f"{ep.days} dagar i följd" if lang == SV else f"{ep.days} consecutive days"
    return f"{days}{since} – {exposure_text(ep.exposure, lang)}"


def orders_text(orders: Iterable[MedicationOrder], lang: str = SV) -> list[str]:
    """One line per opioid: "Oxikodon depot 20 mg: 40 mg/dygn (80 MEDD)"."""
    lines = []
    for o in orders:
        if o.medd.value is not None:
            medd = fmt_medd(o.medd.value, lang)
        else:
            medd = "MEDD okänd" if lang == SV else "MEDD unknown"
        lines.append(f"{o.drug.display}: {dose_text(o.daily_dose, lang)} ({medd})")
    return lines


# ---------------------------------------------------------------------------------------------------
# The record: what the patient takes (facts.regimen, cds_service.domain.regimen)


def drafts_of(facts: PatientFacts, classes: Sequence[DrugClass]) -> list[MedicationOrder]:
    return [d for d in facts.drafts if d.drug.drug_class in classes]


def ongoing_opioid_use(facts: PatientFacts, ctx: RuleContext) -> bool:
    """Ongoing use: the current episode is at least subacute (≥ 14 days), or — on the order hooks —
    an opioid is being ordered now (the draft makes the use ongoing in the physician's intent)."""
    if facts.episode.exposure in ONGOING:
        return True
    return ctx.hook != "patient-view" and bool(drafts_of(facts, (DrugClass.OPIOID,)))


# ---------------------------------------------------------------------------------------------------
# MEDD against a threshold (honest about incomplete totals)


class Versus(str, Enum):
    ABOVE = "above"  # known part alone exceeds the limit (a lower bound above is still above)
    AT_OR_BELOW = "at-or-below"  # complete total within the limit
    UNDECIDED = "undecided"  # incomplete total whose known part is within the limit


def medd_versus(total: TotalMedd, limit: float) -> Versus:
    if total.value is not None and total.value > limit:
        return Versus.ABOVE
    if total.complete:
        return Versus.AT_OR_BELOW
    return Versus.UNDECIDED


# ---------------------------------------------------------------------------------------------------
# Treatments tried (as far as the record shows)


@dataclass(frozen=True)
class Treatment:
    key: str  # camelCase key for facts: "paracetamol", "nsaid", ...
    label: Localized
    classes: tuple[DrugClass, ...]
    neuropathic: bool  # part of the neuropathic-pain requirement, not the basic analgesics


TREATMENTS = (
    Treatment("paracetamol", loc("Paracetamol", "Paracetamol"), (DrugClass.PARACETAMOL,), False),
    Treatment("nsaid", loc("NSAID", "NSAID"), (DrugClass.NSAID,), False),
    Treatment("duloxetine", loc("Duloxetin", "Duloxetine"), (DrugClass.DULOXETINE,), True),
    Treatment("amitriptyline", loc("Amitriptylin", "Amitriptyline"), (DrugClass.AMITRIPTYLINE,), True),
    Treatment(
        "gabapentinoid",
        loc("Gabapentin/pregabalin", "Gabapentin/pregabalin"),
        (DrugClass.GABAPENTINOID,),
        True,
    ),
)


@dataclass(frozen=True)
class Tried:
    treatment: Treatment
    orders: tuple[MedicationOrder, ...]  # record orders of that class, any status

    @property
    def tried(self) -> bool:
        return bool(self.orders)

    @property
    def first(self) -> date | None:
        dates = [d for d in (o.start or o.authored_on for o in self.orders) if d is not None]
        return min(dates) if dates else None

    @property
    def last(self) -> date | None:
        # supply_end is exclusive: the last covered day is the day before
        covered = [o.supply_end - timedelta(days=1) if o.supply_end else (o.start or o.authored_on) for o in self.orders]
        ends = [d for d in covered if d is not None]
        return max(ends) if ends else None

    def text(self, lang: str = SV) -> str:
        label = self.treatment.label[lang]
        if not self.tried:
            return f"{label}: " + ("framgår inte av journalen" if lang == SV else "not shown in the record")
        span = ""
        if self.first and self.last and self.last != self.first:
            span = f" {self.first.isoformat()}–{self.last.isoformat()}"
        elif self.first:
            span = f" {self.first.isoformat()}"
        doses = sorted({dose_text(o.daily_dose, lang) for o in self.orders if o.daily_dose.known})
        dose = f", {', '.join(doses)}" if doses else ""
        if lang == SV:
            return f"{label}: förskrivet{span}{dose} – effekt framgår inte av journalen"
        return f"{label}: prescribed{span}{dose} – effect not shown in the record"


def treatments_tried(facts: PatientFacts) -> tuple[Tried, ...]:
    """Each treatment the referral and the pain clinic ask about, with the record's orders of it.

    Record orders only (not drafts: what is being ordered now has not been tried). Any status counts:
    a stopped NSAID was still tried.
    """
    return tuple(
        Tried(t, tuple(o for o in facts.orders if o.drug.drug_class in t.classes)) for t in TREATMENTS
    )


OUTCOME_TEXT = {
    "completed": loc("genomförd (opioiden utsatt)", "completed (opioid stopped)"),
    "failed": loc("avbruten utan att nå målet", "failed"),
    None: loc("utfall okänt", "outcome unknown"),
}


def failed_tapers(facts: PatientFacts) -> tuple[TaperPlan, ...]:
    return tuple(p for p in facts.previous_tapers if p.outcome == "failed")


def taper_line(plan: TaperPlan, lang: str = SV) -> str:
    when = ""
    if plan.start or plan.end:
        start = plan.start.isoformat() if plan.start else "?"
        end = plan.end.isoformat() if plan.end else "?"
        when = f"{start}–{end} "
    outcome = OUTCOME_TEXT.get(plan.outcome, OUTCOME_TEXT[None])[lang]
    return f"{when}{ingredient_name(plan.ingredient, lang)}: {outcome}"


# ---------------------------------------------------------------------------------------------------
# Taper progress: where the running taper stands today


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


# ---------------------------------------------------------------------------------------------------
# Referrals already in the record


def existing_referral(facts: PatientFacts, target: str) -> Referral | None:
    """An open referral to ``target`` already in the record (status draft/active/on-hold): one
    Trappa proposed and the EHR kept, or one whose code, performer type, category or performer names
    the clinic (``fhir_mappings.read.referrals``). Proposing it again at every renewal of a running
    taper would only be noise."""
    for referral in facts.referrals:
        if referral.open and target in referral.targets:
            return referral
    return None


def bullet(lines: Iterable[str]) -> str:
    return "\n".join(f"- {x}" for x in lines)


__all__ = [
    "LANGS",
    "PAIN_CLINIC",
    "PSYCHIATRY",
    "Tried",
    "TaperProgress",
    "Versus",
    "bullet",
    "dose_text",
    "drafts_of",
    "duration_text",
    "existing_referral",
    "failed_tapers",
    "loc",
    "medd_versus",
    "ongoing_opioid_use",
    "orders_text",
    "taper_line",
    "taper_progress",
    "total_medd_text",
    "treatments_tried",
]
