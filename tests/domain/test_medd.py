"""MEDD (clinical-rules §4). Expected values computed by hand from the clinical table:

morphine 1, oxycodone 2, tramadol 0.2, buprenorphine patch 2 per µg/h, buprenorphine sublingual
50 per mg, fentanyl patch 2.4 per µg/h, hydromorphone 7.5, ketobemidone 1.5, tapentadol 0.3,
codeine 0.15, dihydrocodeine 0.25, pethidine 0.1, methadone 4 (1–20 mg/d), 8 (21–40), 10 (41–60),
12 (≥61); hydrocodone 1 (CDC, added for US sandboxes).
"""
from __future__ import annotations

from cds_service.domain.problems import Problem

from datetime import date

import pytest

from fhir_mappings.read.dosage import daily_dose
from cds_service.domain.medd import load_medd_table, medd, medd_memo
from cds_service.domain.regimen import sum_medd as total_medd
from fhir_mappings.read.medication import identify_drug
from cds_service.domain.model import (
    MG,
    UG_PER_H,
    DailyDose,
    Drug,
    DrugClass,
    Form,
    Medd,
    MedicationOrder,
    TotalMedd,
)
from tests.support.mapping_cases import concept, dosage, med_request

ORAL = Form.IMMEDIATE


def opioid(ingredient: str | None, form: Form = ORAL, display: str | None = None) -> Drug:
    return Drug(DrugClass.OPIOID, display or str(ingredient), ingredient, form)


def mg(amount: float | None, prn: bool = False, problem: str | None = None) -> DailyDose:
    return DailyDose(amount, MG if amount is not None else None, prn=prn, problem=problem)


def ugh(amount: float) -> DailyDose:
    return DailyDose(amount, UG_PER_H)


@pytest.mark.parametrize("drug, dose, expected", [
    (opioid("morphine"), mg(60), 60 * 1),
    (opioid("morphine", Form.DEPOT), mg(45), 45 * 1),
    (opioid("oxycodone"), mg(40), 40 * 2),
    (opioid("oxycodone", Form.DEPOT), mg(30), 30 * 2),
    (opioid("tramadol"), mg(300), 300 * 0.2),
    (opioid("tramadol", Form.DEPOT), mg(150), 150 * 0.2),
    (opioid("buprenorphine", Form.PATCH), ugh(10), 10 * 2),
    (opioid("buprenorphine", Form.SUBLINGUAL), mg(0.6), 0.6 * 50),
    (opioid("fentanyl", Form.PATCH), ugh(25), 25 * 2.4),
    (opioid("fentanyl", Form.PATCH), ugh(12), 12 * 2.4),
    (opioid("hydromorphone"), mg(4), 4 * 7.5),
    (opioid("ketobemidone"), mg(20), 20 * 1.5),
    (opioid("tapentadol", Form.DEPOT), mg(100), 100 * 0.3),
    (opioid("codeine"), mg(240), 240 * 0.15),
    (opioid("dihydrocodeine"), mg(120), 120 * 0.25),
    (opioid("pethidine"), mg(200), 200 * 0.1),
    (opioid("methadone"), mg(10), 10 * 4),
    (opioid("hydrocodone"), mg(20), 20 * 1),
    (opioid("oxycodone", Form.UNKNOWN), mg(20), 20 * 2),  # unknown form of an oral-only drug: oral
    (opioid("fentanyl", Form.UNKNOWN), ugh(25), 25 * 2.4),  # a dose in µg/h can only be a patch
    (opioid("oxycodone"), mg(40, prn=True), 40 * 2),  # PRN counts at its maximum
])
def test_medd_of_every_ingredient_in_the_table(drug, dose, expected):
    result = medd(drug, dose)
    assert result.value == pytest.approx(round(expected, 1))
    assert result.problem is None and result.source


def test_table_covers_exactly_the_clinical_ingredients():
    ingredients = load_medd_table().ingredients
    assert ingredients == {"morphine", "oxycodone", "tramadol", "buprenorphine", "fentanyl", "hydromorphone",
                           "ketobemidone", "tapentadol", "codeine", "dihydrocodeine", "pethidine", "methadone",
                           "hydrocodone"}


@pytest.mark.parametrize("drug, dose", [
    (opioid("morphine"), mg(60)),  # 60 mg oral morphine
    (opioid("oxycodone"), mg(30)),  # = 30 mg oxycodone
    (opioid("tramadol"), mg(300)),  # = 300 mg tramadol
    (opioid("buprenorphine", Form.PATCH), ugh(30)),  # = 30 µg/h transdermal buprenorphine
])
def test_seed_equivalences_are_60_medd(drug, dose):
    """[RJL 'Hjälp och kontaktvägar'] 60 MEDD = 60 mg morphine = 30 mg oxycodone = 300 mg tramadol
    = 30 µg/h transdermal buprenorphine."""
    assert medd(drug, dose).value == 60


@pytest.mark.parametrize("daily_mg, expected", [
    (1, 1 * 4),
    (20, 20 * 4),  # upper end of the 1–20 band
    (20.5, 20.5 * 4),  # between bands: the lower band
    (21, 21 * 8),  # lower end of the 21–40 band
    (40, 40 * 8),
    (41, 41 * 10),
    (60, 60 * 10),
    (61, 61 * 12),
    (120, 120 * 12),
])
def test_methadone_dose_bands(daily_mg, expected):
    result = medd(opioid("methadone"), mg(daily_mg))
    assert result.value == pytest.approx(expected)


@pytest.mark.parametrize("drug, dose, problem", [
    (Drug(DrugClass.UNKNOWN, "Okänt"), mg(10), "medication not identified"),
    (Drug(DrugClass.LARO, "Metadon", "methadone"), mg(60), "not an opioid analgesic (laro)"),
    (Drug(DrugClass.BENZODIAZEPINE, "Sobril", "oxazepam"), mg(30), "not an opioid analgesic (benzodiazepine)"),
    (opioid(None), mg(10), "opioid ingredient unknown"),
    (opioid("ethylmorphine"), mg(30), "no conversion factor for ethylmorphine"),
    (opioid("oxymorphone"), mg(10), "no conversion factor for oxymorphone"),
    (opioid("oxycodone"), mg(None, problem=Problem("no-frequency")), "daily dose unknown: no frequency"),
    (opioid("fentanyl", Form.SUBLINGUAL), mg(0.4), "no conversion factor for fentanyl sublingual"),
    (opioid("fentanyl", Form.UNKNOWN), mg(0.4),
     "form unknown: the conversion factor for fentanyl depends on the form"),
    (opioid("buprenorphine", Form.UNKNOWN), mg(0.4),
     "form unknown: the conversion factor for buprenorphine depends on the form"),
    (opioid("morphine", Form.INJECTION), mg(10), "no conversion factor for morphine injection"),
    (opioid("fentanyl", Form.PATCH), mg(25), "dose in mg does not match the factor unit ug/h for fentanyl patch"),
    (opioid("oxycodone"), ugh(25), "dose in ug/h does not match the factor unit mg for oxycodone immediate"),
    (opioid("methadone"), mg(0.5), "daily dose 0.5 mg outside the conversion bands for methadone"),
])
def test_unknown_medd_is_reported_never_zero(drug, dose, problem):
    result = medd(drug, dose)
    assert result.value is None
    assert str(result.problem) == problem


def test_atc_stands_in_for_a_missing_ingredient():
    drug = Drug(DrugClass.OPIOID, "Oxikodon", None, ORAL, atc="N02AA05")
    assert medd(drug, mg(10)).value == 10 * 2


# --- Total ---------------------------------------------------------------------------------------------

def order(drug: Drug, value: float | None, oid: str = "x") -> MedicationOrder:
    return MedicationOrder(oid, "MedicationRequest", "active", "order", drug, mg(None), Medd(value))


def test_total_sums_the_opioids():
    orders = [order(opioid("oxycodone"), 40), order(opioid("morphine"), 20),
              order(Drug(DrugClass.PARACETAMOL, "Alvedon"), None)]
    assert total_medd(orders) == TotalMedd(40 + 20, complete=True)


def test_total_with_an_unknown_part_is_a_lower_bound():
    orders = [order(opioid("oxycodone", display="Oxikodon"), 45),
              order(opioid("tramadol", display="Tramadol"), None),
              order(opioid("tramadol", display="Tramadol"), None)]
    total = total_medd(orders)
    assert (total.value, total.complete, total.unknown) == (45, False, ("Tramadol",))
    assert total.is_lower_bound


def test_total_with_no_known_part_is_none():
    total = total_medd([order(opioid("tramadol", display="Tramadol"), None)])
    assert (total.value, total.complete) == (None, False)


def test_total_ignores_laro_and_non_opioids():
    orders = [order(Drug(DrugClass.LARO, "Metadon", "methadone"), None), order(Drug(DrugClass.UNKNOWN, "?"), None)]
    assert total_medd(orders) == TotalMedd(0.0, complete=True)


# --- The table is data ------------------------------------------------------------------------------------

def test_region_swaps_the_table_by_environment(tmp_path, monkeypatch):
    table = tmp_path / "region.csv"
    table.write_text("ingredient,atc,form,unit,factor,min_daily,max_daily,source\n"
                     "oxycodone,N02AA05,immediate|depot,mg,1.5,,,Region X 2025\n", encoding="utf-8")
    monkeypatch.setenv("TRAPPA_MEDD_TABLE", str(table))
    result = medd(opioid("oxycodone"), mg(20))
    assert (result.value, result.factor, result.source) == (20 * 1.5, 1.5, "Region X 2025")
    assert str(medd(opioid("morphine"), mg(20)).problem) == "no conversion factor for morphine"


def test_rows_per_ingredient_index_answers_like_the_table():
    table = load_medd_table()
    # medd_factors.csv: methadone has four dose bands, factors 4, 8, 10, 12 in file order.
    assert [r.factor for r in table.for_ingredient("methadone")] == [4, 8, 10, 12]
    assert table.for_ingredient("methadone") == table.for_ingredient("methadone")
    assert [r.factor for r in table.for_ingredient("oxycodone")] == [2]
    assert table.for_ingredient("paracetamol") == ()
    assert {r.ingredient for r in table.rows} == {i for i in table.ingredients if table.for_ingredient(i)}


def test_non_opioids_get_the_same_answer_every_time():
    # Shared per class: equal answers for equal classes, different problems for different classes.
    assert medd(Drug(DrugClass.PARACETAMOL, "Alvedon"), mg(4000)) == medd(Drug(DrugClass.PARACETAMOL, "Panodil"), mg(3000))
    assert str(medd(Drug(DrugClass.PARACETAMOL, "Alvedon"), mg(4000)).problem) == "not an opioid analgesic (paracetamol)"
    assert str(medd(Drug(DrugClass.LARO, "Metadon", "methadone"), mg(60)).problem) == "not an opioid analgesic (laro)"
    assert str(medd(Drug(DrugClass.UNKNOWN, "?"), mg(10)).problem) == "medication not identified"


def test_malformed_table_is_a_configuration_error(tmp_path):
    table = tmp_path / "bad.csv"
    table.write_text("ingredient,factor\nmorphine,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing columns"):
        load_medd_table(table)


# --- End to end: FHIR in, MEDD out ---------------------------------------------------------------------------

@pytest.mark.parametrize("mr, expected", [
    # RxNorm fentanyl 25 µg/h patch changed every 72 h: 25 × 2.4
    (med_request(concept(rxnorm="245134"), dosage(1, "patch", freq=1, period=72, period_unit="h")), 25 * 2.4),
    # Norspan 10 µg/h changed every 7 days (name and text only): 10 × 2
    (med_request(concept("Norspan 10 mikrog/timme depotplåster"), dosage(1, "st", freq=1, period=7)), 10 * 2),
    # OxyContin 10 mg × 2 a day, strength from the text: 20 × 2
    (med_request(concept("OxyContin 10 mg depottablett", atc="N02AA05"), dosage(1, "st", freq=2)), 20 * 2),
    # hydrocodone/APAP 5/325, 1–2 tablets every 6 h as needed: 2 × 5 × 4 = 40 mg × 1
    (med_request(concept(rxnorm="857002"), dosage(dose_range=(1, 2), unit="tablet", freq=1, period=6,
                                                  period_unit="h", prn=True)), 2 * 5 * 4 * 1),
    # APAP 300 / codeine 30 (RxNorm) 2 × 4 a day: 240 mg codeine × 0.15
    (med_request(concept(rxnorm="993781"), dosage(2, "tablet", freq=4)), 2 * 30 * 4 * 0.15),
    # methadone by RxNorm 10 mg × 3 = 30 mg/day: band 21–40, factor 8
    (med_request(concept(rxnorm="864706"), dosage(1, "tablet", freq=3)), 30 * 8),
    # Temgesic 0.2 mg × 3 sublingual = 0.6 mg × 50
    (med_request(concept("Temgesic 0,2 mg resoriblett", atc="N02AE01"), dosage(1, "st", freq=3)), 0.6 * 50),
])
def test_fhir_to_medd(mr, expected):
    drug = identify_drug(mr)
    result = medd(drug, daily_dose(mr, drug, date(2024, 3, 1)))
    assert result.value == pytest.approx(round(expected, 1))


def test_ambiguous_combination_strength_is_not_guessed():
    """A combination the products table does not know, "500 mg/30 mg" naming neither ingredient next to its
    strength: unknown, not guessed (Citodon, which the table knows, is in tests/fhir/test_products.py)."""
    mr = med_request(concept("Kombinationstablett 500 mg/30 mg", atc="N02AJ06"), dosage(2, "st", freq=4))
    drug = identify_drug(mr)
    result = medd(drug, daily_dose(mr, drug, date(2024, 3, 1)))
    assert result.value is None
    assert str(result.problem) == "daily dose unknown: strength per unit unknown"


def test_a_known_combination_with_one_number_is_not_guessed():
    """"Citodon 500 mg": the number may be the paracetamol; the products table knows two ingredients."""
    mr = med_request(concept("Citodon 500 mg", atc="N02AJ06"), dosage(2, "st", freq=4))
    drug = identify_drug(mr)
    assert drug.strength is None
    assert medd(drug, daily_dose(mr, drug, date(2024, 3, 1))).value is None


def test_memo_for_record_orders_answers_like_medd_and_follows_a_swapped_table(tmp_path, monkeypatch):
    drug, dose = opioid("oxycodone"), mg(20)
    assert medd_memo(drug, dose) == medd(drug, dose) == medd_memo(drug, dose)
    assert medd_memo(drug, dose).value == 40  # oxycodone factor 2 in the bundled table
    table = tmp_path / "region.csv"
    table.write_text("ingredient,atc,form,unit,factor,min_daily,max_daily,source\n"
                     "oxycodone,N02AA05,immediate|depot,mg,1.5,,,Region X 2025\n", encoding="utf-8")
    monkeypatch.setenv("TRAPPA_MEDD_TABLE", str(table))
    assert medd_memo(drug, dose).value == 30  # same objects, other table: not the remembered answer
    assert str(medd_memo(Drug(DrugClass.LARO, "Metadon", "methadone"), mg(60)).problem) == "not an opioid analgesic (laro)"


def test_an_implausible_daily_dose_has_no_medd_but_its_reason():
    # 1 500 mg oxycodone a day is 3 000 MEDD, the ceiling; 1 501 mg is a typo (clinical-rules §4)
    oxy = opioid("oxycodone", form=Form.DEPOT)
    assert medd(oxy, DailyDose(1500.0, MG)).value == 3000.0
    high = medd(oxy, DailyDose(20000.0, MG))
    assert high.value is None and "implausibly high" in str(high.problem)
    assert high.problem == Problem("dose-implausible", dose=20000.0, unit=MG, ingredient="oxycodone")
    from cds_service.cards.problems import problem_text
    assert problem_text(high.problem, "sv") == "dygnsdosen 20000 mg oxikodon är orimligt hög – kontrollera ordinationen"
