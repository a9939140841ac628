"""The clinical rules: one module per card topic, each a pure function from facts to findings.

Adding a rule = adding a module and listing it in ``RULES``; the HTTP layer never changes.

Door rule: a rule decides; it imports the domain and the rules' own shared criteria, does no IO, and
writes no FHIR JSON: a suggestion's change is a typed proposal (``rules.proposals``) the cards write.
(Some rules still call fhir_mappings' builders and hold their card text: tests/test_architecture.py
lists those imports, and no new one may come.)
"""
from __future__ import annotations

from cds_service.domain.model import PatientFacts

from cds_service.rules.finding import Finding, RuleContext
from cds_service.rules import (
    co_sedatives,
    exit_plan,
    gabapentinoid_caution,
    medd_unknown,
    opioid_review,
    pain_diagnosis_missing,
    prescribing_restriction,
    referral_pain_clinic,
    referral_psychiatry,
    taper_dose_increase,
    taper_early_renewal,
    taper_other_prescriber,
    taper_plan_missing,
    taper_prn,
    taper_status,
    withdrawal_sedative,
)

RULES = (
    taper_plan_missing,
    opioid_review,
    prescribing_restriction,
    referral_psychiatry,
    referral_pain_clinic,
    taper_dose_increase,
    taper_prn,
    taper_early_renewal,
    taper_other_prescriber,
    co_sedatives,
    withdrawal_sedative,
    gabapentinoid_caution,
    exit_plan,
    pain_diagnosis_missing,
    taper_status,
    medd_unknown,
)


def evaluate(facts: PatientFacts, ctx: RuleContext) -> list[Finding]:
    """All findings for one hook call, in rule order (most urgent indicator first)."""
    found: list[Finding] = []
    for rule in RULES:
        if ctx.hook in rule.HOOKS:
            found.extend(rule.findings(facts, ctx))
    order = {"critical": 0, "warning": 1, "info": 2}
    found.sort(key=lambda f: order.get(f.indicator, 3))
    return found
