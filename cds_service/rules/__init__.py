"""The clinical rules: one module per card topic, each a pure function from facts to findings.

Adding a rule = adding a module and listing it in ``RULES``; the HTTP layer never changes.
"""
from __future__ import annotations

from fhir_mappings.model import PatientFacts

from .base import Finding, RuleContext
from . import opioid_review, taper_plan_missing

RULES = (
    taper_plan_missing,
    opioid_review,
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
