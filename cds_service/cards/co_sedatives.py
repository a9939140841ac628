"""co-sedatives in words: the order to taper in (opioid first, benzodiazepines next, z-drugs last), the
drugs concerned, and what to offer for sleep and anxiety during the opioid taper.

The rule (cds_service/rules/co_sedatives.py) decides and gives ``Sedatives``; the words are the catalogs'
``co-sedatives.*`` entries [RJL "Allmänna principer och viktigt att tänka på"], [RJL "Tillfällig
symptomlindrande läkemedelsbehandling"]. No suggestion: the order of tapering is advice.
"""
from __future__ import annotations

from cds_service.domain.model import MedicationOrder, PatientFacts
from cds_service.rules.co_sedatives import TOPIC, Sedatives
from cds_service.cards.phrases import drug_name
from cds_service.rules.finding import Finding, Suggestion
from cds_service.cards.phrases import bullet, dose_text, orders_text

from cds_service.cards.words import text


def _being_ordered(line: str, order: MedicationOrder, lang: str) -> str:
    return text("co-sedatives.being-ordered", lang, line=line) if order.is_draft else line


def _sedative_line(order: MedicationOrder, lang: str) -> str:
    line = drug_name(order.drug, lang)
    if order.daily_dose.known:
        line += f": {dose_text(order.daily_dose, lang)}"
    return _being_ordered(line, order, lang)


def summary(s: Sedatives, lang: str) -> str:
    if s.benzodiazepines and s.z_drugs:
        return text("co-sedatives.summary.both", lang)
    if s.benzodiazepines:
        return text("co-sedatives.summary.benzodiazepine", lang)
    return text("co-sedatives.summary.z-drug", lang)


def detail(s: Sedatives, facts: PatientFacts, lang: str) -> str:
    opioids = facts.regimen.opioids
    rows = [text("co-sedatives.opioids", lang, orders="; ".join(
        _being_ordered(line, o, lang) for o, line in zip(opioids, orders_text(opioids, lang))) or "–")]
    if s.benzodiazepines:
        rows.append(text("co-sedatives.benzodiazepines", lang,
                         lines="; ".join(_sedative_line(o, lang) for o in s.benzodiazepines)))
    if s.z_drugs:
        rows.append(text("co-sedatives.z-drugs", lang, lines="; ".join(_sedative_line(o, lang) for o in s.z_drugs)))
    return "\n\n".join([text("co-sedatives.lead", lang), bullet(rows), text("co-sedatives.support", lang)])


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    s: Sedatives = finding.data
    return summary(s, lang), detail(s, facts, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    return ()


__all__ = ["TOPIC", "words", "suggestions"]
