"""Swedish free-text dosage (fhir_mappings/read/dosage_text.py): "1x2", "1 tablett morgon och kväll",
"1+0+1", "2 st vid behov, högst 4 per dygn", "1 depotplåster var 7:e dag".

The expected values in the tables below are worked out by hand from the text, not from the parser:
units of the product per day (or mg per day when the text gives mg), the regular part and the
as-needed maximum apart. Then the same texts through the real mapping (map_order, build_patient_facts)
as MedicationRequest, MedicationDispense and MedicationStatement, and through the cards.
"""
from __future__ import annotations

import copy
import json
from datetime import date

import pytest

from conftest import FIXTURES
from fhir_mappings.read import dosage_text
from fhir_mappings.read.dosage_text import (
    COUNT,
    MASS,
    NOT_READ,
    PATCH,
    PRN_NO_MAX,
    RATE,
    daily_from_text,
    read_dosage_text,
)
from fhir_mappings.read.facts import build_patient_facts
from cds_service.domain.model import MG, UG_PER_H, Drug, DrugClass, Form
from fhir_mappings.read.orders import map_order

# --- The table: text → (unit, regular units or mg per day, as-needed maximum per day) -------------
# None in the regular column: no regular part; None in the as-needed column: no as-needed part.

FIXED = [
    # dose × times
    ("1x2", COUNT, 2, None),
    ("1 x 2", COUNT, 2, None),
    ("1×2", COUNT, 2, None),
    ("1X2", COUNT, 2, None),
    ("2 x 1", COUNT, 2, None),
    ("1*3", COUNT, 3, None),
    ("1x2.", COUNT, 2, None),
    ("  1 x2  ", COUNT, 2, None),
    ("1 x 2 dagligen", COUNT, 2, None),
    ("1 tabl x 2", COUNT, 2, None),
    ("1 st x 3", COUNT, 3, None),
    ("1x2 st", COUNT, 2, None),
    ("1 x 2 tabletter", COUNT, 2, None),
    ("Tabl. 1 x 2", COUNT, 2, None),
    ("tablett 1x2", COUNT, 2, None),
    ("1x2 (morgon och kväll)", COUNT, 2, None),
    ("1 x 1 till natten", COUNT, 1, None),
    # dose + frequency
    ("1 tablett 2 gånger dagligen", COUNT, 2, None),
    ("1 tablett två gånger dagligen", COUNT, 2, None),
    ("1 Tablett 2 ggr/dag", COUNT, 2, None),
    ("1 tbl 3 ggr dagl", COUNT, 3, None),
    ("1 st 3 ggr dagl.", COUNT, 3, None),
    ("2 tabletter 1 gång dagligen", COUNT, 2, None),
    ("1 kapsel tre gånger om dagen", COUNT, 3, None),
    ("1 depottablett 2 gånger per dygn", COUNT, 2, None),
    ("en tablett 2 gånger dagligen", COUNT, 2, None),
    ("Ta 1 tablett 2 gånger dagligen", COUNT, 2, None),
    ("1 tablett 2 gånger dagligen mot smärta", COUNT, 2, None),
    ("1 tablettr 2 gnger dagligen", COUNT, 2, None),  # typos seen in records
    ("1 tablett dagligen", COUNT, 1, None),
    ("1 tablett per dag", COUNT, 1, None),
    ("1 dos 2 ggr/dygn", COUNT, 2, None),
    # times of day, clock
    ("1 tablett morgon och kväll", COUNT, 2, None),
    ("1 TABLETT MORGON OCH KVÄLL", COUNT, 2, None),
    ("1 tablett morgon & kväll", COUNT, 2, None),
    ("1 tabeletter morgon o kväll", COUNT, 2, None),
    ("1 tabl morgon, middag och kväll", COUNT, 3, None),
    ("1 tablett till natten", COUNT, 1, None),
    ("½ tablett till natten", COUNT, 0.5, None),
    ("en halv tablett morgon och kväll", COUNT, 1, None),
    ("halv tablett morgon och kväll", COUNT, 1, None),
    ("1,5 tablett morgon och kväll", COUNT, 3, None),
    ("1 och en halv tablett 2 gånger dagligen", COUNT, 3, None),
    ("1 1/2 tablett x 2", COUNT, 3, None),
    ("1 morgon och 2 till kvällen", COUNT, 3, None),
    ("2 tabletter på morgonen, 1 tablett till kvällen", COUNT, 3, None),
    ("1 tablett kl 8 och 20", COUNT, 2, None),
    ("1 tablett kl. 08.00, 14.00 och 20.00", COUNT, 3, None),
    ("1 tablett klockan 8 och klockan 20", COUNT, 2, None),
    ("1 tablett kl 8 och 1 tablett kl 20", COUNT, 2, None),
    # positions morning-noon-evening[-night]
    ("1+0+1", COUNT, 2, None),
    ("1 + 0 + 1", COUNT, 2, None),
    ("1+1+1+1", COUNT, 4, None),
    ("2+0+2", COUNT, 4, None),
    ("1-0-1", COUNT, 2, None),
    ("1-1-1", COUNT, 3, None),
    ("0-0-1", COUNT, 1, None),
    ("½-0-½", COUNT, 1, None),
    ("1+1", COUNT, 2, None),
    # intervals
    ("1 tablett var 12:e timme", COUNT, 2, None),
    ("1 kapsel var 8:e timme", COUNT, 3, None),
    ("1 tablett varannan dag", COUNT, 0.5, None),
    # mg in the text
    ("10 mg 2 gånger dagligen", MASS, 20, None),
    ("10 mg x 2", MASS, 20, None),
    ("10mg morgon och kväll", MASS, 20, None),
    ("20 mg/dygn", MASS, 20, None),
    ("5 mg 3 ggr/dygn", MASS, 15, None),
]

AS_NEEDED = [
    ("2 st vid behov, högst 4 per dygn", COUNT, None, 4),  # "högst 4" counts tablets, not doses of 2
    ("1 tablett vid behov, max 4/dygn", COUNT, None, 4),
    ("1 vid behov högst 4 st per dygn", COUNT, None, 4),
    ("1-2 tabletter vid behov, högst 8 tabletter per dygn", COUNT, None, 8),
    ("1-2 tabletter vid behov högst 4 gånger per dygn", COUNT, None, 2 * 4),
    ("1 var 4:e timme vid behov, högst 6 per dygn", COUNT, None, 6),
    ("1 tablett var 4:e timme vid behov", COUNT, None, 24 / 4),  # the rhythm is the maximum
    ("var 4:e timme vid behov, högst 6 per dygn", COUNT, None, 6),
    ("1 kapsel vid behov, dock högst 3 gånger per dygn", COUNT, None, 3),
    ("1 v.b. max 3/d", COUNT, None, 3),
    ("1 vb, max 4 st/dygn", COUNT, None, 4),
    ("1 x 3 vid behov", COUNT, None, 3),
    ("1 tablett vid smärta, högst 4 per dygn", COUNT, None, 4),
    ("Vid behov 1 tablett, max 3 ggr/dygn", COUNT, None, 3),
    ("1 tablett vid behov, högst var 6:e timme", COUNT, None, 24 / 6),
    ("1 tablett vid behov max dygnsdos 4 st", COUNT, None, 4),
    ("1 var 4:e timme vid behov, högst 4 per dygn", COUNT, None, 4),  # the smaller of rhythm (6) and maximum
    ("5 mg vid behov högst 20 mg per dygn", MASS, None, 20),
    ("5 mg vid behov, högst 4 gånger per dygn", MASS, None, 5 * 4),
    # a regular part and an as-needed part in one text
    ("1x2 samt 1 vid behov, högst 2 per dygn", COUNT, 2, 2),
    ("1 x 2 + 1 vb max 2/dygn", COUNT, 2, 2),
    ("1 tablett morgon och kväll samt 1 extra vid behov, högst 2 per dygn", COUNT, 2, 2),
    ("1+0+1, vid behov ytterligare 1 tablett högst 1 gång per dygn", COUNT, 2, 1),
    ("10 mg x 2 samt 5 mg vid behov högst 20 mg per dygn", MASS, 20, 20),
    # Ranges (decision, docs/design-notes.md): the low end is the regular dose, the rest up to the high
    # end counts as as-needed — the MEDD limits see 6, a taper starts from 3.
    ("1-2 x 3", COUNT, 3, 3),
    ("1 tablett 2-3 gånger dagligen", COUNT, 2, 1),
    ("1-2 tabletter till natten", COUNT, 1, 1),
    ("1-2 x 3, högst 5 per dygn", COUNT, 3, 2),
]

# Unread: the honest unknown, "dosage in free text only".
UNREAD = [
    "enligt ordination",
    "Enl ord",
    "enl. ord.",
    "som tidigare",
    "Som förut",
    "trappas ut enligt schema",
    "enligt schema",
    "Enligt ordination från hemsjukvården",
    "dosering enligt särskild ordination",
    "se journal",
    "halvera dosen",
    "1 tablett",  # how often?
    "1 tablett 2 gånger",  # per what?
    "1x2 i 5 dagar, sedan 1x1",  # a schedule: not one daily dose
    "ökas till 1x3",
    "5 mg vid behov, högst 4 per dygn",  # after mg: 4 mg or 4 doses?
    "1 tablett vid behov, högst 20 mg per dygn",  # tablets and mg: not comparable without the strength
    "1x2 samt 5 mg vid behov högst 20 mg per dygn",  # two units
    "1+0+1 morgon och kväll",  # positions and times of day disagree
    "0+0+0",  # never a dose of 0
    "1 tablett kl 8 och 25",  # no such hour
    "byts var 7:e dag",  # the patch is changed — how many?
    "1 plåster",  # no rhythm
    "x2",
    "",
    "1 tablett " + "morgon och kväll " * 20,  # a narrative, not one of the short patterns
]

# As needed, but no maximum and no rhythm: "as needed without a stated maximum" (as dosage.py says of
# a structured as-needed dose without one).
NO_MAXIMUM = [
    "1-2 vid behov",
    "1 tablett vid behov",
    "vid behov",
    "2 st v.b.",
    "1 vid behov mot smärta",
    "1x2 samt 1 vid behov",  # the regular part is read; the as-needed part has no maximum
]

# Patches: worn at once, days between changes.
PATCHES = [
    ("1 depotplåster var 7:e dag", PATCH, 1, 7),
    ("1 depotplåster var 3:e dag", PATCH, 1, 3),
    ("1 plåster var 72:e timme", PATCH, 1, 3),
    ("1 plåster var 96:e timme", PATCH, 1, 4),
    ("1 plåster/vecka", PATCH, 1, 7),
    ("1 plåster per vecka", PATCH, 1, 7),
    ("1 depotplåster en gång i veckan", PATCH, 1, 7),
    ("1 depotplåster, byts var 7:e dag", PATCH, 1, 7),
    ("Plåstret byts var 7:e dag", PATCH, 1, 7),  # "the patch": one
    ("2 plåster var tredje dag", PATCH, 2, 3),
    ("1 plåster 2 gånger i veckan", PATCH, 1, 3.5),
    ("1 st var 7:e dag", COUNT, 1, 7),
    ("25 mikrogram/timme var 3:e dag", RATE, 25, 3),
]


def test_the_table_is_large_enough():
    assert len(FIXED) + len(AS_NEEDED) + len(UNREAD) + len(NO_MAXIMUM) + len(PATCHES) >= 60


@pytest.mark.parametrize("text, unit, fixed, prn_max", FIXED + AS_NEEDED, ids=[t for t, *_ in FIXED + AS_NEEDED])
def test_read_amounts_per_day(text, unit, fixed, prn_max):
    read = read_dosage_text(text)
    assert read is not None, text
    assert read.problem is None
    assert read.unit == unit
    assert read.fixed == (None if fixed is None else pytest.approx(fixed))
    assert read.prn_max == (None if prn_max is None else pytest.approx(prn_max))
    assert read.prn is (prn_max is not None)


@pytest.mark.parametrize("text", UNREAD)
def test_unread_texts_stay_unknown(text):
    assert read_dosage_text(text) is None


@pytest.mark.parametrize("text", NO_MAXIMUM)
def test_as_needed_without_maximum_is_unknown(text):
    read = read_dosage_text(text)
    assert read is not None and read.prn is True
    assert read.prn_max is None and read.problem == PRN_NO_MAX


@pytest.mark.parametrize("text, unit, worn, change_days", PATCHES, ids=[t for t, *_ in PATCHES])
def test_patches_worn_at_once_and_change_interval(text, unit, worn, change_days):
    read = read_dosage_text(text)
    assert read is not None and read.problem is None and not read.prn
    assert read.unit == unit
    assert read.worn == pytest.approx(worn)
    assert read.change_days == pytest.approx(change_days)


def test_positions_are_not_a_patch_worn_at_once():
    assert read_dosage_text("1+0+1").worn is None


# --- To mg per day or µg/h: the product's strength per unit --------------------------------------


def oxy(strength: float | None = 10, form: Form = Form.DEPOT, unit: str | None = MG) -> Drug:
    return Drug(DrugClass.OPIOID, "OxyContin", "oxycodone", form, "N02AA05", None, strength,
                unit if strength is not None else None)


def patch(ingredient: str, strength: float | None) -> Drug:
    return Drug(DrugClass.OPIOID, ingredient, ingredient, Form.PATCH, None, None, strength,
                UG_PER_H if strength is not None else None)


@pytest.mark.parametrize("text, drug, amount, unit, prn, prn_part", [
    ("1x2", oxy(10), 2 * 10, MG, False, None),
    ("1 tablett morgon och kväll", oxy(5), 2 * 5, MG, False, None),
    ("1+0+1", oxy(20), 2 * 20, MG, False, None),
    ("10 mg 2 gånger dagligen", oxy(None), 2 * 10, MG, False, None),  # mg as written: no strength needed
    ("2 st vid behov, högst 4 per dygn", oxy(5, Form.IMMEDIATE), 4 * 5, MG, True, None),
    ("1x2 samt 1 vid behov, högst 2 per dygn", oxy(10), 2 * 10 + 2 * 10, MG, True, 2 * 10),
    ("1-2 x 3", oxy(5, Form.IMMEDIATE), 6 * 5, MG, True, 3 * 5),
    ("1 depotplåster var 7:e dag", patch("buprenorphine", 10), 10, UG_PER_H, False, None),
    ("2 plåster var 3:e dag", patch("fentanyl", 25), 2 * 25, UG_PER_H, False, None),
    ("1 st var 7:e dag", patch("buprenorphine", 5), 5, UG_PER_H, False, None),
    ("25 mikrogram/timme var 3:e dag", patch("fentanyl", None), 25, UG_PER_H, False, None),
])
def test_daily_dose_from_text(text, drug, amount, unit, prn, prn_part):
    reading = daily_from_text(text, drug)
    assert reading.problem is None
    assert reading.amount == pytest.approx(amount)
    assert (reading.unit, reading.prn) == (unit, prn)
    assert reading.prn_part == (None if prn_part is None else pytest.approx(prn_part))


@pytest.mark.parametrize("text, drug, problem", [
    ("1x2", oxy(None), "strength per unit unknown"),
    ("1 depotplåster var 7:e dag", patch("buprenorphine", None), "strength per unit unknown"),
    ("1x2", patch("fentanyl", 25), NOT_READ),  # twice a day is no patch rhythm
    ("1 plåster var 3:e dag vid behov", patch("fentanyl", 25), NOT_READ),
    ("10 mg var 7:e dag", patch("buprenorphine", 10), "patch dose given as a mass, expected µg/h"),
    ("1 plåster var 7:e dag", oxy(10), NOT_READ),  # a patch text for a tablet
    ("1x3", oxy(2, Form.IMMEDIATE, "mg/ml"), NOT_READ),  # a liquid: tablets say nothing
    ("1 tablett vid behov", oxy(10), PRN_NO_MAX),
    ("enligt ordination", oxy(10), NOT_READ),
])
def test_unknown_daily_dose_from_text_says_why(text, drug, problem):
    reading = daily_from_text(text, drug)
    assert reading.amount is None and str(reading.problem) == str(problem)


def test_structured_as_needed_makes_the_whole_text_as_needed():
    reading = daily_from_text("1 x 3", oxy(5, Form.IMMEDIATE), as_needed=True)
    assert (reading.amount, reading.prn, reading.prn_part) == (3 * 5, True, None)


def test_read_once_per_distinct_text(monkeypatch):
    """A record renews the same prescription again and again: the text is read once, not per order."""
    calls = []
    original = dosage_text._read
    monkeypatch.setattr(dosage_text, "_read", lambda text: calls.append(text) or original(text))
    read_dosage_text.cache_clear()
    orders = [_request(f"mr-{i}", "1 tablett 2 gånger dagligen",
                       authored=f"2026-{1 + i % 12:02d}-01") for i in range(200)]
    doses = {map_order(r, TODAY).daily_dose.amount for r in orders}
    assert doses == {2 * 10}
    assert calls == ["1 tablett 2 gånger dagligen"]


# --- Through the mapping: MedicationRequest, MedicationDispense, MedicationStatement --------------

TODAY = date(2026, 11, 23)
ATC = "http://www.whocc.no/atc"
OXYCONTIN_10 = {"coding": [{"system": ATC, "code": "N02AA05", "display": "OxyContin 10 mg depottablett"}],
                "text": "OxyContin 10 mg depottablett"}
NORSPAN_10 = {"coding": [{"system": ATC, "code": "N02AE01", "display": "Norspan 10 mikrogram/timme depotplåster"}],
              "text": "Norspan 10 mikrogram/timme depotplåster"}


def _request(rid, text, product=OXYCONTIN_10, authored="2026-11-01", **extra):
    r = {"resourceType": "MedicationRequest", "id": rid, "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p1"}, "authoredOn": authored,
         "medicationCodeableConcept": product, "dosageInstruction": [{"text": text}]}
    r.update(extra)
    return r


def _dispense(rid, text, handed_over="2026-11-10", **extra):
    r = {"resourceType": "MedicationDispense", "id": rid, "status": "completed",
         "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": OXYCONTIN_10,
         "whenHandedOver": handed_over, "quantity": {"value": 60, "unit": "st"},
         "dosageInstruction": [{"text": text}]}
    r.update(extra)
    return r


def _statement(rid, text):
    return {"resourceType": "MedicationStatement", "id": rid, "status": "active",
            "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": OXYCONTIN_10,
            "effectivePeriod": {"start": "2026-06-01"}, "dosage": [{"text": text}]}


@pytest.mark.parametrize("resource", [
    _request("mr", "1x2"),
    _dispense("md", "1x2"),
    _statement("ms", "1x2"),
], ids=["MedicationRequest", "MedicationDispense", "MedicationStatement"])
def test_oxycontin_1x2_is_20_mg_a_day_40_medd_from_free_text(resource):
    order = map_order(resource, TODAY)
    # OxyContin 10 mg × 1 × 2 = 20 mg/dygn; oxycodone factor 2 (clinical-rules §4) → 40 MEDD
    assert order.daily_dose.amount == 20 and order.daily_dose.unit == MG
    assert order.daily_dose.basis == "free-text" and order.daily_dose.problem is None
    assert order.medd.value == 40


def test_dispense_supply_from_quantity_and_free_text_dose():
    # 60 tablets at 2 a day last 30 days: handed over 10 Nov → supply ends (exclusive) 10 Dec
    order = map_order(_dispense("md", "1 tablett morgon och kväll"), TODAY)
    assert order.supply_end == date(2026, 12, 10) and order.supply_basis == "quantity"


def test_mixed_fixed_and_as_needed_in_one_text():
    order = map_order(_request("mr", "1x2 samt 1 vid behov, högst 2 per dygn"), TODAY)
    dose = order.daily_dose
    # fixed 2 × 10 = 20 mg, as needed up to 2 × 10 = 20 mg: 40 mg/dygn in all, 80 MEDD
    assert (dose.amount, dose.prn, dose.prn_part, dose.fixed_amount) == (40, True, 20, 20)
    assert order.medd.value == 80


def test_norspan_patch_var_7_dag_and_supply_from_patches():
    order = map_order(_request("mr", "1 depotplåster var 7:e dag", product=NORSPAN_10,
                               dispenseRequest={"quantity": {"value": 4, "unit": "st"}}), TODAY)
    assert order.drug.form is Form.PATCH
    # the strength worn, whatever the change interval: 10 µg/h × 2 (clinical-rules §4) = 20 MEDD
    assert (order.daily_dose.amount, order.daily_dose.unit, order.daily_dose.basis) == (10, UG_PER_H, "free-text")
    assert order.medd.value == 20
    # 4 patches changed every 7 days last 28 days: 1 Nov + 28 = 29 Nov (the text's interval)
    assert order.supply_end == date(2026, 11, 29) and order.supply_basis == "quantity"


@pytest.mark.parametrize("text, problem", [
    ("enligt ordination", NOT_READ),
    ("enl ord", NOT_READ),
    ("som tidigare", NOT_READ),
    ("trappas ut enligt schema", NOT_READ),
    ("1-2 vid behov", PRN_NO_MAX),
])
def test_unread_text_stays_an_honest_unknown(text, problem):
    order = map_order(_request("mr", text), TODAY)
    assert order.daily_dose.amount is None and str(order.daily_dose.problem) == str(problem)
    assert order.daily_dose.basis == "unknown" and order.medd.value is None


def test_structured_dosage_is_untouched_by_its_text():
    # The text says 1x3; the structured dose says 10 mg twice a day: the structure counts.
    line = {"text": "1x3", "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg"}}]}
    order = map_order(_request("mr", "x", dosageInstruction=[line]), TODAY)
    assert (order.daily_dose.amount, order.daily_dose.basis) == (20, "dosage")


def test_facts_regimen_from_free_text_only():
    records = [{"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01"},
               _request("mr-1", "1x2", authored="2026-10-01",
                        dispenseRequest={"quantity": {"value": 60, "unit": "st"},
                                         "expectedSupplyDuration": {"value": 30, "unit": "d", "code": "d"}}),
               _request("mr-2", "1x2", authored="2026-10-31",
                        dispenseRequest={"quantity": {"value": 60, "unit": "st"},
                                         "expectedSupplyDuration": {"value": 30, "unit": "d", "code": "d"}})]
    facts = build_patient_facts("p1", records, [], TODAY)
    assert facts.regimen.medd.value == 40 and facts.regimen.medd.complete
    assert facts.regimen.fixed_medd.value == 40


# --- Cards: where the text is read, no card says "dosering endast i fritext" ------------------------

def _evaluate(body: dict) -> list[dict]:
    from cds_service.web.config import Settings
    from cds_service.protocol.evaluate import evaluate_request
    from cds_service.protocol.services import SERVICES

    settings = Settings(allow_clock_override=True, auth_required=False)
    service = next(s for s in SERVICES.values() if s.hook == body["hook"])
    return evaluate_request(service, body, settings, None, "sv").response["cards"]


def _stina_with_fentanyl(text: str, product_text: str) -> dict:
    """The medd-unknown fixture (Stina: oxycodone 40 MEDD and a fentanyl patch dosed in free text)."""
    body = json.loads((FIXTURES / "requests" / "medd-unknown.json").read_text(encoding="utf-8"))
    body = copy.deepcopy(body)
    for entry in body["prefetch"]["medicationRequests"]["entry"]:
        r = entry["resource"]
        if r["id"] == "stina-fentanyl":
            r["dosageInstruction"] = [{"text": text}]
            r["medicationCodeableConcept"]["text"] = product_text
            r["medicationCodeableConcept"]["coding"][0]["display"] = product_text
    return body


def test_cards_read_fentanyl_patch_text_and_say_nothing_of_free_text():
    body = _stina_with_fentanyl("1 depotplåster var 3:e dag", "Fentanyl 25 mikrogram/timme depotplåster")
    cards = _evaluate(body)
    assert "fritext" not in json.dumps(cards, ensure_ascii=False)
    # 25 µg/h × 2.4 = 60 MEDD beside oxycodone's 40: the MEDD is known, no medd-unknown card
    assert [c for c in cards if c["source"]["topic"]["code"] == "medd-unknown"] == []


def test_cards_patch_text_read_but_strength_unknown_says_so():
    body = _stina_with_fentanyl("1 depotplåster var 3:e dag", "Fentanyl depotplåster")
    (card,) = [c for c in _evaluate(body) if c["source"]["topic"]["code"] == "medd-unknown"]
    assert "fritext" not in card["detail"]
    assert "styrka per enhet är okänd" in card["detail"]


def test_cards_unread_text_keeps_the_honest_unknown():
    cards = _evaluate(json.loads((FIXTURES / "requests" / "medd-unknown.json").read_text(encoding="utf-8")))
    (card,) = [c for c in cards if c["source"]["topic"]["code"] == "medd-unknown"]
    assert "dosering endast i fritext" in card["detail"] and "minst 40" in card["summary"]
