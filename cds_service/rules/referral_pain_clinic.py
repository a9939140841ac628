"""referral-pain-clinic — a taper has stalled: the pain clinic can help, if its entry criteria are met.

Source: [RJL "Hjälp och kontaktvägar"] "När komplex smärta utgör ett betydande hinder för en
opioidnedtrappning kan Smärtkliniken hjälpa till … För övertag krävs att smärtan är utredd och
behandlad på primärvårdsnivån, att dygnsdosen är maximalt 60 MEDD … och att patienten är motiverad";
"Innan smärtenhet kontaktas … basala smärtläkemedel (paracetamol och NSAID), multimodala insatser,
smärtskola och fysioterapi … neuropatisk smärta … duloxetin, amitriptylin och/eller gabapentin";
[RJL "När det inte går som planerat"]; clinical-rules §5.

When
  - an active taper plan is running (a step is in effect today, or the schedule has ended), and
  - it has stalled: the record's daily dose of the tapered ingredient in effect today is still above
    the plan's step for today (0 once the schedule has ended), and
  - total MEDD is at most 60 (``settings.referral_medd``), and
  - the patient is not excluded, and no open pain-clinic referral (Trappa's) is in the record
Then
  - info: consider the pain clinic; check its entry criteria against the record as a checklist —
    met / not shown in the record / cannot be known from the record — and suggest a referral
    (ServiceRequest, target "pain-clinic") pre-filled from the record.
    The card's words and its ServiceRequest: cds_service/cards/referral_pain_clinic.py.

Decisions where the guideline is silent:
  - An incomplete MEDD total whose known part is ≤ 60 does not stop the card (it is only info and the
    stall is worth seeing); the checklist marks "högst 60 MEDD" as undecided ("minst X"). Over 60
    the card is silent: the referral-psychiatry card is the one for high doses.
  - A stall that cannot be decided (record dose unknown, units differ, no step for today) is silent.
  - "Tried" means any order of the drug in the record, whatever its status; the effect never shows.
"""
from __future__ import annotations

from dataclasses import dataclass

from cds_service.domain.model import PAIN_CLINIC, PatientFacts, TotalMedd

from cds_service.domain.hooks import ALL_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, ReferralProposal, RuleContext
from cds_service.rules.referrals import (
    Tried,
    Versus,
    existing_referral,
    medd_versus,
    treatments_tried,
)
from cds_service.rules.taper_state import TaperProgress, taper_progress

TOPIC = "referral-pain-clinic"
HOOKS = ALL_HOOKS

# How the record stands on each entry criterion: shown to be met, not shown, undecided (an incomplete
# MEDD total within the limit), or beyond what a record can show.
MET, NOT_SHOWN, UNDECIDED, UNKNOWABLE = "met", "not-shown", "undecided", "unknowable"

BASIC_ANALGESICS = ("paracetamol", "nsaid")  # [RJL] "basala smärtläkemedel (paracetamol och NSAID)"
NEUROPATHIC = ("duloxetine", "amitriptyline", "gabapentinoid")  # "duloxetin, amitriptylin och/eller gabapentin"
# Entry criteria no record shows [RJL "Hjälp och kontaktvägar"], in the order the card lists them.
NEVER_IN_THE_RECORD = ("multimodal", "painSchool", "physiotherapy", "painWorkUp", "motivation")


@dataclass(frozen=True)
class Requirement:
    """One entry criterion of the pain clinic against the record: its facts key, its state, and what
    the record shows for it (the treatments tried; the diagnosis codes)."""

    key: str
    state: str
    tried: tuple[Tried, ...] = ()
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stall:
    """What the card says: where the stalled taper stands, the entry criteria, the total MEDD."""

    progress: TaperProgress
    checklist: tuple[Requirement, ...]
    total: TotalMedd
    limit: float
    psychiatry_first: bool  # opioid or mixed dependence in the record


def progress(facts: PatientFacts, ctx: RuleContext) -> TaperProgress | None:
    return taper_progress(facts, ctx.today)


def inclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    p = progress(facts, ctx)
    if p is None or p.stalled is not True:
        return False
    return medd_versus(facts.regimen.medd, ctx.settings.referral_medd) is not Versus.ABOVE


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or existing_referral(facts, PAIN_CLINIC) is not None


def is_applicable(facts: PatientFacts, ctx: RuleContext) -> bool:
    return inclusion_criteria(facts, ctx) and not exclusion_criteria(facts)


def checklist(facts: PatientFacts, ctx: RuleContext) -> tuple[Requirement, ...]:
    """Each entry criterion of the pain clinic, as far as the record shows it."""
    versus = medd_versus(facts.regimen.medd, ctx.settings.referral_medd)
    tried = {t.treatment.key: t for t in treatments_tried(facts)}
    rows = [Requirement("meddAtMostLimit", MET if versus is Versus.AT_OR_BELOW else UNDECIDED)]
    for key in BASIC_ANALGESICS:
        rows.append(Requirement(key, MET if tried[key].tried else NOT_SHOWN, tried=(tried[key],)))
    neuro_tried = tuple(tried[k] for k in NEUROPATHIC if tried[k].tried)
    rows.append(Requirement("neuropathic", MET if neuro_tried else NOT_SHOWN, tried=neuro_tried))
    # Whether comorbidity is taken care of never shows in codes; the codes themselves are shown.
    codes = facts.conditions.substance_use + facts.conditions.psychiatric
    rows.append(Requirement("comorbidityManaged", UNKNOWABLE, codes=codes))
    rows += [Requirement(key, UNKNOWABLE) for key in NEVER_IN_THE_RECORD]
    return tuple(rows)


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    p = progress(facts, ctx)
    assert p is not None  # is_applicable checked it
    rows = checklist(facts, ctx)
    c = facts.conditions
    stall = Stall(progress=p, checklist=rows, total=facts.regimen.medd, limit=ctx.settings.referral_medd,
                  psychiatry_first=c.opioid_dependence or c.mixed_dependence)
    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            guideline=RJL,
            section="Hjälp och kontaktvägar",
            facts={
                "stalled": True,
                "currentDailyDose": p.current,
                "todayStepDose": p.target,
                "unit": p.unit,
                "stepNumber": p.step_number,
                "steps": p.steps,
                "meddCriterion": medd_versus(facts.regimen.medd, ctx.settings.referral_medd).value,
                "checklist": {r.key: r.state for r in rows},
            },
            data=stall,
            proposals=(ReferralProposal(PAIN_CLINIC, ctx.patient_ref or f"Patient/{facts.patient_id}", ctx.user_ref),),
            override_reasons=("already-referred", "patient-declines", "clinical-judgement", "data-incorrect"),
        )
    ]
