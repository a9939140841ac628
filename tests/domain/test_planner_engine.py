"""The planner's additions to the taper engine: a custom pace, held steps, the morning/evening split
and the guideline's limits as warnings (cds_service/domain/taper_plan_inputs.py, cds_service.domain.taper.CustomPace)."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from cds_service.domain import taper_plan_inputs as plan
from cds_service.domain.taper import CustomPace, Pace, W_LONG, allowed_reduction, taper_schedule
from cds_service.domain.model import Exposure, Form

START = date(2026, 11, 23)


def inputs(**kw) -> plan.PlanInputs:
    base = dict(ingredient="oxycodone", form=Form.DEPOT, combination=(), start_dose=40.0, unit="mg",
                start=START, pace=Pace.WEEKLY, exposure=Exposure.LONG_TERM)
    base.update(kw)
    return plan.PlanInputs(**base)


def test_base_schedule_is_the_engines_schedule():
    for pace in Pace:
        got = plan.base_schedule(inputs(pace=pace))
        want = taper_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=40.0, unit="mg",
                              exposure=Exposure.LONG_TERM, start=START, pace=pace)
        assert got == want


@pytest.mark.parametrize("percent,days", [(10, 7), (5, 7), (10, 3), (20, 14), (2.5, 28)])
def test_custom_pace_keeps_the_engines_invariant(percent, days):
    pace = CustomPace(percent, days)
    s = plan.base_schedule(inputs(pace=pace))
    assert s.steps and s.steps[0].daily_dose == 40.0
    doses = [st.daily_dose for st in s.steps]
    assert doses == sorted(doses, reverse=True) and len(set(doses)) == len(doses)  # never an increase
    for st in s.steps[1:]:
        t = (st.start - START).days
        assert 40.0 - st.daily_dose <= allowed_reduction(pace, 40.0, t) + 1e-6
        if days % 7 == 0:
            assert t % 7 == 0  # whole weeks
    assert 40.0 <= allowed_reduction(pace, 40.0, s.total_days) + 1e-6


def test_custom_pace_equal_to_a_named_one_gives_its_schedule():
    # FAST is 10 % every 3 days, steps ≥ 3 days, any day: the same rule as CustomPace(10, 3).
    fast = plan.base_schedule(inputs(pace=Pace.FAST))
    custom = plan.base_schedule(inputs(pace=CustomPace(10, 3)))
    assert [(s.daily_dose, s.days) for s in fast.steps] == [(s.daily_dose, s.days) for s in custom.steps]


@pytest.mark.parametrize("percent,days", [(0, 7), (-10, 7), (101, 7), (10, 0), (10, 1.5), (float("nan"), 7)])
def test_custom_pace_refuses_what_is_no_pace(percent, days):
    with pytest.raises(ValueError):
        CustomPace(percent, days)


def test_hold_lengthens_one_step_and_shifts_the_rest():
    base = plan.base_schedule(inputs())
    held = plan.hold_steps(base, ((2, 7),))
    assert [s.daily_dose for s in held.steps] == [s.daily_dose for s in base.steps]
    assert held.steps[0] == base.steps[0]
    assert held.steps[1].days == base.steps[1].days + 7 and held.steps[1].start == base.steps[1].start
    for a, b in zip(held.steps[2:], base.steps[2:]):
        assert a.start == b.start + timedelta(days=7) and a.days == b.days
    assert held.end == base.end + timedelta(days=7) and held.total_days == base.total_days + 7


def test_holds_add_up_and_bad_holds_are_refused():
    base = plan.base_schedule(inputs())
    twice = plan.hold_steps(base, ((1, 7), (1, 7)))
    assert twice.steps[0].days == base.steps[0].days + 14
    with pytest.raises(ValueError):
        plan.hold_steps(base, ((len(base.steps) + 1, 7),))
    with pytest.raises(ValueError):
        plan.hold_steps(base, ((1, 0),))


def test_morning_split_swaps_the_larger_dose_only():
    evening = plan.base_schedule(inputs(start_dose=30.0))
    morning = plan.planned_schedule(inputs(start_dose=30.0, split=plan.MORNING))
    uneven = [(e, m) for e, m in zip(evening.steps, morning.steps) if e.per_administration[0] != e.per_administration[-1]]
    assert uneven, "a 30 mg start in 5/10/15/20 mg tablets has uneven splits"
    for e, m in zip(evening.steps, morning.steps):
        assert m.daily_dose == e.daily_dose and m.start == e.start and m.medd == e.medd
        assert m.per_administration == e.per_administration[::-1]
    for e, m in uneven:
        assert e.per_administration[-1] > e.per_administration[0] and m.per_administration[0] > m.per_administration[-1]


def test_guideline_warnings():
    long_term = inputs()
    assert plan.guideline_warnings(plan.base_schedule(long_term), long_term, 183) == ()
    fast_long = inputs(pace=Pace.FAST)
    assert plan.W_FASTER_THAN_RECOMMENDED in plan.guideline_warnings(plan.base_schedule(fast_long), fast_long, 183)
    too_fast = inputs(pace=CustomPace(20, 2))
    w = plan.guideline_warnings(plan.base_schedule(too_fast), too_fast, 183)
    assert plan.W_FASTER_THAN_GUIDELINE in w and plan.W_STEP_ABOVE_GUIDELINE in w
    too_slow = inputs(pace=CustomPace(5, 28))
    w = plan.guideline_warnings(plan.base_schedule(too_slow), too_slow, 183)
    assert plan.W_SLOWER_THAN_GUIDELINE in w and W_LONG in w
    tramadol = inputs(ingredient="tramadol", start_dose=200.0, pace=Pace.WEEKLY)
    assert plan.W_TRAMADOL_SHORT_STEPS in plan.guideline_warnings(plan.base_schedule(tramadol), tramadol, 183)


def test_thirty_percent_point():
    s = plan.base_schedule(inputs())
    day, number = plan.thirty_percent_point(s)
    step = s.steps[number - 1]
    assert step.daily_dose <= 12.0 + 1e-9 and all(p.daily_dose > 12.0 for p in s.steps[: number - 1])
    assert day == step.start


def test_hold_increment_follows_the_patch_change():
    fentanyl = plan.base_schedule(inputs(ingredient="fentanyl", form=Form.PATCH, start_dose=50.0, unit="ug/h"))
    assert plan.hold_increment_days(fentanyl) == 9  # three 72-hour changes: at least a week
    assert plan.hold_increment_days(plan.base_schedule(inputs())) == 7


def test_a_custom_held_morning_schedule_builds_valid_resources():
    from fhir.resources.R4B.careplan import CarePlan
    from fhir.resources.R4B.medicationrequest import MedicationRequest

    from fhir_mappings.write.builders import taper_careplan, taper_medication_request

    s = plan.planned_schedule(inputs(start_dose=30.0, pace=CustomPace(7.5, 14), split=plan.MORNING, holds=((2, 7),)))
    cp = taper_careplan(s, patient_ref="Patient/x", author_ref=None, lang="sv")
    CarePlan.model_validate(cp)
    assert "överenskommen takt: 7,5 % av startdygnsdosen var 14:e dag" in json.dumps(cp, ensure_ascii=False)
    mr = taper_medication_request(s, patient_ref="Patient/x", requester_ref=None, lang="sv")
    MedicationRequest.model_validate(mr)
    second = [d for d in mr["dosageInstruction"] if d["sequence"] == 2]
    assert second[0]["timing"]["repeat"]["boundsPeriod"]["start"] == s.steps[1].start.isoformat()
    assert second[0]["timing"]["repeat"]["boundsPeriod"]["end"] == s.steps[1].end.isoformat()
    morning = [d for d in mr["dosageInstruction"] if d["sequence"] == 1 and "MORN" in d["timing"]["repeat"].get("when", [])]
    assert morning[0]["doseAndRate"][0]["doseQuantity"]["value"] == s.steps[0].per_administration[0]
