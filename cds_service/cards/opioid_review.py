"""opioid-review in words: where the patient stands (each opioid, the total, the duration) and what to
do (review, a treatment plan, a taper at the pace the exposure calls for).

The rule (cds_service/rules/opioid_review.py) decides and gives ``Standing``; the words are the
catalogs' ``opioid-review.*`` entries [RJL, opening; "När behövs nedtrappning?"]. The table's pipes
and the list's numbers are markdown, not words: they stay here.
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.cards.phrases import drug_name, fmt_daily_dose, fmt_medd, fmt_number
from cds_service.rules.finding import Finding, Suggestion
from cds_service.rules.opioid_review import TOPIC, Pace, Standing
from cds_service.cards.phrases import bullet, duration_text, total_medd_text

from cds_service.cards.words import text


def table(s: Standing, facts: PatientFacts, lang: str) -> str:
    lines = [text("opioid-review.table.head", lang), "|---|---|---|"]
    for o in facts.regimen.opioids:
        dose = fmt_daily_dose(o.daily_dose.amount, o.daily_dose.unit, lang)
        if o.daily_dose.known and o.daily_dose.prn:
            dose = text("opioid-review.table.as-needed", lang, dose=dose)
        medd = fmt_medd(o.medd.value, lang, suffix=False)
        lines.append(f"| {drug_name(o.drug, lang)} | {dose} | {medd} |")
    label = text("opioid-review.table.total", lang)
    total = total_medd_text(s.total, lang).replace(" MEDD", "")
    lines.append(f"| **{label}** | | **{total}** |")
    return "\n".join(lines)


def pace_text(s: Standing, lang: str) -> str:
    pace = (text("opioid-review.pace.very-slow", lang) if s.pace is Pace.VERY_SLOW
            else text("opioid-review.pace.slow", lang))
    if s.tramadol:
        pace = text("opioid-review.pace.with-tramadol", lang, pace=pace)
    return pace


def summary(s: Standing, lang: str) -> str:
    total = s.total
    if total.value is not None or not total.complete:
        return text("opioid-review.summary", lang, days=s.days,
                    medd=fmt_medd(total.value, lang, complete=total.complete))
    return text("opioid-review.summary-no-medd", lang, days=s.days)


def detail(s: Standing, facts: PatientFacts, lang: str) -> str:
    situation = [text("opioid-review.use", lang, duration=duration_text(facts, lang))]
    if s.total.unknown:
        situation.append(text("opioid-review.medd-minimum", lang, unknown=", ".join(s.total.unknown)))
    if s.over_limit:
        situation.append(text("opioid-review.over-limit", lang, limit=fmt_number(s.limit, lang)))
    todo = [
        text("opioid-review.todo.review", lang),
        text("opioid-review.todo.treatment-plan", lang),
        text("opioid-review.todo.taper", lang, pace=pace_text(s, lang)),
    ]
    return "\n\n".join([
        text("opioid-review.lead", lang, days=s.days),
        table(s, facts, lang) if facts.regimen.opioids else text("opioid-review.no-opioids", lang),
        bullet(situation),
        text("opioid-review.todo", lang, steps="\n".join(f"{i}. {line}" for i, line in enumerate(todo, 1))),
    ])


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    s: Standing = finding.data
    return summary(s, lang), detail(s, facts, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    """None: on patient-view nothing is being ordered (the taper plan is taper-plan-missing's)."""
    return ()


__all__ = ["TOPIC", "words", "suggestions"]
