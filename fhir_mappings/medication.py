"""Identify a medication: which drug, which class, which form (issue 3, clinical-rules §9).

CONTRACT STUB — to be implemented. Signatures are fixed; other modules import them.
"""
from __future__ import annotations

from typing import Callable

from .model import Drug

# resolve_medication(reference) -> the Medication resource (dict) or None. ``reference`` is the
# literal Reference.reference string: "#med1" (contained) or "Medication/123" (server-side).
MedicationResolver = Callable[[str], "dict | None"]


def identify_drug(resource: dict, resolve_medication: MedicationResolver | None = None) -> Drug:
    """Drug of a MedicationRequest / MedicationDispense / MedicationStatement.

    Uses ``medicationCodeableConcept`` or ``medicationReference`` (contained first, then
    ``resolve_medication``). Never raises: unidentifiable input gives ``DrugClass.UNKNOWN``.
    """
    raise NotImplementedError
