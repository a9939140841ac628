"""Daily dose from ``dosageInstruction`` (clinical-rules §4).

Units of the result: mg per day, or µg/h while worn for patches (a 72-hour fentanyl patch and a
7-day buprenorphine patch are both "µg/h while worn": the change interval does not enter).

Per dosage line:

* dose: R4 ``doseAndRate[].doseQuantity`` / ``doseRange`` (or ``rateQuantity`` in µg/h), STU3
  ``doseQuantity`` / ``doseRange`` directly on the dosage; a range counts at its high end.
  Units: mass (mg, g, µg/ug/mcg, UCUM or free text), µg/h or mg/h (patches), units of
  presentation (tablet, TAB, st, {tbl}, dos, patch, plåster …) × the drug's strength, ml × mg/ml.
* administrations per day: ``timing.repeat.frequency`` (``frequencyMax`` when larger) per
  ``period``/``periodUnit`` (h, d, wk, mo …); else the count of ``when`` / ``timeOfDay``; else
  ``timing.code`` (QD, BID, TID, QID, Q6H …). ``dayOfWeek`` scales a daily rhythm by days/7.
* ``maxDosePerPeriod`` (mg or tablets per period) caps the daily dose; for PRN (``asNeeded``) the
  daily dose is the maximum allowed — the smaller of frequency × dose and ``maxDosePerPeriod`` —
  and is marked ``prn`` [clinical-rules §4: PRN counts at its maximum].

A line with no structured dose at all (no ``doseAndRate``/``doseQuantity``, no ``maxDosePerPeriod``)
but a ``text`` — the commonest Swedish dosage ("1x2", "1 tablett morgon och kväll", "2 st vid behov,
högst 4 per dygn", "1 depotplåster var 7:e dag") — is read by :mod:`fhir_mappings.read.dosage_text`, basis
"free-text"; a text it does not recognise stays "dosage in free text only".

Lines with the same ``sequence`` add up; different sequences are consecutive steps (a taper).
With no usable dosage: ``dispenseRequest.quantity`` ÷ ``expectedSupplyDuration`` (MedicationDispense:
``quantity`` ÷ ``daysSupply``) × strength, basis "supply". Otherwise unknown with a problem — never 0.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, timedelta

from fhir_mappings.codes import tables as codes
from fhir_mappings.read.dosage_text import daily_from_text
from cds_service.runtime.caches import BoundedCache
from cds_service.runtime.outline import content_key
from fhir_mappings.codes.tables import MG_PER_ML
from cds_service.domain.problems import Problem
from cds_service.domain.model import MG, UG_PER_H, DailyDose, DoseStep, Drug, Form

_MASS, _RATE, _DAILY = "mass", "rate", "daily"


def dosage_lines(resource: dict) -> list[dict]:
    """The Dosage elements of a MedicationRequest/Dispense (``dosageInstruction``) or
    MedicationStatement (``dosage``)."""
    if not isinstance(resource, dict):
        return []
    for key in ("dosageInstruction", "dosage"):
        value = resource.get(key)
        if isinstance(value, list):
            return [d for d in value if isinstance(d, dict)]
        if isinstance(value, dict):
            return [value]
    return []


def dose_steps(resource: dict, drug: Drug) -> tuple[DoseStep, ...]:
    """One DoseStep per distinct ``Dosage.sequence`` (lines with the same sequence add up).

    Dates from ``timing.repeat.boundsPeriod`` (or boundsDuration from the previous step's end).
    Unsequenced dosage lines form a single step with sequence 1. Never raises.
    """
    key = _steps_key(resource, drug)
    if key is not None:
        hit = _STEPS.get(key)
        if hit is not None and hit[0] is drug:
            return hit[1]
    try:
        steps, dated_by_resource = _steps(resource, drug)
    except Exception:  # malformed FHIR: no usable steps, the caller reports unknown
        return ()
    result = tuple(steps)
    if key is not None and not dated_by_resource:
        _STEPS.put(key, (drug, result))
    return result


# Dose steps, cached per (dosage JSON, drug). A record renews the same prescription again and again:
# the same dosage lines for the same product, read thousands of times. The steps depend on the lines
# and on the drug's form and strength only — except when a boundsDuration step has to start at the
# resource's own date, and then the result is not cached. The key is the exact JSON text of the
# dosage — the text it was decoded from when the request decoder shared it (``cds_service.runtime.outline``),
# else the dosage serialised here (anything that is not plain JSON is read without the cache) — and
# the drug object itself (``identify_drug`` shares one Drug per product); the entry holds the drug, so
# its id cannot be reused while the entry lives.
_STEPS: BoundedCache = BoundedCache(maxsize=2048)  # (JSON, id(drug)) → (drug, steps)
_STEPS_KEY_TEXT = 4096  # a longer dosage is read every time (memory stays bounded)


def _json_text_function():
    try:
        from json.encoder import c_make_encoder, encode_basestring
    except ImportError:  # pragma: no cover - CPython ships the C encoder
        c_make_encoder = None
    if c_make_encoder is None:  # pragma: no cover
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode

    def not_json(value: object) -> object:
        raise TypeError("not JSON")

    # Compact, no circularity check (a cycle ends in RecursionError: read without the cache).
    encode = c_make_encoder(None, not_json, encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(encode(value, 0))


_json_text = _json_text_function()


def _steps_key(resource: object, drug: Drug) -> tuple[str | bytes, int] | None:
    """(JSON of the dosage element dosage_lines reads, id of the drug), or None: not cacheable."""
    if type(resource) is not dict:
        return None
    for name in ("dosageInstruction", "dosage"):
        value = resource.get(name)
        if isinstance(value, (list, dict)):
            shared = content_key(value)  # decoded once from this text (cds_service.runtime.outline)
            if shared is not None:
                return (shared, id(drug))
            try:
                text = _json_text(value)
            except Exception:  # not plain JSON (or nested beyond the recursion limit): no cache
                return None
            return (text, id(drug)) if len(text) <= _STEPS_KEY_TEXT else None
    return None


def daily_dose(resource: dict, drug: Drug, today: date, *,
               steps: tuple[DoseStep, ...] | None = None) -> DailyDose:
    """Daily dose in effect on ``today`` (the current step; the first step if none started yet).

    Falls back to ``dispenseRequest.quantity`` ÷ ``expectedSupplyDuration``; else unknown with a
    ``problem`` — never zero. Never raises. ``steps``: ``dose_steps(resource, drug)`` when the
    caller has them already (the dosage is then not read a second time).
    """
    try:
        return _daily_dose(resource, drug, today, steps)
    except Exception:  # malformed FHIR: unknown, never a crash and never zero
        return DailyDose(None, None, basis="unknown", problem=Problem("dosage-unreadable"))


def current_step(steps: tuple[DoseStep, ...], today: date) -> DoseStep | None:
    """The step in effect on ``today``: the latest started one still running; when all started
    steps have ended, the last of them; when none has started (or none is dated), the first."""
    if not steps:
        return None
    started = [s for s in steps if s.start is not None and s.start <= today]
    if not started:
        return steps[0]
    running = [s for s in started if s.end is None or today <= s.end]
    return max(running or started, key=lambda s: s.start)


# ---------------------------------------------------------------------------------------------


def _daily_dose(resource: dict, drug: Drug, today: date, steps: tuple[DoseStep, ...] | None) -> DailyDose:
    if steps is None:
        steps = dose_steps(resource, drug)
    if steps:
        step = current_step(steps, today)
        if step.daily_dose.known or len(steps) > 1:
            # A taper step we cannot read stays unknown: the supply would average the whole taper.
            return step.daily_dose
        problem = step.daily_dose.problem
        prn = step.daily_dose.prn
    else:
        problem, prn = Problem("no-dosage-instructions"), False
    supply = supply_dose(resource, drug)
    if supply.known:
        return supply
    return DailyDose(None, None, prn=prn, basis="unknown", problem=problem)


def _dicts(value: object) -> list[dict]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


_UNREAD = object()  # a value not read yet


@dataclass(slots=True)
class _Line:
    sequence: int
    amount: float | None
    unit: str | None
    prn: bool
    problem: Problem | None
    start: date | None
    end: date | None
    duration: float | None  # boundsDuration in days
    prn_part: float | None = None  # a free-text line of a fixed and an as-needed part: the as-needed one
    free_text: bool = False  # the amount was read from Dosage.text (dosage_text)
    counted: bool = False  # dose in units of presentation × the drug's strength


def parse_date(value: object) -> date | None:
    """Date part of a FHIR date/dateTime ("2024", "2024-03", "2024-03-05T10:00:00+01:00")."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    try:
        y = int(value[0:4])
        m = int(value[5:7]) if len(value) >= 7 else 1
        d = int(value[8:10]) if len(value) >= 10 else 1
        return date(y, m, d)
    except ValueError:
        return None


def _sequence(line: dict) -> int:
    seq = line.get("sequence")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else 1


def _is_prn(line: dict) -> bool:
    if line.get("asNeededBoolean") is True or line.get("asNeeded") is True:
        return True
    return isinstance(line.get("asNeededCodeableConcept"), dict) or isinstance(line.get("asNeededFor"), list)


def _dose_quantity(line: dict) -> dict | None:
    """The dose of one administration (range: high, else low); R4 doseAndRate or STU3 direct."""
    for holder in _dicts(line.get("doseAndRate")) + [line]:
        for key in ("doseQuantity", "rateQuantity"):
            q = holder.get(key)
            if isinstance(q, dict) and q.get("value") is not None:
                return q
        rng = holder.get("doseRange")
        if isinstance(rng, dict):
            for end in ("high", "low"):
                q = rng.get(end)
                if isinstance(q, dict) and q.get("value") is not None:
                    return q
    return None


def to_amount(q: object, drug: Drug, what: str = "dose") -> tuple[float | None, str | Problem]:
    """Quantity → (amount, kind) with kind "mass" (mg), "rate" (µg/h) or "daily" (mg/day);
    or (None, problem)."""
    if not isinstance(q, dict):
        return None, Problem("quantity-missing", what=what)
    value = codes.number(q.get("value"))
    unit = codes.unit_key(q)
    if value is None or value < 0:
        return None, Problem("quantity-value-missing", what=what)
    if unit is None:
        return None, Problem("quantity-no-unit", what=what)
    if unit in codes.RATE_TO_UG_H:
        return value * codes.RATE_TO_UG_H[unit], _RATE
    if unit in codes.MASS_PER_DAY_TO_MG:
        return value * codes.MASS_PER_DAY_TO_MG[unit], _DAILY
    if unit in codes.MASS_TO_MG:
        return value * codes.MASS_TO_MG[unit], _MASS
    if unit in codes.COUNT_UNITS:
        # "n of the product": its strength per unit makes them mg, or µg/h for patches.
        if drug.strength is None:
            return None, Problem("strength-unknown")
        if (unit in codes.PATCH_COUNT_UNITS and drug.strength_unit != UG_PER_H) or (
                unit in codes.ORAL_COUNT_UNITS and drug.strength_unit == UG_PER_H):
            # "1 patch" of a tablet, "1 tablet" of a patch: a contradiction in the order, not a count
            return None, Problem("unit-form-mismatch", unit=unit)
        if drug.strength_unit == UG_PER_H:
            return value * drug.strength, _RATE
        if drug.strength_unit == MG:
            return value * drug.strength, _MASS
        return None, Problem("unit-not-convertible", unit=unit)
    if unit in codes.VOLUME_TO_ML:
        if drug.strength is not None and drug.strength_unit == MG_PER_ML:
            return value * codes.VOLUME_TO_ML[unit] * drug.strength, _MASS
        return None, Problem("unit-no-ml-strength", unit=unit)
    return None, Problem("unit-not-convertible", unit=unit)


def _per_day(line: dict) -> tuple[float | None, Problem | None]:
    """Administrations per day, or (None, problem)."""
    timing = line.get("timing") if isinstance(line.get("timing"), dict) else {}
    repeat = timing.get("repeat") if isinstance(timing.get("repeat"), dict) else {}
    days_of_week = repeat.get("dayOfWeek")
    week_share = len(days_of_week) / 7.0 if isinstance(days_of_week, list) and 0 < len(days_of_week) < 7 else 1.0
    freq = codes.number(repeat.get("frequency"))
    freq_max = codes.number(repeat.get("frequencyMax"))
    if freq is not None or freq_max is not None:
        f = max(x for x in (freq, freq_max) if x is not None)
        period = codes.number(repeat.get("period"))
        unit_days = codes.period_days(repeat.get("periodUnit"))
        if period is None and unit_days is not None:
            period = 1.0
        if period is None or unit_days is None or period <= 0:
            return None, Problem("frequency-without-period")
        per_day = f / (period * unit_days)
        return per_day * (week_share if unit_days <= 1 else 1.0), None
    events = [x for x in (repeat.get("timeOfDay"), repeat.get("when")) if isinstance(x, list) and x]
    if events:
        return float(len(events[0])) * week_share, None
    code = timing.get("code")
    if isinstance(code, dict):
        for c in _dicts(code.get("coding")) + [{"code": code.get("text")}]:
            value = c.get("code")
            if isinstance(value, str) and value.strip().upper() in codes.TIMING_CODES:
                return float(codes.TIMING_CODES[value.strip().upper()]) * week_share, None
    return None, Problem("no-frequency")


def _max_per_day(line: dict, drug: Drug) -> tuple[float | None, Problem | None]:
    """``maxDosePerPeriod`` as mg/day (R4 Ratio; R5 list of Ratios: the strictest)."""
    caps: list[float] = []
    problem = None
    for ratio in _dicts(line.get("maxDosePerPeriod")):
        amount, kind = to_amount(ratio.get("numerator"), drug, "maximum dose")
        days = codes.duration_days(ratio.get("denominator"))
        if amount is None:
            problem = kind
            continue
        if kind != _MASS or days is None:
            problem = Problem("max-dose-unreadable")
            continue
        caps.append(amount / days)
    return (min(caps) if caps else None), (None if caps else problem)


def _line(line: dict, drug: Drug) -> _Line:
    prn = _is_prn(line)
    timing = line.get("timing") if isinstance(line.get("timing"), dict) else {}
    repeat = timing.get("repeat") if isinstance(timing.get("repeat"), dict) else {}
    bounds = repeat.get("boundsPeriod") if isinstance(repeat.get("boundsPeriod"), dict) else {}
    start, end = parse_date(bounds.get("start")), parse_date(bounds.get("end"))
    duration = codes.duration_days(repeat.get("boundsDuration"))
    result = _Line(_sequence(line), None, None, prn, None, start, end, duration)

    q = _dose_quantity(line)
    cap, cap_problem = _max_per_day(line, drug)
    if q is None:
        if cap is not None:  # "at most 40 mg per day" with no single dose: the maximum is the dose
            result.amount, result.unit = cap, MG
            return result
        text = line.get("text")
        if isinstance(text, str) and text.strip():
            return _free_text_line(result, text, drug)
        result.problem = Problem("no-dose")
        return result
    amount, kind = to_amount(q, drug)
    result.counted = amount is not None and codes.unit_key(q) in codes.COUNT_UNITS
    if amount is None:
        if prn and cap is not None:  # PRN: the stated maximum is what counts, even if one dose is unreadable
            result.amount, result.unit = cap, MG
        else:
            result.problem = kind
        return result
    if kind == _RATE:
        # Patch: the dose is what is worn, whatever the change interval (clinical-rules §4: µg/h while worn).
        result.amount, result.unit = amount, UG_PER_H
        return result
    if drug.form is Form.PATCH or drug.strength_unit == UG_PER_H:
        result.problem = Problem("patch-dose-as-mass")
        return result
    if kind == _DAILY:
        per_day_amount: float | None = amount
        freq_problem = None
    else:
        per_day, freq_problem = _per_day(line)
        per_day_amount = amount * per_day if per_day is not None else None
    candidates = [x for x in (per_day_amount, cap) if x is not None]
    if not candidates:
        result.problem = (Problem("prn-without-maximum") if prn else freq_problem) or cap_problem
        return result
    result.amount, result.unit = min(candidates), MG
    return result


def _free_text_line(result: _Line, text: str, drug: Drug) -> _Line:
    """A line whose dose is only in ``text``: read by dosage_text (a structured ``asNeeded`` makes all
    of it as-needed); an unrecognised text stays unknown, "dosage in free text only"."""
    reading = daily_from_text(text, drug, result.prn)
    result.prn = reading.prn
    if reading.amount is None:
        result.problem = reading.problem
        return result
    result.amount, result.unit, result.prn_part, result.free_text = (
        reading.amount, reading.unit, reading.prn_part, True)
    return result


def _resource_start(resource: dict) -> date | None:
    """Where a first step without its own start begins: validity start, authoredOn, or the
    statement's/dispense's own date."""
    dr = resource.get("dispenseRequest") if isinstance(resource.get("dispenseRequest"), dict) else {}
    validity = dr.get("validityPeriod") if isinstance(dr.get("validityPeriod"), dict) else {}
    effective = resource.get("effectivePeriod") if isinstance(resource.get("effectivePeriod"), dict) else {}
    for value in (validity.get("start"), resource.get("authoredOn"), effective.get("start"),
                  resource.get("effectiveDateTime"), resource.get("whenHandedOver")):
        d = parse_date(value)
        if d is not None:
            return d
    return None


def _steps(resource: dict, drug: Drug) -> tuple[list[DoseStep], bool]:
    """(the steps, whether a step was dated from the resource's own start date)."""
    raws = dosage_lines(resource)
    if len(raws) == 1:  # the usual case: one line is one step
        line = _line(raws[0], drug)
        groups: dict[int, list[_Line]] = {line.sequence: [line]}
    else:
        groups = {}
        for raw in raws:
            line = _line(raw, drug)
            groups.setdefault(line.sequence, []).append(line)
    steps: list[DoseStep] = []
    # Where an undated first step starts: only needed for boundsDuration steps, so read lazily.
    cursor: date | None | object = _UNREAD
    read_start = False
    for seq in sorted(groups) if len(groups) > 1 else groups:
        lines = groups[seq]
        prn = any(ln.prn for ln in lines)
        problem = next((ln.problem for ln in lines if ln.problem), None)
        units = {ln.unit for ln in lines}
        if problem is None and len(units) > 1:
            problem = Problem("mixed-units")
        if problem is None:
            total = round(sum(ln.amount for ln in lines), 6)
            # Fixed and as-needed lines in one order (or both in one free-text line, "1x2 samt 1 vid
            # behov"): keep the as-needed part apart, so that the taper can start from the regular
            # dose (CurrentRegimen, clinical-rules §3).
            mixed = (prn and len(lines) > 1) or any(ln.prn_part is not None for ln in lines)
            prn_part = round(sum(ln.prn_part if ln.prn_part is not None else (ln.amount if ln.prn else 0.0)
                                 for ln in lines), 6) if mixed else None
            basis = "free-text" if any(ln.free_text for ln in lines) else "dosage"
            dose = DailyDose(total, lines[0].unit, prn=prn, basis=basis, prn_part=prn_part,
                             counted=any(ln.counted for ln in lines))
        else:
            dose = DailyDose(None, None, prn=prn, basis="unknown", problem=problem)
        starts = [ln.start for ln in lines if ln.start]
        start = min(starts) if starts else None
        ends = [ln.end for ln in lines]
        end = max(ends) if ends and all(ends) else None
        durations = [ln.duration for ln in lines if ln.duration]
        if start is None and durations:
            if cursor is _UNREAD:
                cursor, read_start = _resource_start(resource), True
            if cursor is not None:
                start = cursor
        if end is None and start is not None and durations:
            end = start + timedelta(days=math.ceil(max(durations)) - 1)
        if end is not None:
            cursor = end + timedelta(days=1)
        steps.append(DoseStep(sequence=seq, start=start, end=end, daily_dose=dose))
    return steps, read_start


def supply_dose(resource: dict, drug: Drug) -> DailyDose:
    """Daily dose from the dispensed supply: quantity ÷ supply duration × strength (clinical-rules §10)."""
    if not isinstance(resource, dict):
        return DailyDose(None, None, basis="unknown", problem=Problem("no-supply"))
    if resource.get("resourceType") == "MedicationDispense":
        quantity, days = resource.get("quantity"), codes.duration_days(resource.get("daysSupply"))
    else:
        dr = resource.get("dispenseRequest") if isinstance(resource.get("dispenseRequest"), dict) else {}
        quantity, days = dr.get("quantity"), codes.duration_days(dr.get("expectedSupplyDuration"))
    if not isinstance(quantity, dict) or days is None:
        return DailyDose(None, None, basis="unknown", problem=Problem("no-supply-duration"))
    if drug.form is Form.PATCH or drug.strength_unit == UG_PER_H:
        # Patches worn at once cannot be told from patches per day without the change interval.
        return DailyDose(None, None, basis="unknown", problem=Problem("patch-supply"))
    amount, kind = to_amount(quantity, drug, "dispense quantity")
    if amount is None or kind != _MASS:
        return DailyDose(None, None, basis="unknown", problem=kind if amount is None else Problem("supply-unit-not-convertible"))
    return DailyDose(round(amount / days, 6), MG, basis="supply",
                     counted=codes.unit_key(quantity) in codes.COUNT_UNITS)
