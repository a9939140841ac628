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
pointer to the referral card, not repeated.
"""
from __future__ import annotations

from cds_service.domain.model import Exposure, PatientFacts

from cds_service.domain.hooks import PATIENT_VIEW
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.common import drug_name, fmt_daily_dose, fmt_medd, fmt_number, loc
from cds_service.rules.referral_common import (
    LONG_TERM,
    Versus,
    bullet,
    duration_text,
    medd_versus,
    total_medd_text,
)

TOPIC = "opioid-review"
HOOKS = frozenset({PATIENT_VIEW})


def inclusion_criteria(facts: PatientFacts) -> bool:
    return facts.episode.exposure in LONG_TERM


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or facts.taper_plan is not None


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def _table(facts: PatientFacts, lang: str) -> str:
    sv = lang == "sv"
    head = "| Läkemedel | Dygnsdos | MEDD |" if sv else "| Medication | Daily dose | MEDD |"
    lines = [head, "|---|---|---|"]
    for o in facts.regimen.opioids:
        dose = fmt_daily_dose(o.daily_dose.amount, o.daily_dose.unit, lang)
        if o.daily_dose.known and o.daily_dose.prn:
            dose += " vid behov (max)" if sv else " as needed (max)"
        medd = fmt_medd(o.medd.value, lang, suffix=False)
        lines.append(f"| {drug_name(o.drug, lang)} | {dose} | {medd} |")
    total = facts.regimen.medd
    lines.append(f"| **{'Totalt' if sv else 'Total'}** | | **{total_medd_text(total, lang).replace(' MEDD', '')}** |")
    return "\n".join(lines)


def _pace(facts: PatientFacts, lang: str) -> str:
    sv = lang == "sv"
    if facts.episode.exposure is Exposure.MULTI_YEAR:
        pace = (
            "mycket långsamt, ca 10 % av dygnsdosen var fjärde vecka"
            if sv
            else "very slowly, about 10 % of the daily dose every 4 weeks"
        )
    else:
        pace = (
            "långsamt, 10 % av dygnsdosen per vecka ned till 30 %, därefter långsammare"
            if sv
            else "slowly, 10 % of the daily dose per week down to 30 %, then slower"
        )
    if any(o.drug.ingredient == "tramadol" for o in facts.regimen.opioids):
        pace += "; tramadol: 4 veckor på varje dos-steg" if sv else "; tramadol: 4 weeks on every dose step"
    return pace


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    days = facts.episode.days
    total = facts.regimen.medd
    over_limit = medd_versus(total, ctx.settings.referral_medd) is Versus.ABOVE
    limit = ctx.settings.referral_medd

    detail = {}
    for lang in ("sv", "en"):
        sv = lang == "sv"
        lead = (
            f"**Ompröva opioidbehandlingen.** Patienten har använt opioider i {days} dagar utan "
            "nedtrappningsplan. Ifrågasätt alltid behov och nytta av att förlänga behandlingen – "
            "receptförnyelse innebär samma ansvar som insättning."
            if sv
            else f"**Review the opioid treatment.** The patient has used opioids for {days} days without a "
            "taper plan. Always question the need for and benefit of continuing – renewing carries the same "
            "responsibility as starting."
        )
        facts_lines = [("Användning: " if sv else "Use: ") + duration_text(facts, lang)]
        if total.unknown:
            facts_lines.append(
                f"MEDD kunde inte beräknas för {', '.join(total.unknown)}: totalen är ett minimum."
                if sv
                else f"MEDD could not be computed for {', '.join(total.unknown)}: the total is a minimum."
            )
        if over_limit:
            facts_lines.append(
                f"Över {fmt_number(limit)} MEDD: överväg remiss till beroendemottagning (se eget kort)."
                if sv
                else f"Over {fmt_number(limit, 'en')} MEDD: consider a referral to the addiction clinic "
                "(see its card)."
            )
        todo = (
            [
                "Ompröva behov och nytta av behandlingen tillsammans med patienten.",
                "Behandlingsplan överenskommen med patienten: mål för smärtintensitet (skattningsskala) "
                "och funktion (sömn, fysisk och social aktivitet), tidsplan och plan för uppföljning.",
                f"Planera nedtrappning: {_pace(facts, lang)}.",
            ]
            if sv
            else [
                "Review the need for and benefit of the treatment with the patient.",
                "A treatment plan agreed with the patient: goals for pain intensity (rating scale) and "
                "function (sleep, physical and social activity), timeline and follow-up plan.",
                f"Plan a taper: {_pace(facts, lang)}.",
            ]
        )
        body = [lead]
        body.append(_table(facts, lang) if facts.regimen.opioids else (
            "Inga opioider i effekt i journalen i dag." if sv else "No opioid in effect in the record today."
        ))
        body.append(bullet(facts_lines))
        body.append(("**Att göra:**" if sv else "**To do:**") + "\n" + "\n".join(
            f"{i}. {line}" for i, line in enumerate(todo, 1)
        ))
        detail[lang] = "\n\n".join(body)

    medd_sv = fmt_medd(total.value, "sv", complete=total.complete) if (total.value is not None or not total.complete) else None
    medd_en = fmt_medd(total.value, "en", complete=total.complete) if medd_sv else None
    summary = loc(
        f"Opioider i {days} dagar{f' ({medd_sv})' if medd_sv else ''} utan nedtrappningsplan – ompröva behandlingen",
        f"Opioids for {days} days{f' ({medd_en})' if medd_en else ''} without a taper plan – review the treatment",
    )
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            summary=summary,
            detail=detail,
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
            override_reasons=("not-long-term", "plan-elsewhere", "patient-declines", "palliative"),
        )
    ]
