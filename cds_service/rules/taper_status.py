"""taper-status — PLACEHOLDER, being implemented (issue 4). Fires on nothing yet."""
from __future__ import annotations

from fhir_mappings.model import PatientFacts

from .base import ALL_HOOKS, ORDER_HOOKS, PATIENT_VIEW, Finding, RuleContext

TOPIC = "taper-status"
HOOKS = frozenset({PATIENT_VIEW})


def findings(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    return []
