"""A problem (why a dose or MEDD is unknown, ``cds_service.domain.problems``) in the card's words.

The words are the catalogs' ``problem.<code>`` entries; a parameter is worded by its kind: an
ingredient as a clinician names it in the language (oxikodon, tapentadol), a form and a quantity by
their own catalog entries, a dose with the language's decimal sign, a nested problem (the cause of an
unknown daily dose) in the same words. English is also what ``str(problem)`` gives — the text the
cards' machine-readable facts (``extension.trappa``) and the logs have always carried.
"""
from __future__ import annotations

from cds_service.domain import problems as _problems
from cds_service.domain.problems import Problem
from fhir_mappings.codes.names import ingredient_sv

from cds_service.cards.words import N_, decimal_sign, text

#: problem code → message id. Every code the mapping layer and the domain produce has its words.
PROBLEMS: dict[str, str] = {
    # the dosage as the record gives it (fhir_mappings.read.dosage, dosage_text)
    "dosage-unreadable": N_("problem.dosage-unreadable"),
    "no-dosage-instructions": N_("problem.no-dosage-instructions"),
    "free-text-only": N_("problem.free-text-only"),
    "no-dose": N_("problem.no-dose"),
    "quantity-missing": N_("problem.quantity-missing"),
    "quantity-value-missing": N_("problem.quantity-value-missing"),
    "quantity-no-unit": N_("problem.quantity-no-unit"),
    "strength-unknown": N_("problem.strength-unknown"),
    "unit-form-mismatch": N_("problem.unit-form-mismatch"),
    "unit-not-convertible": N_("problem.unit-not-convertible"),
    "unit-no-ml-strength": N_("problem.unit-no-ml-strength"),
    "frequency-without-period": N_("problem.frequency-without-period"),
    "no-frequency": N_("problem.no-frequency"),
    "max-dose-unreadable": N_("problem.max-dose-unreadable"),
    "patch-dose-as-mass": N_("problem.patch-dose-as-mass"),
    "prn-without-maximum": N_("problem.prn-without-maximum"),
    "mixed-units": N_("problem.mixed-units"),
    "no-supply": N_("problem.no-supply"),
    "no-supply-duration": N_("problem.no-supply-duration"),
    "patch-supply": N_("problem.patch-supply"),
    "supply-unit-not-convertible": N_("problem.supply-unit-not-convertible"),
    # a taper plan's step (fhir_mappings.read.record)
    "taper-step-amount-missing": N_("problem.taper-step-amount-missing"),
    "taper-step-unit": N_("problem.taper-step-unit"),
    # the current regimen (cds_service.domain.regimen)
    "ingredient-unknown": N_("problem.ingredient-unknown"),
    "not-in-regimen": N_("problem.not-in-regimen"),
    "partly-unknown": N_("problem.partly-unknown"),
    "different-units": N_("problem.different-units"),
    # MEDD (cds_service.domain.medd)
    "medication-not-identified": N_("problem.medication-not-identified"),
    "not-an-opioid": N_("problem.not-an-opioid"),
    "opioid-ingredient-unknown": N_("problem.opioid-ingredient-unknown"),
    "no-conversion-factor": N_("problem.no-conversion-factor"),
    "no-conversion-factor-form": N_("problem.no-conversion-factor-form"),
    "daily-dose-unknown": N_("problem.daily-dose-unknown"),
    "form-unknown": N_("problem.form-unknown"),
    "unit-factor-mismatch": N_("problem.unit-factor-mismatch"),
    "unit-unknown": N_("problem.unit-unknown"),
    "dose-outside-bands": N_("problem.dose-outside-bands"),
    "dose-implausible": N_("problem.dose-implausible"),
    # the rules' own (taper_start's start dose, taper-dose-increase's comparison with the plan)
    "prn-only": N_("problem.prn-only"),
    "dose-unknown": N_("problem.dose-unknown"),
    "record-unit-differs": N_("problem.record-unit-differs"),
}

_FORMS = {
    "patch": N_("form.patch"), "depot": N_("form.depot"), "immediate": N_("form.immediate"),
    "sublingual": N_("form.sublingual"), "injection": N_("form.injection"), "unknown": N_("form.unknown"),
}
_QUANTITIES = {
    "dose": N_("quantity.dose"), "maximum dose": N_("quantity.maximum-dose"),
    "dispense quantity": N_("quantity.dispense-quantity"),
}


def _param(name: str, value: object, lang: str) -> str:
    if isinstance(value, Problem) or (value is None and name == "cause"):
        return problem_text(value, lang)  # type: ignore[arg-type]
    if name == "ingredient":
        return (ingredient_sv(str(value)) or str(value)) if lang == "sv" else str(value)
    if name == "form":
        return text(_FORMS[str(value)], lang) if value in _FORMS else str(value)
    if name == "what":
        return text(_QUANTITIES[str(value)], lang) if value in _QUANTITIES else str(value)
    if name == "dose" and isinstance(value, (int, float)):
        digits = f"{value:g}"  # as the English text has always written a dose in a problem
        sign = decimal_sign(lang)
        return digits if sign == "." else digits.replace(".", sign)
    return str(value)


def problem_text(problem: Problem | None, lang: str) -> str:
    """Why a value is unknown, in ``lang``; no problem given → "orsak ej angiven" / "no reason given"."""
    if problem is None:
        return text("problem.none", lang)
    msgid = PROBLEMS.get(problem.code)
    if msgid is None:  # a code without words is a bug the catalog test catches; never show a raw code
        return text("problem.unreadable", lang)
    return text(msgid, lang, **{k: _param(k, v, lang) for k, v in problem.params})


def _english(problem: Problem) -> str:
    return problem_text(problem, "en")


_problems.set_english(_english)
