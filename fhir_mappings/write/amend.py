"""Amendments of a draft order, or of a record order that is ended: the order as the EHR sent it,
copied and changed where a proposal says.

A CDS Hooks *update* action returns the resource whole, so everything the physician wrote and Trappa
does not change (medication, quantity, notes, extensions) is kept. The EHR's own dict is never
modified: it may be echoed elsewhere in the response.
"""
from __future__ import annotations

import copy
from datetime import date

from fhir_mappings.codes.systems import UCUM


def with_planned_end(raw: dict, *, start: date, last: date, days: int) -> dict:
    """A copy of the draft with a planned end: ``expectedSupplyDuration`` ``days`` days and every dosage
    line bounded by ``timing.repeat.boundsPeriod`` ``start`` … ``last`` (other bounds removed: one end)."""
    updated = copy.deepcopy(raw)
    dispense = updated.get("dispenseRequest")
    if not isinstance(dispense, dict):
        dispense = {}
        updated["dispenseRequest"] = dispense
    dispense["expectedSupplyDuration"] = {"value": days, "unit": "dagar", "system": UCUM, "code": "d"}
    dosages = updated.get("dosageInstruction")
    if isinstance(dosages, list):
        for dosage in dosages:
            if not isinstance(dosage, dict):
                continue
            timing = dosage.get("timing")
            if not isinstance(timing, dict):
                timing = {}
                dosage["timing"] = timing
            repeat = timing.get("repeat")
            if not isinstance(repeat, dict):
                repeat = {}
                timing["repeat"] = repeat
            repeat.pop("boundsDuration", None)
            repeat.pop("boundsRange", None)
            repeat["boundsPeriod"] = {"start": start.isoformat(), "end": last.isoformat()}
    return updated


def with_dose_step(raw: dict, *, per_admin: float, unit: str, times_per_day: int, text: str,
                   tablets_per_day: int) -> dict:
    """A copy of the draft whose dosage is one line: ``per_admin`` ``unit`` ``times_per_day`` times a
    day, ``text`` its dosage text; the quantity resized to keep the draft's supply duration."""
    updated = copy.deepcopy(raw)
    updated["dosageInstruction"] = [
        {
            "text": text,
            "timing": {"repeat": {"frequency": times_per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [
                {"doseQuantity": {"value": per_admin, "unit": unit, "system": UCUM, "code": unit}}
            ],
        }
    ]
    _resize_quantity(updated, tablets_per_day=tablets_per_day)
    return updated


_DAY_UNITS = ("d", "day", "days", "dag", "dagar", "dygn")


def _resize_quantity(resource: dict, *, tablets_per_day: int) -> None:
    """Keep the draft's supply duration at the lower dose: quantity = tablets per day × days.

    Only when the draft states both a quantity and ``expectedSupplyDuration`` in days; otherwise the
    quantity is left as the physician wrote it (it then lasts longer, never gives more per day).
    """
    dispense = resource.get("dispenseRequest")
    if not isinstance(dispense, dict):
        return
    duration, quantity = dispense.get("expectedSupplyDuration"), dispense.get("quantity")
    if not isinstance(duration, dict) or not isinstance(quantity, dict):
        return
    days = duration.get("value")
    in_days = duration.get("code") == "d" or (
        duration.get("code") is None and str(duration.get("unit", "")).lower() in _DAY_UNITS
    )
    if not in_days or not isinstance(days, (int, float)) or days <= 0:
        return
    quantity["value"] = int(tablets_per_day * days)


#: Why a record order was stopped (``rules.proposals.StopPrescription.reason``), as the record reads it:
#: in Swedish, whatever the card's language (it goes into a Swedish record).
STOP_REASON_TEXT = {"replaced-by-taper": "Ersätts av nedtrappningsschema"}


def stopped(raw: dict, *, reason: str) -> dict:
    """A copy of the record order with status stopped and ``reason``'s text as its statusReason.

    Only top-level keys change, so a shallow copy leaves the EHR's dict as it was."""
    ended = dict(raw)
    ended["status"] = "stopped"
    ended["statusReason"] = {"text": STOP_REASON_TEXT[reason]}
    return ended
