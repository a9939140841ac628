"""The four CDS services Trappa offers, one per hook, and what each needs from the EHR.

Prefetch templates use only CDS Hooks 2.0 tokens. ``REQUIRED_KEYS`` is the data without which no
decision can be made (412 when neither prefetched nor fetchable); the rest is optional: when it fails,
cards say what could not be checked.

Dispensings (MedicationDispense: what the patient collected at the pharmacy, *uthämtade läkemedel*)
and the medication list (MedicationStatement) are optional although they carry orders: many FHIR
servers hold neither, and a record without them is still the prescriber's own record. When they
cannot be had the cards name them — they are where opioids prescribed elsewhere and LARO from the
addiction clinic show up.
"""
from __future__ import annotations

from dataclasses import dataclass

from cds_service.domain.hooks import MEDICATION_PRESCRIBE, ORDER_SELECT, ORDER_SIGN, PATIENT_VIEW

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication",
    "medicationDispenses": "MedicationDispense?patient={{context.patientId}}&_include=MedicationDispense:medication",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication",
    "conditions": "Condition?patient={{context.patientId}}",
    "flags": "Flag?patient={{context.patientId}}",
    "carePlans": "CarePlan?patient={{context.patientId}}",
    "serviceRequests": "ServiceRequest?patient={{context.patientId}}",
}
REQUIRED_KEYS = frozenset({"patient", "medicationRequests"})


SCOPE_SV = (
    "Vuxna med långvarig icke cancerrelaterad smärta. Inga nedtrappningskort för patienter med aktiv "
    "cancer (C00–C97), palliativ vård (Z51.5), LARO-behandling (N07BC) eller under 18 år."
)
SCOPE_EN = (
    "Adults with long-term non-cancer pain. No taper cards for patients with active cancer (C00–C97), "
    "palliative care (Z51.5), opioid maintenance treatment (LARO, N07BC) or under 18."
)


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    what: str  # first sentence of the description

    def discovery(self) -> dict:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": f"{self.what} Scope: {SCOPE_EN} / Omfattning: {SCOPE_SV}",
            "prefetch": dict(PREFETCH),
            "usageRequirements": (
                "Send fhirServer and fhirAuthorization (read access to Patient, MedicationRequest, "
                "MedicationDispense, MedicationStatement, Medication, Condition, Flag, CarePlan, "
                "ServiceRequest) or fulfil the prefetch. Required: patient, medicationRequests; the "
                "other keys are optional (cards name what could not be checked)."
            ),
        }


SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            "trappa-medication-prescribe",
            MEDICATION_PRESCRIBE,
            "Trappa: opioid renewal and taper support (medication-prescribe)",
            "Checks an opioid prescription against Swedish taper guidance: proposes a taper schedule, "
            "prescribing restriction and referral when the guidelines call for them.",
        ),
        Service(
            "trappa-order-select",
            ORDER_SELECT,
            "Trappa: opioid renewal and taper support (order-select)",
            "Checks selected opioid and sedative orders against Swedish taper guidance as they are chosen.",
        ),
        Service(
            "trappa-order-sign",
            ORDER_SIGN,
            "Trappa: opioid renewal and taper support (order-sign)",
            "Checks opioid and sedative orders against Swedish taper guidance before they are signed.",
        ),
        Service(
            "trappa-patient-view",
            PATIENT_VIEW,
            "Trappa: opioid status",
            "Summarises a patient's opioid use: daily dose, MEDD, duration, taper progress and follow-up.",
        ),
    )
}


def discovery_document() -> dict:
    return {"services": [s.discovery() for s in SERVICES.values()]}
