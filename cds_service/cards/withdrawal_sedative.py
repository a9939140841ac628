"""withdrawal-sedative in words: never a benzodiazepine or z-drug during an opioid taper, what to offer
instead, and the sedative draft's removal.

The rule (cds_service/rules/withdrawal_sedative.py) decides and gives ``SedativeDrafts``; the words are
the catalogs' ``withdrawal-sedative.*`` entries [RJL "Tillfällig symptomlindrande läkemedelsbehandling"].
The removal is a CDS Hooks delete action on the draft (``resourceId``), recommended: the guideline
says never.
"""
from __future__ import annotations

from cds_service.domain.model import DrugClass, PatientFacts
from cds_service.rules.drafts import draft_reference
from cds_service.cards.phrases import drug_name
from cds_service.rules.finding import Action, Finding, Suggestion
from cds_service.rules.withdrawal_sedative import TOPIC, SedativeDrafts

from cds_service.cards.words import LANGUAGES, text


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    s: SedativeDrafts = finding.data
    benzodiazepine = any(d.drug.drug_class is DrugClass.BENZODIAZEPINE for d in s.drafts)
    if s.z_drug and benzodiazepine:  # both drafted: the summary names both, not the z-drug alone
        kind = text("withdrawal-sedative.kind.both", lang)
    elif s.z_drug:
        kind = text("withdrawal-sedative.kind.z-drug", lang)
    else:
        kind = text("withdrawal-sedative.kind.benzodiazepine", lang)
    names = ", ".join(drug_name(d.drug, lang) for d in s.drafts)
    return (text("withdrawal-sedative.summary", lang, kind=kind),
            text("withdrawal-sedative.detail", lang, names=names))


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    s: SedativeDrafts = finding.data
    actions = tuple(
        Action("delete", {lang: text("withdrawal-sedative.remove-draft", lang, name=drug_name(d.drug, lang))
                          for lang in LANGUAGES},
               resource_id=ref)
        for d in s.drafts
        if (ref := draft_reference(d))
    )
    if not actions:
        return ()
    return (Suggestion(label={lang: text("withdrawal-sedative.remove", lang) for lang in LANGUAGES},
                       actions=actions, is_recommended=True),)


__all__ = ["TOPIC", "words", "suggestions"]
