"""Override reasons offered on cards (CDS Hooks 2.0 ``overrideReasons``, system urn:trappa:override-reason).

One catalogue, so feedback analytics see the same codes from every card.
"""
from __future__ import annotations

from cds_service.rules.finding import Localized

OVERRIDE_REASONS: dict[str, Localized] = {
    "not-long-term": {
        "sv": "Patienten har inte långvarig opioidbehandling",
        "en": "Patient not on long-term treatment",
    },
    "plan-elsewhere": {
        "sv": "Nedtrappningsplan finns dokumenterad på annat ställe",
        "en": "Taper plan documented elsewhere",
    },
    "palliative": {"sv": "Palliativ vård", "en": "Palliative care"},
    "cancer-pain": {"sv": "Cancerrelaterad smärta", "en": "Cancer-related pain"},
    "patient-declines": {
        "sv": "Patienten avböjer efter samtal",
        "en": "Patient declines after discussion",
    },
    "restriction-exists": {
        "sv": "Förskrivningsrestriktion finns redan registrerad",
        "en": "Prescribing restriction already registered",
    },
    "already-referred": {"sv": "Remiss redan skickad", "en": "Referral already sent"},
    "clinical-judgement": {
        "sv": "Medicinsk bedömning: avsteg motiverat",
        "en": "Clinical judgement: deviation justified",
    },
    "data-incorrect": {"sv": "Uppgifterna i journalen stämmer inte", "en": "Record data is incorrect"},
    "agreed-with-responsible": {
        "sv": "Överenskommet med ansvarig läkare",
        "en": "Agreed with the responsible physician",
    },
    # Added for the taper-safety cards (rules engineer R1).
    "not-in-taper": {
        "sv": "Ingen pågående nedtrappning",
        "en": "No taper in progress",
    },
    "dose-per-plan": {
        "sv": "Dosen följer den överenskomna nedtrappningsplanen",
        "en": "The dose follows the agreed taper plan",
    },
    "new-step-strength": {
        "sv": "Nytt recept krävs för nästa dos-steg (ny styrka)",
        "en": "New prescription needed for the next dose step (new strength)",
    },
    "exit-plan-elsewhere": {
        "sv": "Plan för utsättning finns dokumenterad på annat ställe",
        "en": "Plan for stopping documented elsewhere",
    },
    # Added for the referral and review cards (rules engineer R2).
    "diagnosis-elsewhere": {
        "sv": "Diagnoskod för långvarig smärta finns registrerad på annat ställe",
        "en": "Long-term pain code recorded elsewhere",
    },
    "not-opioid": {
        "sv": "Läkemedlet är inte en opioid",
        "en": "The medication is not an opioid",
    },
    "follow-up-planned": {
        "sv": "Uppföljning är redan planerad",
        "en": "Follow-up already planned",
    },
}
