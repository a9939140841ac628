"""What a rule proposes to change, as domain values: the card layer writes the FHIR.

A rule decides *that* a draft should end on a day, or be brought down to today's dose step, or that a
prescribing restriction should be registered; it says so with one of these values on its suggestion's
``Action.proposal``. ``cds_service.cards.proposals`` turns a proposal into the action's resource with
``fhir_mappings.write`` (an amendment of the draft as the EHR sent it, or a new resource). When the
card layer cannot write it (the draft was not sent whole, or is too large to echo), the suggestion is
left out and the card keeps its advice.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


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


Proposal = PlannedEnd | DoseStepChange | NewRestrictionFlag
