"""opioid-review — long-term opioid use without a taper plan (patient-view): where the patient stands.

Source: [RJL, opening] "Ifrågasätt alltid behovet av och nyttan med att förlänga en opioidbehandling!
… Receptförnyelse innebär samma ansvar som vid insättning" and the treatment plan ("behandlingsmål,
inkl. smärtintensitet mätt med objektiv skattningsskala … funktionsnivå … tidsplan och plan för
uppföljning"); [RJL "När behövs nedtrappning?"] (pace by prior use); clinical-rules §1, §2, §4.

When
  - opioid use has lasted 90 days or more (long-term or multi-year), and
  - there is no active taper plan, and
  - the patient is not excluded (cancer, palliative care, LARO, under 18)
Then
  - warn, summarising where the patient stands: each opioid with its daily dose and MEDD, the total
    MEDD (a lower bound when a part is unknown — said so), the duration and exposure class; and what
    to do: review need and benefit, agree a treatment plan with goals, plan a taper at the pace the
    exposure calls for.

Decisions: no suggestion — on patient-view nothing is being ordered; the taper plan itself is proposed
by taper-plan-missing when the opioid is renewed. A total over the referral limit is mentioned with a
pointer to the referral card, not repeated. The pace follows the exposure [RJL "När behövs
nedtrappning?"]: after years of use about 10 % every fourth week, else 10 % a week down to 30 %, then
slower; tramadol 4 weeks on every dose step. The card's words: cds_service/cards/opioid_review.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cds_service.domain.model import Exposure, PatientFacts, TotalMedd

from cds_service.domain.hooks import PATIENT_VIEW
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.referrals import LONG_TERM, Versus, medd_versus

TOPIC = "opioid-review"
HOOKS = frozenset({PATIENT_VIEW})


def inclusion_criteria(facts: PatientFacts) -> bool:
    return facts.episode.exposure in LONG_TERM


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or facts.taper_plan is not None


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


class Pace(Enum):
    """The taper pace the exposure calls for [RJL "När behövs nedtrappning?"]."""

    SLOW = "slow"  # long-term use: 10 % of the daily dose a week down to 30 %, then slower
    VERY_SLOW = "very-slow"  # multi-year use: about 10 % of the daily dose every fourth week


def pace(facts: PatientFacts) -> Pace:
    return Pace.VERY_SLOW if facts.episode.exposure is Exposure.MULTI_YEAR else Pace.SLOW


def tramadol_steps(facts: PatientFacts) -> bool:
    """Tramadol among the opioids: 4 weeks on every dose step [RJL "När behövs nedtrappning?"]."""
    return any(o.drug.ingredient == "tramadol" for o in facts.regimen.opioids)


@dataclass(frozen=True)
class Standing:
    """What the card says: where the patient stands and the pace a taper would take. The opioids
    themselves are the current regimen's (``facts.regimen.opioids``)."""

    days: int | None  # the opioid episode's length
    total: TotalMedd  # the current regimen's total MEDD
    over_limit: bool  # the total is over the referral limit (the referral card's own criterion)
    limit: float  # settings.referral_medd
    pace: Pace
    tramadol: bool


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    days = facts.episode.days
    total = facts.regimen.medd
    limit = ctx.settings.referral_medd
    standing = Standing(days=days, total=total, over_limit=medd_versus(total, limit) is Versus.ABOVE,
                        limit=limit, pace=pace(facts), tramadol=tramadol_steps(facts))
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            guideline=RJL,
            section="Att tänka på som läkare ansvarig för nedtrappning av opioider",
            facts={
                "opioids": [
                    {
                        "display": o.drug.display,
                        "dailyDose": o.daily_dose.amount,
                        "unit": o.daily_dose.unit,
                        "medd": o.medd.value,
                    }
                    for o in facts.regimen.opioids
                ],
                "totalMedd": total.value,
                "totalMeddComplete": total.complete,
                "episodeDays": days,
                "episodeStart": facts.episode.start.isoformat() if facts.episode.start else None,
                "exposure": facts.episode.exposure.value,
            },
            data=standing,
            override_reasons=("not-long-term", "plan-elsewhere", "patient-declines", "palliative"),
        )
    ]
