"""taper-plan-missing in words: the proposed schedule as a table, the pace and why, the start dose, the
agreement with the patient, dispensing and withdrawal support; one suggestion per pace.

The rule (cds_service/rules/taper_plan_missing.py) decides and gives ``MissingPlan`` and one
``TaperOption`` per pace; the words are the catalogs' ``taper-plan.*`` entries [RJL "När behövs
nedtrappning?", "Vilka krav kan jag som läkare ställa?", "Praktiska tips och trix"]; clinical-rules
§1–§3, §6. The resources the suggestions create are written by ``cards.proposals``.
"""
from __future__ import annotations

from cds_service.domain.model import UG_PER_H, Form, MedicationOrder, PatientFacts
from cds_service.domain.taper import TaperSchedule
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
    localized,
    taper_table,
)
from cds_service.rules.finding import Action, Finding, Suggestion
from cds_service.rules.proposals import TaperOption
from cds_service.rules.taper_plan_missing import TOPIC, MissingPlan
from cds_service.rules.taper_start import formulation_switch, pace_value

from cds_service.cards.words import LANGUAGES, N_, text

_PACE = {
    "fast": N_("taper-plan.pace.fast"),
    "weekly": N_("taper-plan.pace.weekly"),
    "slow": N_("taper-plan.pace.slow"),
    "tramadol": N_("taper-plan.pace.tramadol"),
}
_PACE_WHY = {
    "fast": N_("taper-plan.pace-why.fast"),
    "weekly": N_("taper-plan.pace-why.weekly"),
    "slow": N_("taper-plan.pace-why.slow"),
    "tramadol": N_("taper-plan.pace-why.tramadol"),
}
# Why no schedule could be made, by reason code (rules.taper_start.NO_SCHEDULE).
_NO_SCHEDULE = {
    "no-dose": N_("taper-plan.no-schedule.no-dose"),
    "prn-only": N_("taper-plan.no-schedule.prn-only"),
    "no-ingredient": N_("taper-plan.no-schedule.no-ingredient"),
    "dose-below-smallest-strength": N_("taper-plan.no-schedule.dose-below-smallest-strength"),
    "no-strengths-known": N_("taper-plan.no-schedule.no-strengths-known"),
    "unit-mismatch": N_("taper-plan.no-schedule.unit-mismatch"),
    # {dose} is the starting dose (cds_service/domain/taper.py "Implausible doses": above the drug's ceiling).
    "dose-implausible": N_("taper-plan.no-schedule.dose-implausible"),
}
# Schedule warnings worth a line on the card (the long-taper one is decided with ClinicalSettings).
_SCHEDULE_NOTES = {
    "no-depot-formulation": N_("taper-plan.schedule-note.no-depot-formulation"),
    "start-dose-rounded-down": N_("taper-plan.schedule-note.start-dose-rounded-down"),
}
# Where the record's start dose was read (MissingPlan.dose_source).
_DOSE_SOURCE = {
    "orders": N_("taper-plan.start-dose.from-orders"),
    "list": N_("taper-plan.start-dose.from-list"),
    "dispensings": N_("taper-plan.start-dose.from-dispensings"),
}
_FORM = {
    Form.DEPOT: N_("taper-plan.form.depot"),
    Form.IMMEDIATE: N_("taper-plan.form.immediate"),
    Form.PATCH: N_("taper-plan.form.patch"),
    Form.SUBLINGUAL: N_("taper-plan.form.sublingual"),
    Form.INJECTION: N_("taper-plan.form.injection"),
}
_LABEL = {
    None: N_("taper-plan.label"),
    "faster": N_("taper-plan.label.faster"),
    "slower": N_("taper-plan.label.slower"),
}


def summary(c: MissingPlan, facts: PatientFacts, lang: str) -> str:
    name = ingredient_name(c.taper.ingredient, lang)
    msgid = N_("taper-plan.summary.renewal") if c.renews else N_("taper-plan.summary.new-order")
    return text(msgid, lang, name=name, days=facts.episode.days)


def _pace_line(pace: str | None, lang: str) -> str | None:
    if pace not in _PACE:
        return None
    return text("taper-plan.pace-line", lang, pace=text(_PACE[pace], lang), why=text(_PACE_WHY[pace], lang))


def _several_opioids(c: MissingPlan, facts: PatientFacts, lang: str) -> str | None:
    if not c.several_opioids:
        return None
    total = fmt_medd(facts.regimen.medd.value, lang, complete=facts.regimen.medd.complete)
    return text("taper-plan.several-opioids", lang, total=total, name=ingredient_name(c.taper.ingredient, lang))


def _as_needed(c: MissingPlan, lang: str) -> str | None:
    """Names the as-needed opioids and asks for their real consumption [RJL "Praktiska tips och trix"]."""
    if not c.as_needed:
        return None
    listed = "; ".join(
        text("taper-plan.as-needed.item", lang, drug=drug_name(o.drug, lang),
             dose=fmt_daily_dose(o.daily_dose.prn_amount, o.daily_dose.unit, lang))
        for o in c.as_needed
    )
    if c.taper.schedule is None:
        return text("taper-plan.as-needed.no-schedule", lang, listed=listed)
    return text("taper-plan.as-needed", lang, listed=listed)


def _names(orders: tuple[MedicationOrder, ...], lang: str) -> str:
    return ", ".join(dict.fromkeys(drug_name(o.drug, lang) for o in orders))


def _read_from_text(c: MissingPlan, lang: str) -> str | None:
    """Says when the start dose was read from a dosage written in words: the physician checks it."""
    if not c.read_from_text:
        return None
    return text("taper-plan.read-from-text", lang, names=_names(c.read_from_text, lang))


def _switch_line(c: MissingPlan, schedule: TaperSchedule, lang: str) -> str | None:
    switch = formulation_switch(c.taper)
    if switch is None:
        return None
    product = schedule.display if lang == "sv" or not schedule.product_en else schedule.product_en
    what = []
    if switch["leftOut"]:
        what.append(text("taper-plan.switch.without", lang,
                         names=", ".join(ingredient_name(k, lang) for k in switch["leftOut"])))
    if switch["added"]:
        what.append(text("taper-plan.switch.with", lang, names=", ".join(ingredient_name(k, lang) for k in switch["added"])))
    if switch["fromForm"] != switch["toForm"] and switch["fromForm"] != Form.UNKNOWN.value:
        a, b = _FORM.get(c.taper.draft.drug.form), _FORM.get(schedule.form)
        if a and b:
            what.append(f"{text(a, lang)} → {text(b, lang)}")
    was = clip(switch["from"], 80)
    if what:
        return text("taper-plan.switch-with-detail", lang, product=product, was=was, detail="; ".join(what))
    return text("taper-plan.switch", lang, product=product, was=was)


def _valid_prescriptions_line(c: MissingPlan, lang: str) -> str | None:
    if not c.valid:
        return None
    return text("taper-plan.valid-prescriptions", lang, name=ingredient_name(c.taper.ingredient, lang),
                names=_names(c.valid, lang))


def _dispensing(schedule: TaperSchedule, lang: str) -> str:
    if schedule.unit == UG_PER_H:
        form = text("taper-plan.dispensing.patch", lang)
    elif schedule.form is Form.DEPOT:
        form = text("taper-plan.dispensing.depot", lang)
    else:
        form = text("taper-plan.dispensing.other", lang)
    slow = pace_value(schedule) in ("slow", "tramadol")
    how = text(N_("taper-plan.dispensing.multi-dose") if slow else N_("taper-plan.dispensing.small"), lang)
    return text("taper-plan.dispensing", lang, form=form, how=how)


def _why_plan(facts: PatientFacts, lang: str) -> str:
    # Without care plans we only know that no plan was *found* (data gap): say so, not "there is none".
    unsure = "carePlans" in facts.data_gaps
    no_plan = text(N_("taper-plan.no-plan-found") if unsure else N_("taper-plan.no-plan"), lang)
    return text("taper-plan.why-plan", lang, days=facts.episode.days,
                exposure=exposure_text(facts.episode.exposure, lang), no_plan=no_plan)


def detail(c: MissingPlan, facts: PatientFacts, lang: str) -> str:
    prop = c.taper
    name = ingredient_name(prop.ingredient, lang)
    why = _why_plan(facts, lang)
    parts: list[str] = []
    schedule = prop.schedule
    if schedule is None:
        reason_id = _NO_SCHEDULE.get(prop.problem or "", _NO_SCHEDULE["no-strengths-known"])
        if prop.problem == "dose-implausible":
            reason = text(reason_id, lang, dose=fmt_daily_dose(prop.dose.amount, prop.dose.unit, lang))
        else:
            reason = text(reason_id, lang)
        parts.append(text("taper-plan.lead.no-schedule", lang, name=name, why=why, reason=reason))
        if c.pace:
            parts.append(bullets([_pace_line(c.pace, lang), _several_opioids(c, facts, lang), _as_needed(c, lang)]))
    else:
        start = fmt_daily_dose(schedule.start_dose, schedule.unit, lang)
        end = fmt_date(schedule.end, lang)
        parts.append(text("taper-plan.lead", lang, name=name, start=start,
                          duration=fmt_days(schedule.total_days, lang), end=end, why=why))
        parts.append(taper_table(schedule, lang))
        if prop.dose_basis == "record":
            basis = text(_DOSE_SOURCE[c.dose_source], lang)
        elif prop.dose_basis == "draft":
            basis = text("taper-plan.start-dose.from-draft", lang)
        else:
            basis = ""
        lines = [
            _pace_line(c.pace, lang),
            text("taper-plan.start-dose", lang, start=start, basis=basis),
            text("taper-plan.projected-end", lang, end=end),
        ]
        if c.long_taper:
            lines.append(text("taper-plan.long-taper", lang))
        lines.append(_switch_line(c, schedule, lang))
        lines += [text(_SCHEDULE_NOTES[code], lang) for code in schedule.warnings if code in _SCHEDULE_NOTES]
        lines += [_several_opioids(c, facts, lang), _as_needed(c, lang), _read_from_text(c, lang),
                  _valid_prescriptions_line(c, lang)]
        parts.append(bullets(lines))
    parts.append(text("taper-plan.agreement", lang))
    if schedule is not None:
        parts.append(_dispensing(schedule, lang))
    parts.append(text("taper-plan.support", lang))
    return "\n\n".join(parts)


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    c: MissingPlan = finding.data
    return summary(c, facts, lang), detail(c, facts, lang)


# The actions' fixed descriptions, made once: every call's three suggestions carry them.
_CAREPLAN = {lang: text("taper-plan.action.careplan", lang) for lang in LANGUAGES}
_ORDER = {lang: text("taper-plan.action.order", lang) for lang in LANGUAGES}
_REMOVE_RENEWAL = {lang: text("taper-plan.action.remove-renewal", lang) for lang in LANGUAGES}


def _ending(order: MedicationOrder):
    return localized(lambda lang: text("taper-plan.action.end-valid", lang, name=drug_name(order.drug, lang)))


def _suggestion(option: TaperOption, recommended: bool) -> Suggestion:
    """One pace's suggestion; its texts are made in the card's language only, when first read."""
    end = option.schedule.end
    actions = [
        Action("create", _CAREPLAN, proposal=option.plan),
        Action("create", _ORDER, proposal=option.order),
    ]
    if option.replaces:
        actions.append(Action("delete", _REMOVE_RENEWAL, resource_id=option.replaces))
    actions += [Action("update", _ending(stop.order), proposal=stop) for stop in option.stops]
    if option.restriction is not None:
        until = option.restriction.end
        actions.append(Action("create", localized(lambda lang: text("taper-plan.action.restriction", lang,
                                                                    end=fmt_date(until, lang))),
                              proposal=option.restriction))
    label = localized(lambda lang: text(_LABEL[option.direction], lang, end=fmt_date(end, lang)))
    return Suggestion(label=label, actions=tuple(actions), is_recommended=recommended)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    return tuple(_suggestion(o, o.direction is None) for o in finding.proposals if isinstance(o, TaperOption))


__all__ = ["TOPIC", "words", "suggestions"]
