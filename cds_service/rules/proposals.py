"""What a rule proposes to change, as domain values: the card layer writes the FHIR.

A rule decides *that* a draft should end on a day, or be brought down to today's dose step, that a
prescribing restriction should be registered, or that a taper should be planned and prescribed and the
old prescriptions it replaces ended; it says so with one of these values on its suggestion's
``Action.proposal``. ``cds_service.cards.proposals`` turns a proposal into the action's resource with
``fhir_mappings.write`` (an amendment of the draft as the EHR sent it, or a new resource). When the
card layer cannot write it (the draft was not sent whole, or is too large to echo), the suggestion is
left out and the card keeps its advice.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds_service.domain.model import MedicationOrder
from cds_service.domain.taper import TaperSchedule


@dataclass(frozen=True)
class PlannedEnd:
    """End the draft ``draft_id`` after ``days`` days: supply for ``days`` days, every dosage line
    bounded ``start`` … ``last`` (the last dosing day, inclusive) [VGR "Iatrogent läkemedelsberoende"]."""

    draft_id: str
    start: date
    last: date
    days: int


@dataclass(frozen=True)
class DoseStepChange:
    """Bring the draft ``draft_id`` down to today's step of the taper: ``per_admin`` ``unit`` morning
    and evening (``daily_dose`` a day, step ``step_sequence``), whole tablets of the draft's strength
    (``tablets_per_day``, to keep the draft's supply duration) [RJL "Allmänna principer och viktigt att
    tänka på"]."""

    draft_id: str
    daily_dose: float
    per_admin: float
    unit: str
    step_sequence: int
    tablets_per_day: int
    times_per_day: int = 2


@dataclass(frozen=True)
class NewRestrictionFlag:
    """Register an uppmärksamhetssignal med förskrivningsrestriktion for the patient, by the
    responsible physician, ``start`` … ``end`` (None: open-ended) [RJL "Vilka krav kan jag som läkare
    ställa?"]."""

    patient_ref: str
    author_ref: str | None
    author_display: str | None
    start: date
    end: date | None


@dataclass(frozen=True)
class TaperPlanProposal:
    """Plan the taper ``schedule`` for the patient: a CarePlan (draft, proposal) with one activity per
    dose step, the goals and the agreement [RJL "Vilka krav kan jag som läkare ställa?"]."""

    schedule: TaperSchedule
    patient_ref: str
    author_ref: str | None


@dataclass(frozen=True)
class TaperScheduleOrder:
    """Prescribe the taper ``schedule``: one stepped MedicationRequest of the schedule's product (its
    formulation, never the renewal's one strength), coded in the renewal's code systems ``systems``
    [RJL "Praktiska tips och trix": a depot formulation of the same opioid]."""

    schedule: TaperSchedule
    patient_ref: str
    requester_ref: str | None
    systems: tuple[str, ...] = ()


#: StopPrescription.reason: the taper's stepped prescription takes the old one's place.
REPLACED_BY_TAPER = "replaced-by-taper"


@dataclass(frozen=True)
class StopPrescription:
    """End the record's still-valid prescription ``order`` (status stopped, for ``reason``), so the old
    dose cannot be collected beside a new one ("Glöm inte att makulera giltiga recept", [RJL "Praktiska
    tips och trix"]). The update returns the record's resource as the EHR sent it; when it is not at
    hand the action alone is left out (the card's text still names the prescription)."""

    order: MedicationOrder
    reason: str = REPLACED_BY_TAPER


Proposal = (PlannedEnd | DoseStepChange | NewRestrictionFlag | TaperPlanProposal | TaperScheduleOrder
            | StopPrescription)


@dataclass(frozen=True)
class TaperOption:
    """One way to start a taper, one suggestion: plan and prescribe ``schedule`` (``direction`` None for
    the default pace, "faster" or "slower" for an alternative), remove the renewal draft the stepped
    prescription replaces (``replaces``, its ``MedicationRequest/<id>``: keeping both would double the
    opioid), end the old still-valid prescriptions, and register the prescribing restriction until the
    schedule's end plus the margin (None when one is registered already)."""

    direction: str | None
    schedule: TaperSchedule
    plan: TaperPlanProposal
    order: TaperScheduleOrder
    replaces: str | None
    stops: tuple[StopPrescription, ...]
    restriction: NewRestrictionFlag | None
