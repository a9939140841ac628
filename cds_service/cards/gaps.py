"""Card words for a data gap: a prefetch key or FHIR fetch that could not be had, named on every card
(clinical safety: a check that could not be made is said, never taken as "nothing found").

Keyed by the prefetch key (cds_service/protocol/services.py defines the keys).
"""
from __future__ import annotations

GAP_TEXT = {
    "medicationDispenses": {
        "sv": "uthämtade läkemedel (apoteksuttag, även förskrivna av andra) kunde inte kontrolleras",
        "en": "dispensed medications (pharmacy collections, also those prescribed elsewhere) could not be checked",
    },
    "medicationStatements": {
        "sv": "läkemedelslistan (registrerade läkemedel, t.ex. LARO från annan vårdgivare) kunde inte kontrolleras",
        "en": "the medication list (recorded medications, e.g. LARO from another provider) could not be checked",
    },
    "conditions": {
        "sv": "diagnoser (cancer, palliativ vård, beroende, långvarig smärta) kunde inte kontrolleras",
        "en": "diagnoses (cancer, palliative care, dependence, long-term pain) could not be checked",
    },
    "flags": {
        "sv": "uppmärksamhetssignaler (förskrivningsrestriktion) kunde inte kontrolleras",
        "en": "alerts (prescribing restriction) could not be checked",
    },
    "carePlans": {
        "sv": "vårdplaner (befintlig nedtrappningsplan) kunde inte kontrolleras",
        "en": "care plans (existing taper plan) could not be checked",
    },
    "serviceRequests": {
        "sv": "remisser (redan skickad remiss) kunde inte kontrolleras",
        "en": "referrals (already sent) could not be checked",
    },
}
