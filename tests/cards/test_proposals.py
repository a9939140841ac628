"""The card layer writes a rule's typed proposal as FHIR: an amendment of the draft as the EHR sent it
(planned end, dose step) or a new resource (the prescribing-restriction Flag); every resource validates
with fhir.resources. The rules' own tests assert the proposals."""
from __future__ import annotations

import copy
from datetime import date

from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.medicationrequest import MedicationRequest

from cds_service.cards.proposals import draft_as_sent, resource_for
from cds_service.cards.render import render
from cds_service.domain.model import MG
from cds_service.rules import exit_plan, prescribing_restriction, taper_dose_increase
from cds_service.cards.proposals import MAX_RAW_DRAFT_CHARS
from cds_service.rules.proposals import DoseStepChange, NewRestrictionFlag, PlannedEnd
from tests.support.rules_facts import (
    PATIENT,
    TODAY,
    USER,
    Form,
    ctx,
    draft,
    facts,
    order,
    plan,
    raw_request,
    sent,
    step,
)

OXY = draft("oxycodone", 20)
END = PlannedEnd(draft_id=OXY.id, start=TODAY, last=date(2026, 11, 29), days=7)
STEP = DoseStepChange(draft_id=OXY.id, daily_dose=30, per_admin=15, unit=MG, step_sequence=2, tablets_per_day=6)


def test_planned_end_bounds_every_dosage_line_and_the_supply():
    drafts = sent([OXY])
    resource = resource_for(END, drafts)
    assert resource["id"] == "draft-oxycodone" and resource["resourceType"] == "MedicationRequest"
    supply = resource["dispenseRequest"]["expectedSupplyDuration"]
    assert supply == {"value": 7, "unit": "dagar", "system": "http://unitsofmeasure.org", "code": "d"}
    assert resource["dispenseRequest"]["quantity"]["value"] == 100  # the rest of the draft is kept
    repeat = resource["dosageInstruction"][0]["timing"]["repeat"]
    assert repeat["boundsPeriod"] == {"start": "2026-11-23", "end": "2026-11-29"}
    assert repeat["frequency"] == 2
    MedicationRequest.model_validate(resource)


def test_planned_end_replaces_other_bounds_and_leaves_the_sent_draft_alone():
    drafts = sent([OXY])
    drafts[OXY.id]["dosageInstruction"][0]["timing"]["repeat"]["boundsDuration"] = {"value": 30, "code": "d"}
    before = copy.deepcopy(drafts)
    repeat = resource_for(END, drafts)["dosageInstruction"][0]["timing"]["repeat"]
    assert "boundsDuration" not in repeat and "boundsPeriod" in repeat
    assert drafts == before


def test_dose_step_is_one_line_morning_and_evening():
    resource = resource_for(STEP, sent([OXY]))
    (dosage,) = resource["dosageInstruction"]
    assert dosage["text"] == "15 mg morgon och 15 mg kväll (30 mg/dygn, dos-steg 2)"
    assert dosage["timing"] == {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}
    assert dosage["doseAndRate"] == [{"doseQuantity": {"value": 15, "unit": "mg", "system": "http://unitsofmeasure.org",
                                                       "code": "mg"}}]
    MedicationRequest.model_validate(resource)


def test_dose_step_keeps_the_supply_duration_at_the_lower_dose():
    # 14 days' supply; 6 tablets a day at today's step: 84 tablets.
    raw = raw_request(OXY)
    raw["dispenseRequest"] = {"quantity": {"value": 112, "unit": "st"},
                              "expectedSupplyDuration": {"value": 14, "unit": "dagar", "code": "d"}}
    resource = resource_for(STEP, {OXY.id: raw})
    assert resource["dispenseRequest"]["quantity"]["value"] == 84
    assert raw["dispenseRequest"]["quantity"]["value"] == 112  # the EHR's draft itself is untouched


def test_dose_step_leaves_the_quantity_without_a_supply_duration():
    assert resource_for(STEP, sent([OXY]))["dispenseRequest"]["quantity"]["value"] == 100


def test_new_restriction_flag():
    proposal = NewRestrictionFlag(patient_ref=PATIENT, author_ref=USER, author_display="Karin Berg",
                                  start=TODAY, end=date(2027, 1, 3))
    resource = resource_for(proposal, {})
    assert resource["resourceType"] == "Flag" and resource["status"] == "active"
    assert resource["subject"] == {"reference": PATIENT}
    assert resource["author"] == {"reference": USER, "display": "Karin Berg"}
    assert resource["period"] == {"start": "2026-11-23", "end": "2027-01-03"}
    assert "Karin Berg" in resource["code"]["text"]
    Flag.model_validate(resource)
    open_ended = resource_for(NewRestrictionFlag(PATIENT, USER, None, TODAY, None), {})
    assert open_ended["period"] == {"start": "2026-11-23"}


def test_a_draft_not_sent_or_too_large_is_not_amended():
    assert resource_for(END, {}) is None
    drafts = sent([OXY])
    assert draft_as_sent(drafts, OXY.id)["id"] == "draft-oxycodone"
    drafts[OXY.id]["note"] = [{"text": "x" * MAX_RAW_DRAFT_CHARS}]
    assert draft_as_sent(drafts, OXY.id) is None
    assert resource_for(STEP, drafts) is None


def test_the_card_carries_the_written_resource_and_drops_a_suggestion_it_cannot_write():
    f = facts(drafts=[OXY])
    (finding,) = exit_plan.findings(f, ctx())
    card = render(finding, f, "sv", drafts=sent([OXY]))
    (suggestion,) = card["suggestions"]
    (action,) = suggestion["actions"]
    assert action["type"] == "update" and action["resource"] == resource_for(END, sent([OXY]))
    assert card["selectionBehavior"] == "at-most-one"
    bare = render(finding, f, "sv")  # the draft was not sent whole: the advice without a suggestion
    assert "suggestions" not in bare and "selectionBehavior" not in bare
    assert bare["detail"] == card["detail"]


def test_each_rule_proposal_renders_as_valid_fhir():
    running = plan(step(1, -14, 14, 40), step(2, 0, 14, 30), step(3, 14, 14, 20))
    d = draft("oxycodone", 40, strength=5, form=Form.DEPOT)
    f = facts(drafts=[d], days=120, taper_plan=running)
    (increase,) = taper_dose_increase.findings(f, ctx())
    card = render(increase, f, "sv", drafts=sent([d]))
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 15
    MedicationRequest.model_validate(resource)

    f = facts(in_effect=[order("oxycodone", 30)], days=200, taper_plan=running)
    (restriction,) = prescribing_restriction.findings(f, ctx("patient-view"))
    flag = render(restriction, f, "en")["suggestions"][0]["actions"][0]["resource"]
    assert flag["period"] == {"start": "2026-11-23", "end": "2027-01-03"}
    Flag.model_validate(flag)


def test_a_valid_prescription_is_ended_as_the_record_holds_it_or_its_action_is_left_out():
    """ending the old prescription is extra to the taper plan: without its resource the plan is still
    suggested, without that update (the card's text names the prescription)."""
    from cds_service.rules import taper_plan_missing

    rec = order("oxycodone", 40, factor=2)
    f = facts(drafts=[draft("oxycodone", 40, factor=2)], in_effect=[rec], days=120)
    (finding,) = taper_plan_missing.findings(f, ctx())
    (stop,) = finding.proposals[0].stops
    raw = {"resourceType": "MedicationRequest", "id": rec.id, "status": "active"}
    ended = resource_for(stop, {}, [raw])
    assert ended == {**raw, "status": "stopped", "statusReason": {"text": "Ersätts av nedtrappningsschema"}}
    assert raw["status"] == "active"
    MedicationRequest.model_validate({**ended, "intent": "order", "subject": {"reference": PATIENT},
                                      "medicationCodeableConcept": {"text": "x"}})
    assert resource_for(stop, {}, []) is None
    assert resource_for(stop, {}, [{**raw, "note": [{"text": "x" * MAX_RAW_DRAFT_CHARS}]}]) is None

    with_record = render(finding, f, "sv", record=[raw])
    without = render(finding, f, "sv")
    assert len(with_record["suggestions"]) == len(without["suggestions"]) == 3
    for a, b in zip(with_record["suggestions"], without["suggestions"]):
        assert [x["type"] for x in a["actions"]] == ["create", "create", "delete", "update", "create"]
        assert [x for x in a["actions"] if x["type"] != "update"] == b["actions"]


def test_the_taper_plan_and_its_stepped_order_render_as_valid_fhir():
    from fhir.resources.R4B.careplan import CarePlan

    from cds_service.rules import taper_plan_missing

    f = facts(drafts=[draft("oxycodone", 40, factor=2)], in_effect=[order("oxycodone", 40, factor=2)], days=120)
    (finding,) = taper_plan_missing.findings(f, ctx())
    option = finding.proposals[0]
    careplan, request = resource_for(option.plan, {}), resource_for(option.order, {})
    assert careplan["author"]["reference"] == USER and request["requester"]["reference"] == USER
    CarePlan.model_validate(careplan)
    MedicationRequest.model_validate(request)
