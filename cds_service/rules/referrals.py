"""The referral criteria the rules share: how the MEDD total compares with a limit, ongoing use, the
treatments tried as far as the record shows, and whether a referral is already open (clinical-rules
§4, §5).

What a referral must contain, per [VGR "Organisation på fyra vårdnivåer"] ("En remiss till smärtvård
på specialistnivå 3 och 4 ska innehålla") and clinical-rules §5: current opioids and doses, MEDD,
duration, treatments tried and their results *as far as the record shows* — basic analgesics
(paracetamol, NSAID), neuropathic drugs (duloxetine, amitriptyline, gabapentinoids), previous tapers
and how they ended. The same pieces serve the pain clinic's entry criteria [RJL "Hjälp och
kontaktvägar"]. The referral's words and its ServiceRequest are the card layer's
(``cds_service.cards.referrals``), from a rule's :class:`~cds_service.rules.finding.ReferralProposal`.

Pure functions of :class:`~cds_service.domain.model.PatientFacts`. Unknown stays unknown: an
incomplete MEDD total is never read as below a limit (:class:`Versus`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from cds_service.domain.model import (
    DrugClass,
    Exposure,
    MedicationOrder,
    PatientFacts,
    Referral,
    TotalMedd,
)
from cds_service.rules.drafts import drafts_of
from cds_service.rules.finding import RuleContext

ONGOING = (Exposure.SUBACUTE, Exposure.LONG_TERM, Exposure.MULTI_YEAR)
LONG_TERM = (Exposure.LONG_TERM, Exposure.MULTI_YEAR)


# ---------------------------------------------------------------------------------------------------
# The record: what the patient takes (facts.regimen, cds_service.domain.regimen)


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
    key: str  # camelCase key for facts: "paracetamol", "nsaid", ... (the cards' words are keyed by it)
    classes: tuple[DrugClass, ...]
    neuropathic: bool  # part of the neuropathic-pain requirement, not the basic analgesics


TREATMENTS = (
    Treatment("paracetamol", (DrugClass.PARACETAMOL,), False),
    Treatment("nsaid", (DrugClass.NSAID,), False),
    Treatment("duloxetine", (DrugClass.DULOXETINE,), True),
    Treatment("amitriptyline", (DrugClass.AMITRIPTYLINE,), True),
    Treatment("gabapentinoid", (DrugClass.GABAPENTINOID,), True),
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


def treatments_tried(facts: PatientFacts) -> tuple[Tried, ...]:
    """Each treatment the referral and the pain clinic ask about, with the record's orders of it.

    Record orders only (not drafts: what is being ordered now has not been tried). Any status counts:
    a stopped NSAID was still tried.
    """
    return tuple(
        Tried(t, tuple(o for o in facts.orders if o.drug.drug_class in t.classes)) for t in TREATMENTS
    )


# ---------------------------------------------------------------------------------------------------
# Taper progress: where the running taper stands today


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

