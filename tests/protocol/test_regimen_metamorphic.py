"""Metamorphic tests of the current regimen: send the same patient another way, and the answer must
not change (cds_service.domain.regimen; clinical-rules §4).

- Moving the renewal from 10 days before to 25 days after the previous supply's end changes neither
  meddMg, nor the taper's start dose, nor which cards (and referrals) come back.
- Adding an unrelated drug changes nothing.
- Splitting one order into two orders of the same drug, half the dose each, gives the same MEDD.
- The same record sent as prescriptions, as dispensings, or as both gives the same regimen.

Patients are generated: ingredient, strength, tablets per dose, months of use, a second opioid or not.
Each threshold of the referral (60 MEDD) is crossed on both sides by the generated doses.
"""
from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest

from cds_service.web.config import Settings
from cds_service.protocol.evaluate import evaluate_request
from cds_service.protocol.services import SERVICES
from fhir_mappings.read.facts import build_patient_facts

TODAY = date(2026, 11, 23)
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
DEV = Settings(allow_clock_override=True, auth_required=False, dev_mode=True)
SIGN = SERVICES["trappa-order-sign"]

PRODUCTS = {
    "oxy10": ("N02AA05", "OxyContin 10 mg depottablett", 10),
    "oxy20": ("N02AA05", "OxyContin 20 mg depottablett", 20),
    "mo30": ("N02AA01", "Dolcontin 30 mg depottablett", 30),
}
UNRELATED = ("C10AA01", "Simvastatin 20 mg tablett", 20)


def _dosage(mg_per_dose: float, per_day: int) -> list[dict]:
    return [{"text": f"{per_day} gånger dagligen",
             "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
             "doseAndRate": [{"doseQuantity": {"value": mg_per_dose, "unit": "mg", "system": UCUM, "code": "mg"}}]}]


def _product(key):
    code, text, _ = PRODUCTS.get(key, UNRELATED) if key != "unrelated" else UNRELATED
    return {"coding": [{"system": ATC, "code": code, "display": text}], "text": text}


def prescription(pid, rid, start: date, key, *, tablets, per_day, days=30, status="completed"):
    strength = (PRODUCTS.get(key) or UNRELATED)[2]
    return {
        "resourceType": "MedicationRequest", "id": rid, "status": status, "intent": "order",
        "subject": {"reference": f"Patient/{pid}"}, "requester": {"reference": "Practitioner/dr-lind"},
        "authoredOn": start.isoformat(), "medicationCodeableConcept": _product(key),
        "dosageInstruction": _dosage(strength * tablets, per_day),
        "dispenseRequest": {
            "validityPeriod": {"start": start.isoformat(), "end": (start + timedelta(days=365)).isoformat()},
            "quantity": {"value": tablets * per_day * days, "unit": "st"},
            "expectedSupplyDuration": {"value": days, "unit": "dagar", "system": UCUM, "code": "d"},
        },
    }


def dispensing(pid, rid, start: date, key, *, tablets, per_day, days=30):
    strength = PRODUCTS[key][2]
    return {
        "resourceType": "MedicationDispense", "id": rid, "status": "completed",
        "subject": {"reference": f"Patient/{pid}"}, "medicationCodeableConcept": _product(key),
        "whenHandedOver": f"{start.isoformat()}T10:00:00+01:00",
        "quantity": {"value": tablets * per_day * days, "unit": "st"},
        "daysSupply": {"value": days, "unit": "dagar", "system": UCUM, "code": "d"},
        "dosageInstruction": _dosage(strength * tablets, per_day),
    }


def history(pid, key, *, tablets, per_day, months, last_end: date, kind="prescriptions", prefix=None):
    """Monthly supplies of 30 days whose last ends (exclusive) on ``last_end``."""
    prefix = prefix or f"{pid}-{key}"
    out = []
    for k in range(months, 0, -1):
        start = last_end - timedelta(days=30 * k)
        n = months - k + 1
        if kind in ("prescriptions", "both"):
            out.append(prescription(pid, f"{prefix}-rx{n}", start, key, tablets=tablets, per_day=per_day))
        if kind in ("dispensings", "both"):
            out.append(dispensing(pid, f"{prefix}-d{n}", start, key, tablets=tablets, per_day=per_day))
    return out


def hook_request(pid, record, drafts):
    return {
        "hook": "order-sign", "hookInstance": "00000000-0000-4000-8000-000000000001",
        "context": {"userId": "Practitioner/dr-lind", "patientId": pid,
                    "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                    "entry": [{"resource": d} for d in drafts]}},
        "extension": {"trappa": {"today": TODAY.isoformat()}},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": pid, "birthDate": "1962-02-02"},
            "medicationRequests": {"resourceType": "Bundle", "type": "searchset",
                                   "entry": [{"resource": r} for r in record]},
            "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
                "resourceType": "Condition", "id": f"{pid}-pain", "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "R52.2"}]}}}]},
            "flags": {"resourceType": "Bundle", "type": "searchset", "entry": []},
            "carePlans": {"resourceType": "Bundle", "type": "searchset", "entry": []},
            "serviceRequests": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        },
    }


def answer(body) -> dict:
    cards = evaluate_request(SIGN, body, DEV, None, "sv").response["cards"]
    out = {"topics": sorted(c["source"]["topic"]["code"] for c in cards)}
    for c in cards:
        facts = c["extension"]["trappa"]
        out["meddMg"], out["meddFixedMg"] = facts["meddMg"], facts["meddFixedMg"]
        if c["source"]["topic"]["code"] == "taper-plan-missing":
            out["start"] = facts["startDailyDose"]
            out["steps"] = [(s["dailyDose"], s["days"]) for s in facts["taperSteps"] or ()]
    return out


# (first product, tablets, per day, second opioid product or None): MEDD 40, 80, 60 (at the limit),
# 60 + 30 = 90, 40 + 60 = 100
PATIENTS = [
    ("oxy10", 1, 2, None),
    ("oxy20", 1, 2, None),
    ("oxy10", 1.5, 2, None),
    ("oxy10", 1.5, 2, "mo30"),
    ("oxy10", 1, 2, "mo30x2"),
]


def patient(case, days_late: int, *, kind="prescriptions", unrelated=False):
    key, tablets, per_day, second = case
    pid = "gen-" + "-".join(str(x) for x in case if x is not None).replace(".", "-")
    last_end = TODAY - timedelta(days=days_late)
    record = history(pid, key, tablets=tablets, per_day=per_day, months=6, last_end=last_end, kind=kind)
    if second:
        # the second opioid is not renewed today: its supply runs on through next week
        record += history(pid, "mo30", tablets=1, per_day=2 if second == "mo30x2" else 1, months=6,
                          last_end=TODAY + timedelta(days=9), kind=kind)
    if unrelated:
        record += [prescription(pid, f"{pid}-statin{k}", TODAY - timedelta(days=90 * k), "unrelated", tablets=1,
                                per_day=1, days=90) for k in range(1, 4)]
    draft = prescription(pid, f"{pid}-draft", TODAY, key, tablets=tablets, per_day=per_day, status="draft")
    return hook_request(pid, record, [draft])


@pytest.mark.parametrize("case", PATIENTS, ids=[f"{c[0]}x{c[1]}x{c[2]}+{c[3]}" for c in PATIENTS])
def test_the_renewal_day_does_not_change_the_answer(case):
    answers = {late: answer(patient(case, late)) for late in (-10, -3, -1, 0, 1, 5, 12, 25)}
    first = answers[-10]
    assert first["meddMg"] and "taper-plan-missing" in first["topics"]
    for late, got in answers.items():
        assert got == first, late


def test_the_referral_limit_is_crossed_on_both_sides():
    # 60 MEDD is not over the limit; 80, 90 and 100 are, whenever the renewal comes
    for case, refers in zip(PATIENTS, (False, True, False, True, True)):
        for late in (-10, 0, 25):
            assert ("referral-psychiatry" in answer(patient(case, late))["topics"]) is refers, (case, late)


@pytest.mark.parametrize("case", PATIENTS[:3], ids=["oxy10", "oxy20", "oxy10x1.5"])
def test_an_unrelated_drug_changes_nothing(case):
    for late in (0, 5):
        assert answer(patient(case, late, unrelated=True)) == answer(patient(case, late))


def test_splitting_an_order_in_two_gives_the_same_medd():
    whole = patient(("oxy20", 1, 2, None), 3)
    split = copy.deepcopy(whole)
    entries = split["prefetch"]["medicationRequests"]["entry"]
    last = max((e["resource"] for e in entries), key=lambda r: r["authoredOn"])
    half = copy.deepcopy(last)
    for r, suffix in ((last, "a"), (half, "b")):
        r["id"] = r["id"] + suffix
        r["medicationCodeableConcept"] = _product("oxy10")  # two 10 mg orders instead of one 20 mg
        r["dosageInstruction"] = _dosage(10, 2)
    entries.append({"resource": half})
    a, b = answer(whole), answer(split)
    assert a["meddMg"] == b["meddMg"] == 80


@pytest.mark.parametrize("case", PATIENTS, ids=[f"{c[0]}+{c[3]}" for c in PATIENTS])
@pytest.mark.parametrize("late", [-5, 0, 7])
def test_prescriptions_dispensings_or_both_give_the_same_regimen(case, late):
    def regimen(kind):
        body = patient(case, late, kind=kind)
        resources = [e["resource"] for e in body["prefetch"]["medicationRequests"]["entry"]]
        facts = build_patient_facts(body["context"]["patientId"], resources, [], TODAY)
        r = facts.regimen
        doses = sorted((o.drug.ingredient, o.drug.form.value, o.daily_dose.amount) for o in r.orders)
        return doses, r.medd, facts.episode.exposure
    by_prescription = regimen("prescriptions")
    assert by_prescription[0] and by_prescription[1].value > 0
    assert regimen("dispensings") == by_prescription
    assert regimen("both") == by_prescription
