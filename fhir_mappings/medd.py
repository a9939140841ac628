"""Morphine-equivalent daily dose (MEDD), factors as data (clinical-rules §4).

CONTRACT STUB — to be implemented. Signatures are fixed; other modules import them.
"""
from __future__ import annotations

from typing import Iterable

from .model import DailyDose, Drug, Medd, MedicationOrder, TotalMedd


def medd(drug: Drug, dose: DailyDose) -> Medd:
    """MEDD of one drug at one daily dose, from the conversion table (default
    ``fhir_mappings/data/medd_factors.csv``, replaceable via ``TRAPPA_MEDD_TABLE``)."""
    raise NotImplementedError


def total_medd(orders: Iterable[MedicationOrder]) -> TotalMedd:
    """Sum over the opioid orders given; incomplete (with names) if any part is unknown."""
    raise NotImplementedError
