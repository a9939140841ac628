"""medd-unknown — an opioid's MEDD could not be computed: the total is only a lower bound.

Source: [RJL "Praktiska tips och trix"] "Identifiera vilken total dygnsdos patienten använder idag …
beräkna patientens totala morfinekvivalenta dygnsdos (MEDD)"; clinical-rules §4 "Unknown ingredient or
unknown unit: never guess silently — say so on the card ('MEDD could not be computed for X') and do
not let it count as 0"; clinical-rules §9 (name-only identification is lower confidence).

When (all hooks; also for excluded patients — the dose matters to every prescriber)
  - an opioid in effect in the record, or being ordered (order hooks), has no computable MEDD, or
  - an opioid was identified by its name only (no ATC/RxNorm code: lower confidence), or
  - the patient uses opioids and some medication could not be identified at all (it may be an
    opioid the total leaves out)
Then
  - info: name each opioid and why its MEDD is unknown (the dose's or the conversion's problem), say
    the total is a lower bound ("minst X"), and — when the known part is within the referral limit —
    that the 60 MEDD limit could not be judged; list name-only identifications and unidentified
    medications. The card's words: cds_service/cards/medd_unknown.py.

Decisions: unidentified medications alone fire the card only for patients with opioid use (otherwise
nothing depends on them); the excluded get this card because MEDD is a safety fact, not a taper card
(they get no limit note, since the referral cards do not apply to them).
"""
from __future__ import annotations

from dataclasses import dataclass

from cds_service.domain.model import MedicationOrder, PatientFacts, TotalMedd

from cds_service.domain.hooks import ALL_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.referrals import Versus, medd_versus

TOPIC = "medd-unknown"
HOOKS = ALL_HOOKS


def considered_opioids(facts: PatientFacts, ctx: RuleContext) -> list[MedicationOrder]:
    """The opioids of the current regimen (this call's drafts applied: on patient-view there are none)."""
    return list(facts.regimen.opioids)


def unknown_medd(facts: PatientFacts, ctx: RuleContext) -> list[MedicationOrder]:
    return [o for o in considered_opioids(facts, ctx) if o.medd.value is None]


def low_confidence(facts: PatientFacts, ctx: RuleContext) -> list[MedicationOrder]:
    return [o for o in considered_opioids(facts, ctx) if o.drug.low_confidence]


def relevant_unidentified(facts: PatientFacts, ctx: RuleContext) -> tuple[str, ...]:
    return facts.unidentified if considered_opioids(facts, ctx) else ()


def inclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    return bool(unknown_medd(facts, ctx) or low_confidence(facts, ctx) or relevant_unidentified(facts, ctx))


def exclusion_criteria(facts: PatientFacts) -> bool:
    return False  # deliberately none: see the module docstring


def is_applicable(facts: PatientFacts, ctx: RuleContext) -> bool:
    return inclusion_criteria(facts, ctx) and not exclusion_criteria(facts)


@dataclass(frozen=True)
class UnknownMedd:
    """What the card says: the opioids without a MEDD, those identified by name only, the medications
    not identified, the total they leave a lower bound, and whether the referral limit is undecided."""

    unknown: tuple[MedicationOrder, ...]  # no computable MEDD
    low_confidence: tuple[MedicationOrder, ...]  # identified by name only (clinical-rules §9)
    unidentified: tuple[str, ...]  # names of medications not identified, for a patient using opioids
    total: TotalMedd
    limit: float  # settings.referral_medd
    undecided: bool  # the known part is within the limit, so the limit could not be judged


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    unknown = unknown_medd(facts, ctx)
    low = low_confidence(facts, ctx)
    unidentified = relevant_unidentified(facts, ctx)
    total = facts.regimen.medd
    limit = ctx.settings.referral_medd
    undecided = bool(unknown) and medd_versus(total, limit) is Versus.UNDECIDED and not facts.excluded
    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            guideline=RJL,
            section="Praktiska tips och trix",
            facts={
                "meddUnknownFor": [
                    {"display": o.drug.display, "problem": o.medd.problem or o.daily_dose.problem}
                    for o in unknown
                ],
                "lowConfidence": [o.drug.display for o in low],
                "lowConfidenceStrengths": [
                    {"display": o.drug.display, "strength": o.drug.strength, "unit": o.drug.strength_unit,
                     "source": o.drug.strength_source} for o in low if o.drug.strength is not None],
                "unidentified": list(unidentified),
                "meddKnownPart": total.value,
                "meddLowerBound": not total.complete,
                "meddThresholdUndecided": undecided,
            },
            data=UnknownMedd(unknown=tuple(unknown), low_confidence=tuple(low), unidentified=tuple(unidentified),
                             total=total, limit=limit, undecided=undecided),
            override_reasons=("data-incorrect", "not-opioid"),
        )
    ]
