"""A rule's typed proposal → the FHIR resource of a suggestion's action (``fhir_mappings.write``).

The drafts are the hook call's draft orders as the EHR sent them, keyed by id (``protocol.evaluate``
hands them to the renderer): an amendment returns the draft whole, changed where the proposal says.
A draft that was not sent, or is larger than ``MAX_RAW_DRAFT_CHARS`` as JSON, gives no resource (a card
must not carry megabytes of whatever the client sent): the suggestion is then left out.

The record is the patient's resources as the EHR sent or the FHIR server gave them (an object with
``find(type, id)``, ``protocol.evaluate``, or a list of resources): ending a still-valid prescription
returns it whole, status stopped. One that is not at hand (or too large) leaves that action out alone
(:func:`optional`): the card's text still names the prescription.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from cds_service.domain.model import MG
from fhir_mappings.write.amend import stopped, with_dose_step, with_planned_end
from fhir_mappings.write.builders import (
    referral_service_request,
    restriction_flag,
    taper_careplan,
    taper_medication_request,
)

from cds_service.cards.phrases import fmt_daily_dose, fmt_dose
from cds_service.rules.drafts import draft_reference
from cds_service.rules.finding import ReferralProposal
from cds_service.rules.proposals import (
    DoseStepChange,
    NewRestrictionFlag,
    PlannedEnd,
    Proposal,
    StopPrescription,
    TaperPlanProposal,
    TaperScheduleOrder,
)

from cds_service.cards.words import text

Drafts = Mapping[str, dict]

# A real draft MedicationRequest is a few kB. A larger one is not echoed back in an update
# suggestion (a card must not carry megabytes of whatever the client sent).
MAX_RAW_DRAFT_CHARS = 20_000


def _echoable(found: Any) -> dict | None:
    """``found`` when it is a resource small enough to echo in a card, else None."""
    if not isinstance(found, dict):
        return None
    try:
        size = len(json.dumps(found))  # as the card will be serialised (non-ASCII escaped)
    except (TypeError, ValueError):
        return None
    return found if size <= MAX_RAW_DRAFT_CHARS else None


def draft_as_sent(drafts: Drafts, draft_id: str) -> dict | None:
    """The draft exactly as the EHR sent it, or None (not sent, or too large to echo)."""
    return _echoable(drafts.get(draft_id))


def record_as_sent(record: Any, p: StopPrescription) -> dict | None:
    """The record resource the order of ``p`` was read from (same type and id), as the EHR sent it, or
    None (no valid id, not found, or too large to echo)."""
    order = p.order
    if draft_reference(order) is None or record is None:
        return None
    if hasattr(record, "find"):  # the service's lookup (evaluate._WholeRecord)
        found = record.find(order.resource_type, order.id)
    else:  # a plain list of resources
        found = next((r for r in record if isinstance(r, dict) and r.get("id") == order.id
                      and r.get("resourceType") == order.resource_type), None)
    return _echoable(found)


def optional(proposal: Proposal) -> bool:
    """An action the suggestion keeps its meaning without: ending an old prescription beside the plan."""
    return isinstance(proposal, StopPrescription)


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


def resource_for(proposal: Proposal | ReferralRequest, drafts: Drafts, record: Any = None) -> dict | None:
    """The resource that carries out ``proposal``; None when it cannot be written. The referral, the
    taper's CarePlan, MedicationRequest and Flag are written in Swedish whatever the card's language:
    they go into a Swedish record."""
    if isinstance(proposal, ReferralRequest):
        # A draft proposal to the clinic (clinical-rules §5), for the EHR to keep or discard.
        referral = proposal.proposal
        return referral_service_request(patient_ref=referral.patient_ref, requester_ref=referral.requester_ref,
                                        target=referral.target, reason=proposal.reason, note=proposal.note,
                                        lang="sv")
    if isinstance(proposal, TaperPlanProposal):
        return taper_careplan(proposal.schedule, patient_ref=proposal.patient_ref, author_ref=proposal.author_ref,
                              lang="sv")
    if isinstance(proposal, TaperScheduleOrder):
        # The product is the schedule's (the depot formulation, generic by ATC), never the draft's coding:
        # a draft naming one strength ("10 mg") would be wrong for steps that need other strengths.
        return taper_medication_request(proposal.schedule, patient_ref=proposal.patient_ref,
                                        requester_ref=proposal.requester_ref, lang="sv", systems=proposal.systems)
    if isinstance(proposal, StopPrescription):
        raw = record_as_sent(record, proposal)
        return None if raw is None else stopped(raw, reason=proposal.reason)
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

