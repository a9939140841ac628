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

from cds_service.domain.model import DrugClass, Exposure, PatientFacts
from cds_service.domain.regimen import ingredient_key, sum_medd

from cds_service.domain.hooks import ALL_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.common import fmt_medd, fmt_number
from cds_service.rules.referral_common import (
    PSYCHIATRY,
    Versus,
    bullet,
    duration_text,
    existing_referral,
    failed_tapers,
    medd_versus,
    orders_text,
    referral_suggestion,
    taper_line,
    total_medd_text,
)

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


def _criteria_lines(facts: PatientFacts, ctx: RuleContext, met: dict[str, bool], lang: str) -> list[str]:
    sv = lang == "sv"
    limit = fmt_number(ctx.settings.referral_medd, lang)
    total = referral_total(facts)
    lines = []
    if met["highMedd"]:
        lines.append(
            f"Hög dygnsdos: {total_medd_text(total, lang)} (över {limit} MEDD)"
            if sv
            else f"High daily dose: {total_medd_text(total, lang)} (over {limit} MEDD)"
        )
    if met["failedTapers"]:
        n = len(failed_tapers(facts))
        lines.append(
            f"Upprepade misslyckade nedtrappningsförsök: {n}" if sv else f"Repeated failed tapers: {n}"
        )
    if met["opioidDependence"]:
        lines.append("Diagnos opioidberoende (F11)" if sv else "Opioid dependence diagnosis (F11)")
    if met["sedativeDependence"]:
        lines.append(
            "Diagnos beroende av lugnande medel/sömnmedel (F13)"
            if sv
            else "Sedative/hypnotic dependence diagnosis (F13)"
        )
    if met["mixedDependence"]:
        lines.append("Blandberoende" if sv else "Mixed dependence")
    return lines


def _short_labels(facts: PatientFacts, ctx: RuleContext, met: dict[str, bool], lang: str) -> list[str]:
    sv = lang == "sv"
    total = referral_total(facts)
    limit = fmt_number(ctx.settings.referral_medd, lang)
    labels = []
    if met["highMedd"]:
        dose = fmt_medd(total.value, lang, complete=total.complete)
        labels.append(f"dygnsdos {dose} (över {limit})" if sv else f"daily dose {dose} (over {limit})")
    if met["failedTapers"]:
        n = len(failed_tapers(facts))
        labels.append(f"{n} misslyckade nedtrappningar" if sv else f"{n} failed tapers")
    if met["opioidDependence"]:
        labels.append("opioidberoende (F11)" if sv else "opioid dependence (F11)")
    if met["sedativeDependence"]:
        labels.append("beroende av lugnande medel (F13)" if sv else "sedative dependence (F13)")
    if met["mixedDependence"]:
        labels.append("blandberoende" if sv else "mixed dependence")
    return labels


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    met = criteria_met(facts, ctx)
    total = referral_total(facts)
    medd_state = medd_criterion(facts, ctx)
    failed = failed_tapers(facts)
    complex_pain = facts.conditions.long_term_pain
    n_met = sum(met.values())

    detail = {}
    question = {}
    for lang in ("sv", "en"):
        sv = lang == "sv"
        criteria = _criteria_lines(facts, ctx, met, lang)
        question[lang] = (
            "Svårbehandlat läkemedelsberoende – medverkan eller övertag av nedtrappningen? "
            if sv
            else "Hard-to-treat drug dependence – joint care or take-over of the taper? "
        ) + "; ".join(criteria)
        parts = [
            (
                "**Överväg remiss till beroendemottagning/psykiatrisk klinik.** Vid svårbehandlat "
                "läkemedelsberoende kan psykiatrin medverka eller ta över nedtrappningen."
                if sv
                else "**Consider a referral to the addiction/psychiatric clinic.** In hard-to-treat drug "
                "dependence psychiatry can take part in or take over the taper."
            ),
            ("**Uppfyllda kriterier:**" if sv else "**Criteria met:**") + "\n" + bullet(criteria),
        ]
        if medd_state is Versus.UNDECIDED:
            parts.append(
                f"MEDD-gränsen kunde inte bedömas: total MEDD är {total_medd_text(total, lang)} "
                f"(okänd för {', '.join(total.unknown)})."
                if sv
                else f"The MEDD limit could not be judged: total MEDD is {total_medd_text(total, lang)} "
                f"(unknown for {', '.join(total.unknown)})."
            )
        situation = [
            ("Opioider: " if sv else "Opioids: ")
            + ("; ".join(orders_text(facts.regimen.opioids, lang)) or ("inga i journalen" if sv else "none in the record")),
            ("Behandlingstid: " if sv else "Duration: ") + duration_text(facts, lang),
        ]
        if failed:
            situation.append(
                ("Misslyckade nedtrappningar: " if sv else "Failed tapers: ")
                + "; ".join(taper_line(p, lang) for p in failed)
            )
        if facts.conditions.psychiatric:
            situation.append(
                ("Psykiatrisk samsjuklighet i journalen: " if sv else "Psychiatric comorbidity in the record: ")
                + ", ".join(facts.conditions.psychiatric)
            )
        parts.append(("**Aktuellt läge:**" if sv else "**Current situation:**") + "\n" + bullet(situation))
        if complex_pain:
            parts.append(
                "Patienten har också diagnos för långvarig smärta: vid komplex smärtproblematik och "
                "svårt beroende/höga doser kan en gemensam plan med vårdcentral, psykiatri och "
                "smärtklinik behövas – kalla gärna till teamkonferens."
                if sv
                else "The patient also has a long-term pain diagnosis: with complex pain and severe "
                "dependence/high doses a joint plan between the health centre, psychiatry and the pain "
                "clinic may be needed – consider calling a team conference."
            )
        parts.append(
            "Remissförslaget är förifyllt med opioider, MEDD, behandlingstid och prövade behandlingar "
            "enligt journalen; komplettera motivation, smärtutredning och rehabiliteringsplan."
            if sv
            else "The proposed referral is pre-filled with opioids, MEDD, duration and treatments tried "
            "per the record; add motivation, pain work-up and rehabilitation plan."
        )
        detail[lang] = "\n\n".join(parts)

    summary = {}
    for lang in ("sv", "en"):
        tail = (
            " – överväg remiss till beroendemottagning"
            if lang == "sv"
            else " – consider referral to addiction clinic"
        )
        text = ", ".join(_short_labels(facts, ctx, met, lang)) + tail
        if len(text) >= 140:
            text = (f"{n_met} kriterier för svårbehandlat beroende" if lang == "sv" else
                    f"{n_met} criteria for hard-to-treat dependence") + tail
        summary[lang] = text[0].upper() + text[1:]

    suggestion = referral_suggestion(facts, ctx, PSYCHIATRY, question)
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            summary=summary,
            detail=detail,
            guideline=RJL,
            section="Hjälp och kontaktvägar",
            facts={
                "criteriaMet": [k for k, v in met.items() if v],
                "meddCriterion": medd_state.value,
                "referralMedd": ctx.settings.referral_medd,
                "failedTapers": len(failed),
                "failedTapersForReferral": ctx.settings.failed_tapers_for_referral,
                "teamConference": complex_pain,
            },
            suggestions=(suggestion,) if suggestion else (),
            override_reasons=("already-referred", "patient-declines", "clinical-judgement", "data-incorrect"),
        )
    ]
