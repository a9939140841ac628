"""Daily dose from ``dosageInstruction`` (issue 3 "Daily dose").

CONTRACT STUB — to be implemented. Signatures are fixed; other modules import them.
"""
from __future__ import annotations

from datetime import date

from .model import DailyDose, DoseStep, Drug


def dose_steps(resource: dict, drug: Drug) -> tuple[DoseStep, ...]:
    """One DoseStep per distinct ``Dosage.sequence`` (lines with the same sequence add up).

    Dates from ``timing.repeat.boundsPeriod`` (or boundsDuration from the previous step's end).
    Unsequenced dosage lines form a single step with sequence 1. Never raises.
    """
    raise NotImplementedError


def daily_dose(resource: dict, drug: Drug, today: date) -> DailyDose:
    """Daily dose in effect on ``today`` (the current step; the first step if none started yet).

    Falls back to ``dispenseRequest.quantity`` ÷ ``expectedSupplyDuration``; else unknown with a
    ``problem`` — never zero. Never raises.
    """
    raise NotImplementedError
