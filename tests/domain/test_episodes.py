"""Duration of use: coverage, merging, current episode, exposure class (clinical-rules §2).

Expected day counts are computed by hand in each case (calendar arithmetic written out).
Episode days = (min(episode end, anchor) - episode start).days; ends are exclusive.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from cds_service.domain.episodes import (
    classify_exposure,
    counts_for_history,
    coverage,
    current_episode,
    is_renewal,
    merge_intervals,
    previous_supply_end,
)
from cds_service.domain.model import (
    MG,
    DailyDose,
    Drug,
    DrugClass,
    Exposure,
    Form,
    IdentifiedBy,
    Medd,
    MedicationOrder,
)
from fhir_mappings.read.orders import map_order, parse_date, split_reference

TODAY = date(2025, 6, 1)
D = date.fromisoformat


def oxy(form=Form.DEPOT, strength=10.0, ingredient="oxycodone", drug_class=DrugClass.OPIOID):
    return Drug(drug_class=drug_class, display=f"{ingredient} {strength} mg", ingredient=ingredient, form=form,
                strength=strength, strength_unit=MG, identified_by=IdentifiedBy.ATC)


def order(start, end=None, *, status="active", intent="order", drug=None, rtype="MedicationRequest",
          draft=False, oid=None, authored=None):
    return MedicationOrder(
        id=oid, resource_type=rtype, status=status, intent=intent, drug=drug or oxy(),
        daily_dose=DailyDose(20.0, MG), medd=Medd(40.0, factor=2.0),
        start=D(start) if start else None, supply_end=D(end) if end else None,
        authored_on=D(authored) if authored else None, is_draft=draft,
    )


# ---------------------------------------------------------------------------------------------
# Exposure classes and their boundaries [clinical-rules §2]
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("days, expected", [
    (None, Exposure.NONE), (-1, Exposure.NONE),
    (0, Exposure.ACUTE), (13, Exposure.ACUTE), (14, Exposure.SUBACUTE),
    (89, Exposure.SUBACUTE), (90, Exposure.LONG_TERM),
    (729, Exposure.LONG_TERM), (730, Exposure.MULTI_YEAR), (5000, Exposure.MULTI_YEAR),
])
def test_classify_exposure_boundaries(days, expected):
    assert classify_exposure(days) is expected


@pytest.mark.parametrize("days_before, expected", [
    (13, Exposure.ACUTE), (14, Exposure.SUBACUTE), (89, Exposure.SUBACUTE),
    (90, Exposure.LONG_TERM), (729, Exposure.LONG_TERM), (730, Exposure.MULTI_YEAR),
])
def test_episode_boundaries_from_an_open_active_order(days_before, expected):
    # An active order without supply covers through today: days = today - start = days_before.
    start = TODAY - timedelta(days=days_before)
    ep = current_episode([order(start.isoformat())], TODAY)
    assert ep.days == days_before
    assert ep.exposure is expected


# ---------------------------------------------------------------------------------------------
# Table: record histories → current episode
# ---------------------------------------------------------------------------------------------

EPISODE_CASES = [
    pytest.param(
        [("2025-05-01", "2025-07-01")], {}, "2025-05-01", 31, Exposure.SUBACUTE,
        id="single-ongoing: Jun1-May1 = 31",
    ),
    pytest.param(
        [("2025-01-01", "2025-03-02"), ("2025-02-15", "2025-04-16"), ("2025-04-10", "2025-06-10")], {},
        "2025-01-01", 31 + 28 + 31 + 30 + 31, Exposure.LONG_TERM,
        id="overlapping: Jan1..Jun1 = 31+28+31+30+31 = 151",
    ),
    pytest.param(
        [("2025-01-01", "2025-03-01"), ("2025-03-31", "2025-06-30")], {},
        "2025-01-01", 151, Exposure.LONG_TERM,
        id="gap of exactly 30 days (Mar1->Mar31) merges",
    ),
    pytest.param(
        [("2025-01-01", "2025-03-01"), ("2025-04-01", "2025-06-30")], {},
        "2025-04-01", 30 + 31, Exposure.SUBACUTE,
        id="gap of 31 days (Mar1->Apr1) splits: Apr1..Jun1 = 30+31 = 61",
    ),
    pytest.param(
        [("2025-01-01", "2025-03-01"), ("2025-03-11", "2025-06-30")], {"gap_days": 7},
        "2025-03-11", 21 + 30 + 31, Exposure.SUBACUTE,
        id="configurable gap 7: a 10-day gap splits: Mar11..Jun1 = (31-11+1)+30+31 = 82",
    ),
    pytest.param(
        [("2025-02-01", "2025-05-12")], {},
        "2025-02-01", 28 + 31 + 30 + 11, Exposure.LONG_TERM,
        id="ran out 20 days ago (<=30): still current; days stop at supply end May12-Feb1 = 100",
    ),
    pytest.param(
        [("2025-02-01", "2025-05-01")], {}, None, 0, Exposure.NONE,
        id="ran out 31 days ago: no current episode",
    ),
    pytest.param(
        [("2023-06-01", None)], {}, "2023-06-01", 366 + 365, Exposure.MULTI_YEAR,
        id="open active since 2023-06-01: 366 (leap 2024) + 365 = 731",
    ),
    pytest.param(
        [("2025-06-01", "2025-07-01")], {}, "2025-06-01", 0, Exposure.ACUTE,
        id="started today: 0 days, acute",
    ),
    pytest.param(
        [("2025-07-01", "2025-08-01")], {}, None, 0, Exposure.NONE,
        id="only a future prescription: no current episode",
    ),
]


@pytest.mark.parametrize("intervals, kwargs, start, days, exposure", EPISODE_CASES)
def test_current_episode_table(intervals, kwargs, start, days, exposure):
    ep = current_episode([order(s, e) for s, e in intervals], TODAY, **kwargs)
    assert ep.start == (D(start) if start else None)
    assert ep.days == days
    assert ep.exposure is exposure


def test_completed_order_without_supply_covers_its_start_day_only():
    # [May20, May21) ends 11 days before Jun 1 (<= 30): current, days = May21 - May20 = 1.
    ep = current_episode([order("2025-05-20", status="completed")], TODAY)
    assert (ep.start, ep.end, ep.days, ep.exposure) == (D("2025-05-20"), D("2025-05-21"), 1, Exposure.ACUTE)


@pytest.mark.parametrize("status, intent", [
    ("entered-in-error", "order"), ("cancelled", "order"), ("draft", "order"), ("active", "proposal"),
    ("active", "option"),
])
def test_ignored_statuses_and_intents_do_not_lengthen_the_episode(status, intent):
    old = order("2024-01-01", "2025-07-01", status=status, intent=intent)
    recent = order("2025-05-25", "2025-07-01")
    ep = current_episode([old, recent], TODAY)
    assert ep.days == 7  # Jun1 - May25; with the ignored order it would be 517
    assert not counts_for_history(old)


@pytest.mark.parametrize("status", ["active", "completed", "stopped", "on-hold", None])
def test_history_statuses_count(status):
    ep = current_episode([order("2025-01-01", "2025-06-10", status=status)], TODAY)
    assert ep.days == 151  # Jan1..Jun1


def test_non_opioids_and_record_drafts_are_not_opioid_episodes():
    benzo = oxy(ingredient="diazepam", drug_class=DrugClass.BENZODIAZEPINE)
    orders = [order("2024-01-01", "2025-07-01", drug=benzo), order("2024-01-01", "2025-07-01", draft=True)]
    assert current_episode(orders, TODAY).exposure is Exposure.NONE


def test_orders_without_start_cannot_be_placed():
    assert coverage(order(None, "2025-07-01"), TODAY) is None
    assert current_episode([order(None, "2025-07-01")], TODAY).exposure is Exposure.NONE


def test_coverage_rules():
    assert coverage(order("2025-05-01", "2025-05-31"), TODAY) == (D("2025-05-01"), D("2025-05-31"))
    assert coverage(order("2025-05-01"), TODAY) == (D("2025-05-01"), D("2025-06-02"))  # active: through today
    assert coverage(order("2025-05-01", status="on-hold"), TODAY) == (D("2025-05-01"), D("2025-05-02"))
    assert coverage(order("2025-05-01", "2025-05-01", status="stopped"), TODAY) is None  # stopped at start


def test_merge_intervals_unsorted_input_and_containment():
    merged = merge_intervals([
        (D("2025-04-01"), D("2025-04-10")),
        (D("2025-01-01"), D("2025-03-01")),
        (D("2025-01-10"), D("2025-01-20")),  # inside the first
    ])
    # Mar1 -> Apr1 = 31 days gap > 30: two intervals; the contained one does not shorten the first.
    assert merged == [(D("2025-01-01"), D("2025-03-01")), (D("2025-04-01"), D("2025-04-10"))]


# ---------------------------------------------------------------------------------------------
# Drafts: anchor, renewal vs new start, previous supply end
# ---------------------------------------------------------------------------------------------

def test_draft_in_the_future_anchors_the_episode_and_is_a_renewal():
    record = [order("2025-03-01", "2025-06-01")]
    draft = order("2025-06-15", "2025-07-15", draft=True, status="draft")
    ep = current_episode(record, TODAY, drafts=[draft])
    # anchor Jun15; Jun15 - Jun1 = 14 <= 30: reached. days = min(Jun1, Jun15) - Mar1 = 31+30+31 = 92.
    assert ep.days == 92 and ep.exposure is Exposure.LONG_TERM
    assert is_renewal(ep, [draft]) is True


def test_draft_after_a_long_pause_is_a_new_start():
    record = [order("2024-10-01", "2025-03-01")]
    draft = order("2025-06-01", draft=True, status="draft")
    ep = current_episode(record, TODAY, drafts=[draft])
    # Jun1 - Mar1 = 92 > 30: the old episode does not reach the draft.
    assert ep.exposure is Exposure.NONE and ep.days == 0
    assert is_renewal(ep, [draft]) is False


def test_renewal_is_any_opioid_and_none_without_a_draft_opioid():
    record = [order("2025-01-01", "2025-06-10")]
    tramadol_draft = order("2025-06-01", draft=True, drug=oxy(ingredient="tramadol", form=Form.IMMEDIATE, strength=50))
    ep = current_episode(record, TODAY, drafts=[tramadol_draft])
    assert is_renewal(ep, [tramadol_draft]) is True
    paracetamol = order("2025-06-01", draft=True, drug=oxy(ingredient="paracetamol", drug_class=DrugClass.PARACETAMOL))
    assert is_renewal(current_episode(record, TODAY, drafts=[paracetamol]), [paracetamol]) is None
    assert is_renewal(current_episode(record, TODAY), []) is None


def test_previous_supply_end_is_the_latest_in_the_current_episode():
    orders = [
        order("2024-06-01", "2024-09-01", status="completed"),     # older episode
        order("2025-03-01", "2025-04-20", status="completed"),
        order("2025-04-15", "2025-06-12"),                        # latest end in the episode
        order("2025-01-01", "2025-12-31", drug=oxy(ingredient="zopiclone", drug_class=DrugClass.Z_DRUG)),
    ]
    ep = current_episode(orders, TODAY)
    assert ep.start == D("2025-03-01")  # Sep1 -> Mar1 gap is far above 30
    assert previous_supply_end(orders, ep, TODAY) == D("2025-06-12")


def test_previous_supply_end_none_without_episode():
    orders = [order("2024-06-01", "2024-09-01", status="completed")]
    assert previous_supply_end(orders, current_episode(orders, TODAY), TODAY) is None


# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("2025-03-05", date(2025, 3, 5)), ("2025-03-05T23:30:00-05:00", date(2025, 3, 5)),
    ("2025-03", date(2025, 3, 1)), ("2025", date(2025, 1, 1)), ("2025-02-30", None),
    (20250305, None), (["2025-03-05"], None), ("", None), ("soon", None), (None, None),
])
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize("ref, expected", [
    ("Medication/12", ("Medication", "12")),
    ("https://fhir.example/r4/Medication/12/_history/3", ("Medication", "12")),
    ("#med1", ("#", "med1")),
    ("urn:uuid:0a1b", (None, "0a1b")),
    ("urn:oid:1.2.3", (None, "1.2.3")),
    ("12", (None, "12")),
    (12, (None, None)),
])
def test_split_reference(ref, expected):
    assert split_reference(ref) == expected


# ---------------------------------------------------------------------------------------------
# Coverage from FHIR: start and supply per the order of precedence (uses the drug/dose mappers)
# ---------------------------------------------------------------------------------------------

OXY_ATC = {"coding": [{"system": "http://www.whocc.no/atc", "code": "N02AA05", "display": "oxikodon"}]}


def mr(**fields):
    base = {"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
            "medicationCodeableConcept": OXY_ATC}
    base.update(fields)
    return base


def mg_dosage(mg=10, freq=2):
    return [{"timing": {"repeat": {"frequency": freq, "period": 1, "periodUnit": "d"}},
             "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}]}]


COVERAGE_CASES = [
    pytest.param(
        mr(authoredOn="2023-01-10", dispenseRequest={"validityPeriod": {"start": "2025-03-01", "end": "2026-02-28"},
                                                      "expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"}}),
        "2025-03-01", "2025-03-31", id="back-dated: validity start wins over authoredOn; +30 d",
    ),
    pytest.param(
        mr(authoredOn="2025-02-01", dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"start": "2025-02-10"},
                                                                             "frequency": 1, "period": 1, "periodUnit": "d"}},
                                                        "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg", "code": "mg"}}]}],
           dispenseRequest={"expectedSupplyDuration": {"value": 2, "code": "wk"}}),
        "2025-02-10", "2025-02-24", id="dosage bounds start before authoredOn; 2 wk = 14 d",
    ),
    pytest.param(
        mr(authoredOn="2025-01-15", dispenseRequest={"expectedSupplyDuration": {"value": 30, "code": "d"},
                                                      "numberOfRepeatsAllowed": 2}),
        "2025-01-15", "2025-04-15", id="supply per fill x (1 + 2 repeats) = 90 d: Jan15+90 = Apr15",
    ),
    pytest.param(
        mr(authoredOn="2025-01-01", dosageInstruction=mg_dosage(10, 2),
           dispenseRequest={"quantity": {"value": 1000, "unit": "mg", "code": "mg"}}),
        "2025-01-01", "2025-02-20", id="quantity 1000 mg / (10 mg x 2/d = 20 mg/d) = 50 d: Jan1+50 = Feb20",
    ),
    pytest.param(
        mr(authoredOn="2025-01-01", dosageInstruction=mg_dosage(10, 3),
           dispenseRequest={"quantity": {"value": 1000, "unit": "mg", "code": "mg"}}),
        "2025-01-01", "2025-02-04", id="1000 mg / 30 mg/d = 33.3 -> 34 d (rounded up): Jan1+34 = Feb4",
    ),
    pytest.param(
        mr(authoredOn="2025-01-01", dispenseRequest={"validityPeriod": {"end": "2025-12-31"}}),
        "2025-01-01", "2026-01-01", id="validity end fallback: the day after Dec31",
    ),
    pytest.param(
        mr(authoredOn="2025-01-01", dosageInstruction=mg_dosage(10, 2),
           dispenseRequest={"quantity": {"value": 100, "unit": "ml", "code": "mL"}}),
        "2025-01-01", None, id="quantity in ml cannot be divided: supply unknown",
    ),
    pytest.param(
        mr(authoredOn="2025-02-01", status="stopped", meta={"lastUpdated": "2025-02-10T08:00:00Z"},
           dispenseRequest={"expectedSupplyDuration": {"value": 90, "code": "d"}}),
        "2025-02-01", "2025-02-11", id="stopped: capped at the stop day (lastUpdated Feb10) + 1",
    ),
]


@pytest.mark.parametrize("resource, start, supply_end", COVERAGE_CASES)
def test_order_coverage_table(resource, start, supply_end):
    o = map_order(resource, TODAY)
    assert o.start == D(start)
    assert o.supply_end == (D(supply_end) if supply_end else None)
    assert o.has_planned_end is (supply_end is not None)


def test_quantity_in_tablets_times_strength_from_the_medication():
    resource = mr(
        authoredOn="2025-01-01",
        medicationCodeableConcept=None,
        medicationReference={"reference": "#m"},
        contained=[{"resourceType": "Medication", "id": "m", "code": OXY_ATC,
                    "ingredient": [{"itemCodeableConcept": OXY_ATC,
                                    "strength": {"numerator": {"value": 10, "unit": "mg", "code": "mg"},
                                                 "denominator": {"value": 1, "unit": "tablet", "code": "{tbl}"}}}]}],
        dosageInstruction=mg_dosage(10, 2),
        dispenseRequest={"quantity": {"value": 100, "unit": "tablet"}},
    )
    o = map_order(resource, TODAY)
    # 100 tablets x 10 mg = 1000 mg; / 20 mg/d = 50 d: Jan1 + 50 = Feb20.
    assert (o.start, o.supply_end) == (D("2025-01-01"), D("2025-02-20"))


def test_draft_without_dates_starts_today_and_stu3_requester():
    draft = mr(status="draft", requester={"agent": {"reference": "Practitioner/p7"}})
    o = map_order(draft, TODAY, is_draft=True)
    assert o.is_draft and o.start == TODAY and o.requester == "Practitioner/p7"
    assert map_order(mr(requester={"reference": "Practitioner/p8"}), TODAY).requester == "Practitioner/p8"


def test_dispense_and_statement_coverage():
    dispense = {"resourceType": "MedicationDispense", "id": "d1", "status": "completed",
                "medicationCodeableConcept": OXY_ATC, "whenHandedOver": "2025-05-10T10:00:00+02:00",
                "daysSupply": {"value": 30, "unit": "days", "code": "d"}}
    o = map_order(dispense, TODAY)
    assert (o.resource_type, o.start, o.supply_end) == ("MedicationDispense", D("2025-05-10"), D("2025-06-09"))
    statement = {"resourceType": "MedicationStatement", "id": "s1", "status": "completed",
                 "medicationCodeableConcept": OXY_ATC,
                 "effectivePeriod": {"start": "2025-01-01", "end": "2025-03-31"}}
    o = map_order(statement, TODAY)
    assert (o.start, o.supply_end, o.has_planned_end) == (D("2025-01-01"), D("2025-04-01"), True)


def test_map_order_rejects_non_objects():
    assert map_order(["not", "a", "resource"], TODAY) is None
    assert map_order("MedicationRequest", TODAY) is None


def test_stepped_taper_order_covers_through_its_last_step():
    # Two steps by boundsDuration from validity start Mar1: 14 d (Mar1–14) + 14 d (Mar15–28).
    # Multi-step: the quantity is not divided by one step's dose; the last step ends Mar28 → Mar29.
    steps = [{"sequence": i + 1, "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d",
                                                       "boundsDuration": {"value": 14, "code": "d"}}},
              "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg", "code": "mg"}}]}
             for i, mg in enumerate((10, 5))]
    resource = mr(authoredOn="2025-02-20", dosageInstruction=steps,
                  dispenseRequest={"validityPeriod": {"start": "2025-03-01"}, "quantity": {"value": 420, "unit": "mg"}})
    o = map_order(resource, TODAY)
    assert len(o.steps) == 2 and o.is_decreasing_steps
    assert (o.start, o.supply_end, o.has_planned_end) == (D("2025-03-01"), D("2025-03-29"), True)


def test_fentanyl_patches_quantity_times_wear_time():
    patch = {"resourceType": "Medication", "id": "f", "form": {"text": "depotplåster"},
             "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "N02AB03", "display": "Fentanyl"}],
                      "text": "Fentanyl depotplåster 25 mikrog/timme"},
             "ingredient": [{"itemCodeableConcept": {"text": "fentanyl"},
                             "strength": {"numerator": {"value": 25, "unit": "ug/h"}, "denominator": {"value": 1, "unit": "patch"}}}]}
    resource = mr(authoredOn="2025-05-01", medicationCodeableConcept=None, medicationReference={"reference": "#f"},
                  contained=[patch],
                  dosageInstruction=[{"timing": {"repeat": {"frequency": 1, "period": 72, "periodUnit": "h"}},
                                      "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "patch"}}]}],
                  dispenseRequest={"quantity": {"value": 10, "unit": "patch"}})
    o = map_order(resource, TODAY)
    assert (o.daily_dose.amount, o.daily_dose.unit) == (25.0, "ug/h")
    # 10 patches × 72 h = 30 days (one patch worn at a time: 25 ÷ 25): May1 + 30 = May31.
    assert o.supply_end == D("2025-05-31")


def test_buprenorphine_patch_changed_twice_a_week():
    patch = {"resourceType": "Medication", "id": "b", "form": {"text": "depotplåster"},
             "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "N02AE01", "display": "Buprenorfin"}],
                      "text": "Buprenorfin depotplåster 35 mikrog/timme"},
             "ingredient": [{"itemCodeableConcept": {"text": "buprenorfin"},
                             "strength": {"numerator": {"value": 35, "unit": "ug/h"}, "denominator": {"value": 1, "unit": "patch"}}}]}
    resource = mr(authoredOn="2025-05-01", medicationCodeableConcept=None, medicationReference={"reference": "#b"},
                  contained=[patch],
                  dosageInstruction=[{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "wk"}},
                                      "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "patch"}}]}],
                  dispenseRequest={"quantity": {"value": 8, "unit": "patch"}})
    o = map_order(resource, TODAY)
    # Changed 2×/week → worn 7/2 = 3.5 d; 8 patches × 3.5 = 28 d: May1 + 28 = May29.
    assert o.supply_end == D("2025-05-29")


def test_previous_supply_end_ignores_validity_only_ends():
    from dataclasses import replace
    supplied = replace(order("2025-05-15", "2025-06-14"), supply_basis="supply-duration")
    validity_only = replace(order("2025-05-20", "2026-05-20", drug=oxy(ingredient="fentanyl", form=Form.PATCH)),
                            supply_basis="validity")
    ep = current_episode([supplied, validity_only], TODAY)
    assert ep.end == D("2026-05-20")  # validity still bounds coverage for duration of use
    assert previous_supply_end([supplied, validity_only], ep, TODAY) == D("2025-06-14")


@pytest.mark.parametrize("dispense, basis", [
    ({"expectedSupplyDuration": {"value": 30, "code": "d"}}, "supply-duration"),
    ({"quantity": {"value": 600, "unit": "mg"}}, "quantity"),
    ({"validityPeriod": {"end": "2025-12-31"}}, "validity"),
    ({}, None),
])
def test_supply_basis(dispense, basis):
    o = map_order(mr(authoredOn="2025-05-01", dosageInstruction=mg_dosage(10, 2), dispenseRequest=dispense), TODAY)
    assert o.supply_basis == basis


def test_parse_date_cache_same_text_same_date_other_text_other_date():
    from fhir_mappings.read import orders

    orders._DATES.clear()
    assert parse_date("2024-03-05T10:00:00+01:00") == date(2024, 3, 5)
    assert "2024-03-05T10:00:00+01:00" in orders._DATES
    assert parse_date("2024-03-05T10:00:00+01:00") == date(2024, 3, 5)  # served from the cache
    assert parse_date("2024-03-06") == date(2024, 3, 6)
    assert parse_date("2024-02-30") is None  # impossible dates stay unknown, cached or not
    assert parse_date("2024-02-30") is None
    # A long string is parsed but not kept (a client cannot fill memory through the cache).
    before = len(orders._DATES)
    assert parse_date("2024-03-07" + "x" * 1000) == date(2024, 3, 7)
    assert len(orders._DATES) == before
    # Bounded: past the limit the cache starts afresh and keeps answering right.
    for day in range(orders._DATES_MAX + 10):
        parse_date(f"2024-01-01T00:00:00.{day}")
    assert len(orders._DATES) <= orders._DATES_MAX
    assert parse_date("2024-03-05T10:00:00+01:00") == date(2024, 3, 5)
