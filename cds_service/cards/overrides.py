"""Override reasons offered on cards (CDS Hooks 2.0 ``overrideReasons``, system urn:trappa:override-reason).

One list of codes, so feedback analytics see the same codes from every card; the displays are in the
catalogs (``override.<code>``).
"""
from __future__ import annotations

from cds_service.cards.words import N_

#: override reason code → its message id.
OVERRIDE_REASONS: dict[str, str] = {
    "not-long-term": N_("override.not-long-term"),
    "plan-elsewhere": N_("override.plan-elsewhere"),
    "palliative": N_("override.palliative"),
    "cancer-pain": N_("override.cancer-pain"),
    "patient-declines": N_("override.patient-declines"),
    "restriction-exists": N_("override.restriction-exists"),
    "already-referred": N_("override.already-referred"),
    "clinical-judgement": N_("override.clinical-judgement"),
    "data-incorrect": N_("override.data-incorrect"),
    "agreed-with-responsible": N_("override.agreed-with-responsible"),
    "not-in-taper": N_("override.not-in-taper"),
    "dose-per-plan": N_("override.dose-per-plan"),
    "new-step-strength": N_("override.new-step-strength"),
    "exit-plan-elsewhere": N_("override.exit-plan-elsewhere"),
    "diagnosis-elsewhere": N_("override.diagnosis-elsewhere"),
    "not-opioid": N_("override.not-opioid"),
    "follow-up-planned": N_("override.follow-up-planned"),
}
