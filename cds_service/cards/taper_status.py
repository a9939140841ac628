"""taper-status in words: where a running taper stands, a planned one's start, follow-up after one ended.

The rule (cds_service/rules/taper_status.py) decides the phase and gives ``Running``, ``Planned`` or
``Ended``; the words are the catalogs' ``taper-status.*`` entries [RJL "Allmänna principer och viktigt
att tänka på"]: weekly check-ins, never a higher dose during the taper (extend the step instead), and
post-withdrawal for up to 6 months after it.
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.cards.phrases import fmt_daily_dose, fmt_date, ingredient_name
from cds_service.rules.finding import Finding, Suggestion
from cds_service.cards.phrases import bullet
from cds_service.rules.taper_status import TOPIC, Ended, Planned, Running

from cds_service.cards.words import ntext, text


def _sentence(s: str) -> str:
    """A summary that opens with the drug's name (English) starts with a capital letter."""
    return s[:1].upper() + s[1:]


def _every(days: int, lang: str) -> str:
    if days == 7:
        return text("taper-status.every-week", lang)
    return text("taper-status.every-days", lang, days=days)


def _running(r: Running, lang: str) -> tuple[str, str]:
    drug = ingredient_name(r.ingredient, lang)
    dose = fmt_daily_dose(r.dose, r.unit, lang)
    where = text("taper-status.where", lang, n=r.step_number, steps=r.steps)
    nxt = r.next_step
    if nxt is not None:
        next_dose = fmt_daily_dose(nxt.daily_dose.amount, nxt.daily_dose.unit, lang)
        upcoming = text("taper-status.running.next", lang, date=fmt_date(nxt.start, lang), dose=next_dose)
        change = text("taper-status.running.next-change", lang, date=fmt_date(nxt.start, lang), dose=next_dose)
    else:
        upcoming = text("taper-status.running.last", lang, date=fmt_date(r.step_end, lang))
        change = text("taper-status.running.last-step", lang)
    summary = _sentence(text("taper-status.running.summary", lang, drug=drug, where=where, dose=dose, next=upcoming))
    lines = [
        text("taper-status.running.today", lang, where=where, dose=dose),
        change,
        text("taper-status.planned-end", lang, date=fmt_date(r.plan_end, lang)),
        text("taper-status.running.follow-up", lang, every=_every(r.follow_up_days, lang)),
    ]
    if r.record_dose is not None:
        record = fmt_daily_dose(r.record_dose, r.unit, lang)
        if r.record_above:
            lines.append(text("taper-status.record-above", lang, dose=record))
        else:
            lines.append(text("taper-status.record-below", lang, dose=record))
    detail = "\n\n".join((text("taper-status.running.lead", lang), bullet(lines),
                          text("taper-status.running.advice", lang)))
    return summary, detail


def _planned(p: Planned, lang: str) -> tuple[str, str]:
    drug = ingredient_name(p.ingredient, lang)
    dose = fmt_daily_dose(p.dose, p.unit, lang)
    start = fmt_date(p.start, lang)
    summary = _sentence(text("taper-status.planned.summary", lang, drug=drug, date=start, dose=dose))
    lines = [
        text("taper-status.planned.start", lang, date=start, steps=p.steps, dose=dose),
        text("taper-status.planned-end", lang, date=fmt_date(p.plan_end, lang)),
        text("taper-status.planned.follow-up", lang, every=_every(p.follow_up_days, lang)),
    ]
    return summary, "\n\n".join((text("taper-status.planned.lead", lang), bullet(lines)))


def _ended(e: Ended, lang: str) -> tuple[str, str]:
    drug = ingredient_name(e.ingredient, lang)
    ended = fmt_date(e.ended, lang)
    summary = _sentence(text("taper-status.ended.summary", lang, drug=drug, date=ended))
    lines = [
        ntext("taper-status.ended.on", "taper-status.ended.on.plural", e.days_since, lang, date=ended),
        text("taper-status.ended.post-withdrawal", lang),
    ]
    if e.acute:
        lines.append(text("taper-status.ended.acute", lang))
    if e.plan_open:
        lines.append(text("taper-status.ended.plan-open", lang))
    if e.still_in_effect:
        lines.append(text("taper-status.ended.still-in-effect", lang, drug=drug))
    return summary, "\n\n".join((text("taper-status.ended.lead", lang), bullet(lines)))


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    data = finding.data
    if isinstance(data, Running):
        return _running(data, lang)
    if isinstance(data, Planned):
        return _planned(data, lang)
    return _ended(data, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    return ()  # the planner link (cds_service/web/planner) carries the taper forward


__all__ = ["TOPIC", "words", "suggestions"]
