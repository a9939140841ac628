"""Dated opioid taper schedules (clinical-rules §2, [RJL "När behövs nedtrappning?"], [RJL "Praktiska tips och trix"]).

From the drug, its current daily dose, the exposure class and the chosen pace, build a schedule of
givable dose steps that ends at zero. Pure functions: data in, a :class:`TaperSchedule` out.

Sources
-------
* Pace by exposure: [RJL "När behövs nedtrappning?"], clinical-rules §2.
* Slower at the end, never an increase, warn beyond ~6 months: [RJL "Allmänna principer och viktigt att
  tänka på"], clinical-rules §2.
* Taper with a depot formulation of the opioid in use, daily dose spread evenly over the day:
  [RJL "Praktiska tips och trix"].

The pace, precisely
-------------------
Every pace is a curve ``R(t)``: the largest cumulative cut, as mg/day (or µg/h) below the *starting*
daily dose ``D0``, allowed ``t`` days after the start (see :func:`allowed_reduction`).

* ``FAST``     R(t) = 10 % · D0 · t / 3                                  (steps ≥ 3 days, any day)
* ``WEEKLY``   R(t) = 10 % · D0 · t / 7 up to day 49 (30 % of D0 left),
               then 70 % · D0 + 5 % · D0 · (t − 49) / 7                   (steps of whole weeks)
* ``SLOW``     R(t) = 10 % · D0 · t / 28       (whole weeks, ≥ 2; a cut smaller than 10 % may come
               sooner than 4 weeks, in proportion: it is the rate that is kept)
* ``TRAMADOL`` R(t) as ``WEEKLY``, but every step lasts ≥ 4 weeks           (whole weeks)
               and cuts ≤ 10 % of D0 (or the smallest givable cut). Decision: "4 weeks on every
               dose step" is read literally — with 50 mg tablets a 25 % step still lasts 4 weeks
               (200 mg: 16 weeks), bounded by the long-term curve, instead of stretching each step
               to 10 weeks (40 weeks in all, beyond the guideline's own half-year warning).
* custom     R(t) = p · D0 · t / d for a :class:`CustomPace` of p per step of d days, set in the planner
               (steps of d days; whole weeks when d is a multiple of 7).

The schedule's invariant (tested): the first step is D0, or, when D0 cannot be given, the largest
givable dose below it (the only rounding slack allowed: at most one smallest unit per
administration, unless a hard unit ceiling caps the dose); every later step k, starting ``t_k`` days after the
start, has ``D0 − dose_k ≤ R(t_k)``; and the first zero-dose day ``T`` has ``D0 ≤ R(T)``. So the
cumulative average pace is never faster than the pace. When rounding to the strengths forces a cut
larger than the curve allows, the step before the cut simply lasts longer.

Besides the curve, one step never cuts more than the nominal step (10 % of D0; 5 % of D0 once 30 %
of D0 remains on ``WEEKLY``) unless no smaller cut is givable, in which case it cuts by the smallest
givable cut. A cut is also never smaller than 5 % of the current dose, so that steps mean something
(it rules out e.g. 25 → 24 µg/h by swapping one 25 patch for two 12 patches).

Givable doses
-------------
Each administration is a sum of available strengths: at most :data:`MAX_TABLETS_PER_ADMINISTRATION`
tablets, or :data:`MAX_PATCHES` patches worn at once. More units only where that many of the largest
strength cannot hold the dose, and for the first step, so the patient's current dose is given as it
is (e.g. fentanyl 137 µg/h = 100 + 25 + 12). A table's ``max_units_per_administration`` is a hard
ceiling that is never widened (paracetamol in a codeine combination). A dose within 5 % below
another that needs fewer units is not used (two "12" fentanyl patches deliver what one "25" does).
Tablets: the day's dose is split over ``administrations_per_day`` (2 for depot tablets: morning
and evening) as evenly as the strengths allow — morning and evening never differ by more than the
smallest strength; the extra goes to the evening (then the morning, for three or more doses a day).
A daily dose below two smallest tablets is given once, in the evening (``per_administration`` then
holds 0 for the morning). Patches: one application per change interval (72 h fentanyl, 7 days
buprenorphine); step lengths are multiples of the change interval.

Ending: steps hold only non-zero doses; ``TaperSchedule.end`` is the first day at zero dose (the day
after the last step's inclusive ``end``).

Implausible doses
-----------------
A daily dose above the row's ``max_daily_dose`` is not computed: the schedule has no steps and the
warning ``dose-implausible`` (the card asks to check the prescription). Nor is one that would need
more than :data:`MAX_UNITS_PER_ADMINISTRATION` units of the largest strength per administration (the
bound that holds for a region's table without ceilings). Such a dose is a typo — 1000 tablets, mg
written for µg — not a taper to plan. The default ceilings (docs/design-notes.md): 3 000 mg MEDD for
drugs limited only by their opioid effect; 5 × the label's maximum daily dose where something else
limits it (tramadol, tapentadol, paracetamol in codeine tablets, buprenorphine); ketobemidone, with
its one 5 mg tablet, the units bound (300 mg).

The search is bounded by construction, whatever the dose: at most 20 units per administration (plus
the few extra a widened start may use), 6 administrations a day and 12 strengths (the table is checked
when it is read), and within those the amounts of one administration are built unit by unit and the
sums and splits of a day only from amounts within one smallest strength of each other (an uneven
split is refused anyway). The work of one schedule is then a function of the strengths row alone;
tests/domain/test_taper_bounds.py counts it.
"""
from __future__ import annotations

import csv
import math
from bisect import bisect_left, bisect_right
import os
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import Enum
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Mapping

from cds_service.domain.medd import load_medd_table, medd_memo
from cds_service.domain.model import MG, UG_PER_H, DailyDose, Drug, DrugClass, Exposure, Form, IdentifiedBy

DEFAULT_STRENGTHS_TABLE = Path(__file__).parent / "data" / "depot_strengths.csv"
STRENGTHS_TABLE_ENV = "TRAPPA_STRENGTHS_TABLE"

# [RJL "Allmänna principer"]: a taper drawn out beyond about half a year causes needless suffering.
SIX_MONTHS_DAYS = 183
MAX_TABLETS_PER_ADMINISTRATION = 4  # more tablets per dose is impractical and error-prone
MAX_PATCHES = 2  # two patches worn at once at most: more is hard to handle and to check
MIN_CUT_OF_CURRENT = 0.05  # a step cuts at least 5 % of the current dose (see module docstring)
# Bounds on the search for givable doses, so that its work never grows with the dose (see
# "Implausible doses" in the module docstring). A dose needing more units than this per administration
# (of the largest strength) is reported as implausible, not computed.
MAX_UNITS_PER_ADMINISTRATION = 20
MAX_ADMINISTRATIONS_PER_DAY = 6  # every 4 hours; the table's rows use 1–4
MAX_STRENGTHS = 12  # strengths of one product line

# Warning codes carried in TaperSchedule.warnings (builders and cards translate them).
W_LONG = "longer-than-6-months"
W_NO_DEPOT = "no-depot-formulation"
W_BELOW_SMALLEST = "dose-below-smallest-strength"
W_START_ROUNDED = "start-dose-rounded-down"
W_NO_STRENGTHS = "no-strengths-known"
W_UNIT_MISMATCH = "unit-mismatch"
W_ACUTE = "acute-stop-possible"
W_NO_DOSE = "no-dose"
W_MEDD_UNKNOWN = "medd-unknown"  # some step's MEDD could not be computed (TaperStep.medd is None)
W_IMPLAUSIBLE = "dose-implausible"  # above the row's max_daily_dose, or beyond the units bound: no steps
W_ADMINISTRATIONS = "administrations-unsupported"  # more than MAX_ADMINISTRATIONS_PER_DAY a day: no steps

_SCALE = 1000  # doses are computed in integer thousandths, so 0.2 + 0.4 is exactly 0.6
_EPS = 1e-6


class Pace(str, Enum):
    """Taper pace (clinical-rules §2, [RJL "När behövs nedtrappning?"])."""

    FAST = "fast"  # subacute (2 weeks – 3 months), or acute on request: 10 % every 2–3 days
    WEEKLY = "weekly"  # long-term (> 3 months): 10 %/week to 30 % of the start, then 5 %/week
    SLOW = "slow"  # several years: 10 % every 4 weeks
    TRAMADOL = "tramadol"  # tramadol: 4 weeks on every dose step (serotonergic withdrawal)


@dataclass(frozen=True)
class _PaceRule:
    rate: float  # fraction of D0 cut per `per_days` days
    per_days: int
    min_days: int  # shortest step
    grid_days: int  # steps last a multiple of this (for tablets)
    step_cut: float  # nominal largest cut per step, fraction of D0
    slow_from: float | None = None  # fraction of D0 remaining after which the late rate applies
    late_rate: float | None = None
    late_step_cut: float | None = None


_RULES: dict[Pace, _PaceRule] = {
    # [RJL "När behövs nedtrappning?"] "minskning om 10% av dygnsdosen varannan till var tredje dag".
    Pace.FAST: _PaceRule(rate=0.10, per_days=3, min_days=3, grid_days=1, step_cut=0.10),
    # [RJL "När behövs nedtrappning?"] FASUT: 10 %/week; NKK: 5–10 %/week down to 30 %, then slower.
    Pace.WEEKLY: _PaceRule(rate=0.10, per_days=7, min_days=7, grid_days=7, step_cut=0.10,
                           slow_from=0.30, late_rate=0.05, late_step_cut=0.05),
    # [RJL "När behövs nedtrappning?"] several years: "ca 10% var fjärde vecka".
    Pace.SLOW: _PaceRule(rate=0.10, per_days=28, min_days=14, grid_days=7, step_cut=0.10),
    # [RJL "När behövs nedtrappning?"] tramadol: "förslagsvis 4 veckor på varje dos-steg". Steps of
    # 10 % (or the smallest givable cut), each held 4 weeks, never ahead of the long-term curve.
    Pace.TRAMADOL: _PaceRule(rate=0.10, per_days=7, min_days=28, grid_days=7, step_cut=0.10,
                             slow_from=0.30, late_rate=0.05, late_step_cut=0.10),
}


def default_pace(exposure: Exposure, ingredient: str | None) -> Pace | None:
    """Default pace for an exposure class; ``None`` means stop without a taper.

    [RJL "När behövs nedtrappning?"], clinical-rules §2:
    When use is acute (< 2 weeks) or absent, Then no taper is needed (stop at once; a FAST taper only
    on request). When subacute, Then FAST. When long-term (≥ 90 days), Then WEEKLY. When several
    years, Then SLOW. When the opioid is tramadol (subacute or long-term), Then TRAMADOL (4 weeks per
    step); multi-year tramadol keeps SLOW, which already holds every step 4 weeks and is slower.
    """
    if exposure in (Exposure.NONE, Exposure.ACUTE):
        return None
    if exposure is Exposure.MULTI_YEAR:
        return Pace.SLOW
    if (ingredient or "").strip().lower() == "tramadol":
        return Pace.TRAMADOL
    if exposure is Exposure.SUBACUTE:
        return Pace.FAST
    return Pace.WEEKLY


@dataclass(frozen=True)
class CustomPace:
    """A pace set with the patient in the planner: ``percent`` of the starting daily dose per step of
    ``days`` days ("Patienten själv har möjlighet att (inom rimliga gränser) påverka t.ex.
    nedtrappningstakt och tidsplan", [RJL "Hur hjälper jag min patient att hitta motivation?"]).

    Its curve is R(t) = percent · D0 · t / days, its steps last ``days`` (whole weeks when ``days`` is
    a multiple of 7, else whole days) and cut at most ``percent`` of D0 — the rules of the named paces,
    with the physician's numbers. Whether it lies within the guideline's limits is the caller's to say
    (cds_service/domain/taper_plan_inputs.py: a warning, not a block). Valid: 0 < percent ≤ 100, days ≥ 1.
    """

    percent: float
    days: int
    value: ClassVar[str] = "custom"  # like Pace.value, for code that names a schedule's pace

    def __post_init__(self):
        if not (math.isfinite(self.percent) and 0 < self.percent <= 100) or int(self.days) != self.days or self.days < 1:
            raise ValueError(f"custom pace: percent must be in (0, 100] and days a whole number ≥ 1, "
                             f"not {self.percent!r} and {self.days!r}")

    def rule(self) -> _PaceRule:
        cut = self.percent / 100
        return _PaceRule(rate=cut, per_days=self.days, min_days=self.days,
                         grid_days=7 if self.days % 7 == 0 else 1, step_cut=cut)


def _rule_of(pace: "Pace | CustomPace") -> _PaceRule:
    return pace.rule() if isinstance(pace, CustomPace) else _RULES[pace]


def allowed_reduction(pace: "Pace | CustomPace", start_dose: float, elapsed_days: float) -> float:
    """Largest cumulative cut below ``start_dose`` that ``pace`` allows after ``elapsed_days`` days.

    The pace curve R(t) of the module docstring (clinical-rules §2; slower at the end per
    [RJL "Allmänna principer"]).
    """
    return _allowed(_rule_of(pace), start_dose, elapsed_days)


def _allowed(rule: _PaceRule, start_dose: float, elapsed_days: float) -> float:
    if rule.late_rate is None or rule.slow_from is None:
        return start_dose * rule.rate * elapsed_days / rule.per_days
    switch = (1 - rule.slow_from) / rule.rate * rule.per_days  # day the curve reaches 30 % left
    if elapsed_days <= switch:
        return start_dose * rule.rate * elapsed_days / rule.per_days
    return start_dose * (1 - rule.slow_from) + start_dose * rule.late_rate * (elapsed_days - switch) / rule.per_days


# ---------------------------------------------------------------------------------------------
# Strengths table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StrengthRow:
    """One row of the strengths table: the formulation a taper of ``ingredient`` is given in."""

    ingredient: str
    form: Form
    strengths: tuple[float, ...]
    unit: str
    administrations_per_day: int
    change_interval_days: int | None  # patches: days between changes
    max_units_per_administration: int | None  # a hard ceiling (e.g. paracetamol in a combination)
    depot: bool  # False: no depot formulation exists, an immediate-release product is used
    atc: str | None
    ingredient_sv: str
    product_sv: str
    product_en: str
    source: str
    note: str
    max_daily_dose: float | None = None  # a larger daily dose is implausible (a typo): no schedule
    # The other active ingredients of the product the row gives (ingredient keys, sorted): ("naloxone",)
    # for oxycodone/naloxone depot, ("paracetamol",) for paracetamol/codeine. Strengths are the opioid part.
    combination: tuple[str, ...] = ()
    # Codes of the product per strength, where the table knows them: RxNorm (verified against the CDC
    # opioid CDS value sets) and NPL ids (a region's own). The suggested MedicationRequest carries the
    # systems the draft came with (fhir_mappings.write.builders.medication_concept).
    rxnorm: tuple[tuple[float, str], ...] = ()
    npl: tuple[tuple[float, str], ...] = ()

    def code_for(self, system: str, strength: float) -> str | None:
        pairs = self.rxnorm if system == "rxnorm" else self.npl if system == "npl" else ()
        return next((code for s, code in pairs if s == strength), None)


def _codes(text: str | None, strengths: tuple[float, ...], what: str, ingredient: str) -> tuple[tuple[float, str], ...]:
    """"10:1049502 15:1049543" → ((10.0, "1049502"), (15.0, "1049543")); each strength must be the row's."""
    out = []
    for pair in (text or "").split():
        strength, sep, code = pair.partition(":")
        try:
            value = float(strength)
        except ValueError:
            value = None
        if not sep or not code.strip() or value is None or value not in strengths:
            raise ValueError(f"strengths table: {what} {pair!r} for {ingredient} is not 'strength:code' of one of its strengths")
        out.append((value, code.strip()))
    return tuple(out)


def _parse_row(raw: dict[str, str]) -> StrengthRow:
    strengths = tuple(sorted({float(s) for s in raw["strengths"].replace(";", "/").split("/") if s.strip()}))
    if not strengths or any(s <= 0 for s in strengths):
        raise ValueError(f"strengths table: bad strengths {raw['strengths']!r} for {raw['ingredient']}")
    unit = raw["unit"].strip()
    if unit not in (MG, UG_PER_H):
        raise ValueError(f"strengths table: unit {unit!r} is neither {MG!r} nor {UG_PER_H!r}")
    if len(strengths) > MAX_STRENGTHS:
        raise ValueError(f"strengths table: more than {MAX_STRENGTHS} strengths for {raw['ingredient']}")
    interval = (raw.get("change_interval_days") or "").strip()
    max_units = (raw.get("max_units_per_administration") or "").strip()
    if max_units and not 1 <= int(max_units) <= MAX_UNITS_PER_ADMINISTRATION:
        raise ValueError(f"strengths table: max_units_per_administration {max_units} for {raw['ingredient']} "
                         f"is not 1–{MAX_UNITS_PER_ADMINISTRATION}")
    per_day = int(raw["administrations_per_day"])
    if not 1 <= per_day <= MAX_ADMINISTRATIONS_PER_DAY:
        raise ValueError(f"strengths table: administrations_per_day {per_day} for {raw['ingredient']} "
                         f"is not 1–{MAX_ADMINISTRATIONS_PER_DAY}")
    ceiling = (raw.get("max_daily_dose") or "").strip()
    if ceiling and not (math.isfinite(float(ceiling)) and float(ceiling) > 0):
        raise ValueError(f"strengths table: bad max_daily_dose {ceiling!r} for {raw['ingredient']}")
    return StrengthRow(
        ingredient=raw["ingredient"].strip().lower(),
        form=Form(raw["form"].strip()),
        strengths=strengths,
        unit=unit,
        administrations_per_day=per_day,
        change_interval_days=int(interval) if interval else None,
        max_units_per_administration=int(max_units) if max_units else None,
        depot=raw["depot"].strip().lower() in ("yes", "true", "1"),
        atc=raw.get("atc", "").strip() or None,
        ingredient_sv=raw.get("ingredient_sv", "").strip() or raw["ingredient"].strip(),
        product_sv=raw.get("product_sv", "").strip() or raw["ingredient"].strip(),
        product_en=raw.get("product_en", "").strip() or raw["ingredient"].strip(),
        source=raw.get("source", "").strip(),
        note=raw.get("note", "").strip(),
        combination=tuple(sorted(c.strip().lower() for c in (raw.get("combination") or "").split("/") if c.strip())),
        rxnorm=_codes(raw.get("rxnorm"), strengths, "rxnorm", raw["ingredient"]),
        npl=_codes(raw.get("npl"), strengths, "npl", raw["ingredient"]),
        max_daily_dose=float(ceiling) if ceiling else None,
    )


@lru_cache(maxsize=8)
def _load_table(path: str) -> Mapping[tuple[str, Form, tuple[str, ...]], StrengthRow]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [_parse_row(r) for r in csv.DictReader(line for line in fh if not line.lstrip().startswith("#"))]
    return MappingProxyType({(r.ingredient, r.form, r.combination): r for r in rows})


def strengths_table(path: str | os.PathLike | None = None) -> Mapping[tuple[str, Form, tuple[str, ...]], StrengthRow]:
    """The strengths table: ``path``, else ``$TRAPPA_STRENGTHS_TABLE``, else the bundled default.

    Parsed once per path, as the MEDD table is: the file is configuration, read when the service
    starts (``create_app`` loads it), and a changed file takes effect at the next restart. Looking at
    the file again on every call would put a system call inside each evaluation (and give the
    interpreter lock away to other threads mid-evaluation). Read-only: one table serves all calls.
    A malformed table raises ``ValueError`` (configuration error: the service does not start).
    """
    return _load_table(os.fspath(path or os.environ.get(STRENGTHS_TABLE_ENV) or DEFAULT_STRENGTHS_TABLE))


def strengths_for(ingredient: str, form: Form, table: Mapping | None = None,
                  companions: tuple[str, ...] = ()) -> StrengthRow | None:
    """The row a taper of ``ingredient`` currently given as ``form`` uses, or None.

    [RJL "Praktiska tips och trix"]: taper with a depot formulation of the opioid the patient uses —
    so the product the patient has is kept where the table has it: the same combination first
    (oxycodone/naloxone stays oxycodone/naloxone, ``companions`` = ("naloxone",)), then the plain
    opioid, then any combination of it the table has (plain codeine → paracetamol/codeine); the caller
    says on the card when the row's product differs from the patient's. Patches stay patches (the unit
    is µg/h). Any other form goes to the depot row; without one, to a row of the same form, then to
    immediate release (the schedule then warns no-depot-formulation).
    """
    table = strengths_table() if table is None else table
    key = (ingredient or "").strip().lower()
    wanted = tuple(sorted(companions))
    forms = (Form.PATCH,) if form is Form.PATCH else (Form.DEPOT, form, Form.IMMEDIATE)
    combinations = [wanted] + ([()] if wanted else [])
    for combination in combinations:
        for candidate in forms:
            row = table.get((key, candidate, combination))
            if row is not None and (candidate is not Form.PATCH or form is Form.PATCH):
                return row
    for candidate in forms:  # any combination of the opioid the table has
        for (ing, f, _), row in table.items():
            if ing == key and f is candidate and (candidate is not Form.PATCH or form is Form.PATCH):
                return row
    return None


# ---------------------------------------------------------------------------------------------
# Schedule
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaperStep:
    """One dose step. ``per_administration`` has one entry per administration time of the day
    (morning, evening for two a day; one entry for patches), 0.0 where nothing is taken then;
    ``units`` gives, per administration, the (strength, count) pairs that make the dose."""

    number: int
    start: date
    days: int
    daily_dose: float
    unit: str
    per_administration: tuple[float, ...]
    units: tuple[tuple[tuple[float, int], ...], ...]
    medd: float | None

    @property
    def end(self) -> date:
        """Inclusive last day of the step."""
        return self.start + timedelta(days=self.days - 1)


@dataclass(frozen=True)
class TaperSchedule:
    """A dated taper. ``end`` is the first day at zero dose; ``form`` is the formulation the steps are
    given in (depot, patch, or immediate release when no depot exists)."""

    ingredient: str
    form: Form
    unit: str
    pace: Pace | CustomPace
    start_dose: float  # the patient's daily dose before the taper (the 100 % all cuts refer to)
    steps: tuple[TaperStep, ...]
    end: date
    total_days: int
    warnings: tuple[str, ...] = ()
    start: date | None = None
    administrations_per_day: int = 2
    change_interval_days: int | None = None
    strengths: tuple[float, ...] = ()
    display: str | None = None  # product text for orders, e.g. "Oxikodon depottablett"
    atc: str | None = None
    ingredient_sv: str | None = None
    product_en: str | None = None
    combination: tuple[str, ...] = ()  # the row's other ingredients (oxycodone/naloxone: ("naloxone",))
    row: "StrengthRow | None" = None  # the strengths row the steps are given in (its codes per strength)

    def main_strength(self) -> float | None:
        """The strength the first step uses most (the product a one-product order names), or None."""
        if not self.steps:
            return None
        counts: dict[float, int] = {}
        for administration in self.steps[0].units:
            for strength, count in administration:
                counts[strength] = counts.get(strength, 0) + count
        return max(counts, key=lambda s: (counts[s], s)) if counts else None

    def as_extension(self) -> list[dict]:
        """``extension.trappa.taperSteps``: ``{start, days, dailyDose, unit, medd}`` per step."""
        return [
            {"start": s.start.isoformat(), "days": s.days, "dailyDose": s.daily_dose, "unit": s.unit,
             "medd": s.medd}
            for s in self.steps
        ]

    def step_on(self, day: date) -> TaperStep | None:
        """The step in effect on ``day`` (None before the start and from ``end`` on)."""
        for step in self.steps:
            if step.start <= day <= step.end:
                return step
        return None


@lru_cache(maxsize=64)
def _per_administration_amounts(strengths: tuple[int, ...], soft_max: int, max_units: int) -> Mapping[int, tuple[int, ...]]:
    """Every amount one administration can hold → the combination using the fewest units (then the
    largest strengths). Up to ``soft_max`` units any amount; more units (up to ``max_units``) only for
    amounts too large for ``soft_max`` units of the largest strength (a high starting dose).

    Worked out by units, not by enumerating combinations: ``sums[k]`` holds the amounts exactly ``k``
    units make (each from ``sums[k − 1]`` plus one strength), so the work is ``max_units`` × (amounts
    per layer) × strengths — and ``max_units`` is at most :data:`MAX_UNITS_PER_ADMINISTRATION` (plus the
    few extra units of a widened start), whatever the dose. (Enumerating every combination grew as
    units^strengths: a 10 000 mg/day typo took over half a minute.) An amount's combination is the one
    ``combinations_with_replacement`` over the strengths in descending order met first: the fewest
    units, then the lexicographically largest — built by taking, unit by unit, the largest strength whose
    remainder the remaining units can still make.

    Depends on the strengths table alone, so it is worked out once per row and unit limits (cached,
    read-only), not at every schedule: a hook call proposes up to three."""
    desc = tuple(sorted(set(strengths), reverse=True))
    top = soft_max * desc[0]
    sums: list[set[int]] = [{0}]
    best: dict[int, tuple[int, ...]] = {0: ()}
    for k in range(1, max_units + 1):
        layer = {a + s for a in sums[-1] for s in desc}
        sums.append(layer)
        for amount in layer:
            if amount in best or (k > soft_max and amount <= top):
                continue
            combo = []
            rest = amount
            for left in range(k - 1, -1, -1):
                unit = next(s for s in desc if rest - s in sums[left])
                combo.append(unit)
                rest -= unit
            best[amount] = tuple(combo)
    return MappingProxyType(best)


def _slot_order(n: int) -> list[int]:
    """Slots in the order the larger doses go: evening first, then morning, then the middle ones."""
    if n == 1:
        return [0]
    return [n - 1, 0] + list(range(n - 2, 0, -1))


class _Givable:
    """Which daily doses can be given as ``n`` administrations of available strengths."""

    def __init__(self, strengths: tuple[int, ...], n: int, soft_max: int, max_units: int):
        self.n = n
        self.smallest = min(strengths)
        self.amounts = _per_administration_amounts(strengths, soft_max, max_units)
        self.sorted_amounts = sorted(self.amounts)
        self._split_cache: dict[int, tuple[int, ...] | None] = {}
        self._start_combos: dict[int, tuple[int, ...]] = {}
        self._part_cache: dict[tuple[int, int, int], tuple[int, ...] | None] = {}

    def admit_start(self, daily: int, wider: _Givable) -> bool:
        """Admit the starting dose alone with ``wider``'s unit limits (e.g. 137 µg/h = 100 + 25 + 12
        as three patches): the patient's current dose is given as is, later steps keep the limits."""
        slots = wider.split(daily)
        if slots is None:
            return False
        self._split_cache[daily] = slots
        for a in slots:
            self._start_combos.setdefault(a, wider.combo(a))
        return True

    def combo(self, amount: int) -> tuple[int, ...]:
        """The units (strengths) making up one administration of ``amount``."""
        return self.amounts[amount] if amount in self.amounts else self._start_combos[amount]

    def _best_split(self, total: int, parts: int, at_least: int) -> tuple[int, ...] | None:
        """Ascending ``parts`` amounts ≥ ``at_least`` summing to ``total``, the most even one — or None
        when even the most even one spreads more than the smallest strength (:meth:`split` refuses it).

        Only first amounts within one smallest strength below the mean are tried: with a smaller first
        (and least) amount the largest, at least the mean, is more than a smallest strength above it.
        And remembered per (total, parts, at_least), which is all the answer depends on. So the work is
        (amounts in that window)^(parts − 1) at most, whatever the dose (trying every amount, it grew as
        amounts^(parts − 1), and the amounts grow with the dose)."""
        if parts == 1:
            return (total,) if total in self.amounts and total >= at_least else None
        key = (total, parts, at_least)
        if key in self._part_cache:
            return self._part_cache[key]
        best: tuple[int, ...] | None = None
        amounts = self.sorted_amounts
        lowest = max(at_least, -((parts * self.smallest - total) // parts))  # ⌈mean − smallest⌉
        for i in range(bisect_left(amounts, lowest), len(amounts)):
            a = amounts[i]
            if a * parts > total:
                break
            rest = self._best_split(total - a, parts - 1, a)
            if rest is None or rest[-1] - a > self.smallest:
                continue
            cand = (a, *rest)
            if best is None or self._key(cand) < self._key(best):
                best = cand
        self._part_cache[key] = best
        return best

    def _key(self, split: tuple[int, ...]) -> tuple[int, int]:
        return (max(split) - min(split), sum(len(self.combo(a)) for a in split))

    def split(self, daily: int) -> tuple[int, ...] | None:
        """Per-slot amounts (morning … evening), or None if ``daily`` cannot be given evenly."""
        if daily not in self._split_cache:
            asc = self._best_split(daily, self.n, 0)
            if asc is not None and max(asc) - min(asc) > self.smallest:
                asc = None  # not "evenly spread over the day" (RJL "Praktiska tips och trix")
            if asc is None:
                self._split_cache[daily] = None
            else:
                slots = [0] * self.n
                for slot, amount in zip(_slot_order(self.n), sorted(asc, reverse=True)):
                    slots[slot] = amount
                self._split_cache[daily] = tuple(slots)
        return self._split_cache[daily]

    def unit_count(self, daily: int) -> int:
        slots = self.split(daily)
        return sum(len(self.combo(a)) for a in slots) if slots else 0

    def doses_up_to(self, limit: int, start: int | None = None) -> list[int]:
        """All givable non-zero daily doses ≤ ``limit``, descending.

        A dose within 5 % below another givable dose that needs fewer units is left out: it adds a
        tablet or patch and nothing else (two "12" fentanyl patches are 25 µg/h, like one "25").

        Only sums whose amounts lie within one smallest strength of the least of them are formed: any
        other sum cannot be split evenly (:meth:`split` refuses it), and forming every sum of ``n``
        amounts was amounts² work for two administrations a day, the amounts growing with the dose.
        """
        amounts = self.sorted_amounts
        sums: set[int] = set()
        for i, least in enumerate(amounts):
            if least * self.n > limit:
                break
            window = amounts[i:bisect_right(amounts, least + self.smallest)]
            partial = {least}
            for _ in range(self.n - 1):
                partial = {s + a for s in partial for a in window if s + a <= limit}
            sums |= partial
        if start is not None and self.split(start) is not None:
            sums.add(start)
        doses = sorted(d for d in sums if d > 0 and self.split(d) is not None)
        units = [self.unit_count(d) for d in doses]
        kept = []
        for i, d in enumerate(doses):
            end = bisect_right(doses, d * (1 + MIN_CUT_OF_CURRENT), i + 1)  # the doses in (d, d + 5 %]
            if end == i + 1 or min(units[i + 1:end]) >= units[i]:
                kept.append(d)
        return kept[::-1]


@lru_cache(maxsize=256)
def _givable_doses(strengths_m: tuple[int, ...], n: int, soft_max: int, max_units: int, d0: int,
                   widen: bool) -> tuple[_Givable, tuple[int, ...]]:
    """The givable doses of a taper from ``d0`` (descending) and the _Givable that splits them.

    A pure function of the strengths row, the unit limits and the start dose, so it is worked out once
    for the alternatives of one proposal (they differ only in pace) and for later calls with the same
    product and dose (cached; the _Givable's own caches only ever fill with the same answers).
    """
    givable = _Givable(strengths_m, n, soft_max, max_units)
    first = None
    if givable.split(d0) is None and widen:
        # The current dose may need one or two more units than the limits allow; give it (or the
        # nearest dose below it) as it is rather than cut on day one. A hard ceiling such as the
        # paracetamol in a combination tablet is never widened.
        extra = max(1, len(strengths_m) - 1)  # enough to fill any remainder with smaller strengths
        wider = _Givable(strengths_m, n, max_units + extra, max_units + extra)
        wider_doses = wider.doses_up_to(d0)
        if wider_doses and givable.admit_start(wider_doses[0], wider):
            first = wider_doses[0]
    return givable, tuple(givable.doses_up_to(d0, start=first))


def _to_m(x: float) -> int:
    return int(round(x * _SCALE))


def _from_m(x: int) -> float:
    return x / _SCALE


def _empty(ingredient, form, unit, pace, daily_dose, start, warnings, row=None, display=None) -> TaperSchedule:
    return TaperSchedule(
        ingredient=ingredient, form=row.form if row else form, unit=unit, pace=pace,
        start_dose=daily_dose, steps=(), end=start, total_days=0, warnings=tuple(warnings), start=start,
        administrations_per_day=row.administrations_per_day if row else (1 if form is Form.PATCH else 2),
        change_interval_days=row.change_interval_days if row else None,
        strengths=row.strengths if row else (), display=display or (row.product_sv if row else None),
        atc=row.atc if row else None, ingredient_sv=row.ingredient_sv if row else None,
        product_en=row.product_en if row else None, combination=row.combination if row else (), row=row,
    )


def _schedule_drug(row: StrengthRow, ingredient: str, display: str) -> Drug:
    """The drug a schedule's steps are given as: one object per strengths row and display, so that the
    MEDD of each step is worked out once (``medd_memo`` keys on the drug object) — the same doses recur
    in every schedule of that drug, call after call. Bounded; it holds table rows, never patient data."""
    key = (row, ingredient, display)
    drug = _SCHEDULE_DRUGS.get(key)
    if drug is None:
        if len(_SCHEDULE_DRUGS) >= _SCHEDULE_DRUGS_MAX:
            _SCHEDULE_DRUGS.clear()
        drug = _SCHEDULE_DRUGS[key] = Drug(
            drug_class=DrugClass.OPIOID, display=display, ingredient=ingredient, form=row.form, atc=row.atc,
            identified_by=IdentifiedBy.ATC if row.atc else IdentifiedBy.NAME,
        )
    return drug


_SCHEDULE_DRUGS: dict[tuple, Drug] = {}
_SCHEDULE_DRUGS_MAX = 256


def taper_schedule(
    *,
    ingredient: str | None,
    form: Form,
    daily_dose: float | None,
    unit: str | None,
    exposure: Exposure,
    start: date,
    pace: Pace | CustomPace | None = None,
    strengths: tuple[float, ...] | None = None,
    administrations_per_day: int | None = None,
    display: str | None = None,
    companions: tuple[str, ...] = (),
) -> TaperSchedule:
    """A dated taper from ``daily_dose`` (mg/day, or µg/h for patches) to zero.

    When/Then (clinical-rules §2, [RJL "När behövs nedtrappning?"], [RJL "Allmänna principer"],
    [RJL "Praktiska tips och trix"]):
    When no ``pace`` is given, Then :func:`default_pace` of ``exposure`` (acute or none: FAST, since a
    schedule was asked for; warning ``acute-stop-possible``). Then steps follow the module docstring's
    invariant, every dose givable with the depot strengths (``strengths`` overrides the table), and
    the schedule warns ``longer-than-6-months`` beyond 183 days, ``no-depot-formulation`` when only
    an immediate-release product exists, ``start-dose-rounded-down`` when ``daily_dose`` itself is not
    givable, ``dose-below-smallest-strength`` when not even the smallest strength fits (no steps:
    stop), ``no-strengths-known`` / ``unit-mismatch`` when no usable strengths row exists (no steps),
    ``no-dose`` for a missing or non-positive dose (no steps), ``dose-implausible`` for a dose above the
    row's ``max_daily_dose`` or beyond the units bound (no steps, nothing searched; module docstring,
    "Implausible doses"), ``administrations-unsupported`` for more than
    :data:`MAX_ADMINISTRATIONS_PER_DAY` administrations a day (no steps), ``medd-unknown`` when a step's
    MEDD could not be computed (its ``medd`` is None, never 0).
    ``pace`` may be a :class:`CustomPace` (the planner's own percent and days per step).
    ``companions``: the other ingredients of the patient's product (Drug.companions): the taper keeps
    the combination where the strengths table has a row of it (:func:`strengths_for`).
    Never raises on odd input; a schedule without steps always carries a warning saying why.
    """
    ingredient_key = (ingredient or "").strip().lower()
    warnings: list[str] = []
    chosen = pace or default_pace(exposure, ingredient_key)
    if chosen is None:
        chosen = Pace.FAST  # acute use: a taper was asked for anyway; the fast one is the alternative
        warnings.append(W_ACUTE)

    row: StrengthRow | None
    usable = tuple(sorted({float(x) for x in strengths or () if x is not None and math.isfinite(x) and x > 0}))
    if (strengths is not None and not usable) or len(usable) > MAX_STRENGTHS:
        return _empty(ingredient_key, form, unit, chosen, daily_dose, start, [*warnings, W_NO_STRENGTHS],
                      display=display)
    if usable:
        row = StrengthRow(
            ingredient=ingredient_key, form=form, strengths=usable, unit=unit,  # type: ignore[arg-type]  # the caller's unit, unknown (None) as given
            administrations_per_day=administrations_per_day or (1 if form is Form.PATCH else 2),
            change_interval_days=None, max_units_per_administration=None,
            depot=form in (Form.DEPOT, Form.PATCH), atc=None,
            ingredient_sv=ingredient_key, product_sv=display or ingredient_key,
            product_en=display or ingredient_key, source="caller", note="",
        )
        base = strengths_for(ingredient_key, form, companions=companions)
        if base is not None and base.unit == unit:
            row = replace(row, change_interval_days=base.change_interval_days,
                          max_units_per_administration=base.max_units_per_administration, atc=base.atc,
                          ingredient_sv=base.ingredient_sv, product_sv=display or base.product_sv,
                          product_en=base.product_en, combination=base.combination,
                          max_daily_dose=base.max_daily_dose,
                          # the product's codes of the strengths kept (a planner's choice of tablets)
                          rxnorm=tuple(c for c in base.rxnorm if c[0] in usable),
                          npl=tuple(c for c in base.npl if c[0] in usable))
    else:
        row = strengths_for(ingredient_key, form, companions=companions)
    if row is None:
        return _empty(ingredient_key, form, unit, chosen, daily_dose, start, [*warnings, W_NO_STRENGTHS],
                      display=display)
    if row.unit != unit:
        return _empty(ingredient_key, form, unit, chosen, daily_dose, start, [*warnings, W_UNIT_MISMATCH],
                      row, display)
    if not row.depot:
        warnings.append(W_NO_DEPOT)
    if daily_dose is None or not math.isfinite(daily_dose) or daily_dose <= 0:
        return _empty(ingredient_key, form, unit, chosen, daily_dose, start, [*warnings, W_NO_DOSE], row, display)

    n = administrations_per_day or row.administrations_per_day
    n = max(1, n)
    if n > MAX_ADMINISTRATIONS_PER_DAY:
        return _empty(ingredient_key, form, unit, chosen, daily_dose, start, [*warnings, W_ADMINISTRATIONS],
                      row, display)
    is_patch = row.form is Form.PATCH
    strengths_m = tuple(m for m in map(_to_m, row.strengths) if m > 0)  # a strength below 0.0005 is none
    if not strengths_m:
        return _empty(ingredient_key, form, unit, chosen, daily_dose, start, [*warnings, W_NO_STRENGTHS],
                      row, display)
    d0 = _to_m(daily_dose)
    if ((row.max_daily_dose is not None and daily_dose > row.max_daily_dose)
            or d0 > n * MAX_UNITS_PER_ADMINISTRATION * max(strengths_m)):
        # A typo, not a dose (1000 tablets, mg for µg): say so instead of computing (see module docstring).
        return _empty(ingredient_key, form, unit, chosen, daily_dose, start, [*warnings, W_IMPLAUSIBLE],
                      row, display)
    if row.max_units_per_administration:
        soft_max = max_units = row.max_units_per_administration  # hard ceiling from the table
    else:
        soft_max = MAX_PATCHES if is_patch else MAX_TABLETS_PER_ADMINISTRATION
        # A starting dose that needs more units than the default still has to be givable.
        max_units = max(soft_max, math.ceil(d0 / n / max(strengths_m)))
    givable, doses = _givable_doses(strengths_m, n, soft_max, max_units, d0,
                                    widen=not row.max_units_per_administration)
    if not doses:
        return _empty(ingredient_key, form, unit, chosen, daily_dose, start, [*warnings, W_BELOW_SMALLEST],
                      row, display)
    if doses[0] != d0:
        warnings.append(W_START_ROUNDED)

    rule = _rule_of(chosen)
    grid = rule.grid_days
    min_days = rule.min_days
    if is_patch and row.change_interval_days:
        # A step changes at a patch change: step lengths are multiples of the change interval.
        grid = row.change_interval_days
        min_days = math.ceil(rule.min_days / grid) * grid

    raw_steps: list[tuple[int, int, int]] = []  # (elapsed start day, days, dose)
    t, cur = 0, doses[0]
    while cur > 0:
        lower = [g for g in doses if g < cur and cur - g >= MIN_CUT_OF_CURRENT * cur - _EPS] + [0]
        nearest = lower[0]
        late = rule.slow_from is not None and cur <= rule.slow_from * d0 + _EPS
        step_cut = rule.late_step_cut if late and rule.late_step_cut is not None else rule.step_cut
        floor_cap = cur - max(step_cut * d0, cur - nearest)
        nxt_t = t + min_days
        while True:
            floor = max(floor_cap, d0 - _allowed(rule, d0, nxt_t))
            fitting = [g for g in lower if g >= floor - _EPS]
            if fitting:
                nxt = min(fitting)
                break
            nxt_t += grid
        raw_steps.append((t, nxt_t - t, cur))
        t, cur = nxt_t, nxt

    drug = _schedule_drug(row, ingredient_key, display or row.product_sv)
    medd_table = load_medd_table()
    steps = []
    medd_missing = False
    for i, (t0, days, dose) in enumerate(raw_steps, start=1):
        slots = givable.split(dose)
        assert slots is not None  # doses_up_to only returns splittable doses
        amount = _from_m(dose)
        try:
            step_medd = medd_memo(drug, DailyDose(amount=amount, unit=row.unit), medd_table).value
        except NotImplementedError:  # MEDD module not deployed: unknown, and said so (never 0)
            step_medd = None
        medd_missing = medd_missing or step_medd is None
        steps.append(TaperStep(
            number=i, start=start + timedelta(days=t0), days=days, daily_dose=amount, unit=row.unit,
            per_administration=tuple(_from_m(a) for a in slots),
            units=tuple(_units(givable.combo(a)) for a in slots),
            medd=step_medd,
        ))
    if medd_missing:
        warnings.append(W_MEDD_UNKNOWN)
    if t > SIX_MONTHS_DAYS:
        warnings.append(W_LONG)
    return TaperSchedule(
        ingredient=ingredient_key, form=row.form, unit=row.unit, pace=chosen, start_dose=float(daily_dose),
        steps=tuple(steps), end=start + timedelta(days=t), total_days=t, warnings=tuple(warnings),
        start=start, administrations_per_day=n, change_interval_days=row.change_interval_days if is_patch else None,
        strengths=row.strengths, display=display or row.product_sv, atc=row.atc,
        ingredient_sv=row.ingredient_sv, product_en=row.product_en, combination=row.combination, row=row,
    )


def _units(combo: tuple[int, ...]) -> tuple[tuple[float, int], ...]:
    counts: dict[int, int] = {}
    for s in combo:
        counts[s] = counts.get(s, 0) + 1
    return tuple((_from_m(s), c) for s, c in sorted(counts.items(), reverse=True))
