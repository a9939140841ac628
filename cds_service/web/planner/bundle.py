"""The chosen schedule as a FHIR R4 Bundle to download, for EHRs the planner cannot save to.

The resources are the cards' (``fhir_mappings.write.builders``): the taper CarePlan, the stepped
MedicationRequest and the prescribing-restriction Flag until the schedule's end plus
``TRAPPA_RESTRICTION_MARGIN_DAYS`` [RJL "Vilka krav kan jag som läkare ställa?", "Praktiska tips och
trix"] — status draft/proposal, as on the cards. A ``collection`` Bundle, not a transaction: the
proposal behind an absolute link knows no patient (no name, identity number or record id is held), so
the patient and the physician are named by display only, to be set when the resources are imported
into the patient's record. A SMART session, which knows both, saves them instead.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cds_service.runtime.ids import new_uuid
from cds_service.domain.taper import TaperSchedule
from fhir_mappings.write.builders import restriction_flag, taper_careplan, taper_medication_request

PATIENT = {"display": "Patienten (anges vid import i journalen)"}
PHYSICIAN = {"display": "Ansvarig läkare (anges vid import i journalen)"}
_PLACEHOLDER = "Patient/planner-patient"


def _named_by_display(resource: dict) -> dict:
    for key in ("subject", "patient"):
        if isinstance(resource.get(key), dict) and resource[key].get("reference") == _PLACEHOLDER:
            resource[key] = dict(PATIENT)
    return resource


def taper_bundle(schedule: TaperSchedule, restriction_margin_days: int) -> dict:
    careplan = _named_by_display(taper_careplan(schedule, patient_ref=_PLACEHOLDER, author_ref=None, lang="sv"))
    request = _named_by_display(taper_medication_request(schedule, patient_ref=_PLACEHOLDER, requester_ref=None,
                                                         lang="sv"))
    end = schedule.end + timedelta(days=restriction_margin_days)
    flag = _named_by_display(restriction_flag(patient_ref=_PLACEHOLDER, author_ref=None, start=schedule.start,
                                              end=end, lang="sv"))
    flag.setdefault("author", dict(PHYSICIAN))
    entries = [{"fullUrl": f"urn:uuid:{new_uuid()}", "resource": r} for r in (careplan, request, flag)]
    return {"resourceType": "Bundle", "id": new_uuid(), "type": "collection",
            "timestamp": datetime.now(timezone.utc).replace(microsecond=0).isoformat(), "entry": entries}


def taper_transaction(schedule: TaperSchedule, restriction_margin_days: int, patient_ref: str) -> dict:
    """The same three resources as a ``transaction`` Bundle of creates (POST), on the SMART session's
    patient: all three are saved or none is (the FHIR server's transaction semantics)."""
    careplan = taper_careplan(schedule, patient_ref=patient_ref, author_ref=None, lang="sv")
    request = taper_medication_request(schedule, patient_ref=patient_ref, requester_ref=None, lang="sv")
    end = schedule.end + timedelta(days=restriction_margin_days)
    flag = restriction_flag(patient_ref=patient_ref, author_ref=None, start=schedule.start, end=end, lang="sv")
    flag.setdefault("author", dict(PHYSICIAN))
    entries = [{"fullUrl": f"urn:uuid:{new_uuid()}", "resource": r,
                "request": {"method": "POST", "url": r["resourceType"]}} for r in (careplan, request, flag)]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
