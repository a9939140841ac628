"""build_patient_facts: one hook call's resources → PatientFacts (clinical-rules §4).

MEDD expectations from the clinical table (clinical-rules §4): oxycodone factor 2 per mg/day.
"""
from __future__ import annotations

import copy
import sys
from datetime import date

import pytest

from fhir_mappings.read.facts import build_patient_facts
from cds_service.domain.model import DrugClass, Exposure, IdentifiedBy

TODAY = date(2025, 6, 1)
D = date.fromisoformat
ATC = "http://www.whocc.no/atc"
OXY_CODE = {"coding": [{"system": ATC, "code": "N02AA05", "display": "Oxikodon"}], "text": "Oxikodon depottablett 10 mg"}
MED_OXY = {
    "resourceType": "Medication", "id": "med-oxy", "code": OXY_CODE,
    "form": {"text": "Depottablett"},
    "ingredient": [{"itemCodeableConcept": OXY_CODE,
                    "strength": {"numerator": {"value": 10, "unit": "mg", "code": "mg"},
                                 "denominator": {"value": 1, "unit": "tablett"}}}],
}


def dosage_10mg_twice_daily():
    return [{"sequence": 1, "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
             "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}]}]


def oxy_mr(mid, authored, status="active", supply_days=90, validity_start=None, ref="Medication/med-oxy", **extra):
    dispense = {"expectedSupplyDuration": {"value": supply_days, "unit": "days", "code": "d"}}
    if validity_start:
        dispense["validityPeriod"] = {"start": validity_start}
    r = {"resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order",
         "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": ref},
         "authoredOn": authored, "requester": {"reference": "Practitioner/gp1"},
         "dosageInstruction": dosage_10mg_twice_daily(), "dispenseRequest": dispense}
    r.update(extra)
    return r


def record():
    return [
        {"resourceType": "Patient", "id": "p1", "birthDate": "1960-04-15"},
        MED_OXY,
        # Sep1 2024 + 90 d = Nov30 2024
        oxy_mr("mr-a", "2024-09-01", status="completed"),
        # authored Nov20 but valid from Dec15 (back-dated): Dec15 + 90 d = Mar15 2025; gap Nov30→Dec15 = 15 d
        oxy_mr("mr-b", "2024-11-20", status="completed", validity_start="2024-12-15"),
        # Mar20 + 90 d = Jun18 2025; gap Mar15→Mar20 = 5 d
        oxy_mr("mr-c", "2025-03-20"),
        # entered in error: would start the episode in 2023
        oxy_mr("mr-x", "2023-01-01", status="entered-in-error", supply_days=900),
        {"resourceType": "Condition", "id": "c1", "clinicalStatus": {"coding": [{"code": "active"}]},
         "code": {"coding": [{"system": "urn:oid:1.2.752.116.1.1.1.1.3", "code": "R522A"}]}},
        {"resourceType": "Flag", "id": "flag1", "status": "active", "author": {"reference": "Practitioner/gp1"},
         "code": {"coding": [{"system": "urn:trappa:flag", "code": "prescribing-restriction"}]}},
        {"resourceType": "ServiceRequest", "id": "sr1", "status": "active"},
        {"resourceType": "ServiceRequest", "id": "sr2", "status": "entered-in-error"},
        {"resourceType": "Observation", "id": "ignored"},
    ]


def stu3_draft():
    return {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
            "medicationCodeableConcept": OXY_CODE, "requester": {"agent": {"reference": "Practitioner/gp1"}},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                                   "doseQuantity": {"value": 10, "unit": "mg", "code": "mg"}}]}


def test_full_record_with_a_renewal():
    facts = build_patient_facts("p1", record(), [stu3_draft()], TODAY, gaps=["conditions"])
    assert {o.id for o in facts.orders} == {"mr-a", "mr-b", "mr-c"}
    # Episode Sep1 2024 .. today: 30+31+30+31+31+28+31+30+31 = 273 days → long-term.
    assert facts.episode.start == D("2024-09-01")
    assert facts.episode.days == 273
    assert facts.episode.exposure is Exposure.LONG_TERM
    assert [o.id for o in facts.regimen.record_opioids] == ["mr-c"]
    # 10 mg × 2/d = 20 mg/d oxycodone × 2 = 40 MEDD.
    assert facts.regimen.record_medd.value == pytest.approx(40.0)
    assert facts.regimen.record_medd.complete is True
    assert facts.is_renewal is True
    assert [(d.id, d.is_draft, d.requester, d.start) for d in facts.drafts] == [("draft-1", True, "Practitioner/gp1", TODAY)]
    assert facts.drafts[0].daily_dose.amount == pytest.approx(20.0)  # STU3 doseQuantity on the dosage
    assert facts.conditions.long_term_pain is True
    assert facts.restriction_flag.id == "flag1"
    assert facts.age == 65  # 1960-04-15 → 2025-06-01
    assert facts.exclusions == () and not facts.excluded
    assert facts.data_gaps == ("conditions",)
    assert [r.id for r in facts.referrals] == ["sr1"]
    assert facts.unidentified == ()


def test_new_start_after_a_long_pause():
    resources = [MED_OXY, oxy_mr("old", "2024-01-01", status="completed", supply_days=30)]
    facts = build_patient_facts("p1", resources, [stu3_draft()], TODAY)
    # Supply ended Jan31 2024, far more than 30 days before the draft: new start.
    assert facts.is_renewal is False
    assert facts.episode.exposure is Exposure.NONE
    assert facts.regimen.record_opioids == ()


@pytest.mark.parametrize("reference, extra", [
    ("Medication/med-oxy", {}),
    ("https://fhir.example.se/r4/Medication/med-oxy/_history/2", {}),
    ("med-oxy", {}),
    ("#c1", {"contained": [dict(MED_OXY, id="c1")]}),
])
def test_medication_reference_resolution(reference, extra):
    mr = oxy_mr("m1", "2025-05-01", ref=reference, **extra)
    facts = build_patient_facts("p1", [MED_OXY, mr], [], TODAY)
    drug = facts.orders[0].drug
    assert (drug.drug_class, drug.ingredient, drug.identified_by) == (DrugClass.OPIOID, "oxycodone", IdentifiedBy.ATC)


def test_medication_reference_by_bundle_fullurl():
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"fullUrl": "urn:uuid:6f1c", "resource": dict(MED_OXY, id="server-side-id")},
        {"fullUrl": "urn:uuid:aa", "resource": oxy_mr("m2", "2025-05-01", ref="urn:uuid:6f1c")},
    ]}
    facts = build_patient_facts("p1", [bundle], [], TODAY)
    assert [o.drug.ingredient for o in facts.orders] == ["oxycodone"]
    assert [o.id for o in facts.regimen.record_opioids] == ["m2"]


def test_unresolvable_medication_is_unidentified_not_dropped():
    mr = oxy_mr("m3", "2025-05-01", ref="Medication/missing")
    facts = build_patient_facts("p1", [mr], [], TODAY)
    assert facts.orders[0].drug.drug_class is DrugClass.UNKNOWN
    assert len(facts.unidentified) == 1


def test_unknown_dose_makes_total_medd_a_lower_bound_never_zero():
    free_text = oxy_mr("free", "2025-05-01", dosageInstruction=[{"text": "enligt ordination"}], dispenseRequest={},
                       medicationReference=None, medicationCodeableConcept={"coding": [{"system": ATC, "code": "N02AX02", "display": "Tramadol"}]})
    known = oxy_mr("known", "2025-05-01")
    facts = build_patient_facts("p1", [MED_OXY, free_text, known], [], TODAY)
    assert {o.id for o in facts.regimen.record_opioids} == {"free", "known"}
    tramadol = next(o for o in facts.regimen.record_opioids if o.id == "free")
    assert tramadol.daily_dose.amount is None and tramadol.medd.value is None
    # Known part: 20 mg/d oxycodone × 2 = 40; the tramadol part is unknown, not 0.
    assert facts.regimen.record_medd.value == pytest.approx(40.0)
    assert facts.regimen.record_medd.complete is False and len(facts.regimen.record_medd.unknown) == 1

    only_unknown = build_patient_facts("p1", [free_text], [], TODAY)
    assert only_unknown.regimen.record_medd.value is None and only_unknown.regimen.record_medd.complete is False


def _coded_mr(mid, atc, display):
    return oxy_mr(mid, "2025-05-01", medicationReference=None,
                  medicationCodeableConcept={"coding": [{"system": ATC, "code": atc, "display": display}]})


def test_orders_no_rule_reads_are_identified_but_not_kept():
    """Simvastatin and enalapril (class OTHER) are left out of ``orders``; every class a rule reads —
    opioid, benzodiazepine, paracetamol, gabapentinoid, and the unidentified — is kept and mapped."""
    resources = [
        MED_OXY, oxy_mr("oxy", "2025-05-01"),
        _coded_mr("statin", "C10AA01", "Simvastatin"),
        _coded_mr("ace", "C09AA02", "Enalapril"),
        _coded_mr("benzo", "N05BA01", "Diazepam"),
        _coded_mr("para", "N02BE01", "Paracetamol"),
        _coded_mr("pregab", "N02BF02", "Pregabalin"),
        oxy_mr("mystery", "2025-05-01", ref="Medication/missing"),
    ]
    facts = build_patient_facts("p1", resources, [], TODAY)
    assert {o.id: o.drug.drug_class for o in facts.orders} == {
        "oxy": DrugClass.OPIOID, "benzo": DrugClass.BENZODIAZEPINE, "para": DrugClass.PARACETAMOL,
        "pregab": DrugClass.GABAPENTINOID, "mystery": DrugClass.UNKNOWN,
    }
    benzo = next(o for o in facts.orders if o.id == "benzo")
    assert benzo.start == D("2025-05-01") and benzo.supply_end == D("2025-07-30")  # mapped in full
    assert len(facts.unidentified) == 1
    # A draft is always mapped, whatever its class: the rules look at every draft.
    facts = build_patient_facts("p1", resources, [_coded_mr("statin-draft", "C10AA01", "Simvastatin")], TODAY)
    assert [(d.id, d.drug.drug_class) for d in facts.drafts] == [("statin-draft", DrugClass.OTHER)]


def test_duplicates_from_prefetch_and_fetch_count_once():
    mr = oxy_mr("dup", "2025-05-01")
    facts = build_patient_facts("p1", [MED_OXY, mr, copy.deepcopy(mr), {"resourceType": "Bundle", "entry": [{"resource": mr}]}], [], TODAY)
    assert len(facts.orders) == 1
    assert facts.regimen.record_medd.value == pytest.approx(40.0)  # not 80


def test_draft_orders_bundle_and_non_medication_drafts():
    bundle = {"resourceType": "Bundle", "entry": [{"resource": stu3_draft()},
                                                   {"resource": {"resourceType": "ServiceRequest", "id": "x"}}]}
    facts = build_patient_facts("p1", [], [bundle], TODAY)
    assert [d.id for d in facts.drafts] == ["draft-1"]
    assert facts.is_renewal is False  # no record episode


@pytest.mark.parametrize("extra, drafts, expected", [
    ([{"resourceType": "Condition", "code": {"coding": [{"code": "C50.9"}]}}], [], ("cancer",)),
    ([{"resourceType": "Condition", "code": {"coding": [{"code": "Z515"}]}}], [], ("palliative",)),
    ([{"resourceType": "MedicationRequest", "id": "laro", "status": "active", "intent": "order", "authoredOn": "2025-01-01",
       "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "N07BC02", "display": "Metadon"}]}}], [], ("laro",)),
    ([], [{"resourceType": "MedicationRequest", "id": "d", "status": "draft",
           "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "N07BC51"}]}}], ("laro",)),
    ([{"resourceType": "Patient", "id": "p1", "birthDate": "2008-01-01"}], [], ("under-18",)),  # 17 on 2025-06-01
])
def test_exclusions_from_the_record(extra, drafts, expected):
    facts = build_patient_facts("p1", extra, drafts, TODAY)
    assert facts.exclusions == expected and facts.excluded


def test_empty_call():
    facts = build_patient_facts("p1", [], [], TODAY)
    assert facts.orders == () and facts.drafts == ()
    assert facts.episode.exposure is Exposure.NONE and facts.episode.days == 0
    assert facts.is_renewal is None
    assert facts.age is None and facts.taper_plan is None and facts.restriction_flag is None


def test_taper_careplan_linked_by_based_on():
    cp = {"resourceType": "CarePlan", "id": "cp1", "status": "active", "intent": "plan",
          "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "874903005"}]}],
          "author": {"reference": "Practitioner/lead"}}
    taper = oxy_mr("t1", "2025-05-01", basedOn=[{"reference": "CarePlan/cp1"}], dosageInstruction=[
        {"sequence": 1, "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d",
                                              "boundsPeriod": {"start": "2025-05-01", "end": "2025-05-31"}}},
         "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg", "code": "mg"}}]},
        {"sequence": 2, "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d",
                                              "boundsPeriod": {"start": "2025-06-01", "end": "2025-06-30"}}},
         "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg", "code": "mg"}}]},
    ])
    facts = build_patient_facts("p1", [MED_OXY, cp, taper], [], TODAY)
    plan = facts.taper_plan
    assert (plan.source, plan.id, plan.author) == ("CarePlan", "cp1", "Practitioner/lead")
    # Step 2 (Jun 1–30) is in effect today: 5 mg × 2 = 10 mg/d.
    assert plan.step_on(TODAY).daily_dose.amount == pytest.approx(10.0)
    assert facts.previous_tapers == ()


def _python_calls(fn):
    """(Python function calls made by ``fn()``, its result): a count of work that, unlike time, does not
    depend on the machine or its load."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(count)
    try:
        result = fn()
    finally:
        sys.setprofile(None)
    return calls, result


def test_five_thousand_requests_map_with_work_linear_in_the_record():
    base = oxy_mr("x", "2020-01-01", status="completed", supply_days=30)
    resources = [MED_OXY] + [dict(base, id=f"mr{i}", authoredOn=date.fromordinal(D("2012-01-01").toordinal() + i).isoformat())
                             for i in range(5000)]
    build_patient_facts("p1", resources, [stu3_draft()], TODAY)  # warm caches (tables, dates seen before)
    calls_1000, _ = _python_calls(lambda: build_patient_facts("p1", resources[:1001], [stu3_draft()], TODAY))
    calls_5000, facts = _python_calls(lambda: build_patient_facts("p1", resources, [stu3_draft()], TODAY))
    assert len(facts.orders) == 5000
    # Daily orders Jan1 2012 + 4999 days = Sep8 2025 (exclusive end +30): one episode from 2012-01-01.
    assert facts.episode.start == D("2012-01-01") and facts.episode.exposure is Exposure.MULTI_YEAR
    # Five times the orders, at most 5.5 times the work: a step that compares every order with every
    # other would make it about 25 times. Counted, not timed — the benchmark (./trappa bench) measures time.
    assert 4.5 * calls_1000 <= calls_5000 <= 5.5 * calls_1000, (calls_1000, calls_5000)


def test_draft_medication_sent_alongside_the_draft_resolves():
    draft = {"resourceType": "MedicationRequest", "id": "d9", "status": "draft", "intent": "order",
             "medicationReference": {"reference": "urn:uuid:7d1e"}, "dosageInstruction": dosage_10mg_twice_daily()}
    bundle = {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:7d1e", "resource": dict(MED_OXY, id="7d1e")},
                                                   {"resource": draft}]}
    facts = build_patient_facts("p1", [], [bundle], TODAY)
    assert [(d.id, d.drug.ingredient) for d in facts.drafts] == [("d9", "oxycodone")]
    # Flattened by the caller (fullUrl lost): the uuid is also the Medication's id.
    facts = build_patient_facts("p1", [], [dict(MED_OXY, id="7d1e"), draft], TODAY)
    assert [(d.id, d.drug.ingredient) for d in facts.drafts] == [("d9", "oxycodone")]


def test_a_draft_naming_no_medication_is_not_a_medication():
    # the CDS Hooks sandbox sends one when its prescribing screen opens (real-senders.md)
    empty = {"resourceType": "MedicationRequest", "id": "request-123", "status": "draft", "intent": "order",
             "subject": {"reference": "Patient/p1"},
             "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}]}
    facts = build_patient_facts("p1", record(), [empty], TODAY)
    assert facts.drafts == () and facts.unidentified == ()
    assert facts.is_renewal is None
    # a draft that names a medication only by text is still one (unidentified, named on the card)
    named = dict(empty, medicationCodeableConcept={"text": "Okänt preparat X"})
    facts = build_patient_facts("p1", record(), [named], TODAY)
    assert [d.id for d in facts.drafts] == ["request-123"] and facts.unidentified == ("Okänt preparat X",)
