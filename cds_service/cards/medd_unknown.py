"""medd-unknown in words: each opioid without a MEDD and why, the total as a lower bound ("minst X"),
the referral limit that could not be judged, name-only identifications and unidentified medications.

The rule (cds_service/rules/medd_unknown.py) decides and gives ``UnknownMedd``; the words are the
catalogs' ``medd-unknown.*`` entries [RJL "Praktiska tips och trix"], and why a MEDD is unknown is the
problem's own words (cards/problems.py): clinical-rules §4, never guess silently.
"""
from __future__ import annotations

from cds_service.domain.model import MedicationOrder, PatientFacts
from cds_service.cards.phrases import drug_name, fmt_medd, fmt_number
from cds_service.rules.finding import Finding, Suggestion
from cds_service.rules.medd_unknown import TOPIC, UnknownMedd
from cds_service.cards.phrases import bullet

from cds_service.cards.problems import problem_text
from cds_service.cards.words import N_, ntext, text

#: A drug's name in the summary is cut to this many characters (a summary stays under 140).
SUMMARY_NAME_MAX = 40

#: Where the strength a count of tablets was read with came from (``Drug.strength_source``).
_SOURCES = {
    "medication": N_("medd-unknown.source.medication"),
    "rxnorm": N_("medd-unknown.source.rxnorm"),
    "text": N_("medd-unknown.source.text"),
    "products-table": N_("medd-unknown.source.products-table"),
}


def _why(order: MedicationOrder, lang: str) -> str:
    """The Medd problem, or the dose's when the Medd has none."""
    return problem_text(order.medd.problem or order.daily_dose.problem, lang)


def strength_text(order: MedicationOrder, lang: str) -> str | None:
    """"30 mg per enhet enligt produkttabellen": the strength a count of tablets was read with."""
    drug = order.drug
    if drug.strength is None or not order.daily_dose.counted:
        return None
    unit = "µg/h" if drug.strength_unit == "ug/h" else drug.strength_unit
    strength = fmt_number(drug.strength, lang)
    source = _SOURCES.get(drug.strength_source or "")
    if source is None:
        return text("medd-unknown.strength", lang, strength=strength, unit=unit)
    return text("medd-unknown.strength-from", lang, strength=strength, unit=unit, source=text(source, lang))


def _short(name: str) -> str:
    return name if len(name) <= SUMMARY_NAME_MAX else name[: SUMMARY_NAME_MAX - 1] + "…"


def _being_ordered(name: str, order: MedicationOrder, lang: str) -> str:
    return text("medd-unknown.being-ordered", lang, name=name) if order.is_draft else name


def summary(u: UnknownMedd, lang: str) -> str:
    total = u.total
    if u.unknown:
        names = list(dict.fromkeys(drug_name(o.drug, lang) for o in u.unknown))  # one drug, two orders: one name
        who = _short(names[0]) if len(names) == 1 else text("medd-unknown.opioids", lang, n=len(names))
        if all(o.is_draft for o in u.unknown):
            who = text("medd-unknown.who-being-ordered", lang, who=who)
        return text("medd-unknown.summary.unknown", lang,
                    who=who, bound=fmt_medd(total.value, lang, complete=total.complete, suffix=False))
    if u.low_confidence:
        low = u.low_confidence
        who = _short(drug_name(low[0].drug, lang)) if len(low) == 1 else text("medd-unknown.opioids", lang, n=len(low))
        return ntext("medd-unknown.summary.low-confidence", "medd-unknown.summary.low-confidence.plural", len(low), lang, who=who)
    return text("medd-unknown.summary.unidentified", lang, total=fmt_medd(total.value, lang))


def _low_confidence_line(o: MedicationOrder, lang: str) -> str:
    medd = fmt_medd(o.medd.value, lang) if o.medd.value is not None else _why(o, lang)
    strength = strength_text(o, lang)
    return f"{drug_name(o.drug, lang)}: {medd}" + (f" ({strength})" if strength else "")


def detail(u: UnknownMedd, lang: str) -> str:
    total = u.total
    parts = []
    if u.unknown:
        parts.append(text("medd-unknown.unknown", lang,
                          bound=fmt_medd(total.value, lang, complete=total.complete, suffix=False)))
        parts.append(bullet(f"{_being_ordered(drug_name(o.drug, lang), o, lang)}: {_why(o, lang)}" for o in u.unknown))
        if u.undecided:
            parts.append(text("medd-unknown.limit-undecided", lang, limit=fmt_number(u.limit, lang)))
    if u.low_confidence:
        parts.append(text("medd-unknown.low-confidence", lang,
                          lines=bullet(_low_confidence_line(o, lang) for o in u.low_confidence)))
    if u.unidentified:
        parts.append(text("medd-unknown.unidentified", lang, lines=bullet(u.unidentified)))
    return "\n\n".join(parts)


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    u: UnknownMedd = finding.data
    return summary(u, lang), detail(u, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    return ()


__all__ = ["TOPIC", "words", "suggestions"]
