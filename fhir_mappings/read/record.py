"""Plans, flags and diagnoses already in the record (clinical-rules §2, §3, §8).

Taper plans [RJL "Allmänna principer"; clinical-rules §2–§3]
------------------------------------------------------------
A **taper CarePlan** is a CarePlan with, in ``category[]`` or ``activity[].detail.code``, the SNOMED CT
code 874903005 "Management of opioid dosage tapering" (system SNOMED CT or none), or our own
``urn:trappa:careplan`` / ``opioid-taper``. Its steps are read, in this order of preference:

1. ``activity[].detail`` entries carrying ``dailyAmount`` (the daily dose of the step: mg, or µg/h
   for patches) and ``scheduledPeriod`` (start, inclusive end). Steps are ordered by start; a missing
   end runs to the day before the next step. Details with status cancelled / entered-in-error are
   skipped; a ``dailyAmount`` we cannot read is an unknown dose, not zero.
2. Otherwise the dose steps of the MedicationRequest(s) linked to the plan — referenced by the plan
   (``activity[].reference``) or referring to it (``MedicationRequest.basedOn`` → ``CarePlan/<id>``);
   with several linked requests, their steps are concatenated in order of start.
Responsible physician: ``CarePlan.author``, else the linked request's requester. Ingredient: from
``detail.productCodeableConcept`` / ``productReference``, else the linked request's drug.

A **taper MedicationRequest** is a record opioid order (not linked to a taper CarePlan) whose dose
steps decrease (:attr:`MedicationOrder.is_decreasing_steps`). Because a taper is prescribed one or
two steps at a time [RJL "Allmänna principer": "förskriv 1–2 steg i taget"], consecutive taper
requests of one ingredient — the next starting within 30 days of the previous one's end, or after
an open-ended one it supersedes — are one taper attempt: its steps are concatenated, and its status, author and outcome are those of the
latest request. (Otherwise every stopped-and-renewed piece would count as a failed attempt.)

Active plan: status active (on-hold is not enough), and not ended before today (``period.end`` / last step
end). The most recently started one is reported; a CarePlan is preferred over a MedicationRequest.
Previous tapers: status completed → outcome "completed"; revoked (CarePlan) or stopped
(MedicationRequest) → "failed" (the referral rules count these, clinical-rules §5 "upprepade
misslyckade nedtrappningsförsök"); on-hold, unknown, or active but past its end → outcome None
(unknown). entered-in-error, cancelled and draft are not tapers.

Prescribing restriction Flag [RJL "Vilka krav kan jag som läkare ställa?"; clinical-rules §3]
--------------------------------------------------------------------------------------------
Ours: ``Flag.code`` coding ``urn:trappa:flag`` / ``prescribing-restriction``. Local codings are
recognised by text (code.text or any coding display or code, case-insensitive, with or without
Swedish diacritics): "förskrivningsrestriktion", "prescribing restriction", "prescription restriction",
"prescribing-restriction"; or "uppmärksamhetssignal" (a general alert signal) *together with* an opioid
or prescribing word (opioid, opiat, narkotik, beroendeframkallande, förskriv) — an alert signal
alone is also used for allergies, infections etc. Active: status active (or missing: a restriction
is not ignored for a missing status) and ``period`` covering today. The latest-starting one is
reported.

Conditions [VGR §"Långvarig smärta"; clinical-rules §5, §7, §8]
-------------------------------------------------------------
Codes are accepted by code whatever the system URI (ICD-10, ICD-10-SE OIDs, local URIs), with or
without dot ("R52.2A" = "R522A"); codings from SNOMED CT, LOINC, ATC and RxNorm are not read as ICD.
ICD-11: MG30* (chronic pain); other ICD-11 codes are not interpreted. Counted when ``clinicalStatus``
is active / recurrence / relapse or absent, ``verificationStatus`` is not refuted / entered-in-error,
and no abatement date lies before today. Psychiatric comorbidity: every F code outside F10–F19
(F00–F09 and F20–F99). Mixed dependence: F19, or two or more different F1x groups.

Exclusions [clinical-rules §8]
------------------------------
"cancer" (C00–C97), "palliative" (Z51.5), "laro" (a LARO drug, ATC N07BC: a record order that is
active or covers today, or a draft), "under-18" (age from ``Patient.birthDate`` on ``today``; a
partial birth date that leaves the age ambiguous, or a placeholder birth date implying an age over
130, gives age None, and no exclusion).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any, Iterable, Mapping

from fhir_mappings.read.medication import MedicationResolver, identify_drug
from cds_service.domain.model import (
    MG,
    UG_PER_H,
    Conditions,
    DailyDose,
    DoseStep,
    DrugClass,
    MedicationOrder,
    RestrictionFlag,
    TaperPlan,
)
from cds_service.domain.episodes import coverage
from cds_service.domain.problems import Problem
from fhir_mappings.read.orders import (
    MEDICATION_REQUEST,
    arr,
    number,
    obj,
    parse_date,
    display_of,
    reference_of,
    split_reference,
    text,
)
from fhir_mappings.codes.systems import (
    ATC,
    CAREPLAN_TAPER_CODE,
    FLAG_RESTRICTION_CODE,
    LOINC,
    RXNORM,
    SNOMED,
    SNOMED_OPIOID_TAPER,
    TRAPPA_CAREPLAN,
    TRAPPA_FLAG,
)

TAPER_CHAIN_GAP_DAYS = 30
MAX_PLAUSIBLE_AGE = 130  # older birth dates are placeholders ("0001-01-01"): age unknown

OUTCOME_COMPLETED = "completed"
OUTCOME_FAILED = "failed"
_FAILED_STATUSES = frozenset({"revoked", "stopped"})
_NOT_A_TAPER = frozenset({"entered-in-error", "cancelled", "draft"})
_TAPER_REQUEST_INTENTS = frozenset({"order", "plan", "original-order", "instance-order", "filler-order", None})

# --------------------------------------------------------------------------------------------------
# Taper plans
# --------------------------------------------------------------------------------------------------


def _codings(concept: Any) -> list[dict]:
    return [c for c in arr(obj(concept).get("coding")) if isinstance(c, dict)]


def _is_taper_coding(coding: dict) -> bool:
    system, code = coding.get("system"), coding.get("code")
    if code == SNOMED_OPIOID_TAPER and system in (SNOMED, None):
        return True
    return system == TRAPPA_CAREPLAN and code == CAREPLAN_TAPER_CODE


def is_taper_careplan(careplan: Any) -> bool:
    """A CarePlan coded as an opioid taper (category or activity detail code; see module docstring)."""
    cp = obj(careplan)
    concepts = list(arr(cp.get("category")))
    concepts += [obj(obj(a).get("detail")).get("code") for a in arr(cp.get("activity"))]
    return any(_is_taper_coding(c) for concept in concepts for c in _codings(concept))


def _daily_amount(quantity: Any) -> DailyDose:
    """``detail.dailyAmount`` as a DailyDose: mg/day or µg/h; unknown (not zero) otherwise."""
    q = obj(quantity)
    value = number(q.get("value"))
    unit = (text(q.get("code")) or text(q.get("unit")) or "").strip().lower().replace("μ", "µ")
    if value is None or value < 0:
        return DailyDose(None, None, basis="unknown", problem=Problem("taper-step-amount-missing"))
    if unit in ("mg", "mg/d", "mg/day", "mg/24h", "mg/dygn"):
        return DailyDose(value, MG)
    if unit in ("ug", "µg", "mcg", "ug/d", "µg/d", "mcg/d", "ug/day", "µg/day", "mcg/day"):
        return DailyDose(value / 1000, MG)
    if unit in ("ug/h", "µg/h", "mcg/h", "ug/hr", "µg/hr", "mcg/hr"):
        return DailyDose(value, UG_PER_H)
    return DailyDose(None, None, basis="unknown", problem=Problem("taper-step-unit", unit=unit or "none"))


def careplan_steps(careplan: Any) -> tuple[DoseStep, ...]:
    """Dose steps from ``activity[].detail`` (``scheduledPeriod`` + ``dailyAmount``), ordered by start."""
    raw = []
    for activity in arr(obj(careplan).get("activity")):
        detail = obj(obj(activity).get("detail"))
        if "dailyAmount" not in detail or detail.get("status") in ("cancelled", "entered-in-error"):
            continue
        period = obj(detail.get("scheduledPeriod"))
        raw.append((parse_date(period.get("start")), parse_date(period.get("end")), _daily_amount(detail.get("dailyAmount"))))
    raw.sort(key=lambda r: (r[0] is None, r[0] or date.min))
    steps = []
    for i, (start, end, dose) in enumerate(raw):
        if end is None and i + 1 < len(raw) and raw[i + 1][0] is not None:
            end = raw[i + 1][0] - timedelta(days=1)
        steps.append(DoseStep(sequence=i + 1, start=start, end=end, daily_dose=dose))
    return tuple(steps)


def _careplan_ingredient(careplan: dict, resolve: MedicationResolver | None) -> str | None:
    for activity in arr(careplan.get("activity")):
        detail = obj(obj(activity).get("detail"))
        shaped = {"resourceType": MEDICATION_REQUEST}
        if isinstance(detail.get("productCodeableConcept"), dict):
            shaped["medicationCodeableConcept"] = detail["productCodeableConcept"]
        elif isinstance(detail.get("productReference"), dict):
            shaped["medicationReference"] = detail["productReference"]
        else:
            continue
        drug = identify_drug(shaped, resolve)
        if drug.ingredient:
            return drug.ingredient
    return None


def _outcome(status: str | None) -> str | None:
    if status == "completed":
        return OUTCOME_COMPLETED
    if status in _FAILED_STATUSES:
        return OUTCOME_FAILED
    return None


def _renumber(steps: Iterable[DoseStep]) -> tuple[DoseStep, ...]:
    ordered = sorted(steps, key=lambda s: (s.start is None, s.start or date.min, s.sequence))
    return tuple(DoseStep(i + 1, s.start, s.end, s.daily_dose) for i, s in enumerate(ordered))


def _order_span(order: MedicationOrder) -> tuple[date | None, date | None]:
    """(first day, inclusive last day) of an order's steps, else of its coverage."""
    start = next((s.start for s in order.steps if s.start), None) or order.start
    ends = [s.end for s in order.steps]
    end = ends[-1] if ends and ends[-1] is not None else None
    if end is None and order.supply_end is not None:
        end = order.supply_end - timedelta(days=1)
    return start, end


def _careplan_plan(cp: dict, linked: list[MedicationOrder], resolve: MedicationResolver | None) -> TaperPlan:
    steps = careplan_steps(cp)
    if not steps and linked:
        steps = _renumber(s for o in linked for s in o.steps)
    period = obj(cp.get("period"))
    start = parse_date(period.get("start")) or next((s.start for s in steps if s.start), None)
    end = parse_date(period.get("end")) or (steps[-1].end if steps else None)
    author, author_display = reference_of(cp.get("author")), display_of(cp.get("author"))
    if author is None:
        first = next((o for o in linked if o.requester), None)
        author, author_display = (first.requester, first.requester_display) if first else (None, None)
    ingredient = _careplan_ingredient(cp, resolve) or next((o.drug.ingredient for o in linked if o.drug.ingredient), None)
    status = text(cp.get("status"))
    return TaperPlan(
        source="CarePlan", id=text(cp.get("id")), status=status, author=author, steps=steps,
        ingredient=ingredient, start=start, end=end, outcome=_outcome(status), author_display=author_display,
    )


def _request_tapers(orders: list[MedicationOrder]) -> list[TaperPlan]:
    """Chain decreasing opioid requests of one ingredient into taper attempts (module docstring)."""
    by_ingredient: dict[str, list[tuple[date | None, date | None, MedicationOrder]]] = {}
    for o in orders:
        start, end = _order_span(o)
        by_ingredient.setdefault(o.drug.ingredient or o.drug.display.lower(), []).append((start, end, o))
    plans = []
    for pieces in by_ingredient.values():
        pieces.sort(key=lambda p: (p[0] is None, p[0] or date.min, p[2].authored_on or date.min))
        chains: list[list[tuple]] = []
        for piece in pieces:
            if chains:
                prev_end = chains[-1][-1][1]
                # prev_end is inclusive: (start - prev_end).days - 1 uncovered days. An open-ended
                # piece followed by another was superseded by it: same attempt.
                if piece[0] is not None and (prev_end is None or (piece[0] - prev_end).days <= TAPER_CHAIN_GAP_DAYS + 1):
                    chains[-1].append(piece)
                    continue
            chains.append([piece])
        for chain in chains:
            last = chain[-1][2]
            plans.append(TaperPlan(
                source="MedicationRequest", id=last.id, status=last.status, author=last.requester,
                steps=_renumber(s for _, _, o in chain for s in o.steps), ingredient=last.drug.ingredient,
                start=chain[0][0], end=chain[-1][1], outcome=_outcome(last.status),
                author_display=last.requester_display,
            ))
    return plans


def taper_plans(
    careplans: Iterable[Any],
    requests: Iterable[tuple[dict, MedicationOrder]],
    today: date,
    resolve_medication: MedicationResolver | None = None,
) -> tuple[TaperPlan | None, tuple[TaperPlan, ...]]:
    """(the active taper plan or None, previous tapers ordered by start).

    ``requests``: the record's MedicationRequests as (raw resource, mapped order) pairs — the raw
    resource is needed for ``basedOn`` links to CarePlans.
    """
    # One pass over the requests: the links to CarePlans, and the opioid requests that may be tapers.
    by_id: dict[str, MedicationOrder] = {}
    based_on: dict[str, list[MedicationOrder]] = {}
    maybe_tapers: list[MedicationOrder] = []
    for raw, o in requests:
        if not isinstance(o, MedicationOrder):
            continue
        if o.id:
            by_id[o.id] = o
        for ref in arr(obj(raw).get("basedOn")):
            rtype, rid = split_reference(obj(ref).get("reference"))
            if rid and rtype in ("CarePlan", None):
                based_on.setdefault(rid, []).append(o)
        if (o.drug.is_opioid and not o.is_draft and o.status not in _NOT_A_TAPER and o.status is not None
                and o.intent in _TAPER_REQUEST_INTENTS):
            maybe_tapers.append(o)

    plans: list[TaperPlan] = []
    linked_ids: set[int] = set()
    for cp in careplans:
        if not isinstance(cp, dict) or not is_taper_careplan(cp) or text(cp.get("status")) in _NOT_A_TAPER:
            continue
        linked = list(based_on.get(text(cp.get("id")) or "", []))
        for activity in arr(cp.get("activity")):
            rtype, rid = split_reference(obj(obj(activity).get("reference")).get("reference"))
            if rid in by_id and rtype in (MEDICATION_REQUEST, None) and by_id[rid] not in linked:
                linked.append(by_id[rid])
        linked.sort(key=lambda o: (o.start or date.min))
        linked_ids.update(id(o) for o in linked)
        plans.append(_careplan_plan(cp, linked, resolve_medication))

    taper_requests = [o for o in maybe_tapers if id(o) not in linked_ids and o.is_decreasing_steps]
    plans += _request_tapers(taper_requests)

    def is_active(plan: TaperPlan) -> bool:
        return plan.status == "active" and (plan.end is None or plan.end >= today)

    active = [p for p in plans if is_active(p)]
    active.sort(key=lambda p: (p.source == "CarePlan", p.start or date.min, p.id or ""))
    chosen = active[-1] if active else None
    previous = sorted((p for p in plans if not is_active(p)), key=lambda p: (p.start or date.min, p.id or ""))
    return chosen, tuple(previous)


# --------------------------------------------------------------------------------------------------
# Prescribing-restriction flag
# --------------------------------------------------------------------------------------------------


def _fold(value: str) -> str:
    """Lower case without diacritics: "Förskrivningsrestriktion" → "forskrivningsrestriktion"."""
    return "".join(c for c in unicodedata.normalize("NFKD", value.lower()) if not unicodedata.combining(c))


_RESTRICTION_WORDS = ("forskrivningsrestriktion", "prescribing restriction", "prescription restriction", "prescribing-restriction")
_ALERT_WORDS = ("uppmarksamhetssignal",)
_OPIOID_WORDS = ("opioid", "opiat", "narkotik", "beroendeframkallande", "forskriv")


def is_restriction_flag(flag: Any) -> bool:
    """A Flag that is a prescribing restriction (our coding or a recognised local one; module docstring)."""
    code = obj(obj(flag).get("code"))
    codings = _codings(code)
    if any(c.get("system") == TRAPPA_FLAG and c.get("code") == FLAG_RESTRICTION_CODE for c in codings):
        return True
    texts = [code.get("text")] + [c.get("display") for c in codings] + [c.get("code") for c in codings]
    folded = " ".join(_fold(t) for t in texts if isinstance(t, str))
    if any(w in folded for w in _RESTRICTION_WORDS):
        return True
    return any(w in folded for w in _ALERT_WORDS) and any(w in folded for w in _OPIOID_WORDS)


def restriction_flag(flags: Iterable[Any], today: date) -> RestrictionFlag | None:
    """The active prescribing-restriction Flag on ``today`` (latest start), or None."""
    found = []
    for flag in flags:
        if not isinstance(flag, dict) or flag.get("status") not in ("active", None) or not is_restriction_flag(flag):
            continue
        period = obj(flag.get("period"))
        start, end = parse_date(period.get("start")), parse_date(period.get("end"))
        if (start is not None and start > today) or (end is not None and end < today):
            continue
        found.append(RestrictionFlag(id=text(flag.get("id")), author=reference_of(flag.get("author")), start=start, end=end))
    found.sort(key=lambda f: (f.start or date.min, f.id or ""))
    return found[-1] if found else None


# --------------------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------------------

_NOT_ICD_SYSTEMS = frozenset({SNOMED, LOINC, ATC, RXNORM})
_ICD10_RE = re.compile(r"^[A-Z][0-9]{2}[0-9A-Z]{0,5}$")
_ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
_EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})


def normalize_icd(code: Any) -> str | None:
    """Upper case, no dots, dashes or spaces: "r52.2a" → "R522A"; None for non-strings."""
    if not isinstance(code, str):
        return None
    cleaned = re.sub(r"[\s.\-]", "", code.upper())
    return cleaned or None


def _status_code(value: Any) -> str | None:
    """A CodeableConcept's code (R4) or a plain code string (STU3)."""
    if isinstance(value, str):
        return value
    for c in _codings(value):
        if isinstance(c.get("code"), str):
            return c["code"]
    return None


def condition_counts(condition: Any, today: date) -> bool:
    """Whether a Condition is current and believed (clinical/verification status, abatement)."""
    c = obj(condition)
    clinical = _status_code(c.get("clinicalStatus"))
    if clinical is not None and clinical not in _ACTIVE_CLINICAL:
        return False
    if _status_code(c.get("verificationStatus")) in _EXCLUDED_VERIFICATION:
        return False
    abated = parse_date(c.get("abatementDateTime")) or parse_date(obj(c.get("abatementPeriod")).get("end"))
    return not (clinical is None and abated is not None and abated < today)


def condition_codes(condition: Any) -> list[str]:
    """Normalised ICD-10 / ICD-11 codes of a Condition (module docstring: accepted by code)."""
    codes = []
    for coding in _codings(obj(condition).get("code")):
        if text(coding.get("system")) in _NOT_ICD_SYSTEMS:
            continue
        code = normalize_icd(coding.get("code"))
        if code and (_ICD10_RE.match(code) or code.startswith("MG30")):
            codes.append(code)
    return codes


def _dotted(code: str) -> str:
    return code[:3] + ("." + code[3:] if len(code) > 3 else "")


def read_conditions(conditions: Iterable[Any], today: date) -> Conditions:
    """The diagnoses the rules need (clinical-rules §5, §7, §8; VGR long-term pain codes)."""
    pain = cancer = palliative = False
    substance: set[str] = set()
    psychiatric: set[str] = set()
    for condition in conditions:
        if not isinstance(condition, dict) or not condition_counts(condition, today):
            continue
        for code in condition_codes(condition):
            if code.startswith(("R521", "R522", "MG30")):
                pain = True
            elif code[0] == "C" and code[1:3].isdigit() and int(code[1:3]) <= 97:
                cancer = True
            elif code.startswith("Z515"):
                palliative = True
            elif code[0] == "F" and code[1:3].isdigit():
                (substance if 10 <= int(code[1:3]) <= 19 else psychiatric).add(_dotted(code))
    groups = {c[:3] for c in substance}
    return Conditions(
        long_term_pain=pain,
        cancer=cancer,
        palliative=palliative,
        substance_use=tuple(sorted(substance)),
        opioid_dependence="F11" in groups,
        sedative_dependence="F13" in groups,
        mixed_dependence="F19" in groups or len(groups) >= 2,
        psychiatric=tuple(sorted(psychiatric)),
    )


# --------------------------------------------------------------------------------------------------
# Age and exclusions
# --------------------------------------------------------------------------------------------------


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def age_on(birth_date: Any, today: date) -> int | None:
    """Age in whole years on ``today``; None if unknown or ambiguous (partial date across a birthday)."""
    if not isinstance(birth_date, str):
        return None
    m = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", birth_date.strip())
    if not m:
        return None
    try:
        year = int(m.group(1))
        if m.group(3):
            earliest = latest = date(year, int(m.group(2)), int(m.group(3)))
        elif m.group(2):
            month = int(m.group(2))
            earliest = date(year, month, 1)
            latest = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1))
        else:
            earliest, latest = date(year, 1, 1), date(year, 12, 31)
    except ValueError:
        return None
    if earliest > today:
        return None
    oldest, youngest = _age(earliest, today), _age(latest, today)
    if oldest != youngest or oldest > MAX_PLAUSIBLE_AGE:
        return None
    return oldest


def exclusions(
    conditions: Conditions,
    orders: Iterable[MedicationOrder],
    drafts: Iterable[MedicationOrder],
    age: int | None,
    today: date,
) -> tuple[str, ...]:
    """Why the taper rules do not apply to this patient [clinical-rules §8; module docstring]."""
    found = []
    if conditions.cancer:
        found.append("cancer")
    if conditions.palliative:
        found.append("palliative")
    for o in orders:
        if o.drug.drug_class is DrugClass.LARO and o.status not in ("entered-in-error", "cancelled", "draft"):
            iv = coverage(o, today)
            if o.status == "active" or (iv is not None and iv[0] <= today < iv[1]):
                found.append("laro")
                break
    else:
        if any(d.drug.drug_class is DrugClass.LARO for d in drafts):
            found.append("laro")
    if age is not None and age < 18:
        found.append("under-18")
    return tuple(found)


def patient_resource(patients: Iterable[Any], patient_id: str) -> Mapping[str, Any]:
    """The Patient with ``id == patient_id``, else the first Patient, else an empty object."""
    first = None
    for p in patients:
        if not isinstance(p, dict):
            continue
        if p.get("id") == patient_id:
            return p
        first = first or p
    return first or {}
