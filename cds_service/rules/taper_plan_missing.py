"""taper-plan-missing — a renewal of ongoing opioid use without a taper plan.

Source: [RJL, opening] "Receptförnyelse innebär samma ansvar som vid insättning";
[RJL "När behövs nedtrappning?"] (pace by prior exposure); [RJL "Vilka krav kan jag som läkare
ställa?"] (the rules the patient agrees to); [RJL "Allmänna principer och viktigt att tänka på"],
[RJL "Praktiska tips och trix"] (depot, dispensing, several opioids); [RJL "Tillfällig
symptomlindrande läkemedelsbehandling"]; clinical-rules §1–§3, §6.

When
  - a draft opioid order is part of the hook call, and
  - it continues the current opioid episode (renewal), and
  - the episode is at least subacute (≥ 14 days), and
  - there is no active taper plan, and
  - the patient is not excluded (cancer, palliative care, LARO, under 18)
Then
  - warn, with the default taper schedule for the drafted drug (pace by exposure; start today) as a
    table, the pace and why, the projected end (warning beyond ~6 months), the rules the patient
    agrees to, dispensing advice and withdrawal support;
  - suggest "Skapa nedtrappningsplan" (recommended): create the CarePlan and the stepped
    MedicationRequest, and remove the renewal draft the taper prescription replaces; alternative
    paces (faster / slower, when their schedule differs) as further suggestions, at most one chosen.
  - When the daily dose cannot be read (neither the record nor the draft): warn all the same, say
    that no schedule could be computed, and offer no suggestion.

Starting dose: the fixed daily dose of the drafted ingredient in the current regimen (what the patient
takes regularly today; as-needed doses are named on the card and their real consumption asked for,
[RJL "Praktiska tips och trix"]); when that is unknown, the draft's fixed dose. Never above the
regular dose: depot 20 mg × 2 plus 5 mg as needed starts at 40 mg/dygn, not 60.

The suggestion also ends the record's other still-valid prescriptions of the tapered opioid (an
update to status stopped) so the old dose cannot be collected beside the schedule ("Glöm inte att
makulera giltiga recept", [RJL "Praktiska tips och trix"]).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cds_service.domain.taper import Pace, default_pace, taper_schedule
from fhir_mappings.write.builders import restriction_flag, taper_careplan, taper_medication_request
from cds_service.domain.regimen import ingredient_key
from cds_service.domain.problems import Problem
from cds_service.domain.model import UG_PER_H, DailyDose, Exposure, Form, MedicationOrder, PatientFacts

from cds_service.domain.hooks import ORDER_HOOKS
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Action, Finding, RuleContext, Suggestion
from cds_service.rules.taper_state import current_daily_dose, opioid_ingredients, responsible_physician
from cds_service.rules.drafts import draft_opioids, draft_reference, record_resource, valid_prescriptions
from cds_service.domain.bounded import clip
from cds_service.cards.phrases import (
    bullets,
    drug_name,
    exposure_text,
    fmt_daily_dose,
    fmt_date,
    fmt_days,
    fmt_medd,
    ingredient_name,
    loc,
    localized,
    taper_table,
)

TOPIC = "taper-plan-missing"
HOOKS = ORDER_HOOKS

ONGOING = (Exposure.SUBACUTE, Exposure.LONG_TERM, Exposure.MULTI_YEAR)

# Paces from fastest to slowest; tramadol's own pace (4 weeks per step) sits with the slow one.
_PACE_ORDER = ("fast", "weekly", "slow")
_PACE_RANK = {"fast": 0, "weekly": 1, "slow": 2, "tramadol": 2}

_PACE_TEXT = {
    "fast": loc(
        "snabb – cirka 10 % av dygnsdosen var tredje dag",
        "fast – about 10 % of the daily dose every third day",
    ),
    "weekly": loc(
        "långsam – 10 % av startdosen per vecka ned till 30 %, därefter långsammare",
        "slow – 10 % of the starting dose per week down to 30 %, then slower",
    ),
    "slow": loc(
        "mycket långsam – cirka 10 % var fjärde vecka",
        "very slow – about 10 % every fourth week",
    ),
    "tramadol": loc(
        "tramadol – 4 veckor på varje dos-steg",
        "tramadol – 4 weeks on every dose step",
    ),
}

_PACE_WHY = {
    "fast": loc(
        "abstinens kan komma redan efter 2–4 veckors användning; en snabb nedtrappning räcker ofta",
        "withdrawal can appear after only 2–4 weeks of use; a fast taper is usually enough",
    ),
    "weekly": loc(
        "efter mer än cirka 3 månaders användning rekommenderas långsam nedtrappning",
        "after more than about 3 months of use a slow taper is recommended",
    ),
    "slow": loc(
        "efter flera års användning finns god erfarenhet av mycket långsam nedtrappning",
        "after several years of use very slow tapers have worked well",
    ),
    "tramadol": loc(
        "tramadol ger serotonerga utsättningsbesvär utöver opioidabstinensen och kräver långsammare takt",
        "tramadol adds serotonergic withdrawal to opioid withdrawal and needs a slower pace",
    ),
}


@dataclass(frozen=True)
class TaperProposal:
    """What this rule proposes for one patient: the drafted drug, the dose the taper starts from and
    the default schedule (None when the dose is unknown), plus alternative paces."""

    draft: MedicationOrder
    ingredient: str | None
    dose: DailyDose  # the daily dose the schedule starts from (unknown: amount None)
    dose_basis: str  # "record" | "draft" | "unknown"
    schedule: Any | None  # cds_service.taper.TaperSchedule
    alternatives: tuple[tuple[str, Any], ...] = ()  # ("faster" | "slower", TaperSchedule)
    problem: str | None = None  # why there is no schedule (English, short)


def inclusion_criteria(facts: PatientFacts) -> bool:
    return bool(draft_opioids(facts)) and facts.is_renewal is True and facts.episode.exposure in ONGOING


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded or facts.taper_plan is not None


def is_applicable(facts: PatientFacts) -> bool:
    """The predicate other rules reuse (prescribing-restriction: "a taper is being proposed")."""
    return inclusion_criteria(facts) and not exclusion_criteria(facts)


def starting_dose(facts: PatientFacts, draft: MedicationOrder) -> tuple[DailyDose, str]:
    """The daily dose the taper starts from and where it came from ("record" | "draft" |
    "prn-only" | "unknown").

    The fixed daily dose, never the as-needed maxima on top of it: a taper must not start above what
    the patient takes regularly [RJL "Praktiska tips och trix": map the real consumption of the
    as-needed doses; clinical-rules §3]. The record's current regimen is preferred (what the patient
    takes today); it is used only when its unit matches the draft's (a patch is not tapered from
    tablets). When the patient takes the opioid only as needed there is no regular dose to start
    from: "prn-only", no schedule until the consumption is known.
    """
    ingredient = draft.drug.ingredient
    record = current_daily_dose(facts, ingredient, fixed_only=True)
    unit_fits = record.known and (draft.daily_dose.unit is None or record.unit == draft.daily_dose.unit)
    if unit_fits and record.amount:
        return record, "record"
    fixed = draft.daily_dose.fixed_amount
    if fixed:
        return DailyDose(fixed, draft.daily_dose.unit, basis=draft.daily_dose.basis), "draft"
    if (unit_fits and record.amount == 0) or (fixed == 0 and not record.known):
        return DailyDose(None, None, basis="unknown", problem=Problem("prn-only")), "prn-only"
    problem = draft.daily_dose.problem or record.problem or Problem("dose-unknown")
    return DailyDose(None, None, basis="unknown", problem=problem), "unknown"


def _schedule(draft: MedicationOrder, dose: DailyDose, facts: PatientFacts, ctx: RuleContext, pace=None):
    form = draft.drug.form if draft.drug.form is not Form.UNKNOWN else (
        Form.PATCH if dose.unit == UG_PER_H else Form.DEPOT
    )
    return taper_schedule(
        ingredient=draft.drug.ingredient,
        form=form,
        daily_dose=dose.amount,
        unit=dose.unit,
        exposure=facts.episode.exposure,
        start=ctx.today,
        pace=pace,
        companions=draft.drug.companions,  # oxycodone/naloxone stays oxycodone/naloxone [RJL "Praktiska tips och trix"]
    )


def _signature(schedule) -> tuple:
    return tuple((s.daily_dose, s.days) for s in schedule.steps)


def _alternatives(draft, dose, facts, ctx, default) -> tuple[tuple[str, Any], ...]:
    """One faster and one slower pace than the default, kept only when the schedule differs."""
    rank = _PACE_RANK.get(_pace_value(default), 1)
    wanted = []
    if rank > 0:
        wanted.append(("faster", _PACE_ORDER[rank - 1]))
    if _pace_value(default) == "tramadol":
        wanted.append(("slower", "slow"))
    elif rank < len(_PACE_ORDER) - 1:
        wanted.append(("slower", _PACE_ORDER[rank + 1]))
    found = []
    for direction, pace in wanted:
        try:
            alt = _schedule(draft, dose, facts, ctx, pace=Pace(pace))
        except (ValueError, KeyError):
            continue
        if alt.steps and _signature(alt) != _signature(default):
            found.append((direction, alt))
    return tuple(found)


def _pace_value(schedule) -> str:
    pace = getattr(schedule, "pace", None)
    return getattr(pace, "value", pace) or ""


def proposal(facts: PatientFacts, ctx: RuleContext) -> TaperProposal | None:
    """The taper this rule proposes, or None when the rule does not apply.

    ``problem`` (when there is no schedule) is "no-dose", "no-ingredient", or the schedule's own
    warning code saying why it has no steps (e.g. "dose-below-smallest-strength",
    "no-strengths-known"). Computed once per hook call: prescribing-restriction builds on it too.
    """
    cached = ctx.memo.get("taper-proposal")
    if cached is not None and cached[0] is facts:  # identity, not id(): a context may outlive facts
        return cached[1]
    result = _proposal(facts, ctx)
    ctx.memo["taper-proposal"] = (facts, result)
    return result


def _proposal(facts: PatientFacts, ctx: RuleContext) -> TaperProposal | None:
    if not is_applicable(facts):
        return None
    draft = draft_opioids(facts)[0]
    dose, basis = starting_dose(facts, draft)
    if not draft.drug.ingredient:
        return TaperProposal(draft, None, dose, basis, None, (), "no-ingredient")
    if not dose.known:
        reason = "prn-only" if basis == "prn-only" else "no-dose"
        return TaperProposal(draft, draft.drug.ingredient, dose, basis, None, (), reason)
    try:
        schedule = _schedule(draft, dose, facts, ctx)
    except (ValueError, KeyError):  # a malformed strengths table; the schedule itself never raises
        return TaperProposal(draft, draft.drug.ingredient, dose, basis, None, (), "no-strengths-known")
    if not schedule.steps:
        reason = next((w for w in schedule.warnings if w in _NO_STEPS_TEXT), "no-strengths-known")
        return TaperProposal(draft, draft.drug.ingredient, dose, basis, None, (), reason)
    alternatives = _alternatives(draft, dose, facts, ctx, schedule)
    return TaperProposal(draft, draft.drug.ingredient, dose, basis, schedule, alternatives)


# Why no schedule could be made, by reason code.
_NO_STEPS_TEXT = {
    "no-dose": loc(
        "Dygnsdosen kunde inte läsas ut ur journalen eller utkastet, så inget schema har beräknats – "
        "ange aktuell dygnsdos.",
        "The daily dose could not be read from the record or the draft, so no schedule was computed – "
        "enter the current daily dose.",
    ),
    "prn-only": loc(
        "Opioiden tas bara vid behov, så det finns ingen fast dygnsdos att trappa ned från – kartlägg "
        "förbrukningen med ett veckoschema under 1–2 veckor och gör schemat från den.",
        "The opioid is taken as needed only, so there is no fixed daily dose to taper from – map the "
        "consumption with a weekly chart over 1–2 weeks and make the schedule from it.",
    ),
    "no-ingredient": loc(
        "Opioiden kunde inte identifieras, så inget schema har beräknats.",
        "The opioid could not be identified, so no schedule was computed.",
    ),
    "dose-below-smallest-strength": loc(
        "Dygnsdosen är lägre än minsta tillgängliga styrka – opioiden kan sättas ut direkt, eller trappas "
        "ned med tätare intervall mellan doserna.",
        "The daily dose is below the smallest available strength – the opioid can be stopped at once, or "
        "tapered by spacing the doses.",
    ),
    "no-strengths-known": loc(
        "Styrkor för en depotberedning av denna opioid saknas i styrketabellen – gör schemat manuellt.",
        "No strengths of a depot formulation of this opioid are in the strengths table – make the "
        "schedule by hand.",
    ),
    "unit-mismatch": loc(
        "Dosens enhet passar inte styrketabellen – gör schemat manuellt.",
        "The dose unit does not match the strengths table – make the schedule by hand.",
    ),
    # {dose} is the starting dose (cds_service/domain/taper.py "Implausible doses": above the drug's ceiling).
    "dose-implausible": loc(
        "Dygnsdosen {dose} är orimligt hög – kontrollera ordinationen. Inget schema har beräknats.",
        "The daily dose {dose} is implausibly high – check the prescription. No schedule was computed.",
    ),
}

# Schedule warnings worth a line on the card (the long-taper one is decided with ClinicalSettings).
_SCHEDULE_NOTES = {
    "no-depot-formulation": loc(
        "Depotberedning saknas för denna opioid; schemat använder beredning med direkt frisättning.",
        "No depot formulation of this opioid; the schedule uses an immediate-release product.",
    ),
    "start-dose-rounded-down": loc(
        "Dygnsdosen kan inte ges exakt med tillgängliga styrkor; första steget är närmaste lägre dos.",
        "The daily dose cannot be given exactly with the available strengths; the first step is the "
        "nearest lower dose.",
    ),
}


# ---------------------------------------------------------------------------------------------------
# Suggestions


def _patient_ref(facts: PatientFacts, ctx: RuleContext) -> str:
    return ctx.patient_ref or f"Patient/{facts.patient_id}"


def _plan_suggestion(prop: TaperProposal, schedule, label, recommended, facts, ctx) -> Suggestion:
    patient = _patient_ref(facts, ctx)
    # Resources are built in Swedish (the service's default language); see the module report.
    careplan = taper_careplan(schedule, patient_ref=patient, author_ref=ctx.user_ref, lang="sv")
    # The product is the schedule's (the depot formulation, generic by ATC), never the draft's coding:
    # a draft naming one strength ("10 mg") would be wrong for steps that need other strengths.
    request = taper_medication_request(schedule, patient_ref=patient, requester_ref=ctx.user_ref, lang="sv",
                                       systems=prop.draft.drug.code_systems)
    actions = [
        Action("create", loc("Nedtrappningsplan (vårdplan)", "Taper plan (CarePlan)"), resource=careplan),
        Action(
            "create",
            loc("Ordination med nedtrappningsschemat", "Prescription with the taper schedule"),
            resource=request,
        ),
    ]
    # The stepped prescription replaces the renewal: keeping both would double the opioid.
    ref = draft_reference(prop.draft)
    if ref:
        actions.append(
            Action(
                "delete",
                loc("Ta bort förnyelsen (ersätts av nedtrappningen)", "Remove the renewal (replaced by the taper)"),
                resource_id=ref,
            )
        )
    actions += _end_valid_prescriptions(prop, facts, ctx)
    if facts.restriction_flag is None:
        actions.append(_restriction(schedule, facts, ctx))
    return Suggestion(label=label, actions=tuple(actions), is_recommended=recommended)


def _restriction(schedule, facts: PatientFacts, ctx: RuleContext) -> Action:
    """The prescribing restriction for this schedule: until its end plus the margin (acute withdrawal,
    1–2 weeks), naming the responsible physician [RJL "Vilka krav kan jag som läkare ställa?",
    "Praktiska tips och trix"]. Each pace has its own, so the Flag ends with the schedule picked."""
    author, name = responsible_physician(facts, ctx)
    end = max(schedule.end, ctx.today) + timedelta(days=ctx.settings.restriction_margin_days)
    flag = restriction_flag(patient_ref=_patient_ref(facts, ctx), author_ref=author, author_display=name,
                            start=ctx.today, end=end, lang="sv")
    return Action(
        "create",
        loc(f"Förskrivningsrestriktion till {fmt_date(end, 'sv')}", f"Prescribing restriction until {fmt_date(end, 'en')}"),
        resource=flag,
    )


def _end_valid_prescriptions(prop: TaperProposal, facts: PatientFacts, ctx: RuleContext) -> list[Action]:
    """Updates that stop the record's still-valid prescriptions of the tapered opioid (module docstring):
    the same for every pace, so made once per call."""
    cached = ctx.memo.get("end-valid-prescriptions")
    if cached is not None and cached[0] is facts:
        return list(cached[1])
    actions = _ending_actions(prop, facts, ctx)
    ctx.memo["end-valid-prescriptions"] = (facts, tuple(actions))
    return actions


def _ending_actions(prop: TaperProposal, facts: PatientFacts, ctx: RuleContext) -> list[Action]:
    actions = []
    for order in valid_prescriptions(facts, prop.ingredient):
        if order.id == prop.draft.id:
            continue  # the renewal itself, when the EHR sent it in the record too
        raw = record_resource(ctx, order)
        if raw is None:
            continue  # not echoed: the card's text still names it
        ended = dict(raw)
        ended["status"] = "stopped"
        ended["statusReason"] = {"text": "Ersätts av nedtrappningsschema"}
        name = drug_name(order.drug, "sv")
        actions.append(Action(
            "update",
            loc(f"Avsluta giltigt recept: {name}", f"End the valid prescription: {drug_name(order.drug, 'en')}"),
            resource=ended,
        ))
    return actions


def _suggestions(prop: TaperProposal, facts, ctx) -> tuple[Suggestion, ...]:
    if prop.schedule is None:
        return ()
    out = [
        _plan_suggestion(
            prop,
            prop.schedule,
            loc(
                f"Skapa nedtrappningsplan (klar {fmt_date(prop.schedule.end, 'sv')})",
                f"Create taper plan (ends {fmt_date(prop.schedule.end, 'en')})",
            ),
            True,
            facts,
            ctx,
        )
    ]
    for direction, alt in prop.alternatives:
        sv_dir = "snabbare" if direction == "faster" else "långsammare"
        out.append(
            _plan_suggestion(
                prop,
                alt,
                loc(
                    f"Skapa nedtrappningsplan – {sv_dir} takt (klar {fmt_date(alt.end, 'sv')})",
                    f"Create taper plan – {direction} pace (ends {fmt_date(alt.end, 'en')})",
                ),
                False,
                facts,
                ctx,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------------------------------
# Text


def _pace_line(pace: str, lang: str) -> str | None:
    if pace not in _PACE_TEXT:
        return None
    if lang == "sv":
        return f"**Takt:** {_PACE_TEXT[pace]['sv']}. **Varför:** {_PACE_WHY[pace]['sv']}."
    return f"**Pace:** {_PACE_TEXT[pace]['en']}. **Why:** {_PACE_WHY[pace]['en']}."


def _agreement(lang: str) -> str:
    if lang == "sv":
        head = "**Överenskommelse med patienten**"
        lines = [
            "Fast dygnsdos enligt schemat; dosen ökas aldrig – vid svår abstinens förlängs steget.",
            "Inga vid behovsdoser eller extra-tabletter.",
            "Opioider förskrivs bara av ansvarig läkare; inga andra förskrivare eller källor.",
            "Samtycke till insyn i uthämtade läkemedel och NPÖ samt till uppmärksamhetssignal "
            "med förskrivningsrestriktion.",
            "Borttappade läkemedel ersätts inte.",
        ]
    else:
        head = "**Agreement with the patient**"
        lines = [
            "Fixed daily dose per the schedule; never a dose increase – if withdrawal is hard, the step is extended.",
            "No as-needed doses or extra tablets.",
            "Opioids only from the responsible physician; no other prescribers or sources.",
            "Consent to viewing dispensed medication and the national patient summary, and to an "
            "alert with a prescribing restriction.",
            "Lost medication is not replaced.",
        ]
    return head + "\n" + bullets(lines)


def _dispensing(schedule, lang: str) -> str:
    slow = _pace_value(schedule) in ("slow", "tramadol")
    patch = getattr(schedule, "unit", None) == UG_PER_H
    depot = getattr(schedule, "form", None) is Form.DEPOT
    if lang == "sv":
        form = (
            "Plåster av samma substans."
            if patch
            else "Depotberedning av samma opioid, dygnsdosen jämnt fördelad över dygnet."
            if depot
            else "Samma opioid, dygnsdosen jämnt fördelad över dygnet."
        )
        how = (
            "Dosdispensering passar vid långsam nedtrappning"
            if slow
            else "Små uttag: högst 1–2 veckor av schemat per uttag, med angivet intervall"
        )
        return f"**Förskrivning:** {form} {how}; förskriv 1–2 steg i taget. Kort avstämning varje vecka."
    form = (
        "Patches of the same substance."
        if patch
        else "Extended-release form of the same opioid, daily dose spread evenly over the day."
        if depot
        else "The same opioid, daily dose spread evenly over the day."
    )
    how = (
        "Multi-dose dispensing suits a slow taper"
        if slow
        else "Small dispensings: at most 1–2 weeks of the schedule each, with a set interval"
    )
    return f"**Prescribing:** {form} {how}; prescribe 1–2 steps at a time. Short check-in every week."


def _support(lang: str) -> str:
    if lang == "sv":
        return (
            "**Stöd vid abstinens:** paracetamol + ibuprofen (smärta), loperamid (diarré), "
            "metoklopramid (illamående), alimemazin och/eller mirtazapin (sömn, ångest). "
            "**Aldrig bensodiazepiner, zopiklon eller zolpidem.**"
        )
    return (
        "**Withdrawal support:** paracetamol + ibuprofen (pain), loperamide (diarrhoea), "
        "metoclopramide (nausea), alimemazine and/or mirtazapine (sleep, anxiety). "
        "**Never benzodiazepines, zopiclone or zolpidem.**"
    )


def _several_opioids(facts: PatientFacts, prop: TaperProposal, lang: str) -> str | None:
    if len(opioid_ingredients(facts)) < 2:
        return None
    total = fmt_medd(facts.regimen.medd.value, lang, complete=facts.regimen.medd.complete)
    name = ingredient_name(prop.ingredient, lang)
    if lang == "sv":
        return (
            f"**Flera opioider:** total dygnsdos {total}. Patienten väljer vilken opioid som trappas ned "
            f"först; schemat gäller {name}."
        )
    return f"**Several opioids:** total {total}. The patient chooses which opioid to taper first; this schedule is for {name}."


def _as_needed(facts: PatientFacts, prop: TaperProposal, lang: str) -> str | None:
    """Names the as-needed opioids and asks for their real consumption [RJL "Praktiska tips och trix"]."""
    prn = facts.regimen.prn_opioids
    if not prn:
        return None
    listed = "; ".join(
        f"{drug_name(o.drug, lang)}: "
        + (f"högst {fmt_daily_dose(o.daily_dose.prn_amount, o.daily_dose.unit, lang)}" if lang == "sv"
           else f"at most {fmt_daily_dose(o.daily_dose.prn_amount, o.daily_dose.unit, lang)}")
        for o in prn
    )
    if lang == "sv":
        start = ("Schemat utgår från den fasta dygnsdosen, inte från vid behovsdoserna. "
                 if prop.schedule is not None else "")
        return (f"**Vid behovsdoser:** {listed}. {start}Kartlägg förbrukningen med ett veckoschema under "
                "1–2 veckor.")
    start = "The schedule starts from the fixed daily dose, not the as-needed doses. " if prop.schedule is not None else ""
    return f"**As-needed doses:** {listed}. {start}Map the consumption with a weekly chart over 1–2 weeks."


def _record_basis(facts: PatientFacts, prop: TaperProposal) -> tuple[str, str]:
    """Where the record's dose came from, as the physician will look for it: prescriptions, the
    medication list, or — with no prescription in the record — what the pharmacy dispensed."""
    kinds = {o.resource_type for o in facts.regimen.record
             if o.drug.is_opioid and o.drug.ingredient == prop.ingredient}
    if kinds == {"MedicationDispense"}:
        return ("enligt uthämtade läkemedel – ordinationen finns inte i journalen (annan förskrivare?)",
                "from the dispensings – the prescription is not in the record (another prescriber?)")
    if kinds == {"MedicationStatement"}:
        return ("enligt läkemedelslistan", "from the medication list")
    return ("enligt aktuella ordinationer i journalen", "from the current orders in the record")


def _read_from_text(facts: PatientFacts, prop: TaperProposal, lang: str) -> str | None:
    """Says when the start dose was read from a dosage written in words: the physician checks it."""
    orders = [o for o in (*facts.regimen.record, prop.draft)
              if o.drug.ingredient == prop.ingredient and o.daily_dose.basis == "free-text"]
    if not orders:
        return None
    names = ", ".join(dict.fromkeys(drug_name(o.drug, lang) for o in orders))
    if lang == "sv":
        return f"**Dosen är tolkad ur doseringstexten** ({names}) – kontrollera mot ordinationen."
    return f"**The dose was read from the dosage text** ({names}) – check it against the prescription."


_FORM_TEXT = {
    Form.DEPOT: ("depot", "extended release"), Form.IMMEDIATE: ("direktverkande", "immediate release"),
    Form.PATCH: ("plåster", "patch"), Form.SUBLINGUAL: ("resoriblett", "sublingual"),
    Form.INJECTION: ("injektion", "injection"),
}


def formulation_switch(prop: TaperProposal) -> dict[str, Any] | None:
    """What the schedule gives that differs from the patient's product: another combination (an
    ingredient left out or added) or another form; None when it keeps the product as it is.

    [RJL "Praktiska tips och trix"]: taper with a depot formulation of the opioid the patient uses — a
    switch to depot is the guideline's, a combination the strengths table lacks (paracetamol/codeine for
    acetylsalicylic acid/codeine) is the table's; either is said on the card, never made silently.
    """
    schedule, drug = prop.schedule, prop.draft.drug
    if schedule is None:
        return None
    had, gets = set(drug.companions), set(schedule.combination)
    form_changes = drug.form not in (Form.UNKNOWN, schedule.form)
    if had == gets and not form_changes:
        return None
    return {"from": drug.display, "fromForm": drug.form.value, "to": schedule.display or schedule.ingredient,
            "toForm": schedule.form.value, "leftOut": sorted(had - gets), "added": sorted(gets - had)}


def _switch_line(prop: TaperProposal, lang: str) -> str | None:
    switch = formulation_switch(prop)
    if switch is None:
        return None
    sv = lang == "sv"
    schedule = prop.schedule
    if schedule is None:  # a switch is only found in a schedule
        return None
    product = schedule.display if sv or not schedule.product_en else schedule.product_en
    names = lambda keys: ", ".join(ingredient_name(k, lang) for k in keys)  # noqa: E731
    what = []
    if switch["leftOut"]:
        what.append(f"utan {names(switch['leftOut'])}" if sv else f"without {names(switch['leftOut'])}")
    if switch["added"]:
        what.append(f"med {names(switch['added'])}" if sv else f"with {names(switch['added'])}")
    if switch["fromForm"] != switch["toForm"] and switch["fromForm"] != Form.UNKNOWN.value:
        a = _FORM_TEXT.get(prop.draft.drug.form, ("", ""))[0 if sv else 1]
        b = _FORM_TEXT.get(schedule.form, ("", ""))[0 if sv else 1]
        what.append(f"{a} → {b}" if a and b else "")
    detail = "; ".join(w for w in what if w)
    if sv:
        return (f"**Byte av beredning:** schemat ges som {product} i stället för {clip(switch['from'], 80)}"
                f"{' (' + detail + ')' if detail else ''} – förskriv det och informera patienten.")
    return (f"**Change of product:** the schedule is given as {product} instead of {clip(switch['from'], 80)}"
            f"{' (' + detail + ')' if detail else ''} – prescribe it and tell the patient.")


def _valid_prescriptions_line(facts: PatientFacts, prop: TaperProposal, lang: str) -> str | None:
    valid = valid_prescriptions(facts, prop.ingredient)
    if not valid:
        return None
    names = ", ".join(dict.fromkeys(drug_name(o.drug, lang) for o in valid))
    if lang == "sv":
        return (f"**Makulera giltiga recept** av {ingredient_name(prop.ingredient, lang)} som schemat ersätter: "
                f"{names} (förslaget avslutar dem).")
    return (f"**Cancel the valid prescriptions** of {ingredient_name(prop.ingredient, lang)} the schedule "
            f"replaces: {names} (the suggestion ends them).")


def _detail(prop: TaperProposal, facts: PatientFacts, ctx: RuleContext, lang: str) -> str:
    sv = lang == "sv"
    days = facts.episode.days
    name = ingredient_name(prop.ingredient, lang)
    # Without care plans we only know that no plan was *found* (data gap): say so, not "there is none".
    unsure = "carePlans" in facts.data_gaps
    no_plan = (
        ("ingen nedtrappningsplan hittades (vårdplaner kunde inte hämtas)" if unsure else "det finns ingen nedtrappningsplan")
        if sv
        else ("no taper plan was found (care plans could not be retrieved)" if unsure else "there is no taper plan")
    )
    why_plan = (
        f"Patienten har använt opioider i {days} dagar ({exposure_text(facts.episode.exposure, lang)}) och "
        f"{no_plan}. Receptförnyelse innebär samma ansvar som insättning."
        if sv
        else f"The patient has used opioids for {days} days ({exposure_text(facts.episode.exposure, lang)}) "
        f"and {no_plan}. Renewing carries the same responsibility as starting."
    )
    parts: list[str] = []
    schedule = prop.schedule
    if schedule is None:
        reason = _NO_STEPS_TEXT.get(prop.problem or "", _NO_STEPS_TEXT["no-strengths-known"])[lang]
        if prop.problem == "dose-implausible":
            reason = reason.format(dose=fmt_daily_dose(prop.dose.amount, prop.dose.unit, lang))
        lead = (
            f"**Gör en nedtrappningsplan för {name}.** {why_plan} {reason}"
            if sv
            else f"**Make a taper plan for {name}.** {why_plan} {reason}"
        )
        parts.append(lead)
        default = _default_pace_value(facts, prop.ingredient)
        if default:
            parts.append(
                bullets(
                    [
                        _pace_line(default, lang),
                        _several_opioids(facts, prop, lang),
                        _as_needed(facts, prop, lang),
                    ]
                )
            )
    else:
        start = fmt_daily_dose(schedule.start_dose, schedule.unit, lang)
        total_days = schedule.total_days
        lead = (
            f"**Föreslagen nedtrappning av {name}: {start} → 0 på {fmt_days(total_days, lang)}, "
            f"klar {fmt_date(schedule.end, lang)}.** {why_plan}"
            if sv
            else f"**Proposed taper of {name}: {start} → 0 over {fmt_days(total_days, lang)}, "
            f"ending {fmt_date(schedule.end, lang)}.** {why_plan}"
        )
        parts.append(lead)
        parts.append(taper_table(schedule, lang))
        pace = _pace_value(schedule)
        basis = {
            "record": _record_basis(facts, prop),
            "draft": ("enligt utkastet (journalens dos okänd)", "from the draft (record dose unknown)"),
        }.get(prop.dose_basis, ("", ""))
        lines = [
            _pace_line(pace, lang),
            (f"**Startdos:** {start} {basis[0]}." if sv else f"**Starting dose:** {start} {basis[1]}."),
            (f"**Beräknat slut:** {fmt_date(schedule.end, lang)}." if sv
             else f"**Projected end:** {fmt_date(schedule.end, lang)}."),
        ]
        if total_days is not None and total_days > ctx.settings.long_taper_days:
            lines.append(
                "**Längre än ett halvår:** en alltför utdragen nedtrappning ger onödigt lidande – "
                "överväg snabbare takt."
                if sv
                else "**Longer than half a year:** an overly drawn-out taper causes needless suffering – "
                "consider a faster pace."
            )
        lines.append(_switch_line(prop, lang))
        for code in schedule.warnings:
            if code in _SCHEDULE_NOTES:
                lines.append(_SCHEDULE_NOTES[code][lang])
        lines.append(_several_opioids(facts, prop, lang))
        lines.append(_as_needed(facts, prop, lang))
        lines.append(_read_from_text(facts, prop, lang))
        lines.append(_valid_prescriptions_line(facts, prop, lang))
        parts.append(bullets(lines))
    parts.append(_agreement(lang))
    if schedule is not None:
        parts.append(_dispensing(schedule, lang))
    parts.append(_support(lang))
    return "\n\n".join(parts)


def _default_pace_value(facts: PatientFacts, ingredient: str | None) -> str | None:
    return getattr(default_pace(facts.episode.exposure, ingredient), "value", None)


def _facts(prop: TaperProposal, facts: PatientFacts, ctx: RuleContext) -> dict[str, Any]:
    schedule = prop.schedule
    out: dict[str, Any] = {
        "exposureDays": facts.episode.days,
        "draftDailyDose": prop.draft.daily_dose.amount,
        "startDailyDose": prop.dose.amount,
        "unit": prop.dose.unit,
        "doseBasis": prop.dose_basis,
        "opioidCount": len(opioid_ingredients(facts)),
        "taperSteps": schedule.as_extension() if schedule is not None else None,
        "pace": _pace_value(schedule) if schedule is not None else None,
        "projectedEnd": schedule.end.isoformat() if schedule is not None and schedule.end else None,
        "taperDays": schedule.total_days if schedule is not None else None,
        "alternativePaces": [_pace_value(s) for _, s in prop.alternatives],
        "asNeeded": [
            {"display": o.drug.display, "maxDailyDose": o.daily_dose.prn_amount, "unit": o.daily_dose.unit}
            for o in facts.regimen.prn_opioids
        ],
        "validPrescriptionsEnded": [o.id for o in valid_prescriptions(facts, prop.ingredient)],
        # The draft's strength per unit and where it came from, when its dose was counted in units
        # (fhir_mappings.read.medication: Medication, RxNorm, text, products table).
        "draftStrength": _strength_fact(prop.draft),
        "formulationSwitch": formulation_switch(prop),
    }
    if schedule is not None and schedule.total_days is not None:
        out["longTaper"] = schedule.total_days > ctx.settings.long_taper_days
    return out


def _strength_fact(order: MedicationOrder) -> dict[str, Any] | None:
    drug = order.drug
    if drug.strength is None:
        return None
    return {"strength": drug.strength, "unit": drug.strength_unit, "source": drug.strength_source,
            "counted": order.daily_dose.counted}


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    prop = proposal(facts, ctx)
    if prop is None:
        return []
    days = facts.episode.days
    sv_name = ingredient_name(prop.ingredient, "sv")
    en_name = ingredient_name(prop.ingredient, "en")
    # A draft of a form the patient does not take yet (an as-needed add-on) is no renewal: say so.
    renews = any(ingredient_key(o) == ingredient_key(prop.draft) and o.drug.form == prop.draft.drug.form
                 for o in facts.regimen.replaced)
    what_sv, what_en = ("Förnyelse", "Renewal") if renews else ("Ny ordination", "New order")
    return [
        Finding(
            topic=TOPIC,
            indicator="warning",
            summary=loc(
                f"{what_sv} av {sv_name} efter {days} dagars användning – nedtrappningsplan saknas",
                f"{what_en} of {en_name} after {days} days of use – no taper plan",
            ),
            detail=localized(lambda lang: _detail(prop, facts, ctx, lang)),
            guideline=RJL,
            section="När behövs nedtrappning?",
            facts=_facts(prop, facts, ctx),
            suggestions=_suggestions(prop, facts, ctx),
            selection_behavior="at-most-one",
            override_reasons=("not-long-term", "plan-elsewhere", "patient-declines", "palliative", "clinical-judgement"),
        )
    ]
