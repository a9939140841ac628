"""gabapentinoid-caution — pregabalin or gabapentin ordered for a patient with a substance use disorder.

Source: [RJL "När det inte går som planerat"] "Pregabalin och gabapentin bör, med hänsyn till deras
beroendepotential, undvikas vid misstanke om substansbrukssyndrom!" and "Vid neuropatisk smärta,
överväg duloxetin eller amitriptylin"; clinical-rules §6.

When
  - a gabapentinoid (N02BF01 gabapentin, N02BF02 pregabalin; older N03AX12/N03AX16) is being ordered
    (order hooks), and
  - the record holds a substance use disorder diagnosis (ICD-10 F10–F19), and
  - the patient is not excluded (cancer, palliative care, LARO, under 18)
Then
  - warn: avoid gabapentinoids because of their dependence potential; for neuropathic pain consider
    duloxetine or amitriptyline; suggest removing the draft (not recommended by default: the physician
    may have reasons). The card's words and its delete actions:
    cds_service/cards/gabapentinoid_caution.py.

Decisions: the guideline says "misstanke om" (suspected) substance use disorder; the record can show
only diagnosed ones, so a missing diagnosis never clears the patient (the card is simply silent);
when diagnoses could not be had (data gap), the card is silent too — every card names the gap.
Excluded patients get nothing (conservative reading of "none of the taper cards").
"""
from __future__ import annotations

from dataclasses import dataclass

from cds_service.domain.model import DrugClass, MedicationOrder, PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.drafts import drafts_of

TOPIC = "gabapentinoid-caution"
HOOKS = ORDER_HOOKS


def draft_gabapentinoids(facts: PatientFacts):
    return drafts_of(facts, (DrugClass.GABAPENTINOID,))


def inclusion_criteria(facts: PatientFacts) -> bool:
    return bool(draft_gabapentinoids(facts)) and bool(facts.conditions.substance_use)


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


@dataclass(frozen=True)
class GabapentinoidDrafts:
    """What the card says: the gabapentinoids being ordered, each to be removed (a delete action where
    the draft has a FHIR id, not recommended), and the record's substance use codes."""

    drafts: tuple[MedicationOrder, ...]  # in request order
    codes: tuple[str, ...]  # ICD-10 F10–F19, as the record holds them


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    drafts = draft_gabapentinoids(facts)
    codes = facts.conditions.substance_use
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            guideline=RJL,
            section="När det inte går som planerat",
            facts={
                "substanceUseCodes": list(codes),
                "draftGabapentinoids": [d.drug.display for d in drafts],
            },
            data=GabapentinoidDrafts(drafts=tuple(drafts), codes=tuple(codes)),
            override_reasons=("clinical-judgement", "data-incorrect", "agreed-with-responsible"),
        )
    ]
