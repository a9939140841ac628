"""Identify the medication (clinical-rules §9): ATC, RxNorm, names; class, ingredient, strength, form."""
from __future__ import annotations

import pytest

from fhir_mappings.read.medication import identify_drug
from cds_service.domain.model import MG, UG_PER_H, DrugClass, Form, IdentifiedBy
from fhir_mappings.codes.systems import ATC as ATC_SYSTEM
from fhir_mappings.codes.systems import ICD10
from tests.support.mapping_cases import coding, concept, dosage, med_request, medication, qty, ratio, route

OPIOID = DrugClass.OPIOID


# --- ATC ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("atc, ingredient", [
    ("N02AA01", "morphine"),
    ("N02AA05", "oxycodone"),
    ("N02AA55", "oxycodone"),  # oxycodone + naloxone
    ("N02AX02", "tramadol"),
    ("N02AJ13", "tramadol"),  # tramadol + paracetamol
    ("N02AX52", "tramadol"),  # tramadol combinations
    ("N02AE01", "buprenorphine"),
    ("N02AB03", "fentanyl"),
    ("N02AA03", "hydromorphone"),
    ("N02AB01", "ketobemidone"),
    ("N02AG02", "ketobemidone"),  # Ketogan
    ("N02AX06", "tapentadol"),
    ("R05DA04", "codeine"),
    ("N02AJ06", "codeine"),  # codeine + paracetamol
    ("N02AA08", "dihydrocodeine"),
    ("N02AJ01", "dihydrocodeine"),
    ("N02AB02", "pethidine"),
    ("R05DA01", "ethylmorphine"),
    ("R05DA03", "hydrocodone"),
    ("N02AC52", "methadone"),
])
def test_opioid_by_atc(atc, ingredient):
    drug = identify_drug(med_request(concept("Något läkemedel", atc=atc)))
    assert drug.drug_class is OPIOID
    assert drug.ingredient == ingredient
    assert drug.atc == atc
    assert drug.identified_by is IdentifiedBy.ATC
    assert not drug.low_confidence


@pytest.mark.parametrize("atc, drug_class", [
    ("N07BC01", DrugClass.LARO),  # buprenorphine maintenance
    ("N07BC51", DrugClass.LARO),  # buprenorphine + naloxone
    ("N07BC02", DrugClass.LARO),  # methadone, no pain context
    ("N05BA04", DrugClass.BENZODIAZEPINE),
    ("N05CD02", DrugClass.BENZODIAZEPINE),
    ("N05CF01", DrugClass.Z_DRUG),
    ("N05CF02", DrugClass.Z_DRUG),
    ("N02BF01", DrugClass.GABAPENTINOID),
    ("N02BF02", DrugClass.GABAPENTINOID),
    ("N03AX12", DrugClass.GABAPENTINOID),  # gabapentin before 2023
    ("N03AX16", DrugClass.GABAPENTINOID),  # pregabalin before 2023
    ("N02BE01", DrugClass.PARACETAMOL),
    ("M01AE01", DrugClass.NSAID),
    ("M01AB05", DrugClass.NSAID),
    ("N06AX21", DrugClass.DULOXETINE),
    ("N06AA09", DrugClass.AMITRIPTYLINE),
    ("A07DA03", DrugClass.WITHDRAWAL_SUPPORT),  # loperamide
    ("A03FA01", DrugClass.WITHDRAWAL_SUPPORT),  # metoclopramide
    ("R06AD01", DrugClass.WITHDRAWAL_SUPPORT),  # alimemazine
    ("N06AX11", DrugClass.WITHDRAWAL_SUPPORT),  # mirtazapine
    ("C09AA05", DrugClass.OTHER),  # ramipril: identified, of no interest
    ("R05DA07", DrugClass.OTHER),  # noscapine: an antitussive, not an opioid analgesic
])
def test_other_classes_by_atc(atc, drug_class):
    drug = identify_drug(med_request(concept(atc=atc)))
    assert drug.drug_class is drug_class
    assert not drug.is_opioid


def test_atc_wins_over_a_misleading_name():
    drug = identify_drug(med_request(concept("Oxikodon? nej, Alvedon", atc="N02BE01")))
    assert drug.drug_class is DrugClass.PARACETAMOL
    assert drug.identified_by is IdentifiedBy.ATC


# --- RxNorm --------------------------------------------------------------------------------------

@pytest.mark.parametrize("code, ingredient, strength, unit, form", [
    ("1049621", "oxycodone", 5, MG, Form.IMMEDIATE),  # oxycodone 5 mg tablet
    ("1049502", "oxycodone", 10, MG, Form.DEPOT),  # 12 HR oxycodone 10 mg ER
    ("1860129", "oxycodone", 20, MG, Form.DEPOT),  # OxyContin 20 (abuse-deterrent ER)
    ("1860137", "oxycodone", 40, MG, Form.DEPOT),  # OxyContin 40
    ("891881", "morphine", 15, MG, Form.DEPOT),  # morphine ER 15
    ("891888", "morphine", 30, MG, Form.DEPOT),  # morphine ER 30
    ("857002", "hydrocodone", 5, MG, Form.IMMEDIATE),  # hydrocodone/APAP 5/325
    ("835603", "tramadol", 50, MG, Form.IMMEDIATE),
    ("245134", "fentanyl", 25, UG_PER_H, Form.PATCH),  # 72 HR fentanyl 0.025 MG/HR
    ("904870", "buprenorphine", 10, UG_PER_H, Form.PATCH),  # 168 HR buprenorphine 0.01 MG/HR
    ("993781", "codeine", 30, MG, Form.IMMEDIATE),  # APAP 300 / codeine 30
    ("897696", "hydromorphone", 2, MG, Form.IMMEDIATE),
    ("864706", "methadone", 10, MG, Form.IMMEDIATE),  # methadone by RxNorm: a pain opioid
])
def test_opioid_products_by_rxnorm(code, ingredient, strength, unit, form):
    drug = identify_drug(med_request(concept(rxnorm=code)))
    assert (drug.drug_class, drug.ingredient, drug.strength, drug.strength_unit, drug.form) == (
        OPIOID, ingredient, strength, unit, form)
    assert drug.identified_by is IdentifiedBy.RXNORM
    assert drug.rxnorm == code
    assert drug.display != "unnamed medication"  # RxNorm's own name stands in for a missing display


def test_rxnorm_ingredient_code_has_no_strength():
    drug = identify_drug(med_request(concept(rxnorm="7804", display="oxycodone")))
    assert (drug.ingredient, drug.strength, drug.form) == ("oxycodone", None, Form.UNKNOWN)


def test_rxnorm_buprenorphine_naloxone_is_laro():
    drug = identify_drug(med_request(concept(rxnorm="351267")))
    assert drug.drug_class is DrugClass.LARO


def test_unknown_rxnorm_code_falls_back_to_the_display_name():
    drug = identify_drug(med_request(concept(rxnorm="99999999", display="Oxycodone 7.5 MG Oral Tablet")))
    assert drug.drug_class is OPIOID and drug.ingredient == "oxycodone"
    assert drug.identified_by is IdentifiedBy.NAME
    assert drug.strength == 7.5


def test_unknown_rxnorm_code_without_name_is_unknown_not_other():
    drug = identify_drug(med_request(concept(rxnorm="99999999")))
    assert drug.drug_class is DrugClass.UNKNOWN
    assert drug.rxnorm == "99999999"


# --- Names (last resort) -------------------------------------------------------------------------

@pytest.mark.parametrize("text, ingredient", [
    ("Oxikodon Sandoz 5 mg kapsel", "oxycodone"),
    ("MORFIN MEDA 10 mg tablett", "morphine"),
    ("Buprenorfin 5 mikrog/timme depotplåster", "buprenorphine"),
    ("Hydromorfon 2,6 mg depotkapsel", "hydromorphone"),
    ("Ketobemidon", "ketobemidone"),
    ("Kodeinfosfat 25 mg", "codeine"),
    ("Petidin 50 mg/ml", "pethidine"),
    ("Metadon 5 mg tablett", "methadone"),
    ("Etylmorfin", "ethylmorphine"),
    ("tramadol 50MG", "tramadol"),
    ("Tapentadol 50 mg", "tapentadol"),
    ("Fentanyl 12 mikrog/timme", "fentanyl"),
    ("Dihydrokodein 30 mg", "dihydrocodeine"),  # not codeine: names match at a word start
    ("OxyContin 10 mg depottablett", "oxycodone"),
    ("Citodon 500 mg/30 mg", "codeine"),  # codeine + paracetamol: the opioid wins
    ("Hydrocodone Bitartrate 5 MG", "hydrocodone"),
])
def test_opioid_by_name_is_low_confidence(text, ingredient):
    drug = identify_drug(med_request(concept(text)))
    assert drug.drug_class is OPIOID and drug.ingredient == ingredient
    assert drug.identified_by is IdentifiedBy.NAME and drug.low_confidence


@pytest.mark.parametrize("text, drug_class", [
    ("Suboxone 8 mg/2 mg", DrugClass.LARO),
    ("Buprenorfin/Naloxon 8 mg/2 mg resoriblett", DrugClass.LARO),
    ("ZOPIKLON 7,5 mg", DrugClass.Z_DRUG),
    ("Stesolid 5 mg", DrugClass.BENZODIAZEPINE),
    ("Alvedon 500 mg", DrugClass.PARACETAMOL),
    ("Lyrica 75 mg", DrugClass.GABAPENTINOID),
    ("Sufentanil 15 mikrog", DrugClass.UNKNOWN),  # not fentanyl: word boundary
    ("D-vitamin 10 mikrog", DrugClass.UNKNOWN),
])
def test_other_names(text, drug_class):
    assert identify_drug(med_request(concept(text))).drug_class is drug_class


# --- medicationReference, strength and form --------------------------------------------------------

def test_contained_medication_with_ingredient_strength():
    med = medication(concept("Oxikodon depottablett", atc="N02AA05"), med_id="m1",
                     ingredients=[(concept("oxikodonhydroklorid"), ratio(qty(20, "mg"), qty(1, "tablett")))])
    drug = identify_drug(med_request(None, reference="#m1", contained=[med]))
    assert (drug.ingredient, drug.strength, drug.strength_unit, drug.form) == ("oxycodone", 20, MG, Form.DEPOT)


def test_strength_from_product_text_when_medication_has_none():
    drug = identify_drug(med_request(concept("OxyContin 10 mg depottablett", atc="N02AA05")))
    assert (drug.strength, drug.strength_unit, drug.form) == (10, MG, Form.DEPOT)


def test_combination_strength_is_the_opioid_ingredient():
    med = medication(concept("Citodon", atc="N02AJ06"), ingredients=[
        (concept("paracetamol", atc="N02BE01"), ratio(qty(500, "mg"), qty(1, "st"))),
        (concept("kodeinfosfat", atc="R05DA04"), ratio(qty(30, "mg"), qty(1, "st"))),
    ])
    drug = identify_drug(med_request(None, reference="Medication/med1"), {"Medication/med1": med}.get)
    assert (drug.ingredient, drug.strength) == ("codeine", 30)


def test_patch_strength_in_micrograms_per_hour():
    med = medication(concept("Norspan", atc="N02AE01"), form="depotplåster",
                     ingredients=[(concept("buprenorfin"), ratio(qty(10, "mikrog/timme")))])
    drug = identify_drug(med_request(None, reference="#med1", contained=[med]))
    assert (drug.form, drug.strength, drug.strength_unit) == (Form.PATCH, 10, UG_PER_H)


def test_swedish_combination_text_pairs_names_and_strengths_in_order():
    drug = identify_drug(med_request(concept("Oxikodon/Naloxon Sandoz 10 mg/5 mg depottablett", atc="N02AA55")))
    assert (drug.ingredient, drug.strength, drug.form) == ("oxycodone", 10, Form.DEPOT)


@pytest.mark.parametrize("resource, form", [
    (med_request(concept("Temgesic 0,2 mg resoriblett", atc="N02AE01")), Form.SUBLINGUAL),
    (med_request(concept("Buprenorfin", atc="N02AE01"), dosage(1, "st", route=route("37839007", "Sublingual"))),
     Form.SUBLINGUAL),
    (med_request(concept("Fentanyl", atc="N02AB03"), dosage(1, "st", route=route("45890007", "Transdermal"))),
     Form.PATCH),
    (med_request(concept("Fentanyl", atc="N02AB03"), dosage(25, "ug/h")), Form.PATCH),  # dose in µg/h
    (med_request(concept("Fentanyl", atc="N02AB03")), Form.UNKNOWN),  # ATC alone does not make a patch
    (med_request(concept("Fentanyl Sandoz 100 mikrog resoriblett", atc="N02AB03")), Form.SUBLINGUAL),
    (med_request(concept("Morphine sulfate 30 MG Extended Release Oral Tablet")), Form.DEPOT),
    (med_request(concept("Morfin 10 mg/ml injektionsvätska", atc="N02AA01")), Form.INJECTION),
])
def test_form(resource, form):
    assert identify_drug(resource).form is form


# --- Methadone: LARO unless clearly for pain ---------------------------------------------------------

def test_methadone_n07bc02_for_pain_is_an_opioid_analgesic():
    reason = [{"coding": [coding(ICD10, "R52.2", "Annan kronisk smärta")]}]
    drug = identify_drug(med_request(concept("Metadon 5 mg", atc="N07BC02"), reason=reason))
    assert drug.drug_class is OPIOID and drug.ingredient == "methadone"


def test_methadone_n07bc02_with_pain_in_the_dosage_text_is_an_opioid_analgesic():
    drug = identify_drug(med_request(concept("Metadon", atc="N07BC02"),
                                     dosage(5, "mg", freq=2, text="1 tablett 2 gånger dagligen mot smärta")))
    assert drug.drug_class is OPIOID


# --- Malformed input never raises ------------------------------------------------------------------

@pytest.mark.parametrize("resource", [
    None,
    [],
    {},
    {"resourceType": "MedicationRequest", "medicationCodeableConcept": "oxycodone"},
    {"resourceType": "MedicationRequest", "medicationCodeableConcept": {"coding": "x", "text": 5}},
    {"resourceType": "MedicationRequest", "medicationReference": {"reference": "#nope"}, "contained": [1, "x"]},
    {"medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": 12}]}},
])
def test_malformed_input_is_unknown(resource):
    assert identify_drug(resource).drug_class is DrugClass.UNKNOWN


def test_a_failing_resolver_is_missing_data():
    def resolver(ref):
        raise RuntimeError("server down")

    drug = identify_drug(med_request(None, reference="Medication/9"), resolver)
    assert drug.drug_class is DrugClass.UNKNOWN


# --- Caches (hot path: one record repeats a few products thousands of times) --------------------

def test_normalize_text_cache_same_text_same_answer_different_text_different_answer():
    from fhir_mappings.codes.tables import normalize_text

    normalize_text.cache_clear()
    first = normalize_text("Norspan 10 mikrogram/timme  Depotplåster")
    again = normalize_text("Norspan 10 mikrogram/timme  Depotplåster")  # served from the cache
    assert normalize_text.cache_info().hits >= 1
    # By hand: lower case, å → a, the double space collapsed.
    assert first == again == "norspan 10 mikrogram/timme depotplaster"
    assert normalize_text("Norspan 20 mikrogram/timme Depotplåster") == "norspan 20 mikrogram/timme depotplaster"
    # Non-ASCII path and ASCII path give the same normal form: µ → u, é → e, whitespace collapsed.
    assert normalize_text("Fentanyl 25 µg/h\tPlåster") == "fentanyl 25 ug/h plaster"
    assert normalize_text("Fentanyl 25 ug/h plaster") == "fentanyl 25 ug/h plaster"
    assert normalize_text("Codéine  30 MG") == "codeine 30 mg"


def _fresh(resource, resolver=None):
    """identify_drug with the product cache emptied first: the uncached answer."""
    from fhir_mappings.read import medication as medication_module

    medication_module._PRODUCTS.clear()
    return identify_drug(resource, resolver)


def test_product_cache_equal_products_equal_answers_different_strength_text_different_answers():
    ten = med_request(concept("OxyContin 10 mg depottablett", atc="N02AA05"), resource_id="a")
    ten_again = med_request(concept("OxyContin 10 mg depottablett", atc="N02AA05"), resource_id="b")
    twenty = med_request(concept("OxyContin 20 mg depottablett", atc="N02AA05"), resource_id="c")
    first = _fresh(ten)
    assert identify_drug(ten_again) == first  # served from the cache
    assert (first.ingredient, first.strength, first.form) == ("oxycodone", 10, Form.DEPOT)
    # Same ATC code, another strength in the text: a different product.
    assert identify_drug(twenty).strength == 20
    assert identify_drug(ten).strength == 10  # and the first is still 10 after the second was cached
    # The same code with another display on the coding is also another product.
    other_display = med_request({"coding": [coding(ATC_SYSTEM, "N02AA05", "Oxikodon 5 mg kapsel")]})
    assert (identify_drug(other_display).strength, identify_drug(other_display).form) == (5, Form.IMMEDIATE)


def test_product_cache_keeps_what_the_order_says_per_order():
    fentanyl = concept("Fentanyl", atc="N02AB03")  # no form in the product: the order decides
    worn = med_request(fentanyl, dosage(25, "ug/h", route=route("45890007", "Transdermal route")))
    plain = med_request(fentanyl, dosage(1, "st", freq=1))
    assert _fresh(worn).form is Form.PATCH
    assert identify_drug(plain).form is Form.UNKNOWN  # same product, cached: form still from this order
    assert identify_drug(worn).form is Form.PATCH
    # Methadone N07BC02: LARO unless this prescription says pain (clinical-rules §8).
    pain = [{"coding": [coding(ICD10, "R52.2", "Annan kronisk smärta")]}]
    for_pain = med_request(concept("Metadon 5 mg", atc="N07BC02"), reason=pain)
    maintenance = med_request(concept("Metadon 5 mg", atc="N07BC02"))
    assert _fresh(maintenance).drug_class is DrugClass.LARO
    assert identify_drug(for_pain).drug_class is OPIOID
    assert identify_drug(maintenance).drug_class is DrugClass.LARO


def test_product_cache_referenced_medications_differ_by_form_and_ingredient_strength():
    def with_med(form, strength_mg):
        med = medication(concept("Oxikodon", atc="N02AA05"), form=form,
                         ingredients=[(concept("oxikodon", atc="N02AA05"), ratio(qty(strength_mg, "mg"), qty(1, "tablet")))])
        return med_request(None, reference="#med1", contained=[med])

    depot10, depot20, tablet10 = with_med("depottablett", 10), with_med("depottablett", 20), with_med("tablett", 10)
    assert (_fresh(depot10).form, _fresh(depot10).strength) == (Form.DEPOT, 10)
    assert (identify_drug(depot20).form, identify_drug(depot20).strength) == (Form.DEPOT, 20)
    assert (identify_drug(tablet10).form, identify_drug(tablet10).strength) == (Form.IMMEDIATE, 10)
    assert identify_drug(with_med("depottablett", 10)) == identify_drug(depot10)


def test_product_cache_shapes_it_cannot_key_are_identified_the_same_way():
    # A number as ATC code cannot be keyed exactly: identified without the cache, with the same answer (unknown
    # code, so the name decides: oxycodone by name).
    odd = {"medicationCodeableConcept": {"coding": [{"system": ATC_SYSTEM, "code": 12}], "text": "Oxikodon 5 mg"}}
    drug = identify_drug(odd)
    assert (drug.drug_class, drug.ingredient, drug.identified_by) == (OPIOID, "oxycodone", IdentifiedBy.NAME)
    assert identify_drug(odd) == drug


def test_caches_do_not_keep_long_texts_but_answer_the_same():
    from fhir_mappings.read import medication as medication_module
    from fhir_mappings.codes.tables import normalize_text

    long_text = "Oxikodon 5 mg kapsel " + "ö" * 400  # over the 256 characters a text cache keeps
    before = normalize_text.cache_info().currsize
    assert normalize_text(long_text) == "oxikodon 5 mg kapsel " + "o" * 400
    assert normalize_text.cache_info().currsize == before
    # Product keys hold at most 1 024 characters of text in all: 21 + 1 200 is over.
    medication_module._PRODUCTS.clear()
    drug = identify_drug(med_request(concept("Oxikodon 5 mg kapsel " + "ö" * 1200, atc="N02AA05")))
    assert (drug.ingredient, drug.strength, drug.form) == ("oxycodone", 5, Form.IMMEDIATE)
    assert len(medication_module._PRODUCTS) == 0  # identified without the cache
    # Under the limit it is cached, and gives the same answer.
    cached = identify_drug(med_request(concept(long_text, atc="N02AA05")))
    assert (cached.ingredient, cached.strength, cached.form) == ("oxycodone", 5, Form.IMMEDIATE)
    assert len(medication_module._PRODUCTS) == 1


def test_a_huge_product_text_is_shown_short_but_still_identified():
    """A card must not repeat 100 kB of record text: the display is clipped, identification is not."""
    from fhir_mappings.read.medication import DISPLAY_MAX, identify_drug

    text = "Oxikodon depot 10 mg " + "Z" * 100_000
    mr = {"resourceType": "MedicationRequest",
          "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "N02AA05"}],
                                        "text": text}}
    drug = identify_drug(mr)
    assert drug.ingredient == "oxycodone"
    assert len(drug.display) == DISPLAY_MAX and drug.display.startswith("Oxikodon depot 10 mg")
    short = identify_drug({**mr, "medicationCodeableConcept": {**mr["medicationCodeableConcept"], "text": "Oxikodon  depot\n10 mg"}})
    assert short.display == "Oxikodon depot 10 mg"
