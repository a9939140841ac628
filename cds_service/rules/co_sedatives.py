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

Decisions: excluded patients get nothing (conservative reading of "none of the taper cards"); no
suggestion — the order of tapering is advice, there is nothing to create.
"""
from __future__ import annotations

from cds_service.domain.model import DrugClass, PatientFacts

from cds_service.domain.hooks import ALL_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.common import SEDATIVE_CLASSES, drug_name, in_taper, loc
from cds_service.rules.referral_common import bullet, dose_text, ongoing_opioid_use, orders_text

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


def _sedative_line(order, lang: str) -> str:
    text = drug_name(order.drug, lang)
    if order.daily_dose.known:
        text += f": {dose_text(order.daily_dose, lang)}"
    if order.is_draft:
        text += " (ordineras nu)" if lang == "sv" else " (being ordered)"
    return text


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    found = sedatives(facts, ctx)
    benzos = [o for o in found if o.drug.drug_class is DrugClass.BENZODIAZEPINE]
    zdrugs = [o for o in found if o.drug.drug_class is DrugClass.Z_DRUG]
    opioids = facts.regimen.opioids

    if benzos and zdrugs:
        summary = loc(
            "Opioid, bensodiazepin och sömnläkemedel av bensodiazepinliknande typ – opioiden först, sömnläkemedlet sist",
            "Opioid, benzodiazepine and z-drug – taper the opioid first, the z-drug last",
        )
    elif benzos:
        summary = loc(
            "Opioid och bensodiazepin samtidigt – trappa ut opioiden först, sedan bensodiazepinen",
            "Opioid and benzodiazepine together – taper the opioid first, then the benzodiazepine",
        )
    else:
        summary = loc(
            "Opioid och sömnläkemedel av bensodiazepinliknande typ – trappa ut opioiden först, sömnläkemedlet sist",
            "Opioid and z-drug together – taper the opioid first, the z-drug last",
        )

    detail = {}
    for lang in ("sv", "en"):
        sv = lang == "sv"
        lead = (
            "**Flera beroendeframkallande läkemedel: trappa ut i rätt ordning.** Börja med opioiden, "
            "trappa sedan ut bensodiazepiner. Sömnläkemedel av bensodiazepinliknande typ (zopiklon, "
            "zolpidem) trappas ut sist, om de inte trappas ut samtidigt med andra bensodiazepiner."
            if sv
            else "**Several dependence-forming drugs: taper in the right order.** Start with the opioid, "
            "then taper benzodiazepines. Benzodiazepine-like hypnotics (zopiclone, zolpidem) come last, "
            "unless tapered together with other benzodiazepines."
        )
        rows = [
            ("Opioider: " if sv else "Opioids: ")
            + ("; ".join(
                line + ((" (ordineras nu)" if sv else " (being ordered)") if o.is_draft else "")
                for o, line in zip(opioids, orders_text(opioids, lang))
            ) or "–"),
        ]
        if benzos:
            rows.append(("Bensodiazepiner: " if sv else "Benzodiazepines: ")
                        + "; ".join(_sedative_line(o, lang) for o in benzos))
        if zdrugs:
            rows.append(("Sömnläkemedel av bensodiazepinliknande typ: " if sv else "Z-drugs: ")
                        + "; ".join(_sedative_line(o, lang) for o in zdrugs))
        support = (
            "Under opioidnedtrappningen: erbjud aldrig bensodiazepiner, zopiklon eller zolpidem mot "
            "abstinens. För sömnen och mot ångest: alimemazin och/eller mirtazapin."
            if sv
            else "During the opioid taper: never offer benzodiazepines, zopiclone or zolpidem for "
            "withdrawal. For sleep and anxiety: alimemazine and/or mirtazapine."
        )
        detail[lang] = "\n\n".join([lead, bullet(rows), support])

    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            summary=summary,
            detail=detail,
            guideline=RJL,
            section="Allmänna principer och viktigt att tänka på",
            facts={
                "benzodiazepines": [o.drug.display for o in benzos],
                "zDrugs": [o.drug.display for o in zdrugs],
                "sedativeDrafted": any(o.is_draft for o in found),
                "opioidDays": facts.episode.days,
            },
            override_reasons=("data-incorrect", "plan-elsewhere", "clinical-judgement"),
        )
    ]
