"""The taper proposal is computed once per hook call and shared by the cards that build on it; a
context reused for another patient never gets the first patient's proposal."""
from __future__ import annotations

import json
from datetime import date

from cds_service.protocol.evaluate import draft_orders
from cds_service.protocol.fhir_client import bundle_resources
from cds_service.rules import taper_plan_missing
from cds_service.rules.finding import RuleContext
from conftest import FIXTURES
from fhir_mappings.read.facts import build_patient_facts

TODAY = date(2026, 11, 23)


def _facts(name: str):
    body = json.loads((FIXTURES / "requests" / f"order-sign.{name}.json").read_text(encoding="utf-8"))
    resources = []
    for value in body["prefetch"].values():
        resources.extend(bundle_resources(value) if value.get("resourceType") == "Bundle" else [value])
    return build_patient_facts(body["context"]["patientId"], resources, draft_orders(body, "order-sign"), TODAY)


def test_proposal_is_shared_within_a_call_and_never_across_patients():
    ctx = RuleContext(hook="order-sign", today=TODAY, user_ref="Practitioner/dr-lind")
    anna, carl = _facts("anna-testsson"), _facts("carl-prov")
    first = taper_plan_missing.proposal(anna, ctx)
    assert taper_plan_missing.proposal(anna, ctx) is first  # computed once
    other = taper_plan_missing.proposal(carl, ctx)
    assert first.schedule.ingredient == "oxycodone"
    assert other.schedule.ingredient == "tramadol"
