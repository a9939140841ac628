"""taper-prn — an as-needed (PRN) opioid order during a taper or in long-term use.

Source: [RJL "Allmänna principer och viktigt att tänka på"] "Ordinera inte extra-tabletter eller vid
behovs-doser av opioid! Sådana bidrar på flera sätt till att underhålla beroendet. En fast
dygnsdosering minskar både abstinens och psykologiskt beroende"; [RJL "Vilka krav kan jag som läkare
ställa?"] (no PRN of the tapered or any other opioid); clinical-rules §2–§3.

When
  - a draft opioid order is as needed (PRN), and
  - a taper is running, or opioid use has lasted 90 days or more (long-term or multi-year), and
  - the patient is not excluded
Then
  - warn: no as-needed opioid doses; a fixed daily dose instead;
  - suggest removing the PRN draft (CDS Hooks delete action on the draft).
"""
from __future__ import annotations

from typing import Any

from cds_service.domain.model import Exposure, MedicationOrder, PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Action, Finding, RuleContext, Suggestion
from cds_service.rules.common import (
    draft_opioids,
    draft_reference,
    fmt_daily_dose,
    in_taper,
    ingredient_name,
    loc,
    localized,
)

TOPIC = "taper-prn"
HOOKS = ORDER_HOOKS

LONG_TERM = (Exposure.LONG_TERM, Exposure.MULTI_YEAR)


def prn_drafts(facts: PatientFacts) -> list[MedicationOrder]:
    return [d for d in draft_opioids(facts) if d.daily_dose.prn]


def inclusion_criteria(facts: PatientFacts) -> bool:
    return bool(prn_drafts(facts)) and (in_taper(facts) or facts.episode.exposure in LONG_TERM)


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def _suggestion(draft: MedicationOrder) -> Suggestion | None:
    ref = draft_reference(draft)
    if not ref:
        return None
    return Suggestion(
        label=loc("Ta bort vid behovsordinationen", "Remove the as-needed order"),
        actions=(Action("delete", loc("Ta bort utkastet", "Remove the draft"), resource_id=ref),),
        is_recommended=True,
    )


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    draft = prn_drafts(facts)[0]
    running = in_taper(facts)
    days = facts.episode.days

    def detail(lang: str) -> str:
        name = ingredient_name(draft.drug.ingredient, lang)
        dose = draft.daily_dose
        max_text = fmt_daily_dose(dose.amount, dose.unit, lang)
        if lang == "sv":
            why = "Nedtrappning pågår." if running else f"Patienten har använt opioider i {days} dagar."
            return (
                f"**Ordinera inte vid behovsdoser eller extra-tabletter av opioid.** {why} "
                f"Utkastet: {name} vid behov (högst {max_text}).\n\n"
                "- Extra-tabletter och vid behovsdoser underhåller beroendet; en fast dygnsdos minskar både abstinens och "
                "psykologiskt beroende.\n"
                "- Ge i stället en fast dygnsdos fördelad jämnt över dygnet"
                + (" enligt nedtrappningsschemat." if running else ".")
                + "\n- Mot smärta: paracetamol och ibuprofen; se över övrig smärtbehandling."
            )
        why = "A taper is running." if running else f"The patient has used opioids for {days} days."
        return (
            f"**Do not order as-needed doses or extra tablets of an opioid.** {why} "
            f"The draft: {name} as needed (at most {max_text}).\n\n"
            "- As-needed doses maintain dependence; a fixed daily dose reduces both withdrawal and "
            "psychological dependence.\n"
            "- Give a fixed daily dose spread evenly over the day instead"
            + (" per the taper schedule." if running else ".")
            + "\n- For pain: paracetamol and ibuprofen; review the other pain treatment."
        )

    suggestion = _suggestion(draft)
    fact_map: dict[str, Any] = {
        "taperRunning": running,
        "exposureDays": days,
        "prnMaxDailyDose": draft.daily_dose.amount,
        "unit": draft.daily_dose.unit,
    }
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            summary=loc(
                "Vid behovsdos av opioid "
                + ("under pågående nedtrappning" if running else f"efter {days} dagars användning")
                + " – ge fast dygnsdos",
                "As-needed opioid "
                + ("during a taper" if running else f"after {days} days of use")
                + " – give a fixed daily dose",
            ),
            detail=localized(detail),
            guideline=RJL,
            section="Allmänna principer och viktigt att tänka på",
            facts=fact_map,
            suggestions=(suggestion,) if suggestion else (),
            override_reasons=("not-long-term", "not-in-taper", "clinical-judgement"),
        )
    ]
