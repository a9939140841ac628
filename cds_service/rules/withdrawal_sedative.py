"""withdrawal-sedative — a benzodiazepine or z-drug is ordered during an opioid taper.

Source: [RJL "Tillfällig symptomlindrande läkemedelsbehandling"] "För sömnen och mot ångest vid
opioidabstinens: alimemazin och/eller mirtazapin. Erbjud aldrig bensodiazepiner, zopiklon eller
zolpidem!"; clinical-rules §6, §9 (N05BA, N05CD, N05CF).

When
  - a taper is running (active taper plan; a taper merely being proposed in this call does not
    count — co-sedatives covers ongoing use of both), and
  - a draft order is a benzodiazepine (N05BA, N05CD) or z-drug (N05CF: zopiclone, zolpidem), and
  - the patient is not excluded
Then
  - critical: never benzodiazepines, zopiclone or zolpidem during an opioid taper; for sleep and
    anxiety use alimemazine and/or mirtazapine (named as text: the dose is the physician's);
  - suggest removing the sedative draft (CDS Hooks delete action, resourceId
    "MedicationRequest/<draft id>"), recommended.
"""
from __future__ import annotations

from typing import Any

from cds_service.domain.model import DrugClass, MedicationOrder, PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Action, Finding, RuleContext, Suggestion
from cds_service.rules.common import draft_reference, draft_sedatives, drug_name, in_taper, loc

TOPIC = "withdrawal-sedative"
HOOKS = ORDER_HOOKS


def inclusion_criteria(facts: PatientFacts) -> bool:
    return in_taper(facts) and bool(draft_sedatives(facts))


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def _suggestion(drafts: list[MedicationOrder]) -> Suggestion | None:
    refs = [r for r in (draft_reference(d) for d in drafts) if r]
    if not refs:
        return None
    return Suggestion(
        label=loc("Ta bort ordinationen av sömn-/lugnande medel", "Remove the sedative order"),
        actions=tuple(
            Action("delete", loc(f"Ta bort utkastet ({drug_name(d.drug, 'sv')})",
                                 f"Remove the draft ({drug_name(d.drug, 'en')})"),
                   resource_id=draft_reference(d))
            for d in drafts
            if draft_reference(d)
        ),
        is_recommended=True,
    )


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    drafts = draft_sedatives(facts)
    z_drug = any(d.drug.drug_class is DrugClass.Z_DRUG for d in drafts)
    sv_kind = "Sömnläkemedel (zopiklon/zolpidem)" if z_drug else "Bensodiazepin"
    en_kind = "Z-drug (zopiclone/zolpidem)" if z_drug else "Benzodiazepine"
    names_sv = ", ".join(drug_name(d.drug, "sv") for d in drafts)
    names_en = ", ".join(drug_name(d.drug, "en") for d in drafts)
    suggestion = _suggestion(drafts)
    fact_map: dict[str, Any] = {
        "sedativeDrafts": [d.drug.atc or drug_name(d.drug, "en") for d in drafts],
        "taperIngredient": facts.taper_plan.ingredient if facts.taper_plan else None,
    }
    return [
        Finding(
            topic=TOPIC,
            indicator="critical",
            summary=loc(
                f"{sv_kind} under opioidnedtrappning – ge aldrig; överväg alimemazin eller mirtazapin",
                f"{en_kind} during an opioid taper – never; consider alimemazine or mirtazapine",
            ),
            detail={
                "sv": f"**Erbjud aldrig bensodiazepiner, zopiklon eller zolpidem under opioidnedtrappning.** "
                f"Utkastet: {names_sv}.\n\n"
                "- För sömnen och mot ångest vid abstinens: **alimemazin och/eller mirtazapin** (tillfälligt; "
                "mirtazapin kan behöva fortsätta något halvår efter avslutad nedtrappning).\n"
                "- Övrigt stöd: paracetamol + ibuprofen (smärta), loperamid (diarré), metoklopramid (illamående).\n"
                "- Ska även bensodiazepiner trappas ned: opioider först, därefter bensodiazepiner, "
                "sömnläkemedel av bensodiazepinliknande typ (zopiklon, zolpidem) sist.",
                "en": f"**Never offer benzodiazepines, zopiclone or zolpidem during an opioid taper.** "
                f"The draft: {names_en}.\n\n"
                "- For sleep and anxiety in withdrawal: **alimemazine and/or mirtazapine** (temporarily; "
                "mirtazapine may need to continue for about half a year after the taper).\n"
                "- Other support: paracetamol + ibuprofen (pain), loperamide (diarrhoea), metoclopramide (nausea).\n"
                "- If benzodiazepines are to be tapered too: opioids first, then benzodiazepines, "
                "zopiclone-type hypnotics last.",
            },
            guideline=RJL,
            section="Tillfällig symptomlindrande läkemedelsbehandling",
            facts=fact_map,
            suggestions=(suggestion,) if suggestion else (),
            override_reasons=("not-in-taper", "clinical-judgement"),
        )
    ]
