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
  - info: add a long-term-pain code, alone or beside another diagnosis.

Decisions: no suggestion. Creating a Condition would put a diagnosis in the record that only the
clinician can make (and only the clinician knows whether R52.1 or which R52.2 sub-code fits) — the card
names the codes instead. Without the diagnoses (data gap) the card is silent rather than guessing.
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts

from cds_service.domain.hooks import ALL_HOOKS
from cds_service.domain.guidelines import VGR
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.common import loc
from cds_service.rules.referral_common import LONG_TERM, duration_text

TOPIC = "pain-diagnosis-missing"
HOOKS = ALL_HOOKS


def inclusion_criteria(facts: PatientFacts) -> bool:
    return facts.episode.exposure in LONG_TERM and not facts.conditions.long_term_pain


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or "conditions" in facts.data_gaps


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    days = facts.episode.days
    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            summary=loc(
                f"Opioider i {days} dagar – diagnoskod för långvarig smärta saknas (R52.1, R52.2)",
                f"Opioids for {days} days – no long-term pain code (R52.1, R52.2)",
            ),
            detail={
                "sv": (
                    "**Ange diagnoskod för långvarig smärta**, ensam eller som tillägg till annan diagnos: "
                    "alla patienter med smärta som varat minst 3 månader bör ha en sådan kod.\n\n"
                    f"- Opioidanvändning: {duration_text(facts, 'sv')}\n"
                    "- ICD-10: R52.1 eller R52.2 A, B eller C (ICD-11: inom MG30)\n"
                    "- Ingen sådan kod finns i journalen."
                ),
                "en": (
                    "**Add a long-term pain diagnosis code**, alone or beside another diagnosis: every "
                    "patient whose pain has lasted at least 3 months should carry one.\n\n"
                    f"- Opioid use: {duration_text(facts, 'en')}\n"
                    "- ICD-10: R52.1 or R52.2 A, B or C (ICD-11: within MG30)\n"
                    "- No such code in the record."
                ),
            },
            guideline=VGR,
            section="Diagnoskoder för långvarig smärta",
            facts={"opioidDays": days, "longTermPainCode": False},
            override_reasons=("diagnosis-elsewhere", "not-long-term", "data-incorrect"),
        )
    ]
