"""A rule's typed proposal → the FHIR resource of a suggestion's action (``fhir_mappings.write``).

The drafts are the hook call's draft orders as the EHR sent them, keyed by id (``protocol.evaluate``
hands them to the renderer): an amendment returns the draft whole, changed where the proposal says.
A draft that was not sent, or is larger than ``MAX_RAW_DRAFT_CHARS`` as JSON, gives no resource (a card
must not carry megabytes of whatever the client sent): the suggestion is then left out.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

from cds_service.domain.model import MG
from fhir_mappings.write.amend import with_dose_step, with_planned_end
from fhir_mappings.write.builders import referral_service_request, restriction_flag

from cds_service.cards.phrases import fmt_daily_dose, fmt_dose
from cds_service.rules.drafts import MAX_RAW_DRAFT_CHARS
from cds_service.rules.finding import ReferralProposal
from cds_service.rules.proposals import DoseStepChange, NewRestrictionFlag, PlannedEnd, Proposal

from cds_service.cards.words import text

Drafts = Mapping[str, dict]


def draft_as_sent(drafts: Drafts, draft_id: str) -> dict | None:
    """The draft exactly as the EHR sent it, or None (not sent, or too large to echo)."""
    found = drafts.get(draft_id)
    if not isinstance(found, dict):
        return None
    try:
        size = len(json.dumps(found))  # as the card will be serialised (non-ASCII escaped)
    except (TypeError, ValueError):
        return None
    return found if size <= MAX_RAW_DRAFT_CHARS else None


def dose_step_text(p: DoseStepChange) -> str:
    """The dosage text of the amended draft, in Swedish as the prescription is read at the pharmacy."""
    return text("dose-increase.dosage", "sv", dose=fmt_dose(p.per_admin, p.unit, "sv"),
                daily=fmt_daily_dose(p.daily_dose, p.unit, "sv"), step=p.step_sequence)


@dataclass(frozen=True)
class ReferralRequest:
    """A rule's referral proposal with the words its ServiceRequest carries into the record, in
    Swedish: the question (``reason``) and the content pre-filled from the record (``note``,
    ``cds_service.cards.referrals``)."""

    proposal: ReferralProposal
    reason: str
    note: str


def resource_for(proposal: Proposal | ReferralRequest, drafts: Drafts) -> dict | None:
    """The resource that carries out ``proposal``; None when it cannot be written."""
    if isinstance(proposal, ReferralRequest):
        # A draft proposal to the clinic (clinical-rules §5), for the EHR to keep or discard.
        referral = proposal.proposal
        return referral_service_request(patient_ref=referral.patient_ref, requester_ref=referral.requester_ref,
                                        target=referral.target, reason=proposal.reason, note=proposal.note,
                                        lang="sv")
    if isinstance(proposal, NewRestrictionFlag):
        # The Flag is read by prescribers in Swedish care whatever the card's language.
        return restriction_flag(patient_ref=proposal.patient_ref, author_ref=proposal.author_ref,
                                author_display=proposal.author_display, start=proposal.start,
                                end=proposal.end, lang="sv")
    raw = draft_as_sent(drafts, proposal.draft_id)
    if raw is None:
        return None
    if isinstance(proposal, PlannedEnd):
        return with_planned_end(raw, start=proposal.start, last=proposal.last, days=proposal.days)
    if proposal.unit != MG or proposal.times_per_day != 2:
        return None  # written as mg morning and evening only (the rule proposes no other)
    return with_dose_step(raw, per_admin=proposal.per_admin, unit=proposal.unit,
                          times_per_day=proposal.times_per_day, text=dose_step_text(proposal),
                          tablets_per_day=proposal.tablets_per_day)

