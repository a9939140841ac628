"""taper-early-renewal in words: a renewal before the previous supply runs out; lost medication is not
replaced.

The rule (cds_service/rules/taper_early_renewal.py) decides and gives ``Verdict``: the renewal, the
days of supply left once it can be collected (None: the supply end is unknown) and the draft to
remove. The words are the catalogs' ``early-renewal.*`` entries [RJL "Allmänna principer och viktigt
att tänka på"] "Ersätt aldrig borttappat läkemedel!"; [RJL "Praktiska tips och trix"] (small
dispensings with a set interval). "Uttag" only when the supply end comes from a dispensing.
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.cards.phrases import fmt_date, fmt_days
from cds_service.rules.finding import Action, Finding, Suggestion
from cds_service.rules.taper_early_renewal import TOPIC, Verdict

from cds_service.cards.words import LANGUAGES, N_, text


def _both(msgid: str) -> dict[str, str]:
    return {lang: text(msgid, lang) for lang in LANGUAGES}


def summary(v: Verdict, lang: str) -> str:
    if v.days_left is None:
        return text("early-renewal.summary.unknown", lang)
    end = fmt_date(v.renewal.supply_end, lang)
    if v.renewal.dispensed:
        return text("early-renewal.summary.dispensing", lang, end=end)
    return text("early-renewal.summary.prescription", lang, end=end)


def detail(v: Verdict, lang: str) -> str:
    if v.days_left is None:
        return text("early-renewal.unknown", lang)
    r = v.renewal
    when = "" if v.from_today else text("early-renewal.from-collectable", lang, day=fmt_date(r.collectable, lang))
    fields = {"days": fmt_days(v.days_left, lang), "when": when, "end": fmt_date(r.supply_end, lang)}
    lasts = (text("early-renewal.lasts.dispensing", lang, **fields) if r.dispensed
             else text("early-renewal.lasts.prescription", lang, **fields))
    return lasts + " " + text("early-renewal.not-replaced", lang)


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    v: Verdict = finding.data
    return summary(v, lang), detail(v, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    v: Verdict = finding.data
    if not v.remove:
        return ()
    return (Suggestion(label=_both(N_("early-renewal.suggestion.remove")),
                       actions=(Action("delete", _both(N_("early-renewal.action.remove")), resource_id=v.remove),)),)


__all__ = ["TOPIC", "words", "suggestions"]
