"""The clinical rules: one module per card topic, each a pure function from facts to findings.

Adding a rule = adding a module and listing it in ``RULES``; the HTTP layer never changes.
"""
from __future__ import annotations

from fhir_mappings.model import PatientFacts

from .base import Finding, RuleContext
from . import (
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
