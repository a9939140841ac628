"""Assemble :class:`~fhir_mappings.model.PatientFacts` from the FHIR resources of one hook call.

CONTRACT STUB — to be implemented. Signature is fixed; the HTTP layer calls it.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable

from .model import PatientFacts


def build_patient_facts(
    patient_id: str,
    resources: Iterable[dict],
    drafts: Iterable[dict],
    today: date,
    *,
    gaps: Iterable[str] = (),
    gap_days: int = 30,
) -> PatientFacts:
    """Facts about one patient.

    ``resources``: every FHIR resource the service has for the patient (prefetch and fetched
    Bundles flattened: Patient, MedicationRequest, Medication, MedicationDispense,
    MedicationStatement, Condition, Flag, CarePlan, ServiceRequest, in any order; anything else is
    ignored). ``drafts``: the draft orders of the hook context (MedicationRequests, possibly
    STU3-shaped). ``gaps``: names of optional data that could not be had (carried into facts).
    ``gap_days``: allowed gap when merging coverage intervals into an episode. Never raises on
    malformed resources: what cannot be read is reported as unknown / unidentified.
    """
    raise NotImplementedError
