"""co-sedatives — opioid plus benzodiazepine or z-drug: taper in the right order.

Source: [RJL "Allmänna principer och viktigt att tänka på"] "Om patienten använder multipla
beroendeframkallande läkemedel som ska trappas ut, börja med opioider och trappa sedan ut
bensodiazepiner. Om det inte görs samtidigt som andra bensodiazepiner, trappa sist ut sömnläkemedel av
bensodiazepinliknande typ (såsom zopiklon)"; [RJL "Tillfällig symptomlindrande
läkemedelsbehandling"] (never benzodiazepines, zopiclone or zolpidem for withdrawal); clinical-rules
§2, §6.

When
  - opioid use is ongoing: the current episode is at least subacute (≥ 14 days), or an opioid is
    being ordered (order hooks), and
  - a benzodiazepine (N05BA, N05CD) or z-drug (N05CF) is in effect in the record today, or is being
    ordered (order hooks), and
  - the patient is not excluded (cancer, palliative care, LARO, under 18), and
  - it is not the withdrawal-sedative case: a sedative only drafted during a running taper is that
    card's (critical) business, not this one's
Then
  - warn: taper the opioid first, then benzodiazepines, z-drugs (zopiclone) last; during the opioid
    taper offer alimemazine/mirtazapine for sleep and anxiety, never benzodiazepines or z-drugs.
    The card's words: cds_service/cards/co_sedatives.py.

Decisions: excluded patients get nothing (conservative reading of "none of the taper cards"); no
suggestion — the order of tapering is advice, there is nothing to create.
"""
from __future__ import annotations

from dataclasses import dataclass

from cds_service.domain.model import DrugClass, MedicationOrder, PatientFacts

from cds_service.domain.hooks import ALL_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.taper_state import in_taper
from cds_service.rules.drafts import SEDATIVE_CLASSES
from cds_service.rules.referrals import ongoing_opioid_use

TOPIC = "co-sedatives"
HOOKS = ALL_HOOKS


def record_sedatives(facts: PatientFacts, ctx: RuleContext):
    """The record's current sedatives (the current regimen before this call's drafts)."""
    return facts.regimen.of_class(*SEDATIVE_CLASSES, record=True)


def sedatives(facts: PatientFacts, ctx: RuleContext):
    """The current regimen's sedatives, drafts applied: a renewed one is listed once."""
    return facts.regimen.of_class(*SEDATIVE_CLASSES)


def inclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    return ongoing_opioid_use(facts, ctx) and bool(sedatives(facts, ctx))


def exclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    only_drafted = not record_sedatives(facts, ctx)
    return facts.excluded or (only_drafted and in_taper(facts))


def is_applicable(facts: PatientFacts, ctx: RuleContext) -> bool:
    return inclusion_criteria(facts, ctx) and not exclusion_criteria(facts, ctx)


@dataclass(frozen=True)
class Sedatives:
    """What the card says: the current regimen's sedatives by class (drafts included, a renewed one
    once); the opioids beside them are the regimen's."""

    benzodiazepines: tuple[MedicationOrder, ...]
    z_drugs: tuple[MedicationOrder, ...]


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    found = sedatives(facts, ctx)
    benzos = tuple(o for o in found if o.drug.drug_class is DrugClass.BENZODIAZEPINE)
    zdrugs = tuple(o for o in found if o.drug.drug_class is DrugClass.Z_DRUG)
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            guideline=RJL,
            section="Allmänna principer och viktigt att tänka på",
            facts={
                "benzodiazepines": [o.drug.display for o in benzos],
                "zDrugs": [o.drug.display for o in zdrugs],
                "sedativeDrafted": any(o.is_draft for o in found),
                "opioidDays": facts.episode.days,
            },
            data=Sedatives(benzodiazepines=benzos, z_drugs=zdrugs),
            override_reasons=("data-incorrect", "plan-elsewhere", "clinical-judgement"),
        )
    ]
