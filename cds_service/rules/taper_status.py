"""taper-status — where a running taper stands, or follow-up after a recent one (patient-view).

Source: [RJL "Allmänna principer och viktigt att tänka på"] "Tät uppföljning och coaching … vid en kort
avstämning varje vecka", "Öka aldrig dosen under en pågående nedtrappning! … kan steget istället
förlängas", "Uppföljning bör ske även efter utsättning … Den akuta opioidabstinensen är vanligen över
inom 1-2 veckor. I vissa fall kvarstår s.k. post-abstinens i upp till 6 månader … nedstämdhet,
energilöshet och svårigheter att känna lust, motivation och glädje"; clinical-rules §2.

When (patient not excluded)
  - an active taper plan exists and its schedule has not ended → "running" (a step in effect today:
    step n of N, today's dose, next change date and dose, weekly check-in every
    ``settings.follow_up_days`` days) or "planned" (first step still ahead), or
  - a taper ended within ``settings.post_withdrawal_days`` (about 6 months): the active plan's schedule
    is over, or a previous taper ended (outcome not "failed") → "ended": post-withdrawal follow-up
Then
  - info with the status.

Decisions: a failed taper is not followed up as post-withdrawal (the patient is likely still on the
opioid; referral cards deal with failures). When the record's dose of the tapered ingredient differs
from today's step, the status says so (the referral-pain-clinic card judges the stall). Only the most
recent ended taper is shown.
"""
from __future__ import annotations

from datetime import date

from cds_service.domain.model import PatientFacts, TaperPlan

from cds_service.domain.hooks import PATIENT_VIEW
from cds_service.domain.guidelines import RJL
from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules.common import fmt_daily_dose, fmt_date, ingredient_name, taper_end
from cds_service.rules.referral_common import TaperProgress, bullet, taper_progress

TOPIC = "taper-status"
HOOKS = frozenset({PATIENT_VIEW})

RUNNING, PLANNED, ENDED = "running", "planned", "ended"


def recent_end(facts: PatientFacts, ctx: RuleContext) -> tuple[TaperPlan, date] | None:
    """The most recent taper that ended within the post-withdrawal window (not failed)."""
    window = ctx.settings.post_withdrawal_days
    candidates = []
    plans = list(facts.previous_tapers)
    if facts.taper_plan is not None:
        plans.append(facts.taper_plan)
    for p in plans:
        end = taper_end(p)
        if p.outcome == "failed" or end is None:
            continue
        if end < ctx.today and (ctx.today - end).days <= window:
            candidates.append((p, end))
    return max(candidates, key=lambda c: c[1]) if candidates else None


def phase(facts: PatientFacts, ctx: RuleContext) -> str | None:
    p = taper_progress(facts, ctx.today)
    if p is not None and p.running:
        return RUNNING
    if p is not None and not p.ended and p.plan.steps and p.plan.steps[0].start and p.plan.steps[0].start > ctx.today:
        return PLANNED
    if recent_end(facts, ctx) is not None:
        return ENDED
    return None


def inclusion_criteria(facts: PatientFacts, ctx: RuleContext) -> bool:
    return phase(facts, ctx) is not None


def exclusion_criteria(facts: PatientFacts) -> bool:
    return facts.excluded


def is_applicable(facts: PatientFacts, ctx: RuleContext) -> bool:
    return inclusion_criteria(facts, ctx) and not exclusion_criteria(facts)


def _every(days: int, lang: str) -> str:
    if days == 7:
        return "varje vecka" if lang == "sv" else "every week"
    return f"var {days}:e dag" if lang == "sv" else f"every {days} days"


def _record_note(p: TaperProgress, lang: str) -> str | None:
    if p.current is None or p.target is None or abs(p.current - p.target) < 1e-9:
        return None
    cur = fmt_daily_dose(p.current, p.unit, lang)
    higher = p.current > p.target
    if lang == "sv":
        return f"Dygnsdos i journalen: {cur} – {'över' if higher else 'under'} dagens steg."
    return f"Daily dose in the record: {cur} – {'above' if higher else 'below'} today's step."


def _running(facts: PatientFacts, ctx: RuleContext, p: TaperProgress):
    drug = {lang: ingredient_name(p.plan.ingredient, lang) for lang in ("sv", "en")}
    today = {lang: fmt_daily_dose(p.target, p.unit, lang) for lang in ("sv", "en")}
    nxt = p.next_step
    every = ctx.settings.follow_up_days
    summary, detail = {}, {}
    for lang in ("sv", "en"):
        sv = lang == "sv"
        where = f"steg {p.step_number} av {p.steps}" if sv else f"step {p.step_number} of {p.steps}"
        if nxt is not None:
            nd = fmt_daily_dose(nxt.daily_dose.amount, nxt.daily_dose.unit, lang)
            next_text = (f"nästa steg {fmt_date(nxt.start)} ({nd})" if sv else f"next step {fmt_date(nxt.start)} ({nd})")
        else:
            end = p.step.end if p.step else None
            next_text = (f"sista steget, till {fmt_date(end)}" if sv else f"last step, until {fmt_date(end, 'en')}")
        summary[lang] = (
            f"Nedtrappning av {drug[lang]} pågår: {where}, {today[lang]} i dag, {next_text}"
            if sv
            else f"{drug[lang].capitalize()} taper running: {where}, {today[lang]} today, {next_text}"
        )
        lines = [
            (f"I dag: {where}, {today[lang]}" if sv else f"Today: {where}, {today[lang]}"),
            (
                f"Nästa ändring: {fmt_date(nxt.start)} till "
                f"{fmt_daily_dose(nxt.daily_dose.amount, nxt.daily_dose.unit, lang)}"
                if sv
                else f"Next change: {fmt_date(nxt.start, 'en')} to "
                f"{fmt_daily_dose(nxt.daily_dose.amount, nxt.daily_dose.unit, lang)}"
            )
            if nxt is not None
            else ("Sista steget – sedan utsatt" if sv else "Last step – then stopped"),
            (f"Planerat slut: {fmt_date(p.last_end, lang)}" if sv else f"Planned end: {fmt_date(p.last_end, lang)}"),
            (f"Uppföljning: kort avstämning {_every(every, lang)}"
             if sv else f"Follow-up: a short check-in {_every(every, lang)}"),
        ]
        note = _record_note(p, lang)
        if note:
            lines.append(note)
        advice = (
            "Öka aldrig dosen under nedtrappningen; blir abstinensen för jobbig kan steget förlängas någon "
            "extra vecka. Inga extra tabletter eller vid behovsdoser."
            if sv
            else "Never raise the dose during the taper; if withdrawal is too hard, extend the step by a week "
            "or more. No extra tablets or as-needed doses."
        )
        lead = "**Nedtrappning pågår.**" if sv else "**Taper running.**"
        detail[lang] = f"{lead}\n\n{bullet(lines)}\n\n{advice}"
    return summary, detail


def _planned(facts: PatientFacts, ctx: RuleContext, p: TaperProgress):
    first = p.plan.steps[0]
    drug = {lang: ingredient_name(p.plan.ingredient, lang) for lang in ("sv", "en")}
    summary, detail = {}, {}
    for lang in ("sv", "en"):
        sv = lang == "sv"
        dose = fmt_daily_dose(first.daily_dose.amount, first.daily_dose.unit, lang)
        summary[lang] = (
            f"Nedtrappning av {drug[lang]} planerad: start {fmt_date(first.start)} med {dose}"
            if sv
            else f"{drug[lang].capitalize()} taper planned: starts {fmt_date(first.start, 'en')} at {dose}"
        )
        lines = [
            (f"Start: {fmt_date(first.start)}, steg 1 av {p.steps}: {dose}" if sv
             else f"Start: {fmt_date(first.start, 'en')}, step 1 of {p.steps}: {dose}"),
            (f"Planerat slut: {fmt_date(p.last_end, lang)}" if sv else f"Planned end: {fmt_date(p.last_end, lang)}"),
            (f"Uppföljning: kort avstämning {_every(ctx.settings.follow_up_days, lang)} under nedtrappningen"
             if sv else f"Follow-up: a short check-in {_every(ctx.settings.follow_up_days, lang)} during the taper"),
        ]
        lead = "**Nedtrappning planerad.**" if sv else "**Taper planned.**"
        detail[lang] = f"{lead}\n\n{bullet(lines)}"
    return summary, detail


def _ended(facts: PatientFacts, ctx: RuleContext, plan: TaperPlan, end: date):
    since = (ctx.today - end).days
    drug = {lang: ingredient_name(plan.ingredient, lang) for lang in ("sv", "en")}
    summary, detail = {}, {}
    for lang in ("sv", "en"):
        sv = lang == "sv"
        summary[lang] = (
            f"Nedtrappning av {drug[lang]} avslutad {fmt_date(end)} – följ upp post-abstinens (upp till 6 månader)"
            if sv
            else f"{drug[lang].capitalize()} taper ended {fmt_date(end, 'en')} – follow up post-withdrawal (up to 6 months)"
        )
        lines = [
            (f"Avslutad: {fmt_date(end)} ({since} dagar sedan)" if sv else f"Ended: {fmt_date(end, 'en')} ({since} days ago)"),
            (
                "Post-abstinens kan kvarstå i upp till 6 månader: nedstämdhet, energilöshet och "
                "svårigheter att känna lust, motivation och glädje."
                if sv
                else "Post-withdrawal can last up to 6 months: low mood, low energy and difficulty feeling "
                "desire, motivation and joy."
            ),
        ]
        if since <= 14:
            lines.append(
                "Den akuta abstinensen är vanligen över inom 1–2 veckor."
                if sv
                else "Acute withdrawal usually passes within 1–2 weeks."
            )
        if plan.status == "active":
            lines.append(
                "Planen är fortfarande aktiv i journalen – avsluta den om nedtrappningen är klar."
                if sv
                else "The plan is still active in the record – close it if the taper is done."
            )
        still = [o for o in facts.regimen.record_opioids if plan.ingredient is None or o.drug.ingredient == plan.ingredient]
        if still:
            lines.append(
                f"Journalen visar fortfarande {drug[lang]} i effekt – stäm av med patienten."
                if sv
                else f"The record still shows {drug[lang]} in effect – check with the patient."
            )
        lead = "**Följ upp efter nedtrappningen.**" if sv else "**Follow up after the taper.**"
        detail[lang] = f"{lead}\n\n{bullet(lines)}"
    return summary, detail, since


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    if not is_applicable(facts, ctx):
        return []
    ph = phase(facts, ctx)
    p = taper_progress(facts, ctx.today)
    out_facts: dict = {"phase": ph, "followUpDays": ctx.settings.follow_up_days}
    if ph == RUNNING:
        assert p is not None
        summary, detail = _running(facts, ctx, p)
        out_facts.update(
            stepNumber=p.step_number,
            steps=p.steps,
            todayStepDose=p.target,
            unit=p.unit,
            nextStepDate=p.next_step.start.isoformat() if p.next_step and p.next_step.start else None,
            nextStepDose=p.next_step.daily_dose.amount if p.next_step else None,
            planEnd=p.last_end.isoformat() if p.last_end else None,
            currentDailyDose=p.current,
        )
    elif ph == PLANNED:
        assert p is not None
        summary, detail = _planned(facts, ctx, p)
        first = p.plan.steps[0]
        out_facts.update(
            steps=p.steps,
            startDate=first.start.isoformat() if first.start else None,
            startDose=first.daily_dose.amount,
            unit=first.daily_dose.unit,
            planEnd=p.last_end.isoformat() if p.last_end else None,
        )
    else:
        found = recent_end(facts, ctx)
        assert found is not None
        plan, end = found
        summary, detail, since = _ended(facts, ctx, plan, end)
        out_facts.update(endedOn=end.isoformat(), daysSinceEnd=since, postWithdrawalDays=ctx.settings.post_withdrawal_days)
    return [
        Finding(
            topic=TOPIC,
            indicator="info",
            summary=summary,
            detail=detail,
            guideline=RJL,
            section="Allmänna principer och viktigt att tänka på",
            facts=out_facts,
            override_reasons=("follow-up-planned", "data-incorrect"),
        )
    ]
