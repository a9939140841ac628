"""Two synthetic patients whose opioid or LARO history is in MedicationDispense only — what a
Swedish record knows from the pharmacy (*uthämtade läkemedel*) when the prescriptions were written
elsewhere. All people here are invented. Each patient is one list of resources, from which both the
FHIR test server's transaction Bundle and the prefetch are made, so the two cannot drift apart.

- ``dora-uttagsson``: six monthly dispensings of OxyContin 10 mg depot tablets (60 tablets, 30 days,
  1 tablet twice daily), by reference to a Medication; renewed today by the physician. No
  MedicationRequest history at all.
- ``erik-laro-uttag`` / ``erik-laro-lista``: long-term oxycodone prescribed here (MedicationRequests),
  and buprenorphine/naloxone (Suboxone, ATC N07BC51) from the addiction clinic, seen only in his
  dispensings / on his medication list: LARO, so no taper cards — but only if those are read.
"""
from __future__ import annotations

import copy
from datetime import date, timedelta

TODAY = date(2026, 11, 23)
ATC = "http://www.whocc.no/atc"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
UCUM = "http://unitsofmeasure.org"
DOCTOR = "Practitioner/dr-lind"
PLACEHOLDER_BASE = "http://127.0.0.1:8081/fhir"

DORA = "dora-uttagsson"
LARO_PATIENTS = {"MedicationDispense": "erik-laro-uttag", "MedicationStatement": "erik-laro-lista"}
OXYCONTIN = {"resourceType": "Medication", "id": "oxycontin-10-depot",
             "code": {"coding": [{"system": ATC, "code": "N02AA05", "display": "oxikodon"}],
                      "text": "OxyContin 10 mg depottablett"}}
SUBOXONE_TEXT = "Suboxone 8 mg/2 mg resoriblett"


def _patient(pid: str, given: str, family: str, birth: str, gender: str) -> dict:
    return {"resourceType": "Patient", "id": pid, "name": [{"given": [given], "family": family}],
            "gender": gender, "birthDate": birth}


def _pain(pid: str) -> dict:
    return {
        "resourceType": "Condition", "id": f"{pid}-pain",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": ICD10, "code": "R52.2", "display": "Annan långvarig smärta"}],
                 "text": "Långvarig smärta"},
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": "2025-03-01",
    }


def _tablets(n: float, per_day: int, text: str) -> list[dict]:
    return [{"text": text,
             "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
             "doseAndRate": [{"doseQuantity": {"value": n, "unit": "tablett", "system": UCUM, "code": "{tbl}"}}]}]


def _dispense(pid: str, did: str, handed_over: date, medication: dict, *, quantity: int, days: int,
              dosage: list[dict]) -> dict:
    return {
        "resourceType": "MedicationDispense", "id": did, "status": "completed",
        "subject": {"reference": f"Patient/{pid}"},
        **medication,
        "quantity": {"value": quantity, "unit": "tablett", "system": UCUM, "code": "{tbl}"},
        "daysSupply": {"value": days, "unit": "dagar", "system": UCUM, "code": "d"},
        "whenPrepared": handed_over.isoformat(),
        "whenHandedOver": handed_over.isoformat(),
        "dosageInstruction": dosage,
    }


def _oxycodone_request(pid: str, rid: str, start: date, status: str) -> dict:
    text = "Oxikodon Depot 10 mg depottablett"
    return {
        "resourceType": "MedicationRequest", "id": rid, "status": status, "intent": "order",
        "subject": {"reference": f"Patient/{pid}"}, "requester": {"reference": DOCTOR},
        "authoredOn": start.isoformat(),
        "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "N02AA05", "display": text}], "text": text},
        "dosageInstruction": _tablets(1, 2, "1 tablett 2 gånger dagligen"),
        "dispenseRequest": {
            "validityPeriod": {"start": start.isoformat(), "end": (start + timedelta(days=365)).isoformat()},
            "quantity": {"value": 60, "unit": "tablett"},
            "expectedSupplyDuration": {"value": 30, "unit": "dagar", "system": UCUM, "code": "d"},
        },
    }


def dora() -> list[dict]:
    """Six monthly dispensings, the first 178 days ago, the last 28 days ago (collected two days early:
    it lasts until the day after tomorrow)."""
    out = [_patient(DORA, "Dora", "Uttagsson", "1967-05-14", "female"), _pain(DORA), copy.deepcopy(OXYCONTIN)]
    for i in range(6):
        out.append(_dispense(DORA, f"{DORA}-uttag-{i + 1}", TODAY - timedelta(days=178 - 30 * i),
                             {"medicationReference": {"reference": f"Medication/{OXYCONTIN['id']}",
                                                      "display": OXYCONTIN["code"]["text"]}},
                             quantity=60, days=30, dosage=_tablets(1, 2, "1 tablett morgon och kväll")))
    return out


def laro_patient(pid: str, where: str) -> list[dict]:
    """Oxycodone prescribed here monthly for eight months (the last one runs out in three days), and
    Suboxone from another clinic known only from ``where``: MedicationDispense (every four weeks, the
    last one 20 days ago: eight days left) or MedicationStatement (on the medication list since May)."""
    out = [_patient(pid, "Erik", "Larosson", "1979-09-02", "male"), _pain(pid)]
    for i in range(8):
        start = TODAY - timedelta(days=237 - 30 * i)
        out.append(_oxycodone_request(pid, f"{pid}-oxy-{i + 1}", start, "active" if i == 7 else "completed"))
    suboxone = {"medicationCodeableConcept": {"coding": [{"system": ATC, "code": "N07BC51",
                                                          "display": "buprenorfin, kombinationer"}],
                                              "text": SUBOXONE_TEXT}}
    dosage = _tablets(1, 1, "1 resoriblett dagligen")
    if where == "MedicationDispense":
        for i in range(4):
            out.append(_dispense(pid, f"{pid}-suboxone-{i + 1}", TODAY - timedelta(days=104 - 28 * i), suboxone,
                                 quantity=28, days=28, dosage=dosage))
    elif where == "MedicationStatement":
        out.append({"resourceType": "MedicationStatement", "id": f"{pid}-suboxone", "status": "active",
                    "subject": {"reference": f"Patient/{pid}"}, **suboxone,
                    "effectivePeriod": {"start": "2026-05-04"}, "dateAsserted": "2026-05-04", "dosage": dosage})
    else:
        raise ValueError(where)
    return out


def renewal(pid: str) -> dict:
    """The physician's draft: oxycodone depot 10 mg, 1 tablet twice daily, 30 days."""
    text = "OxyContin 10 mg depottablett"
    return {
        "resourceType": "MedicationRequest", "id": f"{pid}-draft", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{pid}"}, "requester": {"reference": DOCTOR},
        "authoredOn": TODAY.isoformat(),
        "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "N02AA05", "display": text}], "text": text},
        "dosageInstruction": _tablets(1, 2, "1 tablett 2 gånger dagligen"),
        "dispenseRequest": {"quantity": {"value": 60, "unit": "tablett"},
                            "expectedSupplyDuration": {"value": 30, "unit": "dagar", "system": UCUM, "code": "d"}},
    }


def transaction(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r,
                       "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources]}


def searchset(resources: list[dict], base: str = PLACEHOLDER_BASE) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]}


def prefetch(resources: list[dict]) -> dict:
    """Every key of the discovery document fulfilled, each Medication with the orders referring to it."""
    by = lambda t: [r for r in resources if r["resourceType"] == t]  # noqa: E731
    medications = {f"Medication/{m['id']}": m for m in by("Medication")}

    def with_medications(orders: list[dict]) -> dict:
        refs = {o.get("medicationReference", {}).get("reference") for o in orders}
        return searchset(orders + [m for ref, m in medications.items() if ref in refs])

    return {
        "patient": by("Patient")[0],
        "medicationRequests": with_medications(by("MedicationRequest")),
        "medicationDispenses": with_medications(by("MedicationDispense")),
        "medicationStatements": with_medications(by("MedicationStatement")),
        "conditions": searchset(by("Condition")),
        "flags": searchset(by("Flag")),
        "carePlans": searchset(by("CarePlan")),
        "serviceRequests": searchset(by("ServiceRequest")),
    }


def order_sign(pid: str, *, fhir_server: str | None = None, resources: list[dict] | None = None) -> dict:
    """An order-sign call renewing the oxycodone: with ``resources`` as prefetch, and/or a ``fhirServer``
    (with a synthetic token) to fetch from."""
    body: dict = {
        "hook": "order-sign",
        "hookInstance": f"00000000-0000-4000-8000-{abs(hash(pid)) % 10**12:012d}",
        "context": {"userId": DOCTOR, "patientId": pid,
                    "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                    "entry": [{"resource": renewal(pid)}]}},
        "extension": {"trappa": {"today": TODAY.isoformat()}},
    }
    if resources is not None:
        body["prefetch"] = prefetch(resources)
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": "synthetic-test-token", "token_type": "Bearer",
                                     "expires_in": 300, "scope": "patient/*.read", "subject": "trappa"}
    return body
