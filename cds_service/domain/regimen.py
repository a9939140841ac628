"""The current regimen: what the patient takes now, read from everything the record holds.

The guideline's first practical step is "Identifiera vilken total dygnsdos patienten använder idag
(inklusive behovsdoser)" [RJL "Praktiska tips och trix"]; clinical-rules §4. Every rule and every
card's facts read this one value (:class:`~cds_service.domain.model.CurrentRegimen`), so the same response
never shows two different "current MEDD"s. Pure functions of domain values: no FHIR JSON, no I/O.

Which record orders are current (pinned by ``tests/domain/test_regimen.py``):

- **Kinds that matter**: opioids, LARO, benzodiazepines, z-drugs, gabapentinoids.
- **Status**: a MedicationRequest that is active, completed (fully dispensed) or without status, of
  a history intent; a MedicationDispense that is completed or without status; a MedicationStatement
  that is active or without status. Stopped, on-hold, cancelled, entered-in-error and "intended"
  never count: ended orders are not what the patient takes.
- **Reach**: the order has started (``start <= today``) and its coverage ends no more than the episode
  gap (30 days) before today: ``(today - supply_end).days <= gap_days``. A renewal 1–30 days after
  the tablets ran out is still ongoing use, at the last known dose — the most common renewal there is.
  For opioids the order must also lie in the current opioid episode (:mod:`.episodes`): no episode
  reaching today, no current opioid.
- **Latest per ingredient and form**: of the orders of one ingredient and form, those started on the
  latest start date count (an order split in two written together counts whole), and so does an
  order of *another strength* whose supply still covers today (10 mg + 5 mg tablets prescribed at
  different times are one dose) — unless it is a completed prescription, which the later active
  one supersedes. An older order of the same strength, or one whose supply has run
  out, has been replaced by the latest one (a titration from 10 mg to 20 mg tablets is not counted
  twice once the 10 mg supply has run out).
- **One treatment, one source**: prescriptions (MedicationRequest) say what was ordered; when the
  record has a prescription of an ingredient, its dispensings and statements are not counted beside
  it. Without one, the medication list (statement) is preferred to the dispensings of that
  ingredient and form, and the dispensings are read like prescriptions (latest dispensing date).

Then this call's drafts are applied: a draft of an ingredient and form replaces the record's
current orders of it (``replaced``) — only the matching strength when the record combines several
strengths and the draft names one of them — and a draft of a new ingredient or form adds to it. A
new start (no current episode) therefore has the draft as its regimen. A draft that names no
medication at all is not a medication (the facts leave it out).

MEDD: ``medd`` sums fixed daily doses and as-needed maxima (the referral thresholds, clinical-rules
§4), ``fixed_medd`` the fixed doses only (the taper starts from it, clinical-rules §3): an as-needed
part is converted with the order's own factor. Unknown parts make a total incomplete, never 0.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable, Sequence

from cds_service.domain.episodes import DEFAULT_GAP_DAYS, HISTORY_INTENTS, coverage, in_episode
from cds_service.domain.problems import Problem
from cds_service.domain.model import CurrentRegimen, DailyDose, DrugClass, Episode, MedicationOrder, TotalMedd
from cds_service.domain.model import MEDICATION_DISPENSE, MEDICATION_REQUEST, MEDICATION_STATEMENT

REGIMEN_CLASSES = frozenset(
    {DrugClass.OPIOID, DrugClass.LARO, DrugClass.BENZODIAZEPINE, DrugClass.Z_DRUG, DrugClass.GABAPENTINOID}
)

_CURRENT_STATUS = {
    MEDICATION_REQUEST: frozenset({"active", "completed", None}),
    MEDICATION_DISPENSE: frozenset({"completed", None}),
    MEDICATION_STATEMENT: frozenset({"active", None}),
}


def ingredient_key(order: MedicationOrder) -> str:
    """The ingredient, or — unidentified — the display, so two unknown opioids are not merged."""
    return order.drug.ingredient or (order.drug.display or "").strip().lower()


def _form_key(order: MedicationOrder) -> tuple:
    return (order.drug.drug_class, ingredient_key(order), order.drug.form)


def _recency(order: MedicationOrder) -> tuple:
    return (order.start or date.min, order.authored_on or date.min)


def is_current_status(order: MedicationOrder) -> bool:
    if order.is_draft or order.status not in _CURRENT_STATUS.get(order.resource_type, ()):
        return False
    return order.resource_type != MEDICATION_REQUEST or order.intent in HISTORY_INTENTS


def reaches_today(order: MedicationOrder, today: date, gap_days: int = DEFAULT_GAP_DAYS) -> bool:
    """Started, and its coverage ends at most ``gap_days`` before today (module docstring, "Reach")."""
    iv = coverage(order, today)
    return iv is not None and iv[0] <= today and (today - iv[1]).days <= gap_days


def _covers_today(order: MedicationOrder, today: date) -> bool:
    iv = coverage(order, today)
    return iv is not None and iv[0] <= today < iv[1]


def _latest_of_each(orders: Sequence[MedicationOrder], today: date) -> list[MedicationOrder]:
    """The orders of one source type that count (module docstring, "Latest per ingredient and form")."""
    groups: dict[tuple, list[MedicationOrder]] = {}
    for o in orders:
        groups.setdefault(_form_key(o), []).append(o)
    keep: list[MedicationOrder] = []
    for group in groups.values():
        latest = max(_recency(o) for o in group)
        chosen = [o for o in group if _recency(o) == latest]
        strengths = {o.drug.strength for o in chosen}
        others: dict[float | None, MedicationOrder] = {}
        for o in group:
            if o.drug.strength in strengths or not _covers_today(o, today):
                continue
            if o.resource_type == MEDICATION_REQUEST and o.status == "completed":
                continue  # a completed prescription beside a later one of the same drug: superseded
            if o.drug.strength not in others or _recency(o) > _recency(others[o.drug.strength]):
                others[o.drug.strength] = o
        keep += chosen + list(others.values())
    return keep


def record_regimen(
    orders: Iterable[MedicationOrder],
    episode: Episode,
    today: date,
    gap_days: int = DEFAULT_GAP_DAYS,
) -> tuple[MedicationOrder, ...]:
    """The record's current orders (module docstring), in record order."""
    candidates = []
    for o in orders:
        if o.drug.drug_class not in REGIMEN_CLASSES or not is_current_status(o):
            continue
        if not reaches_today(o, today, gap_days):
            continue
        if o.drug.is_opioid and not in_episode(o, episode, today):
            continue
        candidates.append(o)
    by_type = {t: [o for o in candidates if o.resource_type == t]
               for t in (MEDICATION_REQUEST, MEDICATION_STATEMENT, MEDICATION_DISPENSE)}
    kept = _latest_of_each(by_type[MEDICATION_REQUEST], today)
    prescribed = {(o.drug.drug_class, ingredient_key(o)) for o in kept}
    listed: set[tuple] = set()
    for rtype in (MEDICATION_STATEMENT, MEDICATION_DISPENSE):
        rest = [o for o in by_type[rtype]
                if (o.drug.drug_class, ingredient_key(o)) not in prescribed and _form_key(o) not in listed]
        chosen = _latest_of_each(rest, today)
        listed |= {_form_key(o) for o in chosen}
        kept += chosen
    keep = {id(o) for o in kept}
    return tuple(o for o in candidates if id(o) in keep)


def apply_drafts(
    record: Sequence[MedicationOrder], drafts: Iterable[MedicationOrder]
) -> tuple[tuple[MedicationOrder, ...], tuple[MedicationOrder, ...]]:
    """``(regimen, replaced)``: the record with this call's drafts applied (module docstring)."""
    drafts = [d for d in drafts if d.drug.drug_class in REGIMEN_CLASSES]
    replaced: dict[int, MedicationOrder] = {}
    for d in drafts:
        same = [o for o in record if _form_key(o) == _form_key(d)]
        strengths = {o.drug.strength for o in same}
        if len(strengths) > 1 and d.drug.strength in strengths:
            same = [o for o in same if o.drug.strength == d.drug.strength]
        replaced.update((id(o), o) for o in same)
    regimen = tuple(o for o in record if id(o) not in replaced) + tuple(drafts)
    return regimen, tuple(o for o in record if id(o) in replaced)


def _fixed_medd(order: MedicationOrder) -> float | None:
    """MEDD of the order's fixed part: its as-needed part converted with the order's own factor."""
    value, dose = order.medd.value, order.daily_dose
    if value is None:
        return None
    prn, amount = dose.prn_amount, dose.amount
    if not prn:
        return value
    if prn is None or not amount:
        return None
    return value * (amount - prn) / amount


def sum_medd(orders: Iterable[MedicationOrder], *, fixed_only: bool = False) -> TotalMedd:
    """Sum over the opioids given; incomplete (with their names) if any part is unknown.

    [clinical-rules §4] ``value`` is the sum of the known parts (None when no opioid part is known;
    0.0 when there is no opioid at all), ``unknown`` names the opioids that could not be converted, so
    a card can say "minst 45 MEDD; tramadol kunde inte räknas om" instead of pretending. With
    ``fixed_only``, a wholly as-needed order adds 0, a known one.
    """
    total, known, opioids = 0.0, 0, 0
    unknown: list[str] = []
    for order in orders:
        if not order.drug.is_opioid:
            continue
        opioids += 1
        value = _fixed_medd(order) if fixed_only else order.medd.value
        if value is None:
            if order.drug.display not in unknown:
                unknown.append(order.drug.display)
        else:
            total += value
            known += 1
    value = round(total, 1) if known or not opioids else None
    return TotalMedd(value=value, complete=not unknown, unknown=tuple(unknown))


def current_regimen(
    orders: Iterable[MedicationOrder],
    drafts: Iterable[MedicationOrder],
    episode: Episode,
    today: date,
    gap_days: int = DEFAULT_GAP_DAYS,
) -> CurrentRegimen:
    """The current regimen of a patient (module docstring)."""
    return regimen_of(record_regimen(orders, episode, today, gap_days), drafts)


def regimen_of(record: Iterable[MedicationOrder], drafts: Iterable[MedicationOrder] = ()) -> CurrentRegimen:
    """The regimen of record orders already chosen as current, with this call's drafts applied."""
    record = tuple(record)
    regimen, replaced = apply_drafts(record, drafts)
    return CurrentRegimen(
        orders=regimen,
        record=record,
        replaced=replaced,
        medd=sum_medd(regimen),
        fixed_medd=sum_medd(regimen, fixed_only=True),
        record_medd=sum_medd(record),
    )


def daily_dose(orders: Iterable[MedicationOrder], ingredient: str | None, *, fixed_only: bool = False) -> DailyDose:
    """The daily dose of ``ingredient`` summed over ``orders`` (a regimen's): an honest sum.

    Unknown (amount None, with a problem) when no order of that ingredient is there, when any part is
    unknown or when the units differ (a patch and tablets) — never a partial sum. With ``fixed_only``
    the as-needed maxima are left out: the dose the patient takes regularly.
    """
    if not ingredient:
        return DailyDose(None, None, basis="unknown", problem=Problem("ingredient-unknown"))
    mine = [o for o in orders if o.drug.is_opioid and o.drug.ingredient == ingredient]
    if not mine:
        return DailyDose(None, None, basis="unknown", problem=Problem("not-in-regimen", ingredient=ingredient))
    if any(not o.daily_dose.known for o in mine):
        return DailyDose(None, None, basis="unknown", problem=Problem("partly-unknown", ingredient=ingredient))
    units = {o.daily_dose.unit for o in mine}
    if len(units) != 1:
        return DailyDose(None, None, basis="unknown", problem=Problem("different-units", ingredient=ingredient))
    if fixed_only:
        total = sum(o.daily_dose.fixed_amount or 0.0 for o in mine)
        return DailyDose(round(total, 6), units.pop(), basis="dosage")
    total = sum(o.daily_dose.amount or 0.0 for o in mine)
    prn = sum(o.daily_dose.prn_amount or 0.0 for o in mine)
    return DailyDose(round(total, 6), units.pop(), prn=prn > 0, basis="dosage",
                     prn_part=round(prn, 6) if 0 < prn < total else None)
