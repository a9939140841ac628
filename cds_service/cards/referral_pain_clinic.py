"""referral-pain-clinic in words: the stalled taper, the pain clinic's entry criteria as a checklist, the
referral pre-filled.

The rule (cds_service/rules/referral_pain_clinic.py) decides and gives ``Stall``; the words are the
catalogs' ``pain-clinic.*`` entries [RJL "Hjälp och kontaktvägar"]. The ServiceRequest is written in
Swedish whatever the card's language: it goes into a Swedish record (cds_service.cards.referrals).
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts
from cds_service.cards.phrases import fmt_daily_dose, fmt_number
from cds_service.rules.finding import Finding, Suggestion
from cds_service.rules.referrals import Tried
from cds_service.rules.taper_state import TaperProgress
from cds_service.cards.phrases import total_medd_text, treatment_label, tried_note
from cds_service.rules.referral_pain_clinic import MET, NOT_SHOWN, TOPIC, UNDECIDED, UNKNOWABLE, Requirement, Stall

from cds_service.cards.referrals import referral_suggestions
from cds_service.cards.words import LANGUAGES, N_, text

_STATE = {
    MET: N_("pain-clinic.state.met"),
    NOT_SHOWN: N_("pain-clinic.state.not-shown"),
    UNDECIDED: N_("pain-clinic.state.undecided"),
    UNKNOWABLE: N_("pain-clinic.state.unknowable"),
}
_REQUIREMENT = {
    "paracetamol": N_("pain-clinic.requirement.paracetamol"),
    "nsaid": N_("pain-clinic.requirement.nsaid"),
    "neuropathic": N_("pain-clinic.requirement.neuropathic"),
    "comorbidityManaged": N_("pain-clinic.requirement.comorbidity-managed"),
    "multimodal": N_("pain-clinic.requirement.multimodal"),
    "painSchool": N_("pain-clinic.requirement.pain-school"),
    "physiotherapy": N_("pain-clinic.requirement.physiotherapy"),
    "painWorkUp": N_("pain-clinic.requirement.pain-work-up"),
    "motivation": N_("pain-clinic.requirement.motivation"),
}


def requirement(r: Requirement, s: Stall, lang: str) -> str:
    if r.key == "meddAtMostLimit":
        return text("pain-clinic.requirement.medd-at-most-limit", lang, limit=fmt_number(s.limit, lang))
    return text(_REQUIREMENT[r.key], lang)


def _tried_note(t: Tried, lang: str) -> str:
    """When and at what doses a treatment was prescribed (the record never shows its effect)."""
    return tried_note(t, lang) if t.tried else ""


def note(r: Requirement, s: Stall, lang: str) -> str:
    """What the record shows for the requirement; empty when it shows nothing."""
    if r.key == "meddAtMostLimit":
        return total_medd_text(s.total, lang)
    if r.key in ("paracetamol", "nsaid"):
        return _tried_note(r.tried[0], lang)
    if r.key == "neuropathic":
        return ", ".join(treatment_label(t.treatment, lang) for t in r.tried)
    if r.codes:
        return text("pain-clinic.note.diagnoses", lang, codes=", ".join(r.codes))
    return ""


def table(s: Stall, lang: str) -> str:
    lines = [text("pain-clinic.table-head", lang), "|---|---|"]
    rows = [(requirement(r, s, lang), r.state, note(r, s, lang)) for r in s.checklist]
    # The requirements the record can never show go on one row: scannable, and nothing to decide.
    plain_unknowable = [row for row in rows if row[1] == UNKNOWABLE and not row[2]]
    rows = [row for row in rows if row not in plain_unknowable]
    if plain_unknowable:
        joined = ", ".join(row[0] for row in plain_unknowable)
        rows.append((joined[0].upper() + joined[1:].lower(), UNKNOWABLE, ""))
    for req, state, remark in rows:
        cell = text(_STATE[state], lang)
        if state == MET:
            cell = "✓ " + cell
        if remark:
            cell += f" ({remark})"
        lines.append(f"| {req} | {cell} |")
    return "\n".join(lines)


def _where(p: TaperProgress, lang: str) -> str:
    if p.step is not None and p.step_number is not None:
        return text("pain-clinic.where.step", lang, number=p.step_number, steps=p.steps)
    return text("pain-clinic.where.ended", lang)


def summary(s: Stall, lang: str) -> str:
    p = s.progress
    return text("pain-clinic.summary", lang, current=fmt_daily_dose(p.current, p.unit, lang),
                target=fmt_daily_dose(p.target, p.unit, lang))


def detail(s: Stall, lang: str) -> str:
    p = s.progress
    parts = [
        text("pain-clinic.stalled", lang, current=fmt_daily_dose(p.current, p.unit, lang),
             target=fmt_daily_dose(p.target, p.unit, lang), where=_where(p, lang)),
        text("pain-clinic.requirements", lang, table=table(s, lang)),
        text("pain-clinic.advice", lang),
    ]
    if s.psychiatry_first:
        parts.append(text("pain-clinic.psychiatry-first", lang))
    return "\n\n".join(parts)


def question(s: Stall, lang: str) -> str:
    """The referral's question: pain treatment that supports the stalled taper."""
    p = s.progress
    return text("pain-clinic.question", lang, current=fmt_daily_dose(p.current, p.unit, lang),
                target=fmt_daily_dose(p.target, p.unit, lang))


def words(finding: Finding, facts: PatientFacts, lang: str) -> tuple[str, str]:
    s: Stall = finding.data
    return summary(s, lang), detail(s, lang)


def suggestions(finding: Finding, facts: PatientFacts) -> tuple[Suggestion, ...]:
    s: Stall = finding.data
    return referral_suggestions(facts, finding.proposals, {lang: question(s, lang) for lang in LANGUAGES})


__all__ = ["TOPIC", "words", "suggestions"]
