"""gabapentinoid-caution in words: avoid pregabalin and gabapentin in substance use disorder, what to
consider instead, and the draft's removal.

The rule (cds_service/rules/gabapentinoid_caution.py) decides and gives ``GabapentinoidDrafts``; the
words are the catalogs' ``gabapentinoid.*`` entries [RJL "När det inte går som planerat"]. The removal
is a CDS Hooks delete action on the draft (``resourceId``), not recommended: the physician may have
reasons.
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.rules.drafts import draft_reference
from cds_service.cards.phrases import drug_name
from cds_service.rules.finding import Action, Finding, Suggestion
from cds_service.rules.gabapentinoid_caution import TOPIC, GabapentinoidDrafts

from cds_service.cards.words import LANGUAGES, text

#: Codes named in the summary; the detail names them all (a summary stays under 140 characters).
SUMMARY_CODES = 2


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    g: GabapentinoidDrafts = finding.data
    shown = ", ".join(g.codes[:SUMMARY_CODES])
    if len(g.codes) > SUMMARY_CODES:
        shown = text("gabapentinoid.codes-and-more", lang, codes=shown)
    names = ", ".join(drug_name(d.drug, lang) for d in g.drafts)
    return (text("gabapentinoid.summary", lang, codes=shown),
            text("gabapentinoid.detail", lang, codes=", ".join(g.codes), names=names))


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    g: GabapentinoidDrafts = finding.data
    actions = tuple(
        Action(type="delete",
               description={lang: text("gabapentinoid.remove-draft", lang, name=drug_name(d.drug, lang))
                            for lang in LANGUAGES},
               resource_id=ref)
        for d in g.drafts
        if (ref := draft_reference(d))
    )
    if not actions:
        return ()
    return (Suggestion(label={lang: text("gabapentinoid.remove", lang) for lang in LANGUAGES}, actions=actions),)


__all__ = ["TOPIC", "words", "suggestions"]
