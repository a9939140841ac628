"""referral-psychiatry — hard-to-treat drug dependence: the addiction clinic may take part or take over.

Source: [RJL "Hjälp och kontaktvägar"] "Vid svårbehandlat läkemedelsberoende kan psykiatrin medverka
eller ta över … vid höga dygnsdoser över 60 MEDD, efter upprepade misslyckade nedtrappningsförsök …
vid blandberoende eller komplikationer till substansbruk"; clinical-rules §5.

When
  - the patient takes an opioid or a sedative now (the current regimen), and
  - total MEDD is over 60 (``settings.referral_medd``; an incomplete total counts when its known part
    alone is over 60) in established use (the episode at least subacute, ≥ 14 days), or
  - at least 2 earlier tapers failed (``settings.failed_tapers_for_referral``; outcome "failed"), or
  - the record holds an opioid (F11) or sedative (F13) dependence diagnosis, or
  - mixed dependence (F19, or two or more F1x groups), and
  - the patient is not excluded (cancer, palliative care, LARO, under 18), and
  - no open referral to psychiatry or an addiction clinic is already in the record (one Trappa proposed,
    or one coded or named so), so the card does not repeat at every renewal of a running taper
Then
  - warn, listing the criteria met; suggest a referral (ServiceRequest, target "psychiatry")
    pre-filled from the record; with a long-term-pain code too, mention a team conference.
    The card's words and its ServiceRequest: cds_service/cards/referral_psychiatry.py.

Decisions where the guideline is silent:
  - A high dose at a new start is not "svårbehandlat läkemedelsberoende": the MEDD criterion needs
    established use. The total includes as-needed maxima (clinical-rules §4).
  - A dependence diagnosis without any current opioid or sedative gives no card: there is no taper
    for psychiatry to take part in or take over.
  - An incomplete MEDD total whose known part is ≤ 60 decides nothing: the MEDD criterion is
    "undecided". It does not make this card fire (a warning on a guess would be a false alarm) and is
    never read as "≤ 60": when another criterion fires the card, the detail says MEDD could not be
    judged; otherwise the medd-unknown card says the 60 MEDD referral limit could not be judged.
  - "Complex pain" (team conference) is read from the record as a long-term-pain diagnosis code.
  - Psychiatric comorbidity (F20–F99 codes) is shown as supporting information, not as a criterion:
    whether it is "betydande" cannot be read from codes.
"""
from __future__ import annotations

from dataclasses import dataclass

from cds_service.domain.model import PSYCHIATRY, DrugClass, Exposure, PatientFacts, TaperPlan, TotalMedd
from cds_service.domain.regimen import ingredient_key, sum_medd

from cds_service.domain.hooks import ALL_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, ReferralProposal, RuleContext
from cds_service.rules.referrals import Versus, existing_referral, medd_versus
from cds_service.rules.taper_state import failed_tapers

TOPIC = "referral-psychiatry"
HOOKS = ALL_HOOKS

ESTABLISHED_USE = (Exposure.SUBACUTE, Exposure.LONG_TERM, Exposure.MULTI_YEAR)
_TAPERED_CLASSES = (DrugClass.OPIOID, DrugClass.BENZODIAZEPINE, DrugClass.Z_DRUG)


def referral_total(facts: PatientFacts):
    """The total MEDD the referral is judged on: the current regimen's, but for an as-needed opioid
    drafted beside it (a new PRN add-on, not a renewal). The taper-prn card asks to remove such a
    draft; counting it would send an on-call doctor's patient to the addiction clinic for the draft
    the same response advises against. A renewed as-needed order counts at its maximum as always."""
    regimen = facts.regimen
    renewed = {(ingredient_key(o), o.drug.form) for o in regimen.replaced}
    added_prn = [o for o in regimen.orders
                 if o.is_draft and o.daily_dose.prn and (ingredient_key(o), o.drug.form) not in renewed]
    if not added_prn:
        return regimen.medd
    return sum_medd(o for o in regimen.orders if o not in added_prn)


def medd_criterion(facts: PatientFacts, ctx: RuleContext) -> Versus:
    return medd_versus(referral_total(facts), ctx.settings.referral_medd)


def takes_something_to_taper(facts: PatientFacts) -> bool:
    return bool(facts.regimen.of_class(*_TAPERED_CLASSES))


def criteria_met(facts: PatientFacts, ctx: RuleContext) -> dict[str, bool]:
    """Each criterion of [RJL "Hjälp och kontaktvägar"] that the record can decide."""
    c = facts.conditions
    return {
        "highMedd": facts.episode.exposure in ESTABLISHED_USE and medd_criterion(facts, ctx) is Versus.ABOVE,
        "failedTapers": len(failed_tapers(facts)) >= ctx.settings.failed_tapers_for_referral,
        "opioidDependence": c.opioid_dependence,
        "sedativeDependence": c.sedative_dependence,
        "mixedDependence": c.mixed_dependence,
    }


def inclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    return takes_something_to_taper(facts) and any(criteria_met(facts, ctx).values())


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or existing_referral(facts, PSYCHIATRY) is not None


def is_applicable(facts: PatientFacts, ctx: RuleContext) -> bool:
    return inclusion_criteria(facts, ctx) and not exclusion_criteria(facts)


@dataclass(frozen=True)
class Criteria:
    """What the card says: the criteria met and the numbers behind them."""

    met: tuple[str, ...]  # keys of criteria_met, in its order
    total: TotalMedd  # the total the MEDD criterion was judged on
    medd: Versus
    limit: float
    failed: tuple[TaperPlan, ...]
    team_conference: bool  # a long-term-pain diagnosis too: complex pain


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    met = criteria_met(facts, ctx)
    failed = tuple(failed_tapers(facts))
    complex_pain = facts.conditions.long_term_pain
    criteria = Criteria(met=tuple(k for k, v in met.items() if v), total=referral_total(facts),
                        medd=medd_criterion(facts, ctx), limit=ctx.settings.referral_medd, failed=failed,
                        team_conference=complex_pain)
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            guideline=RJL,
            section="Hjälp och kontaktvägar",
            facts={
                "criteriaMet": list(criteria.met),
                "meddCriterion": criteria.medd.value,
                "referralMedd": ctx.settings.referral_medd,
                "failedTapers": len(failed),
                "failedTapersForReferral": ctx.settings.failed_tapers_for_referral,
                "teamConference": complex_pain,
            },
            data=criteria,
            proposals=(ReferralProposal(PSYCHIATRY, ctx.patient_ref or f"Patient/{facts.patient_id}", ctx.user_ref),),
            override_reasons=("already-referred", "patient-declines", "clinical-judgement", "data-incorrect"),
        )
    ]
