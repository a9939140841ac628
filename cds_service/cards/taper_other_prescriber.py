"""taper-other-prescriber in words: during a taper only its responsible physician prescribes opioids.

The rule (cds_service/rules/taper_other_prescriber.py) decides and gives ``Prescriber``; the words are
the catalogs' ``other-prescriber.*`` entries [RJL "Vilka krav kan jag som läkare ställa?"]: "Opioider
förskrivs enbart av den läkare som ansvarar för nedtrappningen (eller av denne utsedd kollega)".
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.rules.finding import Finding, Suggestion
from cds_service.rules.taper_other_prescriber import TOPIC, Prescriber

from cds_service.cards.words import text


def _unknown(p: Prescriber, lang: str) -> tuple[str, str]:
    """Either physician unknown: the check could not be done, and the plan should name its physician."""
    missing = text("other-prescriber.unknown.no-author", lang) if not p.author_known else text(
        "other-prescriber.unknown.no-user", lang)
    return (text("other-prescriber.unknown.summary", lang),
            text("other-prescriber.unknown.detail", lang, missing=missing))


def _other(p: Prescriber, lang: str) -> tuple[str, str]:
    return (text("other-prescriber.summary", lang),
            text("other-prescriber.detail", lang, name=p.name))


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    p: Prescriber = finding.data
    return _unknown(p, lang) if p.other is None else _other(p, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    return ()


__all__ = ["TOPIC", "words", "suggestions"]
