"""Which of the hook call's drafts and the record's orders a rule acts on: the opioid and sedative
drafts, a draft's FHIR reference, the still-valid prescriptions a taper ends, whether two references
name the same resource. Pure functions of domain values."""
from __future__ import annotations

import re
from typing import Sequence

from cds_service.domain.model import (
    DrugClass,
    MedicationOrder,
    PatientFacts,
)


def draft_opioids(facts: PatientFacts) -> list[MedicationOrder]:
    """The draft orders of this hook call that are analgesic opioids (not LARO), in request order."""
    return [d for d in facts.drafts if d.drug.is_opioid]


SEDATIVE_CLASSES = (DrugClass.BENZODIAZEPINE, DrugClass.Z_DRUG)


def draft_sedatives(facts: PatientFacts) -> list[MedicationOrder]:
    """Draft benzodiazepines (N05BA, N05CD) and z-drugs (N05CF: zopiclone, zolpidem)."""
    return [d for d in facts.drafts if d.drug.drug_class in SEDATIVE_CLASSES]


_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def draft_reference(order: MedicationOrder) -> str | None:
    """``"MedicationRequest/<id>"`` for a draft (the CDS Hooks ``resourceId`` form); None without a
    valid FHIR id (``[A-Za-z0-9-.]{1,64}``)."""
    if not isinstance(order.id, str) or not _FHIR_ID.fullmatch(order.id):
        return None
    return f"{order.resource_type or 'MedicationRequest'}/{order.id}"


def valid_prescriptions(facts: PatientFacts, ingredient: str | None) -> list[MedicationOrder]:
    """The record's prescriptions of ``ingredient`` that can still be collected at the pharmacy:
    MedicationRequests with status active whose validity has not run out. A taper must end them, or
    the old dose can be collected beside the schedule [RJL "Praktiska tips och trix": "Glöm inte att
    makulera giltiga recept"]."""
    if not ingredient:
        return []
    out = []
    for o in facts.orders:
        if o.is_draft or o.resource_type != "MedicationRequest" or o.status != "active":
            continue
        if not o.drug.is_opioid or o.drug.ingredient != ingredient:
            continue
        if o.supply_basis == "validity" and o.supply_end is not None and o.supply_end <= facts.today:
            continue
        out.append(o)
    return out


def _ref_key(ref: str | None) -> tuple[str, str] | None:
    if not ref or not isinstance(ref, str):
        return None
    parts = [p for p in ref.strip().split("/") if p]
    # absolute URLs may carry a version: .../Practitioner/1/_history/2
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2:
        return None
    return parts[-2], parts[-1]


def same_reference(a: str | None, b: str | None) -> bool | None:
    """True/False when both references are readable ("Practitioner/1" equals ".../Practitioner/1");
    None when either is missing or unreadable (unknown, not "different")."""
    ka, kb = _ref_key(a), _ref_key(b)
    if ka is None or kb is None:
        return None
    return ka == kb


def drafts_of(facts: PatientFacts, classes: Sequence[DrugClass]) -> list[MedicationOrder]:
    return [d for d in facts.drafts if d.drug.drug_class in classes]
