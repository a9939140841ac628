"""Card words for a data gap: a prefetch key or FHIR fetch that could not be had, named on every card
(clinical safety: a check that could not be made is said, never taken as "nothing found").

Keyed by the prefetch key (cds_service/protocol/services.py defines the keys); the words are in the
catalogs (``gap.<key>``).
"""
from __future__ import annotations

from cds_service.cards.words import N_

GAP_TEXT: dict[str, str] = {
    "medicationDispenses": N_("gap.medicationDispenses"),
    "medicationStatements": N_("gap.medicationStatements"),
    "conditions": N_("gap.conditions"),
    "flags": N_("gap.flags"),
    "carePlans": N_("gap.carePlans"),
    "serviceRequests": N_("gap.serviceRequests"),
}
