"""Shared helpers for the rules: which drafts matter, where a taper stands, and card text.

Everything here is a pure function of model values (no I/O). Texts come in Swedish (``"sv"``, the
default) and English (``"en"``); Swedish uses the guidelines' own words (dygnsdos, dos-steg, MEDD,
nedtrappning) and a decimal comma.

Stable API (other rules import it):

Drafts and taper state
  - :func:`draft_opioids`, :func:`draft_sedatives`, :func:`draft_reference`
  - :func:`record_resource`, :func:`valid_prescriptions` — the record's orders a suggestion ends
  - :func:`in_taper`, :func:`today_step`, :func:`taper_end`, :func:`tapered_ingredient`
  - :func:`current_daily_dose` — the record's daily dose of one ingredient today (honest sum)
  - :func:`opioid_ingredients` — distinct opioid ingredients of the current regimen
  - :func:`same_reference` — do two FHIR references name the same resource?
  - ``MAX_RAW_DRAFT_CHARS`` — larger raw drafts are not echoed in update suggestions
Formatting
  - :func:`fmt_number`, :func:`fmt_dose`, :func:`fmt_daily_dose`, :func:`fmt_medd`, :func:`fmt_date`,
    :func:`fmt_days`, :func:`ingredient_name`, :func:`drug_name`, :func:`exposure_text`, :func:`clip`
  - :func:`taper_table` — markdown table of a taper schedule
  - :func:`exclusion_summary`, :func:`bullets`
  - :func:`loc` — build a ``{"sv", "en"}`` mapping; :func:`localized` — ``fn(lang)`` for both; ``LANGS``
Small utilities
  - ``SEDATIVE_CLASSES``; :func:`mapping_get` (nested dict lookup that never raises);
    :func:`add_days`, :func:`days_between`
"""
from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from typing import Any, Iterable, Mapping

from cds_service.domain.model import (
    MG,
    UG_PER_H,
    DailyDose,
    DoseStep,
    Drug,
    DrugClass,
    Exposure,
    MedicationOrder,
    PatientFacts,
    TaperPlan,
)

from fhir_mappings.codes.names import ingredient_sv
from cds_service.domain.regimen import daily_dose as regimen_daily_dose

from cds_service.rules.finding import RuleContext

LANGS = ("sv", "en")


def loc(sv: str, en: str) -> dict[str, str]:
    """A localized text: ``{"sv": sv, "en": en}``."""
    return {"sv": sv, "en": en}


# ---------------------------------------------------------------------------------------------------
# Drafts


def draft_opioids(facts: PatientFacts) -> list[MedicationOrder]:
    """The draft orders of this hook call that are analgesic opioids (not LARO), in request order."""
    return [d for d in facts.drafts if d.drug.is_opioid]


SEDATIVE_CLASSES = (DrugClass.BENZODIAZEPINE, DrugClass.Z_DRUG)


def draft_sedatives(facts: PatientFacts) -> list[MedicationOrder]:
    """Draft benzodiazepines (N05BA, N05CD) and z-drugs (N05CF: zopiclone, zolpidem)."""
    return [d for d in facts.drafts if d.drug.drug_class in SEDATIVE_CLASSES]


_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

# A real draft MedicationRequest is a few kB. A larger one is not echoed back in an update
# suggestion (a card must not carry megabytes of whatever the client sent).
MAX_RAW_DRAFT_CHARS = 20_000


def draft_reference(order: MedicationOrder) -> str | None:
    """``"MedicationRequest/<id>"`` for a draft (the CDS Hooks ``resourceId`` form); None without a
    valid FHIR id (``[A-Za-z0-9-.]{1,64}``)."""
    if not isinstance(order.id, str) or not _FHIR_ID.fullmatch(order.id):
        return None
    return f"{order.resource_type or 'MedicationRequest'}/{order.id}"


def record_resource(ctx: RuleContext, order: MedicationOrder) -> dict | None:
    """The record resource ``order`` was read from (same type and id), as the EHR sent it, or None
    (no valid id, not found, or larger than ``MAX_RAW_DRAFT_CHARS``: not echoed in a suggestion)."""
    if draft_reference(order) is None:
        return None
    record = getattr(ctx, "record_resources", None)
    if record is None:
        return None
    if hasattr(record, "find"):  # the service's lookup (evaluate._WholeRecord)
        found = record.find(order.resource_type, order.id)
    else:  # a plain list of resources (tests)
        found = next((r for r in record if isinstance(r, dict) and r.get("id") == order.id
                      and r.get("resourceType") == order.resource_type), None)
    if found is None:
        return None
    try:
        size = len(json.dumps(found))
    except (TypeError, ValueError):
        return None
    return found if size <= MAX_RAW_DRAFT_CHARS else None


def valid_prescriptions(facts: PatientFacts, ingredient: str | None) -> list[MedicationOrder]:
    """The record's prescriptions of ``ingredient`` that can still be collected at the pharmacy:
    MedicationRequests with status active whose validity has not run out. A taper must end them, or
    the old dose can be collected beside the schedule [RJL "Praktiska tips och trix": "Glöm inte att
    makulera giltiga recept"]."""
    if not ingredient:
        return []
    out = []
    for o in facts.orders:
        if o.is_draft or o.resource_type != "MedicationRequest" or o.status != "active":
            continue
        if not o.drug.is_opioid or o.drug.ingredient != ingredient:
            continue
        if o.supply_basis == "validity" and o.supply_end is not None and o.supply_end <= facts.today:
            continue
        out.append(o)
    return out


# ---------------------------------------------------------------------------------------------------
# Taper state


def in_taper(facts: PatientFacts) -> bool:
    """A taper is running: the record holds an active taper plan (``facts.taper_plan``)."""
    return facts.taper_plan is not None


def today_step(plan: TaperPlan | None, day: date) -> DoseStep | None:
    """The plan's step in effect on ``day``; None before the first step or when dates are missing."""
    if plan is None:
        return None
    return plan.step_on(day)


def taper_end(plan: TaperPlan | None) -> date | None:
    """The plan's end: ``plan.end``, else the last step's end, else None (unknown)."""
    if plan is None:
        return None
    if plan.end is not None:
        return plan.end
    ends = [s.end for s in plan.steps if s.end is not None]
    if ends and len(ends) == len(plan.steps):
        return max(ends)
    return None


def tapered_ingredient(facts: PatientFacts) -> str | None:
    """The ingredient being tapered: the plan's, else the only opioid ingredient the record's current
    regimen holds, else None."""
    plan = facts.taper_plan
    if plan is not None and plan.ingredient:
        return plan.ingredient
    ingredients = {o.drug.ingredient for o in facts.regimen.record_opioids if o.drug.ingredient}
    if len(ingredients) == 1:
        return next(iter(ingredients))
    return None


def current_daily_dose(facts: PatientFacts, ingredient: str | None, *, fixed_only: bool = False) -> DailyDose:
    """The record's daily dose of ``ingredient`` in the current regimen (before this call's drafts).

    Summed over its orders: as-needed orders at their maximum (RJL "Praktiska tips": the total daily
    dose including PRN doses), or — ``fixed_only`` — the regular dose alone, the one a taper starts
    from. Unknown (amount None, with a problem) when no order of that ingredient is current, when any
    part is unknown, or when the units differ — never a partial sum (:func:`fhir_mappings.regimen.daily_dose`).
    """
    return regimen_daily_dose(facts.regimen.record, ingredient, fixed_only=fixed_only)


def opioid_ingredients(facts: PatientFacts) -> list[str]:
    """Distinct opioid ingredients of the current regimen (drafts applied), in first-seen order.

    An opioid whose ingredient is unknown counts under its display name, so that "several opioids"
    is never missed because one could not be identified.
    """
    seen: list[str] = []
    for order in facts.regimen.opioids:
        key = order.drug.ingredient or order.drug.display
        if key not in seen:
            seen.append(key)
    return seen


def responsible_physician(facts: PatientFacts, ctx: RuleContext) -> tuple[str | None, str | None]:
    """(reference, name) of the physician responsible for the taper [RJL "Vilka krav kan jag som läkare
    ställa?": one prescriber]: a running plan's author; for a taper proposed now, the ordering
    physician (``context.userId``), named by the draft's requester display when it is the same person."""
    plan = facts.taper_plan
    if plan is not None:
        return plan.author, plan.author_display
    draft = next(iter(draft_opioids(facts)), None)
    ref = ctx.user_ref or (draft.requester if draft else None)
    name = None
    if draft is not None and draft.requester_display and (
        ctx.user_ref is None or same_reference(draft.requester, ctx.user_ref) is not False
    ):
        name = draft.requester_display
    return ref, name


def _ref_key(ref: str | None) -> tuple[str, str] | None:
    if not ref or not isinstance(ref, str):
        return None
    parts = [p for p in ref.strip().split("/") if p]
    # absolute URLs may carry a version: .../Practitioner/1/_history/2
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2:
        return None
    return parts[-2], parts[-1]


def same_reference(a: str | None, b: str | None) -> bool | None:
    """True/False when both references are readable ("Practitioner/1" equals ".../Practitioner/1");
    None when either is missing or unreadable (unknown, not "different")."""
    ka, kb = _ref_key(a), _ref_key(b)
    if ka is None or kb is None:
        return None
    return ka == kb


# ---------------------------------------------------------------------------------------------------
# Formatting


def fmt_number(value: float | None, lang: str = "sv", *, decimals: int = 2) -> str:
    """``7.5`` → ``"7,5"`` (sv) / ``"7.5"`` (en); whole numbers without decimals; None → "?"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "?"
    rounded = round(float(value), decimals)
    if rounded == int(rounded):
        text = str(int(rounded))
    else:
        text = f"{rounded:.{decimals}f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "sv" else text


def _unit_text(unit: str | None) -> str:
    if unit == UG_PER_H:
        return "µg/h"
    return unit or ""


def fmt_dose(amount: float | None, unit: str | None, lang: str = "sv") -> str:
    """A single dose: ``"10 mg"``, ``"25 µg/h"``; unknown → "okänd dos" / "unknown dose"."""
    if amount is None:
        return "okänd dos" if lang == "sv" else "unknown dose"
    return f"{fmt_number(amount, lang)} {_unit_text(unit)}".strip()


def fmt_daily_dose(amount: float | None, unit: str | None, lang: str = "sv") -> str:
    """A daily dose: ``"20 mg/dygn"`` / ``"20 mg/day"``; patches ``"25 µg/h"`` (worn continuously);
    unknown → "okänd dygnsdos" / "unknown daily dose"."""
    if amount is None:
        return "okänd dygnsdos" if lang == "sv" else "unknown daily dose"
    if unit == UG_PER_H:
        return f"{fmt_number(amount, lang)} µg/h"
    per = "dygn" if lang == "sv" else "day"
    return f"{fmt_number(amount, lang)} {unit or MG}/{per}"


def fmt_medd(value: float | None, lang: str = "sv", *, complete: bool = True, suffix: bool = True) -> str:
    """``"45 MEDD"``; incomplete → ``"minst 45 MEDD"`` / ``"at least 45 MEDD"``; None → "okänd MEDD"."""
    if value is None:
        word = "okänd" if lang == "sv" else "unknown"
        return f"{word} MEDD" if suffix else word
    text = fmt_number(value, lang, decimals=1)
    if not complete:
        text = ("minst " if lang == "sv" else "at least ") + text
    return f"{text} MEDD" if suffix else text


def fmt_date(day: date | None, lang: str = "sv") -> str:
    """ISO date (as Swedish records write it); unknown → "okänt datum" / "unknown date"."""
    if day is None:
        return "okänt datum" if lang == "sv" else "unknown date"
    return day.isoformat()


def fmt_days(days: int | None, lang: str = "sv") -> str:
    """``"1 dag"``, ``"3 dagar"``; ``"1 day"``, ``"3 days"``; whole weeks ≥ 14 days also in weeks."""
    if days is None:
        return "okänt antal dagar" if lang == "sv" else "unknown number of days"
    if lang == "sv":
        text = f"{days} dag" if days == 1 else f"{days} dagar"
        if days >= 14 and days % 7 == 0:
            text = f"{days // 7} veckor"
    else:
        text = f"{days} day" if days == 1 else f"{days} days"
        if days >= 14 and days % 7 == 0:
            text = f"{days // 7} weeks"
    return text




def ingredient_name(ingredient: str | None, lang: str = "sv") -> str:
    """Ingredient key (English, as in the MEDD table) as a clinician writes it in ``lang``."""
    if not ingredient:
        return "okänd opioid" if lang == "sv" else "unknown opioid"
    if lang == "sv":
        return ingredient_sv(ingredient) or ingredient
    return ingredient


def clip(text: str | None, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (with "…"): record text shown on a card stays short."""
    if not text:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def drug_name(drug: Drug, lang: str = "sv") -> str:
    """The record's display of the drug (what the physician sees in the EHR), else the ingredient.
    Clipped at 200 characters only as a guard against absurd input (real names are shorter)."""
    if drug.display:
        return clip(drug.display, 200)
    return ingredient_name(drug.ingredient, lang)


_EXPOSURE = {
    Exposure.NONE: ("ingen pågående användning", "no current use"),
    Exposure.ACUTE: ("kort användning, under 2 veckor", "short use, under 2 weeks"),
    Exposure.SUBACUTE: ("användning 2 veckor–3 månader", "use for 2 weeks–3 months"),
    Exposure.LONG_TERM: ("långvarig användning, över 3 månader", "long-term use, over 3 months"),
    Exposure.MULTI_YEAR: ("mångårig användning, över 2 år", "multi-year use, over 2 years"),
}


def exposure_text(exposure: Exposure, lang: str = "sv") -> str:
    """Plain words for an exposure class, e.g. "långvarig användning, över 3 månader"."""
    sv, en = _EXPOSURE.get(exposure, ("okänd användningstid", "unknown duration of use"))
    return sv if lang == "sv" else en


_EXCLUSIONS = {
    "cancer": ("aktiv cancer", "active cancer"),
    "palliative": ("palliativ vård", "palliative care"),
    "laro": ("LARO (läkemedelsassisterad behandling vid opioidberoende)", "opioid maintenance treatment"),
    "under-18": ("under 18 år", "under 18"),
}


def exclusion_summary(exclusions: Iterable[str], lang: str = "sv") -> str:
    """Why a patient is out of scope of the taper cards (clinical-rules §8), e.g.
    "aktiv cancer, palliativ vård"; empty string when not excluded."""
    parts = []
    for key in exclusions:
        sv, en = _EXCLUSIONS.get(key, (key, key))
        parts.append(sv if lang == "sv" else en)
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------
# Taper schedule as a markdown table


def _per_administration(step: Any, unit: str | None, lang: str) -> str:
    """Dose per administration time, morning first: "10 + 15 mg"; unknown → "–"."""
    parts = tuple(getattr(step, "per_administration", ()) or ())
    if not parts:
        return "–"
    return " + ".join(fmt_number(p, lang) for p in parts) + f" {_unit_text(unit)}"


def taper_table(schedule: Any, lang: str = "sv") -> str:
    """The schedule as a GitHub markdown table: step, from, days, daily dose, dose per administration
    ("Morgon + kväll" for two a day; patch strengths for patches), MEDD; and a last row, the first
    day at zero dose ("utsatt" / "stopped", from ``schedule.end``).

    ``schedule`` is a ``cds_service.taper.TaperSchedule`` (duck-typed: ``unit``, ``end``,
    ``administrations_per_day`` and ``steps`` with ``number, start, days, daily_dose,
    per_administration, units, medd``).
    """
    unit = getattr(schedule, "unit", None)
    patch = unit == UG_PER_H
    n = getattr(schedule, "administrations_per_day", 2)
    if lang == "sv":
        per = "Plåster" if patch else ("Morgon + kväll" if n == 2 else "Per dostillfälle")
        # a patch is worn continuously: its dose is µg/h, not a daily dose
        head = ("Steg", "Från", "Dagar", "Dos" if patch else "Dygnsdos", per, "MEDD")
        stopped = "utsatt"
    else:
        per = "Patches" if patch else ("Morning + evening" if n == 2 else "Per dose")
        head = ("Step", "From", "Days", "Dose" if patch else "Daily dose", per, "MEDD")
        stopped = "stopped"
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    steps = tuple(getattr(schedule, "steps", ()) or ())
    for step in steps:
        dose = getattr(step, "daily_dose", None)
        days = getattr(step, "days", None)
        row = (
            str(getattr(step, "number", "")),
            fmt_date(getattr(step, "start", None), lang),
            "?" if days is None else str(days),
            fmt_daily_dose(dose, unit, lang),
            _patches(step, unit, lang) if patch else _per_administration(step, unit, lang),
            fmt_medd(getattr(step, "medd", None), lang, suffix=False),
        )
        lines.append("| " + " | ".join(row) + " |")
    end = getattr(schedule, "end", None)
    if steps and end is not None:
        lines.append(f"| {len(steps) + 1} | {fmt_date(end, lang)} | – | {stopped} | – | – |")
    return "\n".join(lines)


def _patches(step: Any, unit: str | None, lang: str) -> str:
    """Patch strengths worn at once, e.g. "25 + 12 µg/h"."""
    units = tuple(getattr(step, "units", ()) or ())
    if not units:
        return _per_administration(step, unit, lang)
    strengths = [s for s, count in units[0] for _ in range(count)]
    return " + ".join(fmt_number(s, lang) for s in strengths) + " µg/h"


def bullets(lines: Iterable[str | None]) -> str:
    """Markdown bullet list of the non-empty lines."""
    return "\n".join(f"- {line}" for line in lines if line)


def days_between(start: date, end: date) -> int:
    return (end - start).days


def add_days(day: date, days: int) -> date:
    return day + timedelta(days=days)


def localized(fn) -> Mapping[str, str]:
    """The localized text ``{"sv": fn("sv"), "en": fn("en")}``, each language's text made when it is
    first read. A card is rendered in one language, so a long text (a card's detail with its taper
    table) is built once per call, not once per language."""
    return _PerLanguage(fn)


class _PerLanguage(Mapping[str, str]):
    __slots__ = ("_fn", "_texts")

    def __init__(self, fn):
        self._fn = fn
        self._texts: dict[str, str] = {}

    def __getitem__(self, lang: str) -> str:
        text = self._texts.get(lang)
        if text is None:
            if lang not in LANGS:
                raise KeyError(lang)
            text = self._texts[lang] = self._fn(lang)
        return text

    def __iter__(self):
        return iter(LANGS)

    def __len__(self) -> int:
        return len(LANGS)

    def __repr__(self) -> str:
        return f"localized({self._fn!r})"


def mapping_get(obj: Mapping[str, Any] | None, *path: str) -> Any:
    """Nested ``dict`` lookup that never raises (malformed FHIR stays malformed, not a crash)."""
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur
