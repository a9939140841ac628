"""taper-prn in words: no as-needed opioid doses, a fixed daily dose instead; the draft's removal offered.

The rule (cds_service/rules/taper_prn.py) decides and gives ``PrnDraft``; the words are the catalogs'
``taper-prn.*`` entries [RJL "Allmänna principer och viktigt att tänka på"]: "Ordinera inte
extra-tabletter eller vid behovs-doser av opioid! … En fast dygnsdosering minskar både abstinens och
psykologiskt beroende".
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.cards.phrases import fmt_daily_dose, ingredient_name
from cds_service.rules.finding import Action, Finding, Suggestion
from cds_service.cards.phrases import bullet
from cds_service.rules.taper_prn import TOPIC, PrnDraft

from cds_service.cards.words import LANGUAGES, text


def summary(d: PrnDraft, lang: str) -> str:
    if d.taper_running:
        return text("taper-prn.summary.taper", lang)
    return text("taper-prn.summary.long-term", lang, days=d.days)


def detail(d: PrnDraft, lang: str) -> str:
    why = text("taper-prn.why.taper", lang) if d.taper_running else text("taper-prn.why.long-term", lang, days=d.days)
    lead = text("taper-prn.lead", lang, why=why, drug=ingredient_name(d.ingredient, lang),
                max=fmt_daily_dose(d.max_daily_dose, d.unit, lang))
    lines = [
        text("taper-prn.maintains", lang),
        text("taper-prn.fixed-dose.taper", lang) if d.taper_running else text("taper-prn.fixed-dose", lang),
        text("taper-prn.pain", lang),
    ]
    return f"{lead}\n\n{bullet(lines)}"


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    d: PrnDraft = finding.data
    return summary(d, lang), detail(d, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    d: PrnDraft = finding.data
    if not d.draft_ref:
        return ()
    return (Suggestion(
        label={lang: text("taper-prn.remove", lang) for lang in LANGUAGES},
        actions=(Action("delete", {lang: text("taper-prn.remove.action", lang) for lang in LANGUAGES},
                        resource_id=d.draft_ref),),
        is_recommended=True,
    ),)


__all__ = ["TOPIC", "words", "suggestions"]
