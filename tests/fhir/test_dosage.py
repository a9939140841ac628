"""Daily dose from dosageInstruction (clinical-rules §4). Expected values worked out by hand."""
from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.read.dosage import daily_dose, dose_steps
from cds_service.domain.model import MG, UG_PER_H, Drug, DrugClass, Form
from tests.support.mapping_cases import concept, dosage, med_request, qty

TODAY = date(2024, 3, 1)


def oxy(strength: float | None = 5, form: Form = Form.IMMEDIATE) -> Drug:
    return Drug(DrugClass.OPIOID, "Oxikodon", "oxycodone", form, "N02AA05", None, strength, MG if strength else None)


def patch(ingredient: str, strength: float | None) -> Drug:
    return Drug(DrugClass.OPIOID, ingredient, ingredient, Form.PATCH, None, None, strength,
                UG_PER_H if strength else None)


OXY5 = oxy(5)
FENTANYL25 = patch("fentanyl", 25)
BUP10 = patch("buprenorphine", 10)


def dose_of(*dosages, drug=OXY5, **kw):
    return daily_dose(med_request(concept("x"), *dosages, **kw), drug, TODAY)


# --- Regular dosing: dose × administrations per day ----------------------------------------------

@pytest.mark.parametrize("line, expected", [
    (dosage(2, "tablet", freq=4), 2 * 5 * 4),  # 2 tablets of 5 mg, 4 times a day
    (dosage(1, "TAB", freq=2), 1 * 5 * 2),
    (dosage(1, "st", freq=3), 1 * 5 * 3),
    (dosage(1, "{tbl}", freq=3), 1 * 5 * 3),
    (dosage(2, "dos", freq=1), 2 * 5 * 1),
    (dosage(1, "kapsel", freq=2), 1 * 5 * 2),
    (dosage(10, "mg", freq=3), 10 * 3),
    (dosage(10, "MG", freq=1, period=8, period_unit="h"), 10 * 24 / 8),  # every 8 hours
    (dosage(5, "mg", freq=14, period=1, period_unit="wk"), 5 * 14 / 7),  # 14 a week = 2 a day
    (dosage(0.01, "g", freq=2), 0.01 * 1000 * 2),  # grams
    (dosage(5000, "ug", freq=2), 5000 / 1000 * 2),  # micrograms
    (dosage(1, "st", when=["MORN", "EVE"]), 1 * 5 * 2),  # two events, no frequency
    (dosage(1, "st", time_of_day=["08:00:00", "14:00:00", "20:00:00"]), 1 * 5 * 3),
    (dosage(1, "st", timing_code="BID"), 1 * 5 * 2),
    (dosage(1, "st", timing_code="TID"), 1 * 5 * 3),
    (dosage(1, "st", timing_code="QID"), 1 * 5 * 4),
    (dosage(1, "st", timing_code="QD"), 1 * 5 * 1),
    (dosage(dose_range=(1, 2), unit="st", freq=3), 2 * 5 * 3),  # a range counts at its high end
    (dosage(1, "st", freq=2, freq_max=3), 1 * 5 * 3),  # frequencyMax counts
    (dosage(2, "st", freq=1, day_of_week=["mon", "wed", "fri"]), 2 * 5 * 3 / 7),
    (dosage(4, "st", freq=4, max_per=(40, "mg", 1, "d")), 40),  # 4 × 5 × 4 = 80 capped at 40 mg/day
])
def test_regular_daily_dose(line, expected):
    dd = dose_of(line)
    assert dd.amount == pytest.approx(expected)
    assert (dd.unit, dd.prn, dd.basis, dd.problem) == (MG, False, "dosage", None)


def test_ucum_code_preferred_over_unit_text():
    line = dosage(1, None, freq=2)
    line["doseAndRate"][0]["doseQuantity"] = qty(1, "tablett(er)", code="{tbl}")
    assert dose_of(line).amount == 1 * 5 * 2


def test_oral_solution_ml_times_mg_per_ml():
    morphine_solution = Drug(DrugClass.OPIOID, "Morfin 2 mg/ml", "morphine", Form.IMMEDIATE, strength=2,
                             strength_unit="mg/ml")
    assert dose_of(dosage(5, "ml", freq=4), drug=morphine_solution).amount == 5 * 2 * 4


# --- PRN: the maximum allowed counts ---------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    (dosage(1, "st", freq=1, period=4, period_unit="h", prn=True), 1 * 5 * 24 / 4),  # every 4 h
    (dosage(1, "st", freq=1, freq_max=3, prn=True), 1 * 5 * 3),  # up to 3 times a day
    (dosage(dose_range=(1, 2), unit="st", freq=4, prn=True), 2 * 5 * 4),
    (dosage(1, "st", prn=True, max_per=(40, "mg", 1, "d")), 40),  # "max 40 mg per day"
    (dosage(1, "st", prn=True, max_per=(8, "tablets", 24, "h")), 8 * 5),  # 8 tablets per 24 h
    (dosage(2, "st", freq=1, period=2, period_unit="h", prn=True, max_per=(6, "st", 1, "d")), 6 * 5),
])
def test_prn_counts_at_its_maximum(line, expected):
    dd = dose_of(line)
    assert dd.amount == pytest.approx(expected)
    assert dd.prn is True


def test_prn_maximum_in_mg_counts_even_when_the_single_dose_is_unreadable():
    # tablets of unknown strength, but "at most 30 mg per 24 h"
    dd = dose_of(dosage(1, "tablet", prn=True, max_per=(30, "mg", 24, "h")), drug=oxy(None))
    assert (dd.amount, dd.prn) == (30 * 24 / 24, True)


def test_prn_without_any_maximum_is_unknown():
    dd = dose_of(dosage(1, "st", prn=True))
    assert dd.amount is None and dd.prn is True
    assert str(dd.problem) == "as needed without a stated maximum"


# --- Patches: µg/h while worn -----------------------------------------------------------------------

@pytest.mark.parametrize("drug, line, expected", [
    (FENTANYL25, dosage(1, "patch", freq=1, period=72, period_unit="h"), 25),  # changed every 72 h
    (BUP10, dosage(1, "plåster", freq=1, period=7, period_unit="d"), 10),  # changed every 7 days
    (BUP10, dosage(1, "depotplåster", freq=1, period=1, period_unit="wk"), 10),
    (FENTANYL25, dosage(2, "st", freq=1, period=3, period_unit="d"), 2 * 25),  # two patches worn
    (patch("fentanyl", None), dosage(25, "ug/h", freq=1, period=72, period_unit="h"), 25),
    (patch("fentanyl", None), dosage(37.5, "mcg/h"), 37.5),
    (patch("buprenorphine", None), dosage(5, "mikrog/timme"), 5),
    (patch("fentanyl", None), dosage(0.05, "mg/h"), 0.05 * 1000),
])
def test_patch_dose_is_micrograms_per_hour_while_worn(drug, line, expected):
    dd = daily_dose(med_request(concept("x"), line), drug, TODAY)
    assert (dd.amount, dd.unit) == (pytest.approx(expected), UG_PER_H)


def test_patch_dose_given_as_mass_is_unknown():
    dd = daily_dose(med_request(concept("x"), dosage(25, "mg", freq=1, period=3, period_unit="d")), FENTANYL25, TODAY)
    assert dd.amount is None and "patch" in str(dd.problem)


# --- STU3-shaped dosage (doseQuantity directly on the dosage) ----------------------------------------

@pytest.mark.parametrize("line, expected", [
    (dosage(2, "st", freq=2, stu3=True), 2 * 5 * 2),
    (dosage(dose_range=(1, 3), unit="st", freq=2, stu3=True), 3 * 5 * 2),
    (dosage(1, "st", prn=True, max_per=(6, "st", 1, "d"), stu3=True), 6 * 5),
])
def test_stu3_dosage(line, expected):
    assert "doseAndRate" not in line
    assert dose_of(line).amount == pytest.approx(expected)


# --- Lines and sequences ------------------------------------------------------------------------------

def test_lines_with_the_same_sequence_add_up():
    morning = dosage(20, "mg", when=["MORN"], sequence=1)
    evening = dosage(10, "mg", when=["EVE"], sequence=1)
    dd = dose_of(morning, evening, drug=oxy(10, Form.DEPOT))
    assert dd.amount == 20 + 10


def test_unsequenced_lines_form_one_step():
    steps = dose_steps(med_request(concept("x"), dosage(10, "mg", freq=2), dosage(5, "mg", freq=1, prn=True)), OXY5)
    assert len(steps) == 1 and steps[0].sequence == 1
    assert steps[0].daily_dose.amount == 10 * 2 + 5 * 1  # the PRN part counts at its maximum
    assert steps[0].daily_dose.prn is True


TAPER = med_request(
    concept("Oxikodon depot 10 mg", atc="N02AA05"),
    dosage(2, "st", freq=2, sequence=1, bounds=("2024-02-01", "2024-02-14")),
    dosage(1, "st", when=["MORN"], sequence=2, bounds=("2024-02-15", "2024-02-28")),
    dosage(2, "st", when=["EVE"], sequence=2, bounds=("2024-02-15", "2024-02-28")),
    dosage(1, "st", freq=2, sequence=3, bounds=("2024-02-29", "2024-03-13")),
)
OXY10 = oxy(10, Form.DEPOT)


def test_taper_steps_by_sequence():
    steps = dose_steps(TAPER, OXY10)
    assert [s.sequence for s in steps] == [1, 2, 3]
    assert [s.daily_dose.amount for s in steps] == [2 * 10 * 2, 1 * 10 + 2 * 10, 1 * 10 * 2]
    assert (steps[1].start, steps[1].end) == (date(2024, 2, 15), date(2024, 2, 28))


@pytest.mark.parametrize("today, expected", [
    (date(2024, 1, 15), 2 * 10 * 2),  # before the taper: the first step
    (date(2024, 2, 20), 1 * 10 + 2 * 10),  # step 2 in effect
    (date(2024, 3, 1), 1 * 10 * 2),  # step 3 in effect
    (date(2024, 6, 1), 1 * 10 * 2),  # after the end: the last step
])
def test_daily_dose_is_the_step_in_effect(today, expected):
    assert daily_dose(TAPER, OXY10, today).amount == expected


def test_bounds_duration_steps_chain_from_the_start():
    mr = med_request(concept("x"), dosage(20, "mg", freq=1, sequence=1, bounds_days=14),
                     dosage(10, "mg", freq=1, sequence=2, bounds_days=14), authored_on="2024-02-01")
    s1, s2 = dose_steps(mr, OXY5)
    assert (s1.start, s1.end) == (date(2024, 2, 1), date(2024, 2, 14))  # 1 Feb + 14 days - 1
    assert (s2.start, s2.end) == (date(2024, 2, 15), date(2024, 2, 28))
    assert daily_dose(mr, OXY5, date(2024, 2, 20)).amount == 10


# --- Fallback to the supply, and honest unknowns ---------------------------------------------------------

@pytest.mark.parametrize("mr, drug, expected", [
    (med_request(concept("x"), supply=(60, "tablet", 30)), oxy(10), 60 * 10 / 30),  # no dosage at all
    (med_request(concept("x"), dosage(text="enligt ordination"), supply=(100, "st", 25)), OXY5, 100 * 5 / 25),
    (med_request(concept("x"), supply=(3000, "mg", 30)), oxy(None), 3000 / 30),
])
def test_supply_fallback(mr, drug, expected):
    dd = daily_dose(mr, drug, TODAY)
    assert dd.amount == pytest.approx(expected)
    assert dd.basis == "supply" and dd.unit == MG


@pytest.mark.parametrize("mr, drug, problem", [
    # Free text read (dosage_text), but as needed with no maximum and no rhythm: unknown, as structured.
    (med_request(concept("x"), dosage(text="1 tablett vid behov")), OXY5, "as needed without a stated maximum"),
    (med_request(concept("x"), dosage(text="enligt ordination")), OXY5, "dosage in free text only"),
    (med_request(concept("x")), OXY5, "no dosage instructions"),
    (med_request(concept("x"), dosage(5, "ml", freq=3)), OXY5, "unit 'ml' not convertible: strength per ml unknown"),
    (med_request(concept("x"), dosage(2, "droppar", freq=3)), OXY5, "unit 'droppar' not convertible"),
    (med_request(concept("x"), dosage(1, "tablet", freq=2)), oxy(None), "strength per unit unknown"),
    (med_request(concept("x"), dosage(10, "mg")), OXY5, "no frequency"),
    (med_request(concept("x"), dosage(10, None, freq=2)), OXY5, "dose has no unit"),
    (med_request(concept("x"), supply=(10, "patch", 30)), FENTANYL25, "no dosage instructions"),
])
def test_unknown_daily_dose_is_reported_not_zero(mr, drug, problem):
    dd = daily_dose(mr, drug, TODAY)
    assert dd.amount is None and dd.amount != 0
    assert dd.basis == "unknown"
    assert str(dd.problem) == problem
    assert not dd.known


def test_unreadable_taper_step_does_not_fall_back_to_the_supply():
    mr = med_request(concept("x"), dosage(20, "mg", freq=1, sequence=1, bounds=("2024-02-01", "2024-02-14")),
                     dosage(text="sedan halvera", sequence=2, bounds=("2024-02-15", None)), supply=(100, "st", 50))
    dd = daily_dose(mr, OXY5, date(2024, 2, 20))
    assert dd.amount is None and str(dd.problem) == "dosage in free text only"


@pytest.mark.parametrize("resource", [
    None,
    {"dosageInstruction": "twice daily"},
    {"dosageInstruction": [{"doseAndRate": "x", "timing": []}]},
    {"dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": "10", "unit": "mg"}}]}]},
    {"dosageInstruction": [{"sequence": "a", "timing": {"repeat": {"frequency": True, "periodUnit": 3}}}]},
    {"dispenseRequest": {"quantity": {"value": -5, "unit": "st"}, "expectedSupplyDuration": {"value": 0}}},
])
def test_malformed_dosage_is_unknown_never_raises(resource):
    dd = daily_dose(resource, OXY5, TODAY)
    assert dd.amount is None and dd.problem
    assert isinstance(dose_steps(resource, OXY5), tuple)


# --- Precomputed steps (map_order reads the dosage once) -------------------------------------------

@pytest.mark.parametrize("today, expected", [
    (date(2024, 2, 20), 1 * 10 + 2 * 10),  # step 2 of the taper in effect
    (date(2024, 3, 1), 1 * 10 * 2),  # step 3
])
def test_daily_dose_from_precomputed_steps_equals_reading_the_dosage(today, expected):
    steps = dose_steps(TAPER, OXY10)
    assert daily_dose(TAPER, OXY10, today, steps=steps) == daily_dose(TAPER, OXY10, today)
    assert daily_dose(TAPER, OXY10, today, steps=steps).amount == expected


def test_daily_dose_uses_the_steps_it_is_given():
    # Steps of another dosage: 20 mg × 1 a day instead of the resource's own 2 × 10 mg × 2 = 40 mg.
    other = dose_steps(med_request(concept("x"), dosage(20, "mg", freq=1)), OXY10)
    mr = med_request(concept("x"), dosage(2, "st", freq=2))
    assert daily_dose(mr, OXY10, TODAY).amount == 2 * 10 * 2
    assert daily_dose(mr, OXY10, TODAY, steps=other).amount == 20 * 1
    # No steps at all: the supply fallback, 60 tablets × 10 mg over 30 days = 20 mg/day.
    supplied = med_request(concept("x"), supply=(60, "tablet", 30))
    assert daily_dose(supplied, OXY10, TODAY, steps=()) == daily_dose(supplied, OXY10, TODAY)
    assert daily_dose(supplied, OXY10, TODAY, steps=()).amount == pytest.approx(60 * 10 / 30)


# --- Steps cache (one record repeats the same dosage for the same product) -------------------------

def test_steps_cache_same_dosage_same_steps_other_dosage_or_strength_other_steps():
    from fhir_mappings.read import dosage as dosage_module

    dosage_module._STEPS.clear()
    twice = med_request(concept("x"), dosage(2, "st", freq=2), resource_id="a")
    twice_again = med_request(concept("x"), dosage(2, "st", freq=2), resource_id="b", authored_on="2020-05-05")
    thrice = med_request(concept("x"), dosage(2, "st", freq=3), resource_id="c")
    first = dose_steps(twice, OXY10)
    assert dose_steps(twice_again, OXY10) == first  # served from the cache
    assert [s.daily_dose.amount for s in first] == [2 * 10 * 2]
    assert [s.daily_dose.amount for s in dose_steps(thrice, OXY10)] == [2 * 10 * 3]
    # Same dosage, another strength (5 mg tablets): 2 × 5 × 2.
    assert [s.daily_dose.amount for s in dose_steps(twice, OXY5)] == [2 * 5 * 2]
    assert [s.daily_dose.amount for s in dose_steps(twice, OXY10)] == [2 * 10 * 2]


def test_steps_cache_steps_dated_from_the_resource_are_read_per_resource():
    # boundsDuration steps start at the resource's own date: same dosage, other authoredOn → other dates.
    lines = (dosage(20, "mg", freq=1, sequence=1, bounds_days=14), dosage(10, "mg", freq=1, sequence=2, bounds_days=14))
    feb = dose_steps(med_request(concept("x"), *lines, authored_on="2024-02-01"), OXY5)
    mar = dose_steps(med_request(concept("x"), *lines, authored_on="2024-03-01"), OXY5)
    assert [(s.start, s.end) for s in feb] == [(date(2024, 2, 1), date(2024, 2, 14)), (date(2024, 2, 15), date(2024, 2, 28))]
    # 1 March + 14 days - 1 = 14 March; then 15–28 March.
    assert [(s.start, s.end) for s in mar] == [(date(2024, 3, 1), date(2024, 3, 14)), (date(2024, 3, 15), date(2024, 3, 28))]


def test_steps_cache_dosage_that_is_not_plain_json_is_read_without_it():
    line = dosage(2, "st", freq=2)
    line["extension"] = {date(2024, 1, 1)}  # not JSON: cannot be keyed, still read
    assert [s.daily_dose.amount for s in dose_steps(med_request(concept("x"), line), OXY10)] == [2 * 10 * 2]


def test_steps_cache_does_not_keep_huge_dosages():
    from fhir_mappings.read import dosage as dosage_module

    dosage_module._STEPS.clear()
    line = dosage(2, "st", freq=2, text="1 tablett " + "morgon " * 1000)  # 7 000+ characters
    assert [s.daily_dose.amount for s in dose_steps(med_request(concept("x"), line), OXY10)] == [2 * 10 * 2]
    assert len(dosage_module._STEPS) == 0  # read without the cache


def test_duration_cache_tells_true_from_one_and_keeps_answering_right():
    from fhir_mappings.codes.tables import duration_days

    assert duration_days({"value": 1, "code": "d"}) == 1
    assert duration_days({"value": True, "code": "d"}) is None  # True is no number, though True == 1
    assert duration_days({"value": 1.0, "code": "wk"}) == 7
    assert duration_days({"value": [30], "code": "d"}) is None  # unhashable: read uncached
    assert duration_days({"value": 30, "code": ["d"], "unit": "dagar"}) == 30  # unhashable code: uncached, the unit says
    assert duration_days({"value": 30, "unit": "x" * 10_000}) is None
    assert [duration_days({"value": 30, "code": "d"}) for _ in range(3)] == [30, 30, 30]
