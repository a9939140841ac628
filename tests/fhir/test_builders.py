"""FHIR builders: every resource validates with fhir.resources R4B and carries what the
card promises. Schedules come from the real taper module; expected values are worked out here."""
from __future__ import annotations

import json
from datetime import date

import pytest
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.domain.taper import taper_schedule
from fhir_mappings.write.builders import (
    referral_service_request,
    restriction_flag,
    step_description,
    taper_careplan,
    taper_medication_request,
)
from cds_service.domain.model import Exposure, Form

START = date(2025, 3, 3)
PATIENT = "Patient/p-123"
DOCTOR = "Practitioner/dr-1"


@pytest.fixture(scope="module")
def oxy40():
    # Long-term oxycodone 40 mg/day: 40, 35, 30, 25, 20, 15, 10, 5 (see test_taper for the arithmetic).
    return taper_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=40, unit="mg",
                          exposure=Exposure.LONG_TERM, start=START)


@pytest.fixture(scope="module")
def fent50():
    return taper_schedule(ingredient="fentanyl", form=Form.PATCH, daily_dose=50, unit="ug/h",
                          exposure=Exposure.LONG_TERM, start=START)


@pytest.fixture(scope="module")
def morphine_slow():
    return taper_schedule(ingredient="morphine", form=Form.DEPOT, daily_dose=60, unit="mg",
                          exposure=Exposure.MULTI_YEAR, start=START)


def _codings(concepts):
    return [(c.get("system"), c.get("code")) for cc in concepts for c in cc.get("coding", [])]


# ---------------------------------------------------------------------------------------------
# CarePlan


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_careplan_validates_and_has_the_essentials(oxy40, lang):
    cp = taper_careplan(oxy40, patient_ref=PATIENT, author_ref=DOCTOR, lang=lang, resource_id="plan-1")
    CarePlan.model_validate(cp)
    assert cp["resourceType"] == "CarePlan" and cp["id"] == "plan-1"
    assert cp["status"] == "draft" and cp["intent"] == "proposal"
    codes = _codings(cp["category"])
    assert ("http://snomed.info/sct", "874903005") in codes
    assert ("urn:trappa:careplan", "opioid-taper") in codes
    assert cp["subject"] == {"reference": PATIENT} and cp["author"] == {"reference": DOCTOR}
    # 8 steps, 91 days from 2025-03-03: last dosing day 2025-06-01 (3 March + 90 days)
    assert cp["period"] == {"start": "2025-03-03", "end": "2025-06-01"}
    assert len(cp["activity"]) == 8
    assert cp["title"] == ("Nedtrappning av oxikodon" if lang == "sv" else "Taper of oxycodone")


def test_careplan_activities_one_per_step(oxy40):
    cp = taper_careplan(oxy40, patient_ref=PATIENT, author_ref=DOCTOR)
    details = [a["detail"] for a in cp["activity"]]
    assert [d["dailyAmount"]["value"] for d in details] == [40, 35, 30, 25, 20, 15, 10, 5]
    for d in details:
        assert d["kind"] == "MedicationRequest" and d["status"] == "not-started"
        assert d["dailyAmount"]["system"] == "http://unitsofmeasure.org" and d["dailyAmount"]["code"] == "mg"
    # step 1 lasts 14 days: 3–16 March; step 2 (7 days): 17–23 March
    assert details[0]["scheduledPeriod"] == {"start": "2025-03-03", "end": "2025-03-16"}
    assert details[1]["scheduledPeriod"] == {"start": "2025-03-17", "end": "2025-03-23"}
    assert details[0]["description"].startswith("Steg 1: 40 mg/dygn (20 mg morgon + 20 mg kväll)")
    assert details[1]["description"].startswith("Steg 2: 35 mg/dygn (15 mg morgon + 20 mg kväll)")
    assert details[-1]["description"].startswith("Steg 8: 5 mg/dygn (5 mg kväll)")
    assert details[0]["productCodeableConcept"]["coding"][0]["code"] == "N02AA05"


def test_careplan_goals_and_agreement_notes(oxy40):
    cp = taper_careplan(oxy40, patient_ref=PATIENT, author_ref=DOCTOR)
    goals = {g["id"]: g for g in cp["contained"]}
    assert [r["reference"] for r in cp["goal"]] == [f"#{i}" for i in goals]
    assert all(g["resourceType"] == "Goal" and g["subject"] == {"reference": PATIENT} for g in goals.values())
    pain = goals["goal-pain"]
    assert pain["target"][0]["measure"]["coding"][0]["code"] == "72514-3"  # LOINC pain 0–10 NRS
    function = goals["goal-function"]["description"]["text"]
    assert "sömn" in function and "fysisk" in function and "social" in function
    assert goals["goal-opioid-free"]["target"][0]["dueDate"] == "2025-06-02"  # first day at zero
    notes = " ".join(n["text"] for n in cp["note"])
    for phrase in ("ökas aldrig", "vid behovsdoser", "ersätts inte", "förskrivningsrestriktion",
                   "enbart av den läkare", "varje vecka", "1–2 veckor", "bensodiazepiner"):
        assert phrase in notes, phrase


def test_careplan_swedish_has_no_english_in_its_texts(oxy40):
    cp = taper_careplan(oxy40, patient_ref=PATIENT, author_ref=DOCTOR, lang="sv")
    texts = [cp["title"], cp["description"], *(n["text"] for n in cp["note"]),
             *(a["detail"]["description"] for a in cp["activity"]),
             *(g["description"]["text"] for g in cp["contained"])]
    blob = " ".join(texts)
    for word in ("Step ", "/day", "morning", "evening", "tablet ", "patch", " week", "Taper", "Pace"):
        assert word not in blob, word


def test_careplan_english_texts(oxy40):
    cp = taper_careplan(oxy40, patient_ref=PATIENT, author_ref=DOCTOR, lang="en")
    assert cp["activity"][1]["detail"]["description"].startswith(
        "Step 2: 35 mg/day (15 mg morning + 20 mg evening)")
    notes = " ".join(n["text"] for n in cp["note"])
    assert "never increased" in notes and "not replaced" in notes
    assert "dygn" not in json.dumps(cp["activity"], ensure_ascii=False)


def test_careplan_patch_units_and_long_taper_warning(fent50, morphine_slow):
    cp = taper_careplan(fent50, patient_ref=PATIENT, author_ref=DOCTOR)
    CarePlan.model_validate(cp)
    amount = cp["activity"][0]["detail"]["dailyAmount"]
    assert amount == {"value": 50.0, "unit": "µg/h", "system": "http://unitsofmeasure.org", "code": "ug/h"}
    assert cp["activity"][1]["detail"]["description"].startswith(
        "Steg 2: 37 mikrog/timme (1 plåster 25 mikrog/timme + 1 plåster 12 mikrog/timme")
    slow = taper_careplan(morphine_slow, patient_ref=PATIENT, author_ref=DOCTOR)
    assert any("längre än ett halvår" in n["text"] for n in slow["note"])
    assert not any("halvår" in n["text"] and "Schemat" in n["text"] for n in cp["note"])


def test_careplan_without_author_omits_it(oxy40):
    cp = taper_careplan(oxy40, patient_ref=PATIENT, author_ref=None)
    CarePlan.model_validate(cp)
    assert "author" not in cp


def test_empty_schedule_and_bad_lang_are_refused(oxy40):
    empty = taper_schedule(ingredient="dihydrocodeine", form=Form.DEPOT, daily_dose=60, unit="mg",
                           exposure=Exposure.LONG_TERM, start=START)
    with pytest.raises(ValueError):
        taper_careplan(empty, patient_ref=PATIENT, author_ref=DOCTOR)
    with pytest.raises(ValueError):
        taper_medication_request(empty, patient_ref=PATIENT, requester_ref=DOCTOR)
    with pytest.raises(ValueError):
        taper_careplan(oxy40, patient_ref=PATIENT, author_ref=DOCTOR, lang="de")


# ---------------------------------------------------------------------------------------------
# MedicationRequest


def _daily_by_sequence(mr):
    """Sum dose × frequency per sequence (what a consumer of the stepped order computes)."""
    out: dict[int, float] = {}
    for d in mr["dosageInstruction"]:
        rep = d["timing"]["repeat"]
        dose = d["doseAndRate"][0]["doseQuantity"]["value"]
        out[d["sequence"]] = out.get(d["sequence"], 0) + dose * rep["frequency"] / rep["period"]
    return out


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_medication_request_validates_and_steps(oxy40, lang):
    mr = taper_medication_request(oxy40, patient_ref=PATIENT, requester_ref=DOCTOR, lang=lang)
    MedicationRequest.model_validate(mr)
    assert mr["status"] == "draft" and mr["intent"] == "proposal"
    assert mr["subject"] == {"reference": PATIENT} and mr["requester"] == {"reference": DOCTOR}
    seqs = [d["sequence"] for d in mr["dosageInstruction"]]
    assert seqs == sorted(seqs) and sorted(set(seqs)) == list(range(1, 9))
    # 35 = 15 morning + 20 evening etc.: lines of one sequence add up to the step's daily dose
    assert _daily_by_sequence(mr) == {1: 40, 2: 35, 3: 30, 4: 25, 5: 20, 6: 15, 7: 10, 8: 5}
    for d in mr["dosageInstruction"]:
        rep = d["timing"]["repeat"]
        assert rep["periodUnit"] == "d" and rep["period"] == 1
        assert len(rep["when"]) == rep["frequency"]
        assert d["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
    first = mr["dosageInstruction"][0]
    assert first["timing"]["repeat"]["boundsPeriod"] == {"start": "2025-03-03", "end": "2025-03-16"}
    assert first["timing"]["repeat"]["when"] == ["MORN", "EVE"]
    coding = mr["medicationCodeableConcept"]["coding"][0]
    # the Swedish ATC name in a Swedish resource, the WHO (English) one in an English one
    assert coding == {"system": "http://www.whocc.no/atc", "code": "N02AA05",
                      "display": "oxikodon" if lang == "sv" else "oxycodone"}
    assert mr["medicationCodeableConcept"]["text"] == (
        "Oxikodon depottablett" if lang == "sv" else "Oxycodone prolonged-release tablet")


def test_medication_request_uneven_step_has_two_lines(oxy40):
    mr = taper_medication_request(oxy40, patient_ref=PATIENT, requester_ref=DOCTOR)
    step2 = [d for d in mr["dosageInstruction"] if d["sequence"] == 2]
    assert [(d["timing"]["repeat"]["when"], d["doseAndRate"][0]["doseQuantity"]["value"]) for d in step2] == [
        (["MORN"], 15.0), (["EVE"], 20.0)]
    assert "15 mg morgon" in step2[0]["text"] and "dygnsdos 35 mg" in step2[0]["text"]
    last = [d for d in mr["dosageInstruction"] if d["sequence"] == 8]
    assert len(last) == 1 and last[0]["timing"]["repeat"]["when"] == ["EVE"]


def test_medication_request_dispensing_advice(oxy40):
    mr = taper_medication_request(oxy40, patient_ref=PATIENT, requester_ref=DOCTOR)
    assert any("1–2 veckor" in n["text"] for n in mr["note"])
    assert mr["dispenseRequest"]["dispenseInterval"]["value"] == 14  # weekly pace: two weeks at most
    en = taper_medication_request(oxy40, patient_ref=PATIENT, requester_ref=DOCTOR, lang="en")
    assert any("1–2 weeks" in n["text"] for n in en["note"])


def test_medication_request_patch(fent50):
    mr = taper_medication_request(fent50, patient_ref=PATIENT, requester_ref=DOCTOR)
    MedicationRequest.model_validate(mr)
    assert [d["sequence"] for d in mr["dosageInstruction"]] == list(range(1, len(fent50.steps) + 1))
    for d, step in zip(mr["dosageInstruction"], fent50.steps):
        rep = d["timing"]["repeat"]
        assert (rep["frequency"], rep["period"], rep["periodUnit"]) == (1, 3, "d")  # new patch every 72 h
        dr = d["doseAndRate"][0]
        assert dr["rateQuantity"]["code"] == "ug/h" and dr["rateQuantity"]["value"] == step.daily_dose
        assert 1 <= dr["doseQuantity"]["value"] <= 2 and dr["doseQuantity"]["code"] == "{patch}"
    assert mr["dosageInstruction"][1]["doseAndRate"][0]["doseQuantity"]["value"] == 2  # 37 = 25 + 12


def test_medication_request_keeps_given_concept(oxy40):
    concept = {"coding": [{"system": "http://www.whocc.no/atc", "code": "N02AA05"}], "text": "OxyContin"}
    mr = taper_medication_request(oxy40, patient_ref=PATIENT, requester_ref=DOCTOR,
                                  medication_codeable_concept=concept)
    assert mr["medicationCodeableConcept"] == concept


# ---------------------------------------------------------------------------------------------
# Flag and ServiceRequest


def test_restriction_flag():
    f = restriction_flag(patient_ref=PATIENT, author_ref=DOCTOR, start=START, end=date(2025, 9, 1))
    Flag.model_validate(f)
    assert f["status"] == "active"
    assert _codings(f["category"]) == [("http://terminology.hl7.org/CodeSystem/flag-category", "drug")]
    code = f["code"]["coding"][0]
    assert (code["system"], code["code"]) == ("urn:trappa:flag", "prescribing-restriction")
    assert code["display"] == "Förskrivningsrestriktion: opioider förskrivs endast av ansvarig läkare"
    assert f["subject"] == {"reference": PATIENT} and f["author"] == {"reference": DOCTOR}
    assert f["period"] == {"start": "2025-03-03", "end": "2025-09-01"}
    open_ended = restriction_flag(patient_ref=PATIENT, author_ref=DOCTOR, start=START, end=None, lang="en")
    Flag.model_validate(open_ended)
    assert open_ended["period"] == {"start": "2025-03-03"}
    assert "only by the responsible physician" in open_ended["code"]["coding"][0]["display"]


@pytest.mark.parametrize("target, sv_name", [("psychiatry", "beroendemottagning"), ("pain-clinic", "Smärtklinik")])
def test_referral_service_request(target, sv_name):
    sr = referral_service_request(patient_ref=PATIENT, requester_ref=DOCTOR, target=target,
                                  reason="MEDD 90 (> 60)", note="**Aktuella opioider**: oxikodon 45 mg/dygn")
    ServiceRequest.model_validate(sr)
    assert sr["status"] == "draft" and sr["intent"] == "proposal"
    assert _codings(sr["category"]) == [("http://snomed.info/sct", "3457005")]
    code = sr["code"]["coding"][0]
    assert (code["system"], code["code"]) == ("urn:trappa:referral-target", target)
    assert sv_name in code["display"]
    assert sr["reasonCode"] == [{"text": "MEDD 90 (> 60)"}]
    assert sr["note"] == [{"text": "**Aktuella opioider**: oxikodon 45 mg/dygn"}]
    assert sr["subject"] == {"reference": PATIENT} and sr["requester"] == {"reference": DOCTOR}


def test_referral_rejects_unknown_target_and_has_english():
    with pytest.raises(ValueError):
        referral_service_request(patient_ref=PATIENT, requester_ref=DOCTOR, target="surgery", reason="x", note="y")
    sr = referral_service_request(patient_ref=PATIENT, requester_ref=None, target="pain-clinic",
                                  reason="stalled taper", note="n", lang="en")
    ServiceRequest.model_validate(sr)
    assert sr["code"]["coding"][0]["display"] == "Pain clinic" and "requester" not in sr


def test_step_description_three_doses_a_day():
    s = taper_schedule(ingredient="ketobemidone", form=Form.IMMEDIATE, daily_dose=25, unit="mg",
                       exposure=Exposure.LONG_TERM, start=START)
    # 25 = 10 morning + 5 midday + 10 evening (evenly as 5 mg tablets allow, extra evening then morning)
    assert step_description(s, s.steps[0]) == "Steg 1: 25 mg/dygn (10 mg morgon + 5 mg mitt på dagen + 10 mg kväll)"
    assert step_description(s, s.steps[0], "en") == "Step 1: 25 mg/day (10 mg morning + 5 mg midday + 10 mg evening)"


@pytest.mark.parametrize(
    "ingredient, form, dose, unit, per_day",
    [
        ("morphine", Form.DEPOT, 60, "mg", 2),
        ("tramadol", Form.DEPOT, 150, "mg", 2),
        ("buprenorphine", Form.PATCH, 20, "ug/h", None),
        ("hydromorphone", Form.DEPOT, 24, "mg", 1),
        ("tapentadol", Form.DEPOT, 200, "mg", 2),
        ("ketobemidone", Form.IMMEDIATE, 30, "mg", 3),
        ("codeine", Form.IMMEDIATE, 120, "mg", 4),
        ("buprenorphine", Form.SUBLINGUAL, 1.2, "mg", 3),
    ],
)
def test_every_table_row_builds_valid_resources(ingredient, form, dose, unit, per_day):
    s = taper_schedule(ingredient=ingredient, form=form, daily_dose=dose, unit=unit,
                       exposure=Exposure.LONG_TERM, start=START)
    for lang in ("sv", "en"):
        CarePlan.model_validate(taper_careplan(s, patient_ref=PATIENT, author_ref=DOCTOR, lang=lang))
        mr = taper_medication_request(s, patient_ref=PATIENT, requester_ref=DOCTOR, lang=lang)
        MedicationRequest.model_validate(mr)
    if per_day is not None:  # tablets: the lines of each sequence add up to the step's daily dose
        daily = _daily_by_sequence(mr)
        assert daily == pytest.approx({x.number: x.daily_dose for x in s.steps})
        assert all(d["timing"]["repeat"].get("when", []) == [] or
                   len(d["timing"]["repeat"]["when"]) == d["timing"]["repeat"]["frequency"]
                   for d in mr["dosageInstruction"])
    # the Swedish dose uses a decimal comma: 1,2 mg for sublingual buprenorphine
    if dose == 1.2:
        cp = taper_careplan(s, patient_ref=PATIENT, author_ref=DOCTOR)
        assert cp["activity"][0]["detail"]["description"].startswith("Steg 1: 1,2 mg/dygn (0,4 mg morgon")


def test_dosage_text_names_what_the_patient_takes_as_a_prescriber_writes_it(oxy40):
    mr = taper_medication_request(oxy40, patient_ref=PATIENT, requester_ref=DOCTOR)
    first = mr["dosageInstruction"][0]["text"]
    assert first.endswith("1 depottablett Oxikodon 20 mg morgon och kväll; dygnsdos 40 mg")
    codeine = taper_schedule(ingredient="codeine", form=Form.IMMEDIATE, daily_dose=240, unit="mg",
                             exposure=Exposure.LONG_TERM, start=START, companions=("paracetamol",))
    text = taper_medication_request(codeine, patient_ref=PATIENT, requester_ref=DOCTOR)["dosageInstruction"][0]["text"]
    assert "2 tabletter Paracetamol/kodein 500 mg/30 mg morgon, lunch, eftermiddag och kväll; dygnsdos 240 mg kodein" in text
    naloxone = taper_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=20, unit="mg",
                              exposure=Exposure.LONG_TERM, start=START, companions=("naloxone",))
    text = taper_medication_request(naloxone, patient_ref=PATIENT, requester_ref=DOCTOR)["dosageInstruction"][0]["text"]
    assert "1 depottablett Oxikodon/naloxon 10 mg/5 mg morgon och kväll; dygnsdos 20 mg oxikodon" in text


def test_a_step_of_unequal_doses_says_the_whole_step_on_each_line(oxy40):
    mr = taper_medication_request(oxy40, patient_ref=PATIENT, requester_ref=DOCTOR)
    step2 = [d["text"] for d in mr["dosageInstruction"] if d["sequence"] == 2]
    assert len(step2) == 2 and step2[0] == step2[1]
    assert step2[0].endswith("1 depottablett Oxikodon 15 mg morgon + 1 depottablett Oxikodon 20 mg kväll; dygnsdos 35 mg")
    assert step2[0].count("dygnsdos") == 1


def test_the_restriction_names_the_responsible_physician():
    named = restriction_flag(patient_ref=PATIENT, author_ref=DOCTOR, author_display="Karin Berg",
                             start=START, end=None)
    assert named["code"]["text"].startswith("Förskrivningsrestriktion: opioider förskrivs endast av Karin Berg")
    assert named["author"] == {"reference": DOCTOR, "display": "Karin Berg"}
    bare = restriction_flag(patient_ref=PATIENT, author_ref=DOCTOR, start=START, end=None)
    assert bare["code"]["text"] == ("Förskrivningsrestriktion: opioider förskrivs endast av ansvarig läkare för "
                                    f"nedtrappningen ({DOCTOR})")
