"""gabapentinoid-caution — pregabalin or gabapentin ordered for a patient with a substance use disorder.

Source: [RJL "När det inte går som planerat"] "Pregabalin och gabapentin bör, med hänsyn till deras
beroendepotential, undvikas vid misstanke om substansbrukssyndrom!" and "Vid neuropatisk smärta,
överväg duloxetin eller amitriptylin"; clinical-rules §6.

When
  - a gabapentinoid (N02BF01 gabapentin, N02BF02 pregabalin; older N03AX12/N03AX16) is being ordered
    (order hooks), and
  - the record holds a substance use disorder diagnosis (ICD-10 F10–F19), and
  - the patient is not excluded (cancer, palliative care, LARO, under 18)
Then
  - warn: avoid gabapentinoids because of their dependence potential; for neuropathic pain consider
    duloxetine or amitriptyline; suggest removing the draft (not recommended by default: the physician
    may have reasons).

Decisions: the guideline says "misstanke om" (suspected) substance use disorder; the record can show
only diagnosed ones, so a missing diagnosis never clears the patient (the card is simply silent);
when diagnoses could not be had (data gap), the card is silent too — every card names the gap.
Excluded patients get nothing (conservative reading of "none of the taper cards").
"""
from __future__ import annotations

from cds_service.domain.model import DrugClass, PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Action, Finding, RuleContext, Suggestion
from cds_service.rules.common import draft_reference, drug_name, loc
from cds_service.rules.referral_common import drafts_of

TOPIC = "gabapentinoid-caution"
HOOKS = ORDER_HOOKS


def draft_gabapentinoids(facts: PatientFacts):
    return drafts_of(facts, (DrugClass.GABAPENTINOID,))


def inclusion_criteria(facts: PatientFacts) -> bool:
    return bool(draft_gabapentinoids(facts)) and bool(facts.conditions.substance_use)


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts) -> bool:
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts):
        return []
    drafts = draft_gabapentinoids(facts)
    codes = facts.conditions.substance_use
    shown = ", ".join(codes[:2]) + (" m.fl." if len(codes) > 2 else "")
    shown_en = ", ".join(codes[:2]) + (" etc." if len(codes) > 2 else "")
    names = {lang: ", ".join(drug_name(d.drug, lang) for d in drafts) for lang in ("sv", "en")}

    detail = {
        "sv": (
            f"**Undvik pregabalin och gabapentin vid substansbrukssyndrom** – de har beroendepotential. "
            f"Journalen har diagnos för substansbruk: {', '.join(codes)}.\n\n"
            f"- Ordineras nu: {names['sv']}\n"
            "- Vid neuropatisk smärta: överväg duloxetin eller amitriptylin.\n"
            "- Låg tröskel för urinprov för drogscreening och PEth, samt screening med AUDIT och DUDIT."
        ),
        "en": (
            f"**Avoid pregabalin and gabapentin in substance use disorder** – they carry a dependence "
            f"potential. The record holds a substance use diagnosis: {', '.join(codes)}.\n\n"
            f"- Being ordered: {names['en']}\n"
            "- For neuropathic pain: consider duloxetine or amitriptyline.\n"
            "- Low threshold for urine toxicology and PEth, and AUDIT and DUDIT screening."
        ),
    }
    actions = tuple(
        Action(
            type="delete",
            description=loc(
                f"Ta bort utkastet: {drug_name(d.drug, 'sv')}", f"Remove the draft: {drug_name(d.drug, 'en')}"
            ),
            resource_id=draft_reference(d),
        )
        for d in drafts
        if draft_reference(d)
    )
    suggestions = (
        (
            Suggestion(
                label=loc("Ta bort ordinationen av gabapentinoid", "Remove the gabapentinoid order"),
                actions=actions,
            ),
        )
        if actions
        else ()
    )
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            summary=loc(
                f"Pregabalin/gabapentin vid substansbrukssyndrom ({shown}) – undvik p.g.a. beroendepotential",
                f"Pregabalin/gabapentin in substance use disorder ({shown_en}) – avoid: dependence potential",
            ),
            detail=detail,
            guideline=RJL,
            section="När det inte går som planerat",
            facts={
                "substanceUseCodes": list(codes),
                "draftGabapentinoids": [d.drug.display for d in drafts],
            },
            suggestions=suggestions,
            override_reasons=("clinical-judgement", "data-incorrect", "agreed-with-responsible"),
        )
    ]
