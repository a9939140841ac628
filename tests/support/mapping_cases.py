"""Builders for synthetic FHIR medication resources used by the mapping tests.

Small functions that return plain dicts shaped like FHIR R4 (or STU3 where asked), so that each
test case states only what it is about.
"""
from __future__ import annotations

from fhir_mappings.codes.systems import ATC, RXNORM, SNOMED, UCUM


def coding(system: str, code: str, display: str | None = None) -> dict:
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return c


def concept(text: str | None = None, *, atc: str | None = None, rxnorm: str | None = None,
            display: str | None = None) -> dict:
    """A CodeableConcept with optional ATC / RxNorm codings and text."""
    cc: dict = {}
    codings = []
    if atc:
        codings.append(coding(ATC, atc, display))
    if rxnorm:
        codings.append(coding(RXNORM, rxnorm, display))
    if codings:
        cc["coding"] = codings
    if text:
        cc["text"] = text
    return cc


def qty(value: float, unit: str | None = None, code: str | None = None, system: str | None = None) -> dict:
    q: dict = {"value": value}
    if unit is not None:
        q["unit"] = unit
    if code is not None:
        q["code"] = code
        q["system"] = system or UCUM
    return q


def ratio(num: dict, den: dict | None = None) -> dict:
    r = {"numerator": num}
    if den is not None:
        r["denominator"] = den
    return r


def dosage(dose: float | None = None, unit: str | None = "mg", *, freq: float | None = None,
           period: float = 1, period_unit: str = "d", freq_max: float | None = None,
           prn: bool = False, dose_range: tuple[float, float] | None = None,
           max_per: tuple[float, str, float, str] | None = None, when: list[str] | None = None,
           time_of_day: list[str] | None = None, timing_code: str | None = None,
           sequence: int | None = None, bounds: tuple[str, str | None] | None = None,
           bounds_days: float | None = None, stu3: bool = False, route: dict | None = None,
           text: str | None = None, day_of_week: list[str] | None = None) -> dict:
    """One Dosage. ``max_per`` = (amount, unit, period, period unit) for maxDosePerPeriod."""
    d: dict = {}
    if text:
        d["text"] = text
    if sequence is not None:
        d["sequence"] = sequence
    repeat: dict = {}
    if freq is not None:
        repeat.update(frequency=freq, period=period, periodUnit=period_unit)
    if freq_max is not None:
        repeat.update(frequencyMax=freq_max, period=period, periodUnit=period_unit)
    if when:
        repeat["when"] = when
    if time_of_day:
        repeat["timeOfDay"] = time_of_day
    if day_of_week:
        repeat["dayOfWeek"] = day_of_week
    if bounds:
        repeat["boundsPeriod"] = {k: v for k, v in (("start", bounds[0]), ("end", bounds[1])) if v}
    if bounds_days is not None:
        repeat["boundsDuration"] = {"value": bounds_days, "unit": "d", "system": UCUM, "code": "d"}
    timing: dict = {}
    if repeat:
        timing["repeat"] = repeat
    if timing_code:
        timing["code"] = {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", timing_code)]}
    if timing:
        d["timing"] = timing
    if prn:
        d["asNeededBoolean"] = True
    if route:
        d["route"] = route
    dose_element: dict = {}
    if dose_range is not None:
        dose_element["doseRange"] = {"low": qty(dose_range[0], unit), "high": qty(dose_range[1], unit)}
    elif dose is not None:
        dose_element["doseQuantity"] = qty(dose, unit)
    if dose_element:
        if stu3:
            d.update(dose_element)  # STU3: directly on the dosage
        else:
            d["doseAndRate"] = [dose_element]
    if max_per is not None:
        d["maxDosePerPeriod"] = ratio(qty(max_per[0], max_per[1]), qty(max_per[2], max_per[3]))
    return d


def med_request(medication: dict | None = None, *dosages: dict, reference: str | None = None,
                contained: list[dict] | None = None, authored_on: str | None = "2024-01-10",
                supply: tuple[float, str | None, float] | None = None, reason: list[dict] | None = None,
                resource_id: str = "mr1") -> dict:
    """A MedicationRequest. ``supply`` = (quantity, unit, days) for dispenseRequest."""
    mr: dict = {"resourceType": "MedicationRequest", "id": resource_id, "status": "active",
                "intent": "order", "subject": {"reference": "Patient/p1"}}
    if authored_on:
        mr["authoredOn"] = authored_on
    if medication is not None:
        mr["medicationCodeableConcept"] = medication
    if reference is not None:
        mr["medicationReference"] = {"reference": reference}
    if contained:
        mr["contained"] = contained
    if dosages:
        mr["dosageInstruction"] = list(dosages)
    if supply is not None:
        mr["dispenseRequest"] = {
            "quantity": qty(supply[0], supply[1]),
            "expectedSupplyDuration": {"value": supply[2], "unit": "days", "system": UCUM, "code": "d"},
        }
    if reason:
        mr["reasonCode"] = reason
    return mr


def medication(code: dict | None = None, *, form: str | None = None, med_id: str = "med1",
               ingredients: list[tuple[dict, dict | None]] = ()) -> dict:
    """A Medication; ``ingredients`` = [(item concept, strength ratio or None)]."""
    m: dict = {"resourceType": "Medication", "id": med_id}
    if code is not None:
        m["code"] = code
    if form:
        m["form"] = {"text": form}
    if ingredients:
        m["ingredient"] = [
            {"itemCodeableConcept": item, **({"strength": s} if s else {})} for item, s in ingredients
        ]
    return m


def route(code: str, display: str) -> dict:
    return {"coding": [coding(SNOMED, code, display)]}
