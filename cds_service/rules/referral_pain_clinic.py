"""referral-pain-clinic — a taper has stalled: the pain clinic can help, if its entry criteria are met.

Source: [RJL "Hjälp och kontaktvägar"] "När komplex smärta utgör ett betydande hinder för en
opioidnedtrappning kan Smärtkliniken hjälpa till … För övertag krävs att smärtan är utredd och
behandlad på primärvårdsnivån, att dygnsdosen är maximalt 60 MEDD … och att patienten är motiverad";
"Innan smärtenhet kontaktas … basala smärtläkemedel (paracetamol och NSAID), multimodala insatser,
smärtskola och fysioterapi … neuropatisk smärta … duloxetin, amitriptylin och/eller gabapentin";
[RJL "När det inte går som planerat"]; clinical-rules §5.

When
  - an active taper plan is running (a step is in effect today, or the schedule has ended), and
  - it has stalled: the record's daily dose of the tapered ingredient in effect today is still above
    the plan's step for today (0 once the schedule has ended), and
  - total MEDD is at most 60 (``settings.referral_medd``), and
  - the patient is not excluded, and no open pain-clinic referral (Trappa's) is in the record
Then
  - info: consider the pain clinic; check its entry criteria against the record as a checklist —
    met / not shown in the record / cannot be known from the record — and suggest a referral
    (ServiceRequest, target "pain-clinic") pre-filled from the record.

Decisions where the guideline is silent:
  - An incomplete MEDD total whose known part is ≤ 60 does not stop the card (it is only info and the
    stall is worth seeing); the checklist marks "högst 60 MEDD" as undecided ("minst X"). Over 60
    the card is silent: the referral-psychiatry card is the one for high doses.
  - A stall that cannot be decided (record dose unknown, units differ, no step for today) is silent.
  - "Tried" means any order of the drug in the record, whatever its status; the effect never shows.
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts

from cds_service.domain.hooks import ALL_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.common import fmt_daily_dose, fmt_number, loc
from cds_service.rules.referral_common import (
    PAIN_CLINIC,
    PAIN_CLINIC_UNKNOWABLE,
    TaperProgress,
    Versus,
    existing_referral,
    medd_versus,
    referral_suggestion,
    taper_progress,
    total_medd_text,
    treatments_tried,
)

TOPIC = "referral-pain-clinic"
HOOKS = ALL_HOOKS

MET, NOT_SHOWN, UNDECIDED, UNKNOWABLE = "met", "not-shown", "undecided", "unknowable"
STATE_TEXT = {
    MET: loc("uppfyllt", "met"),
    NOT_SHOWN: loc("framgår inte av journalen", "not shown in the record"),
    UNDECIDED: loc("kan inte avgöras", "cannot be decided"),
    UNKNOWABLE: loc("kan inte avgöras från journalen", "cannot be known from the record"),
}


def progress(facts: PatientFacts, ctx: RuleContext) -> TaperProgress | None:
    return taper_progress(facts, ctx.today)


def inclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    p = progress(facts, ctx)
    if p is None or p.stalled is not True:
        return False
    return medd_versus(facts.regimen.medd, ctx.settings.referral_medd) is not Versus.ABOVE


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or existing_referral(facts, PAIN_CLINIC) is not None


def is_applicable(facts: PatientFacts, ctx: RuleContext) -> bool:
    return inclusion_criteria(facts, ctx) and not exclusion_criteria(facts)


def checklist(facts: PatientFacts, ctx: RuleContext) -> list[tuple[str, dict[str, str], str, dict[str, str]]]:
    """(key, requirement, state, note) for each entry criterion of the pain clinic."""
    total = facts.regimen.medd
    limit = ctx.settings.referral_medd
    versus = medd_versus(total, limit)
    tried = {t.treatment.key: t for t in treatments_tried(facts)}
    rows = []
    rows.append(
        (
            "meddAtMostLimit",
            loc(f"Dygnsdos högst {fmt_number(limit)} MEDD", f"Daily dose at most {fmt_number(limit, 'en')} MEDD"),
            MET if versus is Versus.AT_OR_BELOW else UNDECIDED,
            {lang: total_medd_text(total, lang) for lang in ("sv", "en")},
        )
    )
    for key in ("paracetamol", "nsaid"):
        t = tried[key]
        rows.append(
            (
                key,
                loc(
                    f"Basalt smärtläkemedel prövat: {t.treatment.label['sv'].lower() if key == 'paracetamol' else t.treatment.label['sv']}",
                    f"Basic analgesic tried: {t.treatment.label['en'].lower() if key == 'paracetamol' else t.treatment.label['en']}",
                ),
                MET if t.tried else NOT_SHOWN,
                {lang: _tried_note(t, lang) for lang in ("sv", "en")},
            )
        )
    neuro = [tried[k] for k in ("duloxetine", "amitriptyline", "gabapentinoid")]
    neuro_tried = [t for t in neuro if t.tried]
    rows.append(
        (
            "neuropathic",
            loc(
                "Vid neuropatisk smärta: duloxetin, amitriptylin och/eller gabapentin prövat",
                "For neuropathic pain: duloxetine, amitriptyline and/or gabapentin tried",
            ),
            MET if neuro_tried else NOT_SHOWN,
            {
                lang: ", ".join(t.treatment.label[lang] for t in neuro_tried)
                for lang in ("sv", "en")
            },
        )
    )
    codes = facts.conditions.substance_use + facts.conditions.psychiatric
    rows.append(
        (
            "comorbidityManaged",
            loc(
                "Psykiatrisk samsjuklighet och substansbruk omhändertagna",
                "Psychiatric comorbidity and substance use taken care of",
            ),
            UNKNOWABLE,
            {
                "sv": f"diagnoser i journalen: {', '.join(codes)}" if codes else "",
                "en": f"diagnoses in the record: {', '.join(codes)}" if codes else "",
            },
        )
    )
    for key, item in PAIN_CLINIC_UNKNOWABLE:
        rows.append((key, item, UNKNOWABLE, {"sv": "", "en": ""}))
    return rows


def _tried_note(t, lang: str) -> str:
    if not t.tried:
        return ""
    return t.text(lang).split(": ", 1)[1].split(" – ")[0]


def _table(rows, lang: str) -> str:
    head = "| Krav | Journalen |" if lang == "sv" else "| Requirement | Record |"
    lines = [head, "|---|---|"]
    # The requirements the record can never show go on one row: scannable, and nothing to decide.
    plain_unknowable = [r for r in rows if r[2] == UNKNOWABLE and not r[3].get(lang)]
    rows = [r for r in rows if r not in plain_unknowable]
    if plain_unknowable:
        joined = ", ".join(r[1][lang] for r in plain_unknowable)
        rows.append(("", {lang: joined[0].upper() + joined[1:].lower()}, UNKNOWABLE, {}))
    for _, req, state, note in rows:
        cell = STATE_TEXT[state][lang]
        if state == MET:
            cell = "✓ " + cell
        if note.get(lang):
            cell += f" ({note[lang]})"
        lines.append(f"| {req[lang]} | {cell} |")
    return "\n".join(lines)


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    p = progress(facts, ctx)
    assert p is not None  # is_applicable checked it
    rows = checklist(facts, ctx)
    c = facts.conditions
    dependence_first = c.opioid_dependence or c.mixed_dependence

    def where(lang: str) -> str:
        if p.step is not None and p.step_number is not None:
            return (f"steg {p.step_number} av {p.steps}" if lang == "sv" else f"step {p.step_number} of {p.steps}")
        return "schemat är slut" if lang == "sv" else "the schedule has ended"

    detail = {}
    question = {}
    for lang in ("sv", "en"):
        sv = lang == "sv"
        current = fmt_daily_dose(p.current, p.unit, lang)
        target = fmt_daily_dose(p.target, p.unit, lang)
        lead = (
            f"**Nedtrappningen har stannat av:** dygnsdosen i journalen är {current}, planen anger "
            f"{target} i dag ({where(lang)}). När komplex smärta hindrar nedtrappningen kan smärtkliniken "
            "föreslå smärtlindrande behandling som understödjer den, bedöma opioidrotation och föreslå "
            "en nedtrappningsplan."
            if sv
            else f"**The taper has stalled:** the record's daily dose is {current}, the plan says {target} "
            f"today ({where(lang)}). When complex pain blocks the taper the pain clinic can suggest "
            "pain treatment that supports it, assess opioid rotation and propose a taper plan."
        )
        parts = [lead]
        parts.append(
            ("**Smärtklinikens krav, kontrollerade mot journalen:**" if sv
             else "**The pain clinic's requirements, checked against the record:**")
            + "\n\n" + _table(rows, lang)
        )
        advice = (
            "Se också över hinder och samsjuklighet (depression, ångest, PTSD, ADHD, beroende; "
            "låg tröskel för urinprov för drogscreening, PEth, AUDIT och DUDIT) och om sjukgymnastik och "
            "smärtskola har erbjudits. Öka aldrig dosen – förläng hellre steget."
            if sv
            else "Also review obstacles and comorbidity (depression, anxiety, PTSD, ADHD, dependence; "
            "low threshold for urine toxicology, PEth, AUDIT and DUDIT) and whether physiotherapy and "
            "pain school were offered. Never raise the dose – extend the step instead."
        )
        parts.append(advice)
        if dependence_first:
            parts.append(
                "Opioidberoende/blandberoende finns i journalen: kontakta i första hand psykiatrin."
                if sv
                else "Opioid/mixed dependence is in the record: contact psychiatry first."
            )
        detail[lang] = "\n\n".join(parts)
        question[lang] = (
            f"Nedtrappning av opioid har stannat av ({current}, planerat {target}). Förslag på "
            "smärtlindrande behandling som understödjer nedtrappningen?"
            if sv
            else f"Opioid taper has stalled ({current}, planned {target}). Suggestions for pain "
            "treatment that supports the taper?"
        )

    summary = loc(
        f"Nedtrappningen har stannat av ({fmt_daily_dose(p.current, p.unit)}, plan "
        f"{fmt_daily_dose(p.target, p.unit)}) – överväg smärtklinik",
        f"Taper stalled ({fmt_daily_dose(p.current, p.unit, 'en')}, plan "
        f"{fmt_daily_dose(p.target, p.unit, 'en')}) – consider the pain clinic",
    )
    suggestion = referral_suggestion(facts, ctx, PAIN_CLINIC, question)
    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            summary=summary,
            detail=detail,
            guideline=RJL,
            section="Hjälp och kontaktvägar",
            facts={
                "stalled": True,
                "currentDailyDose": p.current,
                "todayStepDose": p.target,
                "unit": p.unit,
                "stepNumber": p.step_number,
                "steps": p.steps,
                "meddCriterion": medd_versus(facts.regimen.medd, ctx.settings.referral_medd).value,
                "checklist": {key: state for key, _, state, _ in rows},
            },
            suggestions=(suggestion,) if suggestion else (),
            override_reasons=("already-referred", "patient-declines", "clinical-judgement", "data-incorrect"),
        )
    ]
