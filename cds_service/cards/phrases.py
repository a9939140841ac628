"""The phrases the cards' words are made of: numbers, doses, MEDD, dates and spans of days, drug and
ingredient names, use and exclusions, the taper table, bullet lists, a referral's lines on orders,
duration, tapers and treatments tried (clinical-rules §4, §5).

Swedish uses the guidelines' own words (dygnsdos, dos-steg, MEDD, nedtrappning) and a decimal comma;
English is the second language. Their words are the catalogs' ``phrase.*`` entries (``words.py``), as
the topics' sentences are; here is how they are put together, in the language given (``"sv"`` unless
told). Numbers, units and dates are written by code (ISO dates, "MEDD", "µg/h" are the same in both).
"""
from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from cds_service.domain.bounded import clip
from cds_service.domain.model import (
    MG,
    UG_PER_H,
    DailyDose,
    Drug,
    Exposure,
    MedicationOrder,
    PatientFacts,
    TaperPlan,
    TotalMedd,
)
from fhir_mappings.codes.names import ingredient_sv

from cds_service.cards.words import LANGUAGES, N_, ntext, text

if TYPE_CHECKING:  # the rules package imports every topic; the phrases need only the types
    from cds_service.rules.referrals import Treatment, Tried

SV = "sv"


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
        return text("phrase.dose-unknown", lang)
    return f"{fmt_number(amount, lang)} {_unit_text(unit)}".strip()


def fmt_daily_dose(amount: float | None, unit: str | None, lang: str = "sv") -> str:
    """A daily dose: ``"20 mg/dygn"`` / ``"20 mg/day"``; patches ``"25 µg/h"`` (worn continuously);
    unknown → "okänd dygnsdos" / "unknown daily dose"."""
    if amount is None:
        return text("phrase.daily-dose-unknown", lang)
    if unit == UG_PER_H:
        return f"{fmt_number(amount, lang)} µg/h"
    return text("phrase.daily-dose", lang, amount=fmt_number(amount, lang), unit=unit or MG)


def fmt_medd(value: float | None, lang: str = "sv", *, complete: bool = True, suffix: bool = True) -> str:
    """``"45 MEDD"``; incomplete → ``"minst 45 MEDD"`` / ``"at least 45 MEDD"``; None → "okänd MEDD"."""
    if value is None:
        word = text("phrase.medd-unknown", lang)
        return f"{word} MEDD" if suffix else word
    number = fmt_number(value, lang, decimals=1)
    if not complete:
        number = text("phrase.at-least", lang, value=number)
    return f"{number} MEDD" if suffix else number


def fmt_date(day: date | None, lang: str = "sv") -> str:
    """ISO date (as Swedish records write it); unknown → "okänt datum" / "unknown date"."""
    if day is None:
        return text("date.unknown", lang)
    return day.isoformat()


def fmt_days(days: int | None, lang: str = "sv") -> str:
    """``"1 dag"``, ``"3 dagar"``; ``"1 day"``, ``"3 days"``; whole weeks ≥ 14 days also in weeks."""
    if days is None:
        return text("phrase.days-unknown", lang)
    if days >= 14 and days % 7 == 0:
        return ntext("phrase.weeks", "phrase.weeks.plural", days // 7, lang)
    return ntext("phrase.days", "phrase.days.plural", days, lang)


def ingredient_name(ingredient: str | None, lang: str = "sv") -> str:
    """Ingredient key (English, as in the MEDD table) as a clinician writes it in ``lang``."""
    if not ingredient:
        return text("phrase.opioid-unknown", lang)
    if lang == "sv":
        return ingredient_sv(ingredient) or ingredient
    return ingredient


def drug_name(drug: Drug, lang: str = "sv") -> str:
    """The record's display of the drug (what the physician sees in the EHR), else the ingredient.
    Clipped at 200 characters only as a guard against absurd input (real names are shorter)."""
    if drug.display:
        return clip(drug.display, 200)
    return ingredient_name(drug.ingredient, lang)


_EXPOSURE = {
    Exposure.NONE: N_("phrase.exposure.none"),
    Exposure.ACUTE: N_("phrase.exposure.acute"),
    Exposure.SUBACUTE: N_("phrase.exposure.subacute"),
    Exposure.LONG_TERM: N_("phrase.exposure.long-term"),
    Exposure.MULTI_YEAR: N_("phrase.exposure.multi-year"),
}


def exposure_text(exposure: Exposure, lang: str = "sv") -> str:
    """Plain words for an exposure class, e.g. "långvarig användning, över 3 månader"."""
    return text(_EXPOSURE.get(exposure) or N_("phrase.exposure.unknown"), lang)


_EXCLUSIONS = {
    "cancer": N_("phrase.exclusion.cancer"),
    "palliative": N_("phrase.exclusion.palliative"),
    "laro": N_("phrase.exclusion.laro"),
    "under-18": N_("phrase.exclusion.under-18"),
}


def exclusion_summary(exclusions: Iterable[str], lang: str = "sv") -> str:
    """Why a patient is out of scope of the taper cards (clinical-rules §8), e.g.
    "aktiv cancer, palliativ vård"; empty string when not excluded."""
    parts = []
    for key in exclusions:
        msgid = _EXCLUSIONS.get(key)
        parts.append(text(msgid, lang) if msgid else key)
    return ", ".join(parts)


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

    ``schedule`` is a ``cds_service.domain.taper.TaperSchedule`` (duck-typed: ``unit``, ``end``,
    ``administrations_per_day`` and ``steps`` with ``number, start, days, daily_dose,
    per_administration, units, medd``).
    """
    unit = getattr(schedule, "unit", None)
    patch = unit == UG_PER_H
    n = getattr(schedule, "administrations_per_day", 2)
    if patch:  # a patch is worn continuously: its dose is µg/h, not a daily dose
        dose, per = text("phrase.table.dose", lang), text("phrase.table.patches", lang)
    else:
        dose = text("phrase.table.daily-dose", lang)
        per = text("phrase.table.morning-evening", lang) if n == 2 else text("phrase.table.per-dose", lang)
    head = (text("phrase.table.step", lang), text("phrase.table.from", lang), text("phrase.table.days", lang),
            dose, per, "MEDD")
    stopped = text("phrase.table.stopped", lang)
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
            if lang not in LANGUAGES:
                raise KeyError(lang)
            text = self._texts[lang] = self._fn(lang)
        return text

    def __iter__(self):
        return iter(LANGUAGES)

    def __len__(self) -> int:
        return len(LANGUAGES)

    def __repr__(self) -> str:
        return f"localized({self._fn!r})"


def dose_text(dose: DailyDose | None, lang: str = SV) -> str:
    """"40 mg/dygn", "25 µg/h", PRN marked as the maximum; unknown → "okänd dygnsdos" (never 0)."""
    if dose is None:
        return fmt_daily_dose(None, None, lang)
    daily = fmt_daily_dose(dose.amount, dose.unit, lang)
    if dose.known and dose.prn:
        return text("phrase.as-needed-max", lang, dose=daily)
    return daily


def total_medd_text(total: TotalMedd, lang: str = SV) -> str:
    """The total as it should be read: "90 MEDD", "minst 45 MEDD" (incomplete), "okänd MEDD"; a
    complete total with no part is a true zero (no opioid in effect)."""
    if total.value is None and total.complete:
        return fmt_medd(0, lang)
    return fmt_medd(total.value, lang, complete=total.complete)


def duration_text(facts: PatientFacts, lang: str = SV) -> str:
    """"412 dagar i följd, sedan 2025-10-07 – långvarig användning, …" (the exposure words: exposure_text)."""
    ep = facts.episode
    if ep.exposure is Exposure.NONE:
        return exposure_text(Exposure.NONE, lang)
    days = ntext("phrase.consecutive-days", "phrase.consecutive-days.plural", ep.days, lang)
    if ep.start:
        return text("phrase.duration-since", lang, days=days, start=fmt_date(ep.start), use=exposure_text(ep.exposure, lang))
    return text("phrase.duration", lang, days=days, use=exposure_text(ep.exposure, lang))


def orders_text(orders: Iterable[MedicationOrder], lang: str = SV) -> list[str]:
    """One line per opioid: "Oxikodon depot 20 mg: 40 mg/dygn (80 MEDD)"."""
    lines = []
    for o in orders:
        if o.medd.value is not None:
            medd = fmt_medd(o.medd.value, lang)
        else:
            medd = text("phrase.order-medd-unknown", lang)
        lines.append(f"{o.drug.display}: {dose_text(o.daily_dose, lang)} ({medd})")
    return lines


OUTCOME_TEXT = {
    "completed": N_("phrase.outcome.completed"),
    "failed": N_("phrase.outcome.failed"),
    None: N_("phrase.outcome.unknown"),
}


def taper_line(plan: TaperPlan, lang: str = SV) -> str:
    when = ""
    if plan.start or plan.end:
        start = plan.start.isoformat() if plan.start else "?"
        end = plan.end.isoformat() if plan.end else "?"
        when = f"{start}–{end} "
    outcome = text(OUTCOME_TEXT.get(plan.outcome, OUTCOME_TEXT[None]), lang)
    return f"{when}{ingredient_name(plan.ingredient, lang)}: {outcome}"


def bullet(lines: Iterable[str]) -> str:
    return "\n".join(f"- {x}" for x in lines)


# ---------------------------------------------------------------------------------------------------
# Treatments tried, as the referral and the pain clinic's checklist name them (clinical-rules §5)

TREATMENT_LABEL = {
    "paracetamol": N_("phrase.treatment.paracetamol"),
    "nsaid": N_("phrase.treatment.nsaid"),
    "duloxetine": N_("phrase.treatment.duloxetine"),
    "amitriptyline": N_("phrase.treatment.amitriptyline"),
    "gabapentinoid": N_("phrase.treatment.gabapentinoid"),
}


def treatment_label(treatment: Treatment, lang: str = SV) -> str:
    return text(TREATMENT_LABEL[treatment.key], lang)


def tried_note(t: Tried, lang: str = SV) -> str:
    """When and at what doses a treatment was prescribed (the record never shows its effect); what
    the record says when it was not."""
    if not t.tried:
        return text("phrase.tried.not-shown", lang)
    span = ""
    if t.first and t.last and t.last != t.first:
        span = f" {t.first.isoformat()}–{t.last.isoformat()}"
    elif t.first:
        span = f" {t.first.isoformat()}"
    doses = sorted({dose_text(o.daily_dose, lang) for o in t.orders if o.daily_dose.known})
    dose = f", {', '.join(doses)}" if doses else ""
    return text("phrase.tried.prescribed", lang, span=span, doses=dose)


def tried_text(t: Tried, lang: str = SV) -> str:
    label = treatment_label(t.treatment, lang)
    if not t.tried:
        return text("phrase.tried.line-not-shown", lang, label=label, note=tried_note(t, lang))
    return text("phrase.tried.line", lang, label=label, note=tried_note(t, lang))
