"""prescribing-restriction in words: register an uppmärksamhetssignal with förskrivningsrestriktion,
and the Flag as a suggestion.

The rule (cds_service/rules/prescribing_restriction.py) decides and gives ``Restriction`` and the
``NewRestrictionFlag`` it proposes; the words are the catalogs' ``restriction.*`` entries [RJL "Vilka
krav kan jag som läkare ställa?"; "Praktiska tips och trix"].
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.cards.phrases import fmt_date
from cds_service.rules.finding import Action, Finding, Suggestion
from cds_service.rules.prescribing_restriction import TOPIC, Restriction
from cds_service.rules.proposals import NewRestrictionFlag
from cds_service.cards.phrases import bullet

from cds_service.cards.words import LANGUAGES, text


def summary(r: Restriction, lang: str) -> str:
    return text("restriction.summary.running", lang) if r.running else text("restriction.summary.planned", lang)


def detail(r: Restriction, lang: str) -> str:
    state = text("restriction.state.running", lang) if r.running else text("restriction.state.planned", lang)
    missing = text("restriction.missing.not-found", lang) if r.unsure else text("restriction.missing.none", lang)
    if r.end:
        period = text("restriction.period.until", lang, end=fmt_date(r.end, lang), margin=r.margin_days)
    else:
        period = text("restriction.period.open-ended", lang)
    lines = [text("restriction.proposal", lang, period=period)]
    if r.by_taper_suggestion:
        lines.append(text("restriction.by-taper-suggestion", lang))
    lines.append(text("restriction.consent", lang))
    return text("restriction.lead", lang, state=state, missing=missing) + "\n\n" + bullet(lines)


def suggestion(flag: NewRestrictionFlag) -> Suggestion:
    return Suggestion(
        label={lang: text("restriction.register", lang) for lang in LANGUAGES},
        actions=(Action("create", {lang: text("restriction.register-action", lang) for lang in LANGUAGES},
                        proposal=flag),),
        is_recommended=True,
    )


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    r: Restriction = finding.data
    return summary(r, lang), detail(r, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    return tuple(suggestion(p) for p in finding.proposals if isinstance(p, NewRestrictionFlag))


__all__ = ["TOPIC", "words", "suggestions"]
