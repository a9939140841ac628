"""Morphine-equivalent daily dose (MEDD), factors as data (clinical-rules §4).

The factors live in one CSV (default ``cds_service/domain/data/medd_factors.csv``, columns
``ingredient,atc,form,unit,factor,min_daily,max_daily,source``). A region swaps it by setting
``TRAPPA_MEDD_TABLE`` to another CSV path; the variable is read at each call and each table file is
parsed once (cache keyed by path; the service parses its table at start-up, ``cds_service.web.app``).
Dose-banded factors (methadone) are rows with ``min_daily``/``max_daily``; patch factors are rows with unit ``ug/h``.

Honesty [clinical-rules §4]: an opioid whose MEDD cannot be computed gets ``Medd(value=None,
problem=...)`` — never 0 — and makes the patient's total incomplete. Values are rounded to one
decimal (mg oral morphine per day).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cds_service.domain.problems import Problem
from cds_service.domain.model import UG_PER_H, DailyDose, Drug, DrugClass, Form, Medd

# One order's MEDD above this is implausible (clinical-rules §4; the taper's ceilings rest on the same
# 3 000 mg, 50 × the 60 MEDD referral limit: cds_service/domain/data/depot_strengths.csv, docs/design-notes.md).
MAX_PLAUSIBLE_MEDD = 3000.0
DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "medd_factors.csv"
ENV_TABLE = "TRAPPA_MEDD_TABLE"
_COLUMNS = ("ingredient", "atc", "form", "unit", "factor", "min_daily", "max_daily", "source")


@dataclass(frozen=True)
class MeddFactor:
    """One row of the conversion table."""

    ingredient: str
    atc: tuple[str, ...]
    forms: frozenset[Form]
    unit: str  # "mg" (per day) or "ug/h" (patch while worn)
    factor: float  # mg oral morphine per unit
    min_daily: float | None
    max_daily: float | None
    source: str


@dataclass(frozen=True)
class MeddTable:
    path: str
    rows: tuple[MeddFactor, ...]

    def for_ingredient(self, ingredient: str) -> tuple[MeddFactor, ...]:
        return self._by_ingredient.get(ingredient, ())

    @cached_property
    def _by_ingredient(self) -> dict[str, tuple[MeddFactor, ...]]:
        """Rows per ingredient, in table order (built once per table: medd runs for every order)."""
        index: dict[str, list[MeddFactor]] = {}
        for r in self.rows:
            index.setdefault(r.ingredient, []).append(r)
        return {k: tuple(v) for k, v in index.items()}

    def ingredient_for_atc(self, atc: str | None) -> str | None:
        if not atc:
            return None
        return next((r.ingredient for r in self.rows if atc in r.atc), None)

    @property
    def ingredients(self) -> frozenset[str]:
        return frozenset(r.ingredient for r in self.rows)


_TABLES: dict[str, MeddTable] = {}


def _float(text: str, row: int, column: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"MEDD table row {row}: {column} {text!r} is not a number") from None


def load_medd_table(path: str | Path | None = None) -> MeddTable:
    """The conversion table at ``path`` (default: ``TRAPPA_MEDD_TABLE`` or the bundled table).

    Parsed once per path. A malformed table is a configuration error and raises ``ValueError``
    at first use (unlike FHIR input, which never raises).
    """
    key = str(path or os.environ.get(ENV_TABLE) or DEFAULT_TABLE)
    table = _TABLES.get(key)
    if table is not None:
        return table
    rows = []
    with open(key, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(line for line in fh if line.strip() and not line.lstrip().startswith("#"))
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"MEDD table {key}: missing columns {', '.join(missing)}")
        for n, row in enumerate(reader, start=2):
            try:
                forms = frozenset(Form(f.strip()) for f in row["form"].split("|") if f.strip())
            except ValueError:
                raise ValueError(f"MEDD table row {n}: unknown form in {row['form']!r}") from None
            factor = _float(row["factor"], n, "factor")
            if factor is None or not row["ingredient"].strip() or not forms or not row["unit"].strip():
                raise ValueError(f"MEDD table row {n}: ingredient, form, unit and factor are required")
            rows.append(MeddFactor(
                ingredient=row["ingredient"].strip().lower(),
                atc=tuple(a.strip().upper() for a in row["atc"].split() if a.strip()),
                forms=forms,
                unit=row["unit"].strip(),
                factor=factor,
                min_daily=_float(row["min_daily"], n, "min_daily"),
                max_daily=_float(row["max_daily"], n, "max_daily"),
                source=row["source"].strip(),
            ))
    table = MeddTable(key, tuple(rows))
    _TABLES[key] = table
    return table


def _band(rows: list[MeddFactor], amount: float) -> MeddFactor | None:
    """The row whose dose band holds ``amount``.

    Unbanded rows apply to any dose. Bands are inclusive integer ranges (methadone 1–20, 21–40, …):
    a dose between two bands (20.5 mg) belongs to the lower one — the band with the greatest lower
    bound not above the dose — as long as a higher band exists [clinical-rules §4, CDC 2016].
    """
    unbanded = [r for r in rows if r.min_daily is None and r.max_daily is None]
    if unbanded:
        return unbanded[0]
    below = [r for r in rows if (r.min_daily or 0.0) <= amount]
    if not below:
        return None
    row = max(below, key=lambda r: r.min_daily or 0.0)
    higher = any((r.min_daily or 0.0) > (row.min_daily or 0.0) for r in rows)
    if row.max_daily is not None and amount > row.max_daily and not higher:
        return None
    return row


_NOT_CONVERTIBLE: dict[DrugClass, Medd] = {
    cls: Medd(None, problem=Problem("medication-not-identified")) if cls is DrugClass.UNKNOWN
    else Medd(None, problem=Problem("not-an-opioid", drug_class=cls.value))
    for cls in DrugClass if cls is not DrugClass.OPIOID
}


def medd(drug: Drug, dose: DailyDose) -> Medd:
    """MEDD of one drug at one daily dose, from the conversion table (default
    ``cds_service/domain/data/medd_factors.csv``, replaceable via ``TRAPPA_MEDD_TABLE``).

    [clinical-rules §4] value = daily dose × factor of the row matching ingredient, form, unit and
    dose band. Unknown (value None, with the reason) for: an unidentified drug, a non-opioid
    (including LARO), an unknown ingredient or one without factor, an unknown daily dose, a form
    without factor (fentanyl other than a patch; buprenorphine of unknown form), a dose unit other
    than the factor's (a patch dose in mg) and a dose outside the bands. PRN doses arrive at their
    maximum (see :mod:`fhir_mappings.read.dosage`).
    """
    if drug.drug_class is not DrugClass.OPIOID:
        # Most orders of a record: the same immutable answer per class, not a new one per order.
        return _NOT_CONVERTIBLE[drug.drug_class]
    return _opioid_medd(load_medd_table(), drug, dose)


def medd_memo(drug: Drug, dose: DailyDose, table: MeddTable | None = None) -> Medd:
    """:func:`medd`, worked out once per drug object, dose amount and unit, and table.

    ``table``: the conversion table, when the caller has it at hand (:func:`load_medd_table` looks up
    ``TRAPPA_MEDD_TABLE`` each time: a record's mapping looks it up once, not once per opioid order).

    For the orders of a record: the renewals of one prescription share their Drug object (one per
    product, ``medication.identify_drug``) and dose, so the answer repeats hundreds of times. A known
    dose's MEDD depends on its amount and unit alone; an unknown dose is answered directly (its reason
    is the order's own). Entries hold the drug and table they are keyed by, so an id cannot be reused
    while its entry lives.
    """
    if drug.drug_class is not DrugClass.OPIOID:
        return _NOT_CONVERTIBLE[drug.drug_class]
    if table is None:
        table = load_medd_table()
    if dose.amount is None:
        return _opioid_medd(table, drug, dose)
    key = (id(drug), dose.amount, dose.unit, id(table))
    hit = _MEDD.get(key)
    if hit is not None and hit[0] is drug and hit[1] is table:
        return hit[2]
    result = _opioid_medd(table, drug, dose)
    if len(_MEDD) >= _MEDD_MAX:
        _MEDD.clear()  # bounded: memory stays flat
    _MEDD[key] = (drug, table, result)
    return result


_MEDD: dict[tuple, tuple[Drug, MeddTable, Medd]] = {}
_MEDD_MAX = 2048


def _opioid_medd(table: MeddTable, drug: Drug, dose: DailyDose) -> Medd:
    ingredient = drug.ingredient or table.ingredient_for_atc(drug.atc)
    if ingredient is None:
        return Medd(None, problem=Problem("opioid-ingredient-unknown"))
    rows = table.for_ingredient(ingredient)
    if not rows:
        return Medd(None, problem=Problem("no-conversion-factor", ingredient=ingredient))
    if dose.amount is None:
        return Medd(None, problem=Problem("daily-dose-unknown", cause=dose.problem))
    form = drug.form
    if form is Form.UNKNOWN and dose.unit == UG_PER_H:
        form = Form.PATCH  # a dose in µg/h can only be a transdermal patch
    form_rows = [r for r in rows if form in r.forms]
    if not form_rows:
        if form is Form.UNKNOWN:
            return Medd(None, problem=Problem("form-unknown", ingredient=ingredient))
        return Medd(None, problem=Problem("no-conversion-factor-form", ingredient=ingredient, form=form.value))
    unit_rows = [r for r in form_rows if r.unit == dose.unit]
    if not unit_rows:
        return Medd(None, problem=Problem("unit-factor-mismatch", unit=dose.unit or Problem("unit-unknown"),
                                                    factor_unit=form_rows[0].unit, ingredient=ingredient, form=form.value))
    row = _band(unit_rows, dose.amount)
    if row is None:
        return Medd(None, problem=Problem("dose-outside-bands", dose=dose.amount, unit=dose.unit, ingredient=ingredient))
    value = round(dose.amount * row.factor, 1)
    if value > MAX_PLAUSIBLE_MEDD:
        # A typo, not a dose (10 000 tablets): counting it would put an absurd number on every card and
        # decide the referral on it. Unknown, with the reason, like any dose we cannot trust.
        return Medd(None, factor=row.factor, source=row.source,
                    problem=Problem("dose-implausible", dose=dose.amount, unit=dose.unit, ingredient=ingredient))
    return Medd(value, factor=row.factor, source=row.source)
