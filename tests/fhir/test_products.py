"""Products, count units and strengths: a Swedish brand dosed in tablets, the sandbox's {pill}, a
combination's opioid part (clinical-rules §4, §9; fhir_mappings.codes.products). Expected values by hand from
cds_service/domain/data/medd_factors.csv: oxycodone 2, morphine 1, codeine 0.15, tramadol 0.2, tapentadol 0.3,
ketobemidone 1.5 per mg; buprenorphine patch 2, fentanyl patch 2.4 per µg/h."""
from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.read.dosage import daily_dose
from cds_service.domain.medd import medd
from fhir_mappings.read.medication import identify_drug
from cds_service.domain.model import MG, UG_PER_H, DrugClass, Form, IdentifiedBy
from fhir_mappings.codes.products import load_products_table
from fhir_mappings.codes.systems import NPL, SNOMED, UCUM
from tests.support.mapping_cases import coding, concept, dosage, med_request, medication, qty, ratio

TODAY = date(2024, 3, 1)


def npl_only(text: str) -> dict:
    """A product as Swedish records often send it: an NPL id (a placeholder, no real product's) and a text."""
    return {"coding": [coding(NPL, "19990101000000", text)], "text": text}


def mapped(mr: dict):
    drug = identify_drug(mr)
    dose = daily_dose(mr, drug, TODAY)
    return drug, dose, medd(drug, dose)


# --- Every opioid product of real-senders.md, coded with an NPL id only -----------------------------

@pytest.mark.parametrize("text, line, ingredient, strength, form, expected_medd", [
    # 2 tablets 4 times daily = 8 × 30 mg codeine = 240 mg/day × 0.15
    ("Citodon tablett", dosage(2, "tablett", freq=4), "codeine", 30, Form.IMMEDIATE, 240 * 0.15),
    ("Citodon 500 mg/30 mg tablett", dosage(2, "st", freq=4), "codeine", 30, Form.IMMEDIATE, 240 * 0.15),
    ("Panocod 500 mg/30 mg", dosage(1, "tablett", freq=3), "codeine", 30, Form.IMMEDIATE, 90 * 0.15),
    # the text states the strengths in the table's order: acetylsalicylic acid/codeine
    ("Treo comp brustablett 500 mg/10 mg", dosage(2, "st", freq=3), "codeine", 10, Form.IMMEDIATE, 60 * 0.15),
    ("Targiniq 10 mg/5 mg depottablett", dosage(1, "depottablett", freq=2), "oxycodone", 10, Form.DEPOT, 20 * 2),
    ("Targiniq 20/10 mg", dosage(1, "st", freq=2), "oxycodone", 20, Form.DEPOT, 40 * 2),
    ("OxyNorm 5 mg kapsel", dosage(1, "kapsel", freq=4), "oxycodone", 5, Form.IMMEDIATE, 20 * 2),
    ("OxyContin 20 mg depottablett", dosage(1, "st", freq=2), "oxycodone", 20, Form.DEPOT, 40 * 2),
    ("Dolcontin 30 mg", dosage(1, "tablett", freq=2), "morphine", 30, Form.DEPOT, 60 * 1),
    ("Depolan 30 mg", dosage(1, "st", freq=2), "morphine", 30, Form.DEPOT, 60 * 1),
    ("Norspan 10 mikrogram/timme", dosage(1, "plåster", freq=1, period=7), "buprenorphine", 10, Form.PATCH, 10 * 2),
    ("Durogesic 25 µg/h", dosage(1, "depotplåster", freq=1, period=3), "fentanyl", 25, Form.PATCH, 25 * 2.4),
    ("Nobligan 50 mg kapsel", dosage(2, "kapslar", freq=3), "tramadol", 50, Form.IMMEDIATE, 300 * 0.2),
    ("Nobligan Retard 100 mg", dosage(1, "st", freq=2), "tramadol", 100, Form.DEPOT, 200 * 0.2),
    ("Tiparol 50 mg", dosage(1, "tablett", freq=4), "tramadol", 50, Form.IMMEDIATE, 200 * 0.2),
    ("Palexia depot 100 mg", dosage(1, "st", freq=2), "tapentadol", 100, Form.DEPOT, 200 * 0.3),
    ("Palexia 50 mg", dosage(1, "st", freq=4), "tapentadol", 50, Form.IMMEDIATE, 200 * 0.3),
    # one listed strength (5 mg ketobemidone): 3 × 5 = 15 mg × 1.5
    ("Ketogan", dosage(1, "tablett", freq=3), "ketobemidone", 5, Form.IMMEDIATE, 15 * 1.5),
])
def test_a_swedish_opioid_product_by_name_gives_its_ingredient_strength_and_medd(
        text, line, ingredient, strength, form, expected_medd):
    drug, dose, result = mapped(med_request(npl_only(text), line))
    assert (drug.drug_class, drug.ingredient, drug.strength, drug.form) == (DrugClass.OPIOID, ingredient, strength, form)
    assert drug.identified_by is IdentifiedBy.NAME and drug.low_confidence  # a name stays a name
    assert drug.atc  # the products table's ATC
    assert dose.counted
    assert result.value == pytest.approx(round(expected_medd, 1))


@pytest.mark.parametrize("text, drug_class, ingredient", [
    ("Sobril 10 mg tablett", DrugClass.BENZODIAZEPINE, "oxazepam"),
    ("Stesolid 5 mg", DrugClass.BENZODIAZEPINE, "diazepam"),
    ("Imovane 7,5 mg", DrugClass.Z_DRUG, "zopiclone"),
    ("Stilnoct 10 mg", DrugClass.Z_DRUG, "zolpidem"),
    ("Lyrica 75 mg kapsel", DrugClass.GABAPENTINOID, "pregabalin"),
    ("Neurontin 300 mg", DrugClass.GABAPENTINOID, "gabapentin"),
    ("Xanor Depot 1 mg", DrugClass.BENZODIAZEPINE, "alprazolam"),
])
def test_sedatives_and_gabapentinoids_by_name(text, drug_class, ingredient):
    drug = identify_drug(med_request(npl_only(text)))
    assert (drug.drug_class, drug.ingredient, drug.identified_by) == (drug_class, ingredient, IdentifiedBy.NAME)


def test_the_combination_counts_its_opioid_part_and_keeps_the_others():
    drug = identify_drug(med_request(npl_only("Citodon 500 mg/30 mg")))
    assert (drug.ingredient, drug.strength, drug.companions) == ("codeine", 30, ("paracetamol",))
    drug = identify_drug(med_request(concept("Targiniq 10 mg/5 mg", atc="N02AA55")))
    assert (drug.ingredient, drug.strength, drug.companions) == ("oxycodone", 10, ("naloxone",))
    assert drug.identified_by is IdentifiedBy.ATC  # the code identifies; the table reads the strength
    # a generic combination named by its ingredients, no table row needed
    drug = identify_drug(med_request(concept("Oxikodon/Naloxon Sandoz 10 mg/5 mg depottablett")))
    assert (drug.ingredient, drug.strength, drug.companions) == ("oxycodone", 10, ("naloxone",))


# --- Honest unknowns ----------------------------------------------------------------------------------

def test_a_product_of_several_strengths_named_without_one_stays_unknown():
    drug, dose, result = mapped(med_request(npl_only("OxyContin depottablett"), dosage(1, "st", freq=2)))
    assert drug.ingredient == "oxycodone" and drug.strength is None and drug.strength_source is None
    assert dose.amount is None and str(dose.problem) == "strength per unit unknown"
    assert result.value is None


def test_an_unknown_product_by_npl_id_stays_unidentified():
    drug, dose, result = mapped(med_request(npl_only("Blomsterkvast 10 mg"), dosage(1, "st", freq=2)))
    assert drug.drug_class is DrugClass.UNKNOWN
    assert result.value is None and str(result.problem) == "medication not identified"


def test_a_code_naming_another_drug_is_not_overruled_by_the_name():
    drug = identify_drug(med_request(concept("Citodon", atc="N02AA05")))  # the ATC says oxycodone
    assert drug.ingredient == "oxycodone" and drug.strength is None and drug.companions == ()


# --- Count units: "n of the product" -----------------------------------------------------------------

def oxycontin_10() -> dict:
    return concept("OxyContin 10 mg depottablett", atc="N02AA05")


def counted(q: dict, product: dict | None = None):
    line = dosage(1, None, freq=2)
    line["doseAndRate"][0]["doseQuantity"] = q
    return mapped(med_request(product or oxycontin_10(), line))


@pytest.mark.parametrize("q", [
    qty(1, code="{pill}"), qty(1, code="{tbl}"), qty(1, code="{tablet}"), qty(1, code="{capsule}"),
    qty(1, code="{dose}"), qty(1, code="{puff}"), qty(1, code="1"),
    qty(1, "tablet", code="732936001", system=SNOMED), qty(1, "Capsule", code="732937005", system=SNOMED),
    qty(1, "st"), qty(1, "tablett"), qty(1, "tabletter"), qty(1, "kapsel"), qty(1, "kapslar"),
    qty(1, "depottablett"), qty(1, "dos"), qty(1, "Tablett(er)"), qty(1, "st."),
])
def test_oral_count_units_are_tablets_of_the_product(q):
    drug, dose, result = counted(q)
    assert (dose.amount, dose.unit, dose.counted) == (1 * 10 * 2, MG, True)
    assert result.value == 40


@pytest.mark.parametrize("q", [
    qty(1, code="{patch}"), qty(1, "plåster"), qty(1, "depotplåster"), qty(1, "st"),
    qty(1, code="{pill}"),  # the CDS Hooks sandbox sends {pill} for every product, a patch too
    qty(1, "patch", code="733005001", system=SNOMED),
])
def test_patch_count_units_are_patches_of_the_product(q):
    line = dosage(1, None, freq=1, period=3)
    line["doseAndRate"][0]["doseQuantity"] = q
    drug, dose, result = mapped(med_request(concept("Durogesic 25 mikrogram/timme", atc="N02AB03"), line))
    assert (dose.amount, dose.unit, dose.counted) == (25, UG_PER_H, True)
    assert result.value == 25 * 2.4


@pytest.mark.parametrize("product, q", [
    (oxycontin_10(), qty(1, code="{patch}")),  # a patch of a tablet
    (oxycontin_10(), qty(1, "depotplåster")),
    (concept("Durogesic 25 mikrogram/timme", atc="N02AB03"), qty(1, "tablett")),  # a tablet of a patch
])
def test_a_count_unit_naming_another_form_is_not_counted(product, q):
    drug, dose, result = counted(q, product)
    assert dose.amount is None and "does not match the product's form" in str(dose.problem)
    assert result.value is None


def test_a_mass_dose_is_not_counted():
    drug, dose, _ = counted(qty(10, "mg", code="mg"))
    assert (dose.amount, dose.counted) == (20, False)


# --- Where the strength came from --------------------------------------------------------------------

def test_strength_from_a_medication_resource_comes_first():
    med = medication(concept("OxyContin 20 mg depottablett"), form="depottablett")
    med["ingredient"] = [{"itemCodeableConcept": concept("oxikodon", atc="N02AA05"),
                          "strength": ratio(qty(15, "mg", code="mg"), qty(1, "tablett", code="{tbl}"))}]
    mr = med_request(None, dosage(1, "st", freq=2), reference="#med1")
    mr["contained"] = [med]
    drug = identify_drug(mr)
    assert (drug.strength, drug.strength_source) == (15, "medication")


@pytest.mark.parametrize("product, strength, source", [
    (concept(rxnorm="1049502", display="12 HR Oxycodone Hydrochloride 10 MG Extended Release Oral Tablet"), 10, "rxnorm"),
    (concept(rxnorm="1049502"), 10, "rxnorm"),  # the code alone
    (concept("Oxycodone 10 MG Oral Tablet"), 10, "text"),
    (concept("Oxikodon 10 mg tablett", atc="N02AA05"), 10, "text"),
    (concept("Citodon 500 mg/30 mg", atc="N02AJ06"), 30, "text"),
    (concept("Citodon", atc="N02AJ06"), 30, "products-table"),
    (npl_only("Norspan 5 mikrogram/timme"), 5, "text"),
    (concept("Fentanyl 12 µg/h depotplåster", atc="N02AB03"), 12, "text"),
])
def test_strength_source(product, strength, source):
    drug = identify_drug(med_request(product))
    assert (drug.strength, drug.strength_source) == (strength, source)


def test_the_sandbox_draft_is_20_mg_a_day():
    """The CDS Hooks sandbox: RxNorm 1049502 and 1 {pill} twice daily."""
    line = {"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 1, "system": UCUM, "code": "{pill}"}}]}
    drug, dose, result = mapped(med_request(concept(
        rxnorm="1049502", display="12 HR Oxycodone Hydrochloride 10 MG Extended Release Oral Tablet"), line))
    assert (drug.ingredient, drug.form, drug.strength_source) == ("oxycodone", Form.DEPOT, "rxnorm")
    assert (dose.amount, dose.unit, dose.counted) == (20, MG, True)
    assert result.value == 40


# --- The table file ----------------------------------------------------------------------------------

def test_the_bundled_table_loads_and_every_opioid_row_has_a_medd_factor():
    from cds_service.domain.medd import load_medd_table

    factors = load_medd_table().ingredients
    table = load_products_table()
    opioids = [p for p in table.products if p.drug_class is DrugClass.OPIOID]
    assert len(opioids) >= 18
    assert all(p.ingredient in factors for p in opioids)


@pytest.mark.parametrize("row, message", [
    ("Citodon,paracetamol/codeine,500,mg,immediate,N02AJ06,x", "needs 2 positive values"),
    ("Citodon,paracetamol/codeine,500/30,mg,immediate,N02AA05,x", "names oxycodone"),
    ("Citodon,paracetamol/codeine,500/30,grams,immediate,N02AJ06,x", "unit 'grams'"),
    ("Citodon,paracetamol/codeine,500/30,mg,pill,N02AJ06,x", "unknown form"),
    ("Citodon,paracetamol/codeine,500/30,mg,immediate,,x", "ATC code"),
])
def test_a_malformed_products_table_is_refused(tmp_path, row, message):
    path = tmp_path / "products.csv"
    path.write_text("name,ingredients,strengths,unit,form,atc,source\n" + row + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_products_table(path)
