"""Map one MedicationRequest / MedicationDispense / MedicationStatement to a :class:`MedicationOrder`.

Duration of use (clinical-rules §2, §10): each prescription covers ``[start, start + supply)``.

Coverage start, first that is readable (clinical-rules §10):
  1. ``dispenseRequest.validityPeriod.start`` (a back-dated order: authored long ago, valid later),
  2. the earliest ``dosageInstruction[].timing.repeat.boundsPeriod.start``,
  3. ``authoredOn``,
  4. drafts only: ``today`` (a draft without dates starts when it is signed; any resource type).

Supply, first that is readable (clinical-rules §10):
  1. ``dispenseRequest.expectedSupplyDuration`` × (1 + ``numberOfRepeatsAllowed``): FHIR defines the
     expected supply duration and the quantity *per dispense*; repeats add whole dispenses,
  2. ``dispenseRequest.quantity`` × (1 + repeats) ÷ daily dose, when quantity and dose are in
     convertible units (mg, µg, g; counted units — tablets, capsules, patches — × the drug's
     strength; ml × a liquid's mg/ml strength). Only for single-step orders: for stepped (taper) orders the quantity covers the whole
     schedule, and dividing by one step's dose is meaningless,
  3. the validity period: ``supply_end`` = the day after ``validityPeriod.end``,
  4. (our addition) the last dosage step's end (``boundsPeriod.end``, or a step end derived from
     ``boundsDuration``), the day after it.
Days are rounded up: 100 tablets at 3/day cover 34 days (the patient has tablets on day 34).

``supply_end`` is exclusive, and None when there is no start or it would lie before the start
(inconsistent dates: unknown, not guessed). A ``stopped`` order covers only until it was stopped: R5's
``statusChanged`` (some servers send it on R4) or ``meta.lastUpdated`` caps ``supply_end`` — status
"stopped (until stop)" of the brief. When no stop date exists, the supply as computed stands.

MedicationDispense: start = ``whenHandedOver`` (else ``whenPrepared``), supply = ``daysSupply``, else
quantity ÷ daily dose. MedicationStatement: start = ``effectivePeriod.start`` / ``effectiveDateTime``,
``supply_end`` = the day after ``effectivePeriod.end`` (its ``dosage`` is read by the dose reader).

STU3-shaped resources are accepted: ``requester.agent.reference``, ``doseQuantity`` on the dosage (read
by :mod:`fhir_mappings.read.dosage`), ``effectiveDateTime``, ``taken``.

Never raises on malformed input: what cannot be read stays ``None``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fhir_mappings.codes import tables as codes
from fhir_mappings.read.dosage import daily_dose as _daily_dose
from fhir_mappings.read.dosage import dose_steps as _dose_steps
from fhir_mappings.read.dosage import dosage_lines, to_amount
from fhir_mappings.read.dosage_text import read_dosage_text
from cds_service.domain.medd import MeddTable
from cds_service.domain.medd import medd_memo as _medd
from fhir_mappings.read.medication import MedicationResolver, identify_drug
from cds_service.runtime.fast_init import quick_init
from cds_service.domain.model import (MEDICATION_DISPENSE, MEDICATION_REQUEST, MEDICATION_STATEMENT, ORDER_TYPES,
                                      add_days)  # noqa: F401  (this package's readers name them from here)
from cds_service.domain.model import MG, UG_PER_H, DailyDose, Drug, MedicationOrder



# Orders are built by the thousand: MedicationOrder gets the fast __init__ (runtime/fast_init.py).
quick_init(MedicationOrder)

# --------------------------------------------------------------------------------------------------
# Small, defensive readers of FHIR JSON (shared by episodes, record and facts).
# --------------------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_date(value: Any) -> date | None:
    """The calendar date of a FHIR date / dateTime / instant, as written (local date, no tz shift).

    Partial dates take their first day ("2024" → 2024-01-01, "2024-03" → 2024-03-01). Anything
    else (numbers, lists, impossible dates) → None.
    """
    if isinstance(value, str):
        try:
            return _DATES[value]  # the hot path: a record repeats its dates, requests repeat records
        except KeyError:
            return _parse_date_text(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return None


# Dates by their text: authoredOn and validity start repeat within an order, and a patient's record is
# read again at every hook call. Bounded (start afresh past _DATES_MAX); texts longer than
# _DATE_TEXT_MAX are parsed every time, so a client cannot fill memory through it. Dates are immutable.
_DATES: dict[str, date | None] = {}
_DATES_MAX = 16384
_DATE_TEXT_MAX = 64


def _parse_date_text(value: str) -> date | None:
    m = _DATE_RE.match(value.strip())
    result = None
    if m:
        try:
            result = date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
        except ValueError:
            result = None
    if len(value) <= _DATE_TEXT_MAX:
        if len(_DATES) >= _DATES_MAX:
            _DATES.clear()
        _DATES[value] = result
    return result


def obj(value: Any) -> dict:
    """``value`` if it is a JSON object, else an empty one (lists where objects belong, junk)."""
    return value if isinstance(value, dict) else {}


def arr(value: Any) -> list:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


number = codes.number  # a finite JSON number (not a bool, not a numeric string)


def reference_of(value: Any) -> str | None:
    """``Reference.reference`` (R4), or STU3 ``{agent: Reference}`` of ``requester``."""
    if not isinstance(value, dict):
        return None
    ref = text(value.get("reference"))
    if ref:
        return ref
    return text(obj(value.get("agent")).get("reference"))


def display_of(value: Any) -> str | None:
    """``Reference.display`` (R4), or STU3 ``{agent: Reference}``'s: the name a card can show."""
    if not isinstance(value, dict):
        return None
    return text(value.get("display")) or text(obj(value.get("agent")).get("display"))


def _requester_display(resource: dict) -> str | None:
    # Most orders name their prescriber by reference only: look no further then (every order of a
    # record passes here).
    requester = resource.get("requester")
    if not isinstance(requester, dict) or ("display" not in requester and "agent" not in requester):
        return None
    return display_of(requester)


def split_reference(ref: Any) -> tuple[str | None, str | None]:
    """(type, id) of a reference string.

    "Medication/1" and "http://x/fhir/Medication/1/_history/2" → ("Medication", "1"); "#m1" (contained)
    → ("#", "m1"); "urn:uuid:abc" and a bare "abc" → (None, "abc"); junk → (None, None).
    """
    ref = text(ref)
    if ref is None:
        return None, None
    ref = ref.strip()
    if ref.startswith("#"):
        return "#", ref[1:] or None
    for prefix in ("urn:uuid:", "urn:oid:"):
        if ref.lower().startswith(prefix):
            return None, ref[len(prefix):] or None
    parts = [p for p in ref.split("?")[0].split("/") if p]
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return parts[-2], parts[-1]
    return (None, parts[-1]) if parts else (None, None)




# --------------------------------------------------------------------------------------------------
# Durations and quantities: the dose reader's unit tables (``codes``, ``dosage.to_amount``), so that a
# quantity and a dose are read with the same spellings.
# --------------------------------------------------------------------------------------------------

duration_days = codes.duration_days  # a FHIR Duration in days (mo = 30, a = 365); None if unreadable or <= 0

_PATCH_WEAR_DAYS_DEFAULT = {"fentanyl": 3.0}  # every fentanyl patch is a 72-hour patch


def _patch_wear_days(resource: dict, drug: Drug) -> float | None:
    """How long one patch is worn: the change interval of ``timing.repeat`` (period ÷ frequency: every
    72 h → 3 days, twice a week → 3.5 days), else the one a free-text dosage states ("1 depotplåster
    var 7:e dag", :mod:`fhir_mappings.read.dosage_text`), else 3 days for fentanyl.

    Buprenorphine patches exist as 7-day and 96-hour products, so without either it stays unknown.
    """
    lines = dosage_lines(resource)
    for line in lines:
        rep = obj(obj(line.get("timing")).get("repeat"))
        freq = number(rep.get("frequency", 1))
        period = duration_days({"value": rep.get("period"), "code": rep.get("periodUnit")})
        if freq and freq > 0 and period is not None and period / freq >= 1:
            return period / freq
    for line in lines:
        said = read_dosage_text(line["text"]) if isinstance(line.get("text"), str) else None
        if said is not None and said.change_days is not None and said.change_days >= 1:
            return said.change_days
    return _PATCH_WEAR_DAYS_DEFAULT.get(drug.ingredient or "")


def supply_days_from_quantity(resource: dict, drug: Drug, dose: DailyDose, quantity: Any) -> float | None:
    """Days one dispensed ``quantity`` lasts at ``dose`` ("quantity ÷ daily dose": the supply a dispensing covers).

    The quantity is read like a dose (:func:`fhir_mappings.read.dosage.to_amount`): a mass, or counted
    units × the drug's strength, or ml × mg/ml. mg ÷ mg/day; for patches the amount is patches × µg/h
    each, so days = amount × wear time ÷ dose (patches worn at once = dose ÷ strength). None whenever
    a piece is unknown (never a guess).
    """
    if dose.amount is None or dose.amount <= 0:
        return None
    amount, kind = to_amount(quantity, drug, "dispense quantity")
    if amount is None or amount <= 0:
        return None
    if kind == "mass" and dose.unit == MG:
        return amount / dose.amount
    if kind == "rate" and dose.unit == UG_PER_H:
        wear = _patch_wear_days(resource, drug)
        return None if wear is None else amount * wear / dose.amount
    return None


# --------------------------------------------------------------------------------------------------
# Dosage bounds (dates as written; the dose reader derives the rest)
# --------------------------------------------------------------------------------------------------


def _bounds_start(resource: dict) -> date | None:
    starts = [
        parse_date(obj(obj(obj(obj(line).get("timing")).get("repeat")).get("boundsPeriod")).get("start"))
        for line in arr(resource.get("dosageInstruction"))
    ]
    known = [s for s in starts if s is not None]
    return min(known) if known else None


def _bounds_end(resource: dict) -> date | None:
    """Latest ``boundsPeriod.end`` of the dosage lines (inclusive), or None."""
    ends = []
    for line in arr(resource.get("dosageInstruction")):
        end = parse_date(obj(obj(obj(obj(line).get("timing")).get("repeat")).get("boundsPeriod")).get("end"))
        if end is not None:
            ends.append(end)
    return max(ends) if ends else None


def _has_bounds_duration(resource: dict) -> bool:
    return any(
        duration_days(obj(obj(obj(line).get("timing")).get("repeat")).get("boundsDuration")) is not None
        for line in arr(resource.get("dosageInstruction"))
    )


def _stop_date(resource: dict) -> date | None:
    return parse_date(resource.get("statusChanged")) or parse_date(obj(resource.get("meta")).get("lastUpdated"))


def _after(day: date | None) -> date | None:
    return add_days(day, 1) if day else None


# --------------------------------------------------------------------------------------------------
# The mapping
# --------------------------------------------------------------------------------------------------


def map_order(
    resource: Any,
    today: date,
    resolve_medication: MedicationResolver | None = None,
    *,
    is_draft: bool = False,
    drug: Drug | None = None,
    medd_table: MeddTable | None = None,
) -> MedicationOrder | None:
    """One medication resource → :class:`MedicationOrder`; None only when ``resource`` is not an object.

    ``resourceType`` MedicationDispense / MedicationStatement are mapped as such; anything else
    (including a missing type, and DSTU2 "MedicationOrder") is read as a MedicationRequest.
    ``today`` picks the dose step in effect. Drafts (from the hook context) start ``today`` when they
    carry no date. ``drug``: what :func:`~fhir_mappings.read.medication.identify_drug` already said of this
    resource (with the same resolver), so that a caller who looked first does not identify it twice.
    ``medd_table``: the MEDD conversion table (default: :func:`~cds_service.domain.medd.load_medd_table`).
    """
    if not isinstance(resource, dict):
        return None
    rtype = text(resource.get("resourceType"))
    if rtype not in ORDER_TYPES:
        rtype = MEDICATION_REQUEST
    if drug is None:
        drug = identify_drug(resource, resolve_medication)
    steps = _dose_steps(resource, drug)  # reads dosageInstruction, or a Statement's dosage
    dose = _daily_dose(resource, drug, today, steps=steps)  # the steps just read, not read again
    if rtype == MEDICATION_REQUEST:
        cov = _request_coverage(resource, drug, steps, today, is_draft)
    elif rtype == MEDICATION_DISPENSE:
        cov = _dispense_coverage(resource, drug, dose)
    else:
        cov = _statement_coverage(resource)
    start, supply_end, basis = cov.start, cov.supply_end, cov.basis
    if start is None and is_draft:
        start = today  # a draft (any shape) without dates starts when it is signed
    if start is None or (supply_end is not None and supply_end < start):
        supply_end = None  # cannot be placed, or ends before it starts: coverage unknown
    if supply_end is None:
        basis = None
    status = text(resource.get("status"))
    if rtype == MEDICATION_STATEMENT and text(resource.get("taken")) in ("n", "N"):
        status = "not-taken"  # STU3: taken = n is R4's status not-taken
    if status == "stopped" and supply_end is not None:
        stopped = _stop_date(resource)
        if stopped is not None and start is not None:
            # Coverage runs through the stop day; a stop before the start means never taken.
            supply_end = min(supply_end, max(start, add_days(stopped, 1) or supply_end))
    return MedicationOrder(
        id=text(resource.get("id")),
        resource_type=rtype,
        status=status,
        intent=text(resource.get("intent")),
        drug=drug,
        daily_dose=dose,
        medd=_medd(drug, dose, medd_table),
        steps=steps,
        start=start,
        supply_end=supply_end,
        authored_on=cov.authored,
        requester=cov.requester,
        requester_display=_requester_display(resource) if rtype != MEDICATION_DISPENSE else None,
        is_draft=is_draft,
        has_planned_end=cov.planned,
        supply_basis=basis,
    )


@dataclass(slots=True)
class _Coverage:
    start: date | None
    supply_end: date | None
    basis: str | None  # see MedicationOrder.supply_basis
    planned: bool
    authored: date | None = None
    requester: str | None = None


def _request_coverage(resource: dict, drug: Drug, steps, today: date, is_draft: bool) -> _Coverage:
    dispense = obj(resource.get("dispenseRequest"))
    validity = obj(dispense.get("validityPeriod"))
    authored = parse_date(resource.get("authoredOn")) or parse_date(resource.get("dateWritten"))  # DSTU2
    start = parse_date(validity.get("start")) or _bounds_start(resource) or authored
    if start is None and is_draft:
        start = today
    repeats = number(dispense.get("numberOfRepeatsAllowed"))
    fills = 1 + (int(repeats) if repeats is not None and repeats >= 0 else 0)

    supply_end: date | None = None
    basis: str | None = None
    if start is not None:
        days = duration_days(dispense.get("expectedSupplyDuration"))
        basis = "supply-duration"
        if days is None and len(steps) <= 1:
            first_dose = steps[0].daily_dose if steps else None
            if first_dose is None or first_dose.amount is None:
                first_dose = _daily_dose(resource, drug, start, steps=steps)
            days = supply_days_from_quantity(resource, drug, first_dose, dispense.get("quantity"))
            basis = "quantity"
        if days is not None:
            supply_end = add_days(start, math.ceil(days * fills - 1e-9))
    if supply_end is None:
        supply_end, basis = _after(parse_date(validity.get("end"))), "validity"
    if supply_end is None:
        # Dosage bounds: boundsPeriod.end as written, else the step ends the dose reader derived
        # (boundsDuration counted from the previous step).
        step_ends = [s.end for s in steps if s.end is not None]
        supply_end, basis = _after(_bounds_end(resource) or (max(step_ends) if step_ends else None)), "dosage-bounds"
    planned = (
        supply_end is not None
        or _has_bounds_duration(resource)
        or any(s.end is not None for s in steps)
    )
    return _Coverage(start, supply_end, basis if supply_end else None, planned, authored,
                     reference_of(resource.get("requester")))


def _dispense_coverage(resource: dict, drug: Drug, dose: DailyDose) -> _Coverage:
    start = parse_date(resource.get("whenHandedOver")) or parse_date(resource.get("whenPrepared"))
    supply_end, basis = None, "days-supply"
    if start is not None:
        days = duration_days(resource.get("daysSupply"))
        if days is None:
            days, basis = supply_days_from_quantity(resource, drug, dose, resource.get("quantity")), "quantity"
        if days is not None:
            supply_end = add_days(start, math.ceil(days - 1e-9))
    # The dispenser is not the prescriber: requester stays unknown for a dispense.
    return _Coverage(start, supply_end, basis if supply_end else None, supply_end is not None)


def _statement_coverage(resource: dict) -> _Coverage:
    period = obj(resource.get("effectivePeriod"))
    start = parse_date(period.get("start")) or parse_date(resource.get("effectiveDateTime"))
    end = parse_date(period.get("end"))
    # Without a start the end cannot be placed as start + supply (still a planned end).
    supply_end = _after(end) if end is not None and start is not None else None
    return _Coverage(start, supply_end, "effective-period" if supply_end else None, end is not None,
                     parse_date(resource.get("dateAsserted")))
