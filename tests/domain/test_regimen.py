"""The current regimen: which orders are what the patient takes now (cds_service.domain.regimen).

Domain values in, domain values out: each case states its dates and doses, and the expected orders,
doses and MEDDs are worked out by hand in the comments (oxycodone factor 2, clinical-rules §4).
Ends are exclusive: an order with ``supply_end`` 1 June covers through 31 May.
"""
from __future__ import annotations

from cds_service.domain.problems import Problem

from datetime import date, timedelta

import pytest

from cds_service.domain.episodes import current_episode
from cds_service.domain.model import (
    MG,
    UG_PER_H,
    DailyDose,
    Drug,
    DrugClass,
    Form,
    IdentifiedBy,
    Medd,
    MedicationOrder,
)
from cds_service.domain.regimen import current_regimen, daily_dose

TODAY = date(2025, 6, 1)
D = date.fromisoformat


def drug(ingredient="oxycodone", form=Form.DEPOT, strength=10.0, drug_class=DrugClass.OPIOID):
    return Drug(drug_class=drug_class, display=f"{ingredient} {form.value} {strength}", ingredient=ingredient,
                form=form, strength=strength, strength_unit=UG_PER_H if form is Form.PATCH else MG,
                identified_by=IdentifiedBy.ATC)


def order(start, end=None, *, mg=20.0, factor=2.0, prn=False, prn_part=None, status="active",
          rtype="MedicationRequest", d=None, oid=None, authored=None, draft=False, unit=MG):
    medd = Medd(mg * factor if mg is not None and factor is not None else None, factor=factor)
    return MedicationOrder(
        id=oid, resource_type=rtype, status=status, intent="order", drug=d or drug(),
        daily_dose=DailyDose(mg, unit if mg is not None else None, prn=prn, prn_part=prn_part,
                             basis="dosage" if mg is not None else "unknown",
                             problem=None if mg is not None else Problem("free-text-only")),
        medd=medd, start=D(start) if start else None, supply_end=D(end) if end else None,
        authored_on=D(authored) if authored else (D(start) if start else None), is_draft=draft,
        requester="Practitioner/dr-berg",
    )


def regimen(orders, drafts=(), today=TODAY):
    episode = current_episode(orders, today, drafts=drafts)
    return current_regimen(orders, drafts, episode, today)


def ids(orders):
    return [o.id for o in orders]


# ---------------------------------------------------------------------------------------------
# Which record orders are current
# ---------------------------------------------------------------------------------------------

def test_statuses_and_reach():
    active = order("2025-05-01", "2025-06-15", oid="active")
    completed_running = order("2025-05-10", "2025-06-02", status="completed", oid="completed-running",
                              d=drug("tramadol", Form.IMMEDIATE, 50))
    # exclusive end 1 June = today: today is the day after the last tablet — a renewal is due, not an end
    last_day = order("2025-04-01", "2025-06-01", status="completed", oid="ran-out", d=drug("morphine"))
    stopped = order("2025-05-01", "2025-06-15", status="stopped", oid="stopped", d=drug("fentanyl"))
    on_hold = order("2025-05-01", "2025-06-15", status="on-hold", oid="on-hold", d=drug("codeine"))
    # ended 1 May: 31 days before today, beyond the 30-day gap
    ended = order("2025-01-01", "2025-05-01", oid="ended", d=drug("tapentadol"))
    got = set(ids(regimen([active, completed_running, last_day, stopped, on_hold, ended]).record))
    assert got == {"active", "completed-running", "ran-out"}


@pytest.mark.parametrize("days_late, counts", [(-10, True), (0, True), (1, True), (5, True), (25, True),
                                               (30, True), (31, False), (45, False)])
def test_a_late_renewal_is_still_current_use_at_the_last_dose(days_late, counts):
    # Monthly supplies since January; the last one ran out ``days_late`` days before today.
    end = TODAY - timedelta(days=days_late)
    history = [order(str(end - timedelta(days=30 * k)), str(end - timedelta(days=30 * (k - 1))), oid=f"m{k}",
                     status="completed") for k in range(6, 0, -1)]
    r = regimen(history)
    assert ids(r.record) == (["m1"] if counts else [])
    assert r.medd.value == (40.0 if counts else 0.0)  # 20 mg × 2


def test_split_order_counts_whole_and_renewal_replaces():
    one = order("2025-05-20", "2025-06-19", mg=40.0, oid="one")
    split = [order("2025-05-20", "2025-06-19", mg=20.0, oid="a"), order("2025-05-20", "2025-06-19", mg=20.0, oid="b")]
    assert regimen([one]).medd.value == regimen(split).medd.value == 80.0
    # a renewal of the same strength started later replaces the earlier one, even while it overlaps
    early = order("2025-05-01", "2025-06-05", oid="old")
    renewal = order("2025-05-28", "2025-06-27", oid="new")
    assert ids(regimen([early, renewal]).record) == ["new"]


def test_strengths_combined_titration_not_counted_twice():
    ten = order("2025-05-01", "2025-07-01", oid="10mg")
    five = order("2025-05-01", "2025-07-01", oid="5mg", d=drug(strength=5.0))
    ten_again = order("2025-05-20", "2025-07-20", oid="10mg-renewed")
    ir = order("2025-05-01", "2025-07-01", oid="ir", d=drug(form=Form.IMMEDIATE, strength=5.0))
    assert ids(regimen([ten, five, ten_again, ir]).record) == ["5mg", "10mg-renewed", "ir"]
    # 10 mg tablets, then 20 mg from 20 May once the 10 mg supply ran out: only the 20 mg counts
    titrated = [order("2025-04-20", "2025-05-20", oid="10"), order("2025-05-20", "2025-06-19", mg=40.0, oid="20",
                                                                       d=drug(strength=20.0))]
    assert ids(regimen(titrated).record) == ["20"]
    # a completed prescription of another strength is superseded by the later active one
    old = order("2025-05-01", "2025-06-20", status="completed", oid="old")
    new = order("2025-05-28", "2025-07-28", oid="new", d=drug(strength=5.0))
    assert ids(regimen([old, new]).record) == ["new"]


def test_one_treatment_one_source():
    request = order("2025-05-01", "2025-07-01", oid="mr")
    statement = order("2025-05-01", None, rtype="MedicationStatement", oid="ms")
    dispense = order("2025-05-20", "2025-06-19", status="completed", rtype="MedicationDispense", oid="md")
    assert ids(regimen([request, statement, dispense]).record) == ["mr"]
    assert ids(regimen([statement, dispense]).record) == ["ms"]  # the list states what is taken
    assert ids(regimen([dispense]).record) == ["md"]


def test_dispensings_alone_read_like_prescriptions():
    # Six monthly dispensings of 20 mg/day; the last on 20 May: the latest one is the regimen.
    disp = [order(str(D("2024-12-21") + timedelta(days=30 * k)), str(D("2025-01-20") + timedelta(days=30 * k)),
                  status="completed", rtype="MedicationDispense", oid=f"d{k}") for k in range(6)]
    r = regimen(disp)
    assert ids(r.record) == ["d5"] and r.medd.value == 40.0


def test_opioids_need_the_current_episode_and_drafts_never_come_from_the_record():
    assert regimen([order("2025-05-01", "2025-07-01", draft=True)]).record == ()
    # no start: cannot be placed in an episode, not current
    assert regimen([order(None, "2025-07-01", oid="x")]).record == ()


def test_sedatives_follow_the_same_rule():
    sed = drug("oxazepam", Form.IMMEDIATE, 10, DrugClass.BENZODIAZEPINE)
    late = order("2025-04-01", "2025-05-10", d=sed, oid="late", factor=None)  # ran out 22 days ago
    intended = order("2025-05-01", None, rtype="MedicationStatement", status="intended", d=sed, oid="intended")
    r = regimen([late, intended])
    assert ids(r.of_class(DrugClass.BENZODIAZEPINE)) == ["late"]
    assert r.medd.value == 0.0 and not r.takes_opioid


# ---------------------------------------------------------------------------------------------
# Drafts applied
# ---------------------------------------------------------------------------------------------

def test_a_renewal_replaces_and_a_new_ingredient_adds():
    record = [order("2025-05-01", "2025-06-01", oid="oxy"),  # 40 MEDD, last day
              order("2025-05-15", "2025-06-14", mg=40.0, factor=1.0, oid="mo", d=drug("morphine"))]  # 40 MEDD
    renewal = order("2025-06-01", None, oid="d-oxy", draft=True, status="draft")
    r = regimen(record, [renewal])
    assert ids(r.orders) == ["mo", "d-oxy"] and ids(r.replaced) == ["oxy"]
    assert r.medd.value == 80.0 and r.record_medd.value == 80.0
    patch = order("2025-06-01", None, mg=25.0, factor=2.4, unit=UG_PER_H, oid="d-fen", draft=True, status="draft",
                  d=drug("fentanyl", Form.PATCH, 25.0))
    assert regimen(record, [patch]).medd.value == 140.0  # 80 + 25 µg/h × 2.4


def test_a_new_start_has_the_draft_as_its_regimen():
    patch = order("2025-06-01", None, mg=75.0, factor=2.4, unit=UG_PER_H, oid="d-fen", draft=True, status="draft",
                  d=drug("fentanyl", Form.PATCH, 75.0))
    r = regimen([], [patch])
    assert ids(r.orders) == ["d-fen"] and r.medd.value == 180.0 and r.record == ()


def test_a_draft_of_one_strength_replaces_only_that_strength_of_a_combination():
    ten = order("2025-05-20", "2025-06-19", oid="10mg")
    five = order("2025-05-20", "2025-06-19", mg=10.0, oid="5mg", d=drug(strength=5.0))
    renewal = order("2025-06-01", None, oid="d10", draft=True, status="draft")
    assert ids(regimen([ten, five], [renewal]).orders) == ["5mg", "d10"]
    other_strength = order("2025-06-01", None, mg=30.0, oid="d15", draft=True, status="draft", d=drug(strength=15.0))
    assert ids(regimen([ten, five], [other_strength]).orders) == ["d15"]


# ---------------------------------------------------------------------------------------------
# Fixed and as-needed doses
# ---------------------------------------------------------------------------------------------

def test_prn_kept_apart_from_the_fixed_dose():
    # depot 20 mg × 2 (40 mg, 80 MEDD) + immediate 5 mg as needed, at most 4 a day (20 mg, 40 MEDD)
    depot = order("2025-05-20", "2025-06-19", mg=40.0, oid="depot", d=drug(strength=20.0))
    prn = order("2025-05-20", "2025-06-19", mg=20.0, prn=True, oid="prn", d=drug(form=Form.IMMEDIATE, strength=5.0))
    r = regimen([depot, prn])
    assert r.medd.value == 120.0 and r.fixed_medd.value == 80.0
    assert ids(r.prn_opioids) == ["prn"]
    assert daily_dose(r.record, "oxycodone").amount == 60.0
    assert daily_dose(r.record, "oxycodone", fixed_only=True).amount == 40.0


def test_fixed_and_prn_lines_in_one_order():
    # 10 mg × 2 fixed + 10 mg as needed at most 2 a day, one order: 40 mg, of which 20 mg as needed
    mixed = order("2025-05-20", "2025-06-19", mg=40.0, prn=True, prn_part=20.0, oid="mixed")
    r = regimen([mixed])
    assert r.medd.value == 80.0 and r.fixed_medd.value == 40.0
    assert daily_dose(r.record, "oxycodone", fixed_only=True).amount == 20.0


def test_unknown_parts_are_never_zero():
    known = order("2025-05-20", "2025-06-19", oid="known")
    unknown = order("2025-05-20", "2025-06-19", mg=None, oid="free", d=drug("tramadol", Form.IMMEDIATE, 50))
    r = regimen([known, unknown])
    assert r.medd.value == 40.0 and not r.medd.complete and r.medd.unknown == ("tramadol immediate 50",)
    assert daily_dose(r.record, "tramadol").amount is None
