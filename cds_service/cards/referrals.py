"""A proposed referral in words: its content pre-filled from the record, and the suggestion that creates it.

What a referral must contain, per [VGR "Organisation på fyra vårdnivåer"] ("En remiss … ska
innehålla") and clinical-rules §5: the question, current opioids and doses, MEDD, duration, treatments
tried and their results as far as the record shows, previous tapers, diagnoses, and what the physician
must add because the record cannot show it. The words are the catalogs' ``referral.*`` entries.

The ServiceRequest is written in Swedish whatever the card's language (``Action.resource`` is one
resource, and it goes into a Swedish record); the suggestion's label and description are in both.
"""
from __future__ import annotations

from typing import Mapping

from cds_service.domain.model import PAIN_CLINIC, PSYCHIATRY, PatientFacts
from cds_service.cards.phrases import ingredient_name
from cds_service.rules.finding import Action, ReferralProposal, Suggestion
from cds_service.rules.referrals import treatments_tried
from cds_service.cards.phrases import duration_text, orders_text, taper_line, total_medd_text, tried_text

from cds_service.cards.proposals import ReferralRequest, resource_for
from cds_service.cards.words import LANGUAGES, N_, text

SV = "sv"

_TARGET = {
    PSYCHIATRY: N_("referral.target.psychiatry"),
    PAIN_CLINIC: N_("referral.target.pain-clinic"),
}

# What the record cannot show, and a referral to level 3/4 must contain [VGR "Organisation på fyra
# vårdnivåer"]; the pain clinic's prerequisites [RJL "Hjälp och kontaktvägar"] (clinical-rules §5).
_UNKNOWABLE = (
    N_("referral.unknowable.motivation"),
    N_("referral.unknowable.pain-work-up"),
    N_("referral.unknowable.effect"),
    N_("referral.unknowable.rehabilitation"),
    N_("referral.unknowable.decided-together"),
)


def diagnoses_lines(facts: PatientFacts, lang: str = SV) -> list[str]:
    """The diagnoses a referral names: substance use, psychiatric comorbidity, the long-term-pain code."""
    c = facts.conditions
    lines = []
    if c.substance_use:
        lines.append(text("referral.diagnoses.substance-use", lang, codes=", ".join(c.substance_use)))
    if c.psychiatric:
        lines.append(text("referral.diagnoses.psychiatric", lang, codes=", ".join(c.psychiatric)))
    if c.long_term_pain:
        lines.append(text("referral.diagnoses.long-term-pain", lang))
    else:
        lines.append(text("referral.diagnoses.no-long-term-pain", lang))
    return lines


def _bullets(lines: list[str]) -> list[str]:
    return [f"- {x}" for x in lines]


def referral_content(facts: PatientFacts, question: Mapping[str, str]) -> dict[str, str]:
    """The referral's text pre-filled from the record (plain text with simple dashes), in each language."""
    out: dict[str, str] = {}
    total = facts.regimen.medd
    for lang in LANGUAGES:
        lines = [text("referral.question", lang, question=question[lang]), ""]
        lines.append(text("referral.current-opioids", lang))
        lines += _bullets(orders_text(facts.regimen.opioids, lang)) or _bullets([text("referral.no-opioids", lang)])
        lines.append(text("referral.total-medd", lang, total=total_medd_text(total, lang)))
        if total.unknown:
            lines.append(text("referral.medd-unknown", lang, names=", ".join(total.unknown)))
        lines.append(text("referral.duration", lang, duration=duration_text(facts, lang)))
        lines.append("")
        lines.append(text("referral.treatments-tried", lang))
        lines += _bullets([tried_text(t, lang) for t in treatments_tried(facts)])
        lines.append(text("referral.previous-tapers", lang))
        lines += _bullets([taper_line(p, lang) for p in facts.previous_tapers]) or _bullets(
            [text("referral.no-previous-tapers", lang)])
        plan = facts.taper_plan
        if plan is not None:
            ingredient = ingredient_name(plan.ingredient, lang)
            if plan.start:
                lines.append(text("referral.running-taper-since", lang, ingredient=ingredient, start=plan.start.isoformat()))
            else:
                lines.append(text("referral.running-taper", lang, ingredient=ingredient))
        lines.append("")
        lines.append(text("referral.diagnoses", lang))
        lines += _bullets(diagnoses_lines(facts, lang))
        lines.append("")
        lines.append(text("referral.to-add", lang))
        lines += _bullets([text(x, lang) for x in _UNKNOWABLE])
        out[lang] = "\n".join(lines)
    return out


def referral_suggestion_for(facts: PatientFacts, proposal: ReferralProposal,
                            question: Mapping[str, str]) -> Suggestion | None:
    """"Create a referral" to the proposal's clinic, its ServiceRequest pre-filled from the record (in
    Swedish); None when the resource cannot be written — the card still carries its advice."""
    content = referral_content(facts, question)
    resource = resource_for(ReferralRequest(proposal, reason=question[SV], note=content[SV]), {})
    if resource is None:
        return None
    clinic = {lang: text(_TARGET[proposal.target], lang) for lang in LANGUAGES}
    return Suggestion(
        label={lang: text("referral.create", lang, clinic=clinic[lang]) for lang in LANGUAGES},
        actions=(
            Action(
                type="create",
                description={lang: text("referral.create-description", lang, clinic=clinic[lang])
                             for lang in LANGUAGES},
                resource=resource,
            ),
        ),
        is_recommended=False,
    )


def referral_suggestions(facts: PatientFacts, proposals, question: Mapping[str, str]) -> tuple[Suggestion, ...]:
    """One "create a referral" per proposal that can be written (:func:`referral_suggestion_for`)."""
    return tuple(s for s in (referral_suggestion_for(facts, p, question) for p in proposals) if s is not None)


__all__ = ["diagnoses_lines", "referral_content", "referral_suggestion_for", "referral_suggestions"]
