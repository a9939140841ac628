"""taper-dose-increase in words: never a dose increase during a running taper, each draft against today.

The rule (cds_service/rules/taper_dose_increase.py) decides and gives ``Increase``: the drafts above
what the taper allows today, or those it could not compare, and its proposal for the first one (bring
it down to today's step, or remove it when the plan has ended). The words are the catalogs'
``dose-increase.*`` entries [RJL "Allmänna principer och viktigt att tänka på"]: "Öka aldrig dosen
under en pågående nedtrappning! … kan steget istället förlängas någon extra vecka".
"""
from __future__ import annotations

from cds_service.domain.model import MG, PatientFacts
from cds_service.domain.problems import Problem
from cds_service.cards.phrases import fmt_daily_dose, ingredient_name
from cds_service.cards.phrases import bullet
from cds_service.rules.finding import Action, Finding, Suggestion
from cds_service.rules.taper_dose_increase import TOPIC, Comparison, Increase, Reason

from cds_service.cards.problems import problem_text
from cds_service.cards.words import LANGUAGES, N_, text

#: this rule's reasons for an undecided comparison
_REASONS = {
    Reason.INGREDIENT_UNKNOWN: N_("dose-increase.reason.ingredient-unknown"),
    Reason.NO_STEP_TODAY: N_("dose-increase.reason.no-step-today"),
    Reason.STEP_DOSE_UNKNOWN: N_("dose-increase.reason.step-dose-unknown"),
    Reason.DRAFT_DOSE_UNKNOWN: N_("dose-increase.reason.draft-dose-unknown"),
    Reason.OTHER_FORM_DOSE_UNKNOWN: N_("dose-increase.reason.other-form-dose-unknown"),
    Reason.UNITS_DIFFER_FROM_PLAN: N_("dose-increase.reason.units-differ-from-plan"),
    Reason.UNITS_DIFFER_FROM_CURRENT: N_("dose-increase.reason.units-differ-from-current"),
}


def _both(msgid: str, **params: object) -> dict[str, str]:
    return {lang: text(msgid, lang, **params) for lang in LANGUAGES}


def _draft_dose(c: Comparison, lang: str) -> str:
    """The draft's daily dose; in brackets when unreadable; with what it adds to in another form."""
    draft = fmt_daily_dose(c.draft.daily_dose.amount, c.draft.daily_dose.unit, lang)
    if not c.draft.daily_dose.known:
        draft = f"({draft})"
    if c.added and c.amount is not None:
        draft = text("dose-increase.on-top", lang, draft=draft, other=fmt_daily_dose(c.added, c.unit, lang),
                     total=fmt_daily_dose(c.amount, c.unit, lang))
    return draft


def _line(c: Comparison, lang: str) -> str:
    fields = {"name": ingredient_name(c.draft.drug.ingredient, lang), "draft": _draft_dose(c, lang)}
    allowed = fmt_daily_dose(c.allowed, c.unit, lang)
    if c.kind == "step":
        if c.plan_ended:
            return text("dose-increase.line.plan-ended", lang, **fields)
        return text("dose-increase.line.step", lang, number=c.step.sequence if c.step else "?", allowed=allowed,
                    **fields)
    if c.allowed == 0:
        return text("dose-increase.line.new-opioid", lang, **fields)
    return text("dose-increase.line.other", lang, allowed=allowed, **fields)


def _reason(problem: Problem | Reason | None, lang: str) -> str:
    if isinstance(problem, Reason):
        return text(_REASONS[problem], lang)
    return problem_text(problem, lang)  # a dose the mapping could not read, and why


def _undecided_line(c: Comparison, lang: str) -> str:
    return text("dose-increase.line.undecided", lang, name=ingredient_name(c.draft.drug.ingredient, lang),
                reason=_reason(c.problem, lang))


def _step_advice(exceeding: tuple[Comparison, ...], lang: str) -> str:
    """Extend the current step instead [RJL]; its dose when a draft of the tapered opioid was compared."""
    steps = [c for c in exceeding if c.kind == "step" and c.step is not None]
    if steps:
        return text("dose-increase.advice.extend-step", lang, dose=fmt_daily_dose(steps[0].allowed, steps[0].unit, lang))
    return text("dose-increase.advice.extend", lang)


def summary(d: Increase, lang: str) -> str:
    if not d.exceeding:
        return text("dose-increase.summary.undecided", lang)
    c = d.exceeding[0]
    if c.plan_ended:
        return text("dose-increase.summary.plan-ended", lang)
    if c.kind == "other":
        return text("dose-increase.summary.other", lang, name=ingredient_name(c.draft.drug.ingredient, lang))
    return text("dose-increase.summary.step", lang, dose=fmt_daily_dose(c.allowed, c.unit, lang))


def detail(d: Increase, lang: str) -> str:
    if not d.exceeding:
        return (text("dose-increase.undecided", lang) + "\n\n"
                + bullet(_undecided_line(c, lang) for c in d.undecided))
    lines = [_line(c, lang) for c in d.exceeding]
    lines += [_step_advice(d.exceeding, lang), text("dose-increase.advice.pain", lang)]
    return text("dose-increase.never", lang) + "\n\n" + bullet(lines)


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    d: Increase = finding.data
    return summary(d, lang), detail(d, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    d: Increase = finding.data
    if d.remove:
        return (Suggestion(label=_both(N_("dose-increase.suggestion.remove")),
                           actions=(Action("delete", _both(N_("dose-increase.action.remove")), resource_id=d.remove),)),)
    if d.change is None:
        return ()
    dose = {lang: fmt_daily_dose(d.change.daily_dose, MG, lang) for lang in LANGUAGES}
    label = {lang: text("dose-increase.suggestion.keep-step", lang, dose=dose[lang]) for lang in LANGUAGES}
    description = {lang: text("dose-increase.action.change", lang, dose=dose[lang]) for lang in LANGUAGES}
    return (Suggestion(label=label, actions=(Action("update", description, proposal=d.change),), is_recommended=True),)


__all__ = ["TOPIC", "words", "suggestions"]
