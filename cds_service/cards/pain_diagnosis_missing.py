"""pain-diagnosis-missing in words: the long-term-pain codes to add, and how long the opioid use has lasted.

The rule (cds_service/rules/pain_diagnosis_missing.py) decides and gives ``MissingCode``; the words are
the catalogs' ``pain-diagnosis.*`` entries [VGR "Diagnoskoder för långvarig smärta"]. No suggestion:
only the clinician can make the diagnosis, so the card names the codes instead.
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.rules.finding import Finding, Suggestion
from cds_service.rules.pain_diagnosis_missing import TOPIC, MissingCode
from cds_service.cards.phrases import duration_text

from cds_service.cards.words import text


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    m: MissingCode = finding.data
    return (text("pain-diagnosis.summary", lang, days=m.days),
            text("pain-diagnosis.detail", lang, duration=duration_text(facts, lang)))


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    return ()


__all__ = ["TOPIC", "words", "suggestions"]
