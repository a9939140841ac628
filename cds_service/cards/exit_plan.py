"""exit-plan in words: set the stop from the start, and the draft's planned end as a suggestion.

The rule (cds_service/rules/exit_plan.py) decides and gives ``ExitPlan`` and the ``PlannedEnd`` it
proposes; the words are the catalogs' ``exit-plan.*`` entries [VGR "Iatrogent läkemedelsberoende"].
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.cards.phrases import fmt_date, ingredient_name
from cds_service.rules.exit_plan import TOPIC, ExitPlan
from cds_service.rules.finding import Action, Finding, Suggestion
from cds_service.rules.proposals import PlannedEnd

from cds_service.cards.words import LANGUAGES, text


def summary(e: ExitPlan, lang: str) -> str:
    return text("exit-plan.summary", lang, name=ingredient_name(e.ingredient, lang))


def detail(e: ExitPlan, lang: str) -> str:
    return text("exit-plan.detail", lang, days=e.days)


def suggestion(p: PlannedEnd) -> Suggestion:
    return Suggestion(
        label={lang: text("exit-plan.limit", lang, days=p.days, last=fmt_date(p.last, lang)) for lang in LANGUAGES},
        actions=(Action("update", {lang: text("exit-plan.add-end", lang, days=p.days) for lang in LANGUAGES},
                        proposal=p),),
        is_recommended=True,
    )


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    e: ExitPlan = finding.data
    return summary(e, lang), detail(e, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    return tuple(suggestion(p) for p in finding.proposals if isinstance(p, PlannedEnd))


__all__ = ["TOPIC", "words", "suggestions"]
