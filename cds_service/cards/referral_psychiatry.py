"""referral-psychiatry in words: the criteria met, the current situation, the referral pre-filled.

The rule (cds_service/rules/referral_psychiatry.py) decides and gives ``Criteria``; the words are the
catalogs' ``psychiatry.*`` entries [RJL "Hjälp och kontaktvägar"]. The ServiceRequest is written in
Swedish whatever the card's language: it goes into a Swedish record.
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.cards.phrases import fmt_medd, fmt_number
from cds_service.rules.finding import Finding, Suggestion
from cds_service.rules.referrals import Versus
from cds_service.cards.phrases import bullet, duration_text, orders_text, taper_line, total_medd_text
from cds_service.rules.referral_psychiatry import TOPIC, Criteria

from cds_service.cards.referrals import referral_suggestions
from cds_service.cards.words import LANGUAGES, N_, ntext, text

_CRITERIA = {
    "failedTapers": N_("psychiatry.criterion.failed-tapers"),
    "opioidDependence": N_("psychiatry.criterion.opioid-dependence"),
    "sedativeDependence": N_("psychiatry.criterion.sedative-dependence"),
    "mixedDependence": N_("psychiatry.criterion.mixed-dependence"),
}
_LABELS = {
    "opioidDependence": N_("psychiatry.label.opioid-dependence"),
    "sedativeDependence": N_("psychiatry.label.sedative-dependence"),
    "mixedDependence": N_("psychiatry.label.mixed-dependence"),
}


def criteria_lines(c: Criteria, lang: str) -> list[str]:
    lines = []
    for key in c.met:
        if key == "highMedd":
            lines.append(text("psychiatry.criterion.high-medd", lang, total=total_medd_text(c.total, lang),
                              limit=fmt_number(c.limit, lang)))
        else:
            lines.append(text(_CRITERIA[key], lang, n=len(c.failed)))
    return lines


def _labels(c: Criteria, lang: str) -> list[str]:
    labels = []
    for key in c.met:
        if key == "highMedd":
            labels.append(text("psychiatry.label.high-medd", lang, dose=fmt_medd(c.total.value, lang, complete=c.total.complete),
                               limit=fmt_number(c.limit, lang)))
        elif key == "failedTapers":
            labels.append(ntext("psychiatry.label.failed-taper", "psychiatry.label.failed-tapers", len(c.failed), lang))
        else:
            labels.append(text(_LABELS[key], lang))
    return labels


def summary(c: Criteria, lang: str) -> str:
    s = text("psychiatry.summary", lang, labels=", ".join(_labels(c, lang)))
    if len(s) >= 140:
        s = text("psychiatry.summary-short", lang, n=len(c.met))
    return s[0].upper() + s[1:]


def detail(c: Criteria, facts: PatientFacts, lang: str) -> str:
    parts = [text("psychiatry.consider", lang),
             text("psychiatry.criteria-met", lang, criteria=bullet(criteria_lines(c, lang)))]
    if c.medd is Versus.UNDECIDED:
        parts.append(text("psychiatry.medd-undecided", lang, total=total_medd_text(c.total, lang),
                          unknown=", ".join(c.total.unknown)))
    situation = [
        text("psychiatry.situation.opioids", lang,
             orders="; ".join(orders_text(facts.regimen.opioids, lang)) or text("psychiatry.situation.no-opioids", lang)),
        text("psychiatry.situation.duration", lang, duration=duration_text(facts, lang)),
    ]
    if c.failed:
        situation.append(text("psychiatry.situation.failed", lang, tapers="; ".join(taper_line(p, lang) for p in c.failed)))
    if facts.conditions.psychiatric:
        situation.append(text("psychiatry.situation.psychiatric", lang, codes=", ".join(facts.conditions.psychiatric)))
    parts.append(text("psychiatry.situation", lang, lines=bullet(situation)))
    if c.team_conference:
        parts.append(text("psychiatry.team-conference", lang))
    parts.append(text("psychiatry.prefilled", lang))
    return "\n\n".join(parts)


def question(c: Criteria, lang: str) -> str:
    """The referral's question: hard-to-treat dependence, and the criteria met."""
    return text("psychiatry.question", lang, criteria="; ".join(criteria_lines(c, lang)))


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    c: Criteria = finding.data
    return summary(c, lang), detail(c, facts, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    c: Criteria = finding.data
    return referral_suggestions(facts, finding.proposals, {lang: question(c, lang) for lang in LANGUAGES})


__all__ = ["TOPIC", "words", "suggestions"]
