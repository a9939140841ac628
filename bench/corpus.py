"""Synthetic request corpora for the benchmark: one invented patient per record size.

A record of ``n`` MedicationRequests is generated (never hand-written, so 5 000 takes milliseconds)
in the shape of the fixture patients (``fixtures/build_fixtures.py``): ATC-coded orders with
structured dosage and a dispense request, plus Conditions, CarePlans, Flags and ServiceRequests in
proportion to ``n``. Every record ends in the same clinical situation as Anna Testsson — oxycodone
depot 10 mg twice daily, renewed monthly for about eight months, no taper plan, a draft renewal — so
every size gets cards, and the amount of *history* is what varies:

- a realistic mix of products: several opioids (oxycodone depot and immediate release, tramadol,
  paracetamol/codeine, morphine depot, buprenorphine and fentanyl patches), benzodiazepines and a
  z-drug, paracetamol, an NSAID, pregabalin, duloxetine and common non-pain drugs;
- about 15 % as-needed (PRN) dosage, about 10 % STU3-shaped dosage (``doseQuantity`` directly on the
  Dosage), about 5 % ``medicationReference`` to a Medication resource (returned in the prefetch Bundle
  as an ``_include``), the rest ``medicationCodeableConcept``;
- Conditions n/10 (at least 2: long-term pain, back pain), CarePlans n/50 (at least 1; about a fifth
  of them earlier, ended taper plans from n = 100 up), Flags n/100 (at least 1; ordinary alert
  signals and one expired prescribing restriction from n = 1 000 up), ServiceRequests n/100.

The history lies wholly in the past (completed or stopped orders whose supply ended before the
current episode), so the facts the cards are decided on do not change with ``n``: the oxycodone in
effect today is 10 mg × 2 a day = 20 mg/day, MEDD 20 × 2 (oxycodone factor) = 40 mg.

All people and data here are invented. Deterministic: the same ``n`` gives the same record.
"""
from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta

TODAY = date(2026, 11, 23)  # the fixtures' "today" (requests carry extension.trappa.today)
SIZES = (10, 100, 1000, 5000)
TYPICAL_SIZE = 100

ATC = "http://www.whocc.no/atc"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ORDER_FORM = "http://snomed.info/sct"
DOCTOR = "Practitioner/dr-lind"
OTHER_DOCTORS = ("Practitioner/dr-berg", "Practitioner/dr-holm", "Practitioner/dr-nyberg")
FHIR_BASE_PLACEHOLDER = "http://127.0.0.1:8081/fhir"

# The situation every record ends in (see module docstring): oxycodone depot 10 mg, 1 tablet × 2 a day.
CURRENT_OPIOID_MG_PER_DAY = 10 * 2
OXYCODONE_MEDD_FACTOR = 2  # cds_service/domain/data/medd_factors.csv, row "oxycodone"
EXPECTED_MEDD_MG = CURRENT_OPIOID_MG_PER_DAY * OXYCODONE_MEDD_FACTOR  # 40


@dataclass(frozen=True)
class Product:
    atc: str
    text: str
    per_dose: float  # units per administration (tablets, capsules, patches)
    unit: str  # dose unit as the EHR writes it
    unit_code: str  # UCUM annotation code
    per_day: float  # administrations per day (fractional for patches: 1/3 = every 72 h)
    days: int  # supply per prescription
    prn: bool = False
    weight: int = 1  # relative frequency in the history
    form_snomed: tuple[str, str] | None = None  # Medication.form for medicationReference


_TABLET = ("385055001", "Tablet")
_DEPOT = ("385101003", "Prolonged-release tablet")
_CAPSULE = ("385049006", "Capsule")
_PATCH = ("385114002", "Transdermal patch")

CURRENT_OPIOID = Product("N02AA05", "OxyContin 10 mg depottablett", 1, "tablett", "{tbl}", 2, 30, form_snomed=_DEPOT)

PRODUCTS: tuple[Product, ...] = (
    # opioids (about a third of the history)
    Product("N02AA05", "OxyContin 10 mg depottablett", 1, "tablett", "{tbl}", 2, 30, weight=8, form_snomed=_DEPOT),
    Product("N02AA05", "OxyNorm 5 mg kapsel", 1, "kapsel", "{cap}", 4, 10, prn=True, weight=4, form_snomed=_CAPSULE),
    Product("N02AX02", "Tramadol Actavis 50 mg kapsel", 1, "kapsel", "{cap}", 3, 30, weight=5, form_snomed=_CAPSULE),
    Product("N02AJ06", "Citodon 500 mg/30 mg tablett", 2, "tablett", "{tbl}", 3, 20, weight=4, form_snomed=_TABLET),
    Product("N02AA01", "Dolcontin 30 mg depottablett", 1, "tablett", "{tbl}", 2, 30, weight=3, form_snomed=_DEPOT),
    Product("N02AE01", "Norspan 10 mikrogram/timme depotplåster", 1, "plåster", "{patch}", 1 / 7, 28, weight=2, form_snomed=_PATCH),
    Product("N02AB03", "Fentanyl Sandoz 25 mikrogram/timme depotplåster", 1, "plåster", "{patch}", 1 / 3, 30, weight=1, form_snomed=_PATCH),
    # sedatives
    Product("N05BA01", "Stesolid 5 mg tablett", 1, "tablett", "{tbl}", 2, 30, weight=4, form_snomed=_TABLET),
    Product("N05BA04", "Oxascand 10 mg tablett", 1, "tablett", "{tbl}", 2, 20, prn=True, weight=3, form_snomed=_TABLET),
    Product("N05CF01", "Imovane 7,5 mg tablett", 1, "tablett", "{tbl}", 1, 30, weight=3, form_snomed=_TABLET),
    # other pain drugs
    Product("N02BE01", "Alvedon 500 mg tablett", 2, "tablett", "{tbl}", 4, 30, weight=10, form_snomed=_TABLET),
    Product("N02BE01", "Panodil 1 g tablett", 1, "tablett", "{tbl}", 3, 30, prn=True, weight=4, form_snomed=_TABLET),
    Product("M01AE01", "Ipren 400 mg tablett", 1, "tablett", "{tbl}", 3, 10, prn=True, weight=3, form_snomed=_TABLET),
    Product("N02BF02", "Lyrica 75 mg kapsel", 1, "kapsel", "{cap}", 2, 30, weight=2, form_snomed=_CAPSULE),
    Product("N06AX21", "Cymbalta 60 mg kapsel", 1, "kapsel", "{cap}", 1, 90, weight=1, form_snomed=_CAPSULE),
    # everything else a long-term patient takes
    Product("A06AD65", "Movicol pulver till oral lösning", 1, "dospåse", "{sachet}", 2, 30, weight=3),
    Product("A02BC01", "Omeprazol 20 mg enterokapsel", 1, "kapsel", "{cap}", 1, 90, weight=4, form_snomed=_CAPSULE),
    Product("C10AA01", "Simvastatin 20 mg tablett", 1, "tablett", "{tbl}", 1, 90, weight=4, form_snomed=_TABLET),
    Product("A10BA02", "Metformin 500 mg tablett", 1, "tablett", "{tbl}", 2, 90, weight=4, form_snomed=_TABLET),
    Product("H03AA01", "Levaxin 100 mikrogram tablett", 1, "tablett", "{tbl}", 1, 90, weight=4, form_snomed=_TABLET),
    Product("C09AA02", "Enalapril 10 mg tablett", 1, "tablett", "{tbl}", 1, 90, weight=4, form_snomed=_TABLET),
    Product("N06AB06", "Sertralin 50 mg tablett", 1, "tablett", "{tbl}", 1, 90, weight=3, form_snomed=_TABLET),
)

CONDITION_POOL = (
    ("M54.5", "Lumbago"),
    ("I10", "Essentiell hypertoni"),
    ("E11.9", "Typ 2-diabetes utan komplikationer"),
    ("K21.9", "Gastroesofageal refluxsjukdom"),
    ("E03.9", "Hypotyreos"),
    ("M17.1", "Primär gonartros"),
    ("G47.0", "Sömnstörning"),
    ("J45.9", "Astma"),
    ("M79.7", "Fibromyalgi"),
    ("F41.1", "Generaliserat ångestsyndrom"),
)


def _iso(d: date) -> str:
    return d.isoformat()


def _concept(product: Product) -> dict:
    return {"coding": [{"system": ATC, "code": product.atc, "display": product.text}], "text": product.text}


def _timing(product: Product) -> dict:
    if product.per_day >= 1:
        return {"repeat": {"frequency": int(product.per_day), "period": 1, "periodUnit": "d"}}
    return {"repeat": {"frequency": 1, "period": round(1 / product.per_day), "periodUnit": "d"}}


def _dosage(product: Product, stu3: bool) -> dict:
    dose = {"value": product.per_dose, "unit": product.unit, "system": UCUM, "code": product.unit_code}
    every = "dagligen" if product.per_day >= 1 else f"var {round(1 / product.per_day)}:e dag"
    times = f"{int(product.per_day)} gånger " if product.per_day >= 1 else ""
    dosage: dict = {"text": f"{product.per_dose:g} {product.unit} {times}{every}" + (" vid behov" if product.prn else ""),
                    "timing": _timing(product)}
    if product.prn:
        dosage["asNeededBoolean"] = True
        dosage["maxDosePerPeriod"] = {
            "numerator": {"value": product.per_dose * product.per_day, "unit": product.unit},
            "denominator": {"value": 1, "unit": "d", "system": UCUM, "code": "d"},
        }
    if stu3:
        dosage["doseQuantity"] = dose  # STU3 Dosage: no doseAndRate
    else:
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    return dosage


def medication_request(pid: str, rid: str, product: Product, start: date, *, status: str,
                       requester: str = DOCTOR, stu3: bool = False, medication_ref: str | None = None) -> dict:
    quantity = product.per_dose * product.per_day * product.days
    mr: dict = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": _iso(start),
        "requester": {"reference": requester},
    }
    if medication_ref:
        mr["medicationReference"] = {"reference": medication_ref, "display": product.text}
    else:
        mr["medicationCodeableConcept"] = _concept(product)
    mr["dosageInstruction"] = [_dosage(product, stu3)]
    mr["dispenseRequest"] = {
        "validityPeriod": {"start": _iso(start), "end": _iso(start + timedelta(days=365))},
        "quantity": {"value": round(quantity), "unit": product.unit},
        "expectedSupplyDuration": {"value": product.days, "unit": "dagar", "system": UCUM, "code": "d"},
    }
    return mr


def medication(mid: str, product: Product) -> dict:
    med: dict = {"resourceType": "Medication", "id": mid, "code": _concept(product)}
    if product.form_snomed:
        med["form"] = {"coding": [{"system": SNOMED, "code": product.form_snomed[0], "display": product.form_snomed[1]}]}
    return med


def condition(pid: str, cid: str, code: str, display: str, onset: date, *, resolved: date | None = None) -> dict:
    cond = {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "resolved" if resolved else "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                           "code": "confirmed"}]},
        "code": {"coding": [{"system": ICD10, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": _iso(onset),
    }
    if resolved:
        cond["abatementDateTime"] = _iso(resolved)
    return cond


def taper_careplan(pid: str, cpid: str, start: date, status: str) -> dict:
    """An earlier, ended oxycodone taper plan (SNOMED 874903005), two steps of four weeks."""
    steps = []
    for i, mg in enumerate((15, 10)):
        s = start + timedelta(days=28 * i)
        steps.append({"detail": {
            "status": "completed" if status == "completed" else "stopped",
            "code": {"coding": [{"system": SNOMED, "code": "874903005", "display": "Management of opioid dosage tapering"}]},
            "productCodeableConcept": _concept(CURRENT_OPIOID),
            "scheduledPeriod": {"start": _iso(s), "end": _iso(s + timedelta(days=27))},
            "dailyAmount": {"value": mg, "unit": "mg", "system": UCUM, "code": "mg"},
        }})
    return {
        "resourceType": "CarePlan", "id": cpid, "status": status, "intent": "plan",
        "category": [{"coding": [{"system": SNOMED, "code": "874903005", "display": "Management of opioid dosage tapering"}]}],
        "title": "Nedtrappning oxikodon",
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": _iso(start), "end": _iso(start + timedelta(days=55))},
        "author": {"reference": DOCTOR},
        "activity": steps,
    }


def other_careplan(pid: str, cpid: str, start: date, status: str, rng: random.Random) -> dict:
    title, code = rng.choice((("Smärtrehabilitering", ("LOINC", LOINC, "80764-4", "Pain medicine Plan of care note")),
                              ("Diabetesvård", ("SNOMED", SNOMED, "698360004", "Diabetes self-management plan")),
                              ("Fysioterapi", ("SNOMED", SNOMED, "91251008", "Physical therapy procedure"))))
    cp = {
        "resourceType": "CarePlan", "id": cpid, "status": status, "intent": "plan",
        "category": [{"coding": [{"system": code[1], "code": code[2], "display": code[3]}]}],
        "title": title,
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": _iso(start)},
        "author": {"reference": rng.choice(OTHER_DOCTORS)},
    }
    if status == "completed":
        cp["period"]["end"] = _iso(start + timedelta(days=180))
    return cp


def flag(pid: str, fid: str, start: date, *, restriction: bool, rng: random.Random) -> dict:
    if restriction:  # an earlier, expired prescribing restriction: must not count as active today
        code = {"coding": [{"system": "urn:trappa:flag", "code": "prescribing-restriction",
                            "display": "Förskrivningsrestriktion"}], "text": "Förskrivningsrestriktion: opioider"}
        period = {"start": _iso(start), "end": _iso(start + timedelta(days=180))}
        status = "inactive"
    else:
        what = rng.choice(("penicillinallergi", "latexallergi", "MRSA-bärare", "svårstucken"))
        code = {"text": f"Uppmärksamhetssignal: {what}"}
        period = {"start": _iso(start)}
        status = "active"
    return {"resourceType": "Flag", "id": fid, "status": status, "code": code,
            "subject": {"reference": f"Patient/{pid}"}, "period": period, "author": {"reference": DOCTOR}}


def service_request(pid: str, sid: str, when: date, rng: random.Random) -> dict:
    what = rng.choice(("Fysioterapi", "Arbetsterapi", "Röntgen ländrygg", "Dietist"))
    return {"resourceType": "ServiceRequest", "id": sid, "status": "completed", "intent": "order",
            "code": {"text": what}, "subject": {"reference": f"Patient/{pid}"},
            "authoredOn": _iso(when), "requester": {"reference": rng.choice(OTHER_DOCTORS)}}


@dataclass
class Record:
    """One synthetic patient: every resource, and the draft order of the hook call."""

    patient_id: str
    size: int  # MedicationRequests in the record
    resources: list[dict]
    draft: dict

    def of_type(self, rtype: str) -> list[dict]:
        return [r for r in self.resources if r["resourceType"] == rtype]


def build_record(n: int, today: date = TODAY) -> Record:
    """A record of ``n`` MedicationRequests (n ≥ 1) for patient ``bench-<n>`` (see module docstring)."""
    if n < 1:
        raise ValueError("a record needs at least one MedicationRequest")
    rng = random.Random(f"trappa-bench-{n}")
    pid = f"bench-{n}"
    resources: list[dict] = [{
        "resourceType": "Patient", "id": pid,
        "name": [{"given": ["Karin"], "family": f"Benchmark-{n}"}],
        "gender": "female", "birthDate": "1965-04-02",
    }]

    # The current episode: monthly oxycodone renewals, the latest started 25 days ago (covers today).
    current = min(8, max(1, n // 2))
    first = today - timedelta(days=25 + 30 * (current - 1))
    for i in range(current):
        start = first + timedelta(days=30 * i)
        resources.append(medication_request(pid, f"{pid}-oxy-{i + 1}", CURRENT_OPIOID, start,
                                            status="active" if i == current - 1 else "completed"))
    episode_start = first

    # The history: everything before the current episode, over 1–20 years depending on size.
    history = n - current
    years = min(20.0, max(1.0, n / 40))
    span_days = int(years * 365)
    weights = [p.weight for p in PRODUCTS]
    referenced: dict[str, Product] = {}
    for i in range(history):
        product = rng.choices(PRODUCTS, weights)[0]
        latest_start = episode_start - timedelta(days=product.days + 31)  # supply ends well before
        start = latest_start - timedelta(days=rng.randrange(span_days))
        roll = rng.random()
        med_ref = None
        if roll < 0.05 and product.form_snomed:
            mid = f"{pid}-med-{product.atc.lower()}-{PRODUCTS.index(product)}"
            referenced[mid] = product
            med_ref = f"Medication/{mid}"
        resources.append(medication_request(
            pid, f"{pid}-mr-{i + 1}", product, start,
            status="stopped" if rng.random() < 0.05 else "completed",
            requester=DOCTOR if rng.random() < 0.7 else rng.choice(OTHER_DOCTORS),
            stu3=0.05 <= roll < 0.15, medication_ref=med_ref,
        ))
    resources.extend(medication(mid, p) for mid, p in referenced.items())

    # Conditions: long-term pain and back pain always; then a mix, about a quarter resolved.
    resources.append(condition(pid, f"{pid}-pain", "R52.2B", "Långvarig smärta, nociceptiv", today - timedelta(days=400)))
    for i in range(max(2, n // 10) - 1):
        code, display = CONDITION_POOL[i % len(CONDITION_POOL)] if i < len(CONDITION_POOL) else rng.choice(CONDITION_POOL)
        onset = today - timedelta(days=rng.randrange(30, span_days + 60))
        resolved = onset + timedelta(days=rng.randrange(20, 200)) if rng.random() < 0.25 else None
        if resolved and resolved >= today:
            resolved = None
        resources.append(condition(pid, f"{pid}-cond-{i + 1}", code, display, onset, resolved=resolved))

    # CarePlans: from n = 100 up about a fifth are earlier taper plans, all ended.
    n_careplans = max(1, n // 50)
    for i in range(n_careplans):
        start = episode_start - timedelta(days=60 + rng.randrange(span_days))
        if n >= 100 and i % 5 == 0:
            resources.append(taper_careplan(pid, f"{pid}-cp-{i + 1}", start, "completed"))
        else:
            resources.append(other_careplan(pid, f"{pid}-cp-{i + 1}", start,
                                            rng.choice(("completed", "completed", "active")), rng))

    for i in range(max(1, n // 100)):
        start = today - timedelta(days=200 + rng.randrange(span_days))
        resources.append(flag(pid, f"{pid}-flag-{i + 1}", start, restriction=(n >= 1000 and i == 0), rng=rng))

    for i in range(n // 100):
        resources.append(service_request(pid, f"{pid}-sr-{i + 1}", today - timedelta(days=30 + rng.randrange(span_days)), rng))

    draft = medication_request(pid, f"{pid}-oxy-draft", CURRENT_OPIOID, today, status="draft")
    return Record(pid, n, resources, draft)


def searchset(resources: list[dict], base: str = FHIR_BASE_PLACEHOLDER, include: tuple[str, ...] = ()) -> dict:
    return {"resourceType": "Bundle", "type": "searchset",
            "total": sum(1 for r in resources if r["resourceType"] not in include),
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "include" if r["resourceType"] in include else "match"}}
                      for r in resources]}


def prefetch(record: Record) -> dict:
    """Every prefetch key of ``cds_service.protocol.services.PREFETCH``, fulfilled."""
    return {
        "patient": record.of_type("Patient")[0],
        "medicationRequests": searchset(record.of_type("MedicationRequest") + record.of_type("Medication"),
                                        include=("Medication",)),
        "medicationDispenses": searchset(record.of_type("MedicationDispense")),
        "medicationStatements": searchset(record.of_type("MedicationStatement")),
        "conditions": searchset(record.of_type("Condition")),
        "flags": searchset(record.of_type("Flag")),
        "carePlans": searchset(record.of_type("CarePlan")),
        "serviceRequests": searchset(record.of_type("ServiceRequest")),
    }


def hook_request(record: Record, *, hook: str = "order-sign", with_prefetch: bool = True,
                 fhir_server: str | None = None, hook_instance: str | None = None) -> dict:
    """A CDS Hooks 2.0 call about ``record``: prefetch fulfilled, or none and a ``fhirServer`` to fetch from."""
    ctx: dict = {"userId": DOCTOR, "patientId": record.patient_id}
    draft = copy.deepcopy(record.draft)
    if hook in ("order-sign", "order-select"):
        ctx["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}
        if hook == "order-select":
            ctx["selections"] = [f"MedicationRequest/{draft['id']}"]
    elif hook == "medication-prescribe":
        ctx["medications"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}
    body: dict = {
        "hook": hook,
        "hookInstance": hook_instance or f"00000000-0000-4000-9000-{record.size:012d}",
        "context": ctx,
        "extension": {"trappa": {"today": _iso(TODAY)}},
    }
    if with_prefetch:
        body["prefetch"] = prefetch(record)
    else:
        body["fhirServer"] = fhir_server or FHIR_BASE_PLACEHOLDER
        body["fhirAuthorization"] = {"access_token": "synthetic-bench-token", "token_type": "Bearer",
                                     "expires_in": 300, "scope": "patient/*.read", "subject": "trappa-bench"}
    return body


def transaction(record: Record) -> dict:
    """The record as a FHIR transaction Bundle (PUT by id), for ``FhirTestServer.load``."""
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r,
                       "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                      for r in record.resources]}


@dataclass
class CorpusEntry:
    record: Record
    request: dict  # with prefetch
    body: bytes  # ``request`` as compact UTF-8 JSON, what goes over the wire

    @property
    def size(self) -> int:
        return self.record.size


def build_corpus(sizes=SIZES, hook: str = "order-sign") -> dict[int, CorpusEntry]:
    out = {}
    for n in sizes:
        record = build_record(n)
        request = hook_request(record, hook=hook)
        out[n] = CorpusEntry(record, request, json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode())
    return out


def counts(record: Record) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in record.resources:
        out[r["resourceType"]] = out.get(r["resourceType"], 0) + 1
    return out


if __name__ == "__main__":  # a quick look: python bench/corpus.py
    import time

    t0 = time.perf_counter()
    corpus = build_corpus()
    took = time.perf_counter() - t0
    for n, entry in corpus.items():
        print(n, counts(entry.record), f"{len(entry.body) / 1024:.0f} KiB")
    print(f"built in {took * 1000:.0f} ms")
