"""withdrawal-sedative — a benzodiazepine or z-drug is ordered during an opioid taper.

Source: [RJL "Tillfällig symptomlindrande läkemedelsbehandling"] "För sömnen och mot ångest vid
opioidabstinens: alimemazin och/eller mirtazapin. Erbjud aldrig bensodiazepiner, zopiklon eller
zolpidem!"; clinical-rules §6, §9 (N05BA, N05CD, N05CF).

When
  - a taper is running (active taper plan; a taper merely being proposed in this call does not
    count — co-sedatives covers ongoing use of both), and
  - a draft order is a benzodiazepine (N05BA, N05CD) or z-drug (N05CF: zopiclone, zolpidem), and
  - the patient is not excluded
Then
  - critical: never benzodiazepines, zopiclone or zolpidem during an opioid taper; for sleep and
    anxiety use alimemazine and/or mirtazapine (named as text: the dose is the physician's);
  - suggest removing the sedative draft (CDS Hooks delete action, resourceId
    "MedicationRequest/<draft id>"), recommended.
    The card's words and its delete actions: cds_service/cards/withdrawal_sedative.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.domain.model import DrugClass, MedicationOrder, PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.domain.bounded import clip
from cds_service.rules.taper_state import in_taper
from cds_service.rules.drafts import draft_sedatives

TOPIC = "withdrawal-sedative"
HOOKS = ORDER_HOOKS


def inclusion_criteria(facts: PatientFacts) -> bool:
    return in_taper(facts) and bool(draft_sedatives(facts))


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


@dataclass(frozen=True)
class SedativeDrafts:
    """What the card says: the sedatives being ordered, each to be removed (a delete action where the
    draft has a FHIR id), and whether one is a z-drug."""

    drafts: tuple[MedicationOrder, ...]  # the draft benzodiazepines and z-drugs, in request order
    z_drug: bool


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    drafts = draft_sedatives(facts)
    z_drug = any(d.drug.drug_class is DrugClass.Z_DRUG for d in drafts)
    fact_map: dict[str, Any] = {
        # machine facts: the ATC code, else the record's display (a sedative is identified by one of them)
        "sedativeDrafts": [d.drug.atc or clip(d.drug.display, 200) or d.drug.ingredient for d in drafts],
        "taperIngredient": facts.taper_plan.ingredient if facts.taper_plan else None,
    }
    return [
        Finding(
            topic=TOPIC,
            indicator="critical",
            guideline=RJL,
            section="Tillfällig symptomlindrande läkemedelsbehandling",
            facts=fact_map,
            data=SedativeDrafts(drafts=tuple(drafts), z_drug=z_drug),
            override_reasons=("not-in-taper", "clinical-judgement"),
        )
    ]
