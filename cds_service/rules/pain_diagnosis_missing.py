"""pain-diagnosis-missing — long-term opioid use without a diagnosis code for long-term pain.

Source: [VGR "Diagnoskoder för långvarig smärta"] "En diagnoskod för långvarig smärta bör användas för
alla patienter som har smärta som varat minst 3 månader, antingen som ensam diagnos eller som tillägg
till annan diagnos. Enligt ICD-10 är diagnoskoderna R52.1, R52.2 A, B eller C. (Enligt ICD-11 inom
MG30)"; clinical-rules §7.

When
  - opioid use has lasted 90 days or more (long-term or multi-year exposure), and
  - the record holds no long-term-pain code (R52.1, R52.2*, MG30*), and
  - the diagnoses could be read (``conditions`` is not a data gap), and
  - the patient is not excluded (cancer, palliative care, LARO, under 18)
Then
  - info: add a long-term-pain code, alone or beside another diagnosis; the card's words:
    cds_service/cards/pain_diagnosis_missing.py.

Decisions: no suggestion. Creating a Condition would put a diagnosis in the record that only the
clinician can make (and only the clinician knows whether R52.1 or which R52.2 sub-code fits) — the card
names the codes instead. Without the diagnoses (data gap) the card is silent rather than guessing.
"""
from __future__ import annotations

from dataclasses import dataclass

from cds_service.domain.model import PatientFacts

from cds_service.domain.hooks import ALL_HOOKS
from cds_service.domain.guidelines import VGR
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.referrals import LONG_TERM

TOPIC = "pain-diagnosis-missing"
HOOKS = ALL_HOOKS


def inclusion_criteria(facts: PatientFacts) -> bool:
    return facts.episode.exposure in LONG_TERM and not facts.conditions.long_term_pain


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or "conditions" in facts.data_gaps


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


@dataclass(frozen=True)
class MissingCode:
    """What the card says: how long the opioid use has lasted without a long-term-pain code."""

    days: int  # consecutive days of opioid use (clinical-rules §2)


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    days = facts.episode.days
    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            guideline=VGR,
            section="Diagnoskoder för långvarig smärta",
            facts={"opioidDays": days, "longTermPainCode": False},
            data=MissingCode(days=days),
            override_reasons=("diagnosis-elsewhere", "not-long-term", "data-incorrect"),
        )
    ]
