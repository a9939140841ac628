"""Taper schedules (clinical-rules §2): pace, givability, ending, warnings, MEDD.

Every expectation is computed here from the clinical table (clinical-rules §2, [RJL "När behövs
nedtrappning?"], [RJL "Allmänna principer"]) and the strengths of the Swedish products, not read from the code.
"""
from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.domain.taper import Pace, TaperSchedule, default_pace, taper_schedule
from cds_service.domain.model import Exposure, Form

START = date(2025, 3, 3)  # a Monday

# Strengths of the Swedish products (written out here, independent of the CSV).
OXY = (5, 10, 15, 20, 40, 80)
MORPHINE = (5, 10, 30, 60, 100)
TRAMADOL = (50, 100, 150, 200)
BUP_PATCH = (5, 10, 15, 20, 40)
FENT_PATCH = (12, 25, 50, 75, 100)
HYDRO = (4, 8, 16, 32, 64)
TAPENTADOL = (50, 100, 150, 200, 250)
KETO = (5,)
CODEINE = (30,)


def allowed_cut(pace: str, d0: float, t: float) -> float:
    """Largest cumulative cut below d0 the pace allows t days after the start (clinical-rules §2)."""
    if pace == "fast":  # 10 % of the starting dose every 3 days
        return 0.10 * d0 * t / 3
    if pace == "slow":  # 10 % every 4 weeks
        return 0.10 * d0 * t / 28
    # weekly (and tramadol's bound): 10 %/week until 30 % remains (70 % cut at 7 weeks = day 49),
    # then 5 %/week
    if t <= 49:
        return 0.10 * d0 * t / 7
    return 0.70 * d0 + 0.05 * d0 * (t - 49) / 7


def check_schedule(s: TaperSchedule, *, d0: float, strengths: tuple, patch: bool, per_day: int,
                   max_units: int | None = None) -> None:
    """Monotone, contiguous, ends at 0, never ahead of the pace, every dose givable."""
    assert s.steps, s.warnings
    doses = [x.daily_dose for x in s.steps]
    # strictly decreasing, never an increase, never above the patient's dose
    assert doses[0] <= d0
    assert all(b < a for a, b in zip(doses, doses[1:])), doses
    assert doses[-1] > 0
    # contiguous dates; end = first day at zero
    assert s.steps[0].start == START
    for a, b in zip(s.steps, s.steps[1:]):
        assert b.start == a.end + timedelta(days=1)
    assert s.end == s.steps[-1].end + timedelta(days=1)
    assert s.total_days == (s.end - START).days == sum(x.days for x in s.steps)
    assert [x.number for x in s.steps] == list(range(1, len(s.steps) + 1))
    # first step: only rounding down to a givable dose, at most one smallest unit per administration
    assert d0 - doses[0] <= min(strengths) * per_day
    # pace invariant: at every cut (start of step k ≥ 2) and at the end (dose 0)
    for step in s.steps[1:]:
        t = (step.start - START).days
        assert d0 - step.daily_dose <= allowed_cut(s.pace.value, d0, t) + 1e-9, (step, t)
    assert d0 <= allowed_cut(s.pace.value, d0, s.total_days) + 1e-9
    # givable: each administration is a sum of listed strengths, evenly spread
    for step in s.steps:
        assert len(step.per_administration) == per_day
        assert math.isclose(sum(step.per_administration), step.daily_dose, abs_tol=1e-9)
        for amount, units in zip(step.per_administration, step.units):
            assert all(strength in strengths and count >= 1 for strength, count in units), units
            assert math.isclose(sum(strength * count for strength, count in units), amount, abs_tol=1e-9)
            count = sum(c for _, c in units)
            # the patient's own starting dose may need more units; every later step keeps the limit
            exempt = step.number == 1
            if patch:  # at most two patches at once, unless two of the largest cannot hold the dose
                assert count <= 2 or exempt or step.daily_dose > 2 * max(strengths)
            elif max_units is not None:  # same for tablets per administration
                assert count <= max_units or exempt or amount > max_units * max(strengths)
        if not patch:
            assert max(step.per_administration) - min(step.per_administration) <= min(strengths) + 1e-9
            assert step.per_administration[-1] == max(step.per_administration)  # extra in the evening


def make(ingredient, form, dose, unit, exposure, **kw) -> TaperSchedule:
    return taper_schedule(ingredient=ingredient, form=form, daily_dose=dose, unit=unit, exposure=exposure,
                          start=START, **kw)


# ---------------------------------------------------------------------------------------------
# default pace


@pytest.mark.parametrize(
    "exposure, ingredient, expected",
    [
        (Exposure.NONE, "oxycodone", None),
        (Exposure.ACUTE, "oxycodone", None),  # < 2 weeks: stop, no taper
        (Exposure.SUBACUTE, "oxycodone", Pace.FAST),
        (Exposure.LONG_TERM, "morphine", Pace.WEEKLY),
        (Exposure.MULTI_YEAR, "oxycodone", Pace.SLOW),
        (Exposure.SUBACUTE, "tramadol", Pace.TRAMADOL),
        (Exposure.LONG_TERM, "Tramadol", Pace.TRAMADOL),
        (Exposure.MULTI_YEAR, "tramadol", Pace.SLOW),  # SLOW already holds every step ≥ 4 weeks
        (Exposure.ACUTE, "tramadol", None),
        (Exposure.LONG_TERM, None, Pace.WEEKLY),
    ],
)
def test_default_pace(exposure, ingredient, expected):
    assert default_pace(exposure, ingredient) is expected


# ---------------------------------------------------------------------------------------------
# drug × exposure × strength combinations


def test_long_term_oxycodone_40_weekly_by_hand():
    """WEEKLY from 40 mg: cumulative cut c allowed at day t is 4t/7 up to day 49 (28 mg cut, 30 %
    left), then 28 + 2(t−49)/7. Depot tablets give 5 mg steps (10 % = 4 mg is not givable), and a
    cut happens on the first whole week where it fits:
      40→35 (c=5):  4t/7 ≥ 5  → t ≥ 8.75  → day 14
      35→30 (c=10): t ≥ 17.5  → day 21      30→25 (c=15): t ≥ 26.25 → day 28
      25→20 (c=20): t ≥ 35    → day 35      20→15 (c=25): t ≥ 43.75 → day 49
      15→10 (c=30): 28 + 2(t−49)/7 ≥ 30 → t ≥ 56
      10→5  (c=35): t ≥ 73.5  → day 77      5→0   (c=40): t ≥ 91   → day 91 (13 weeks)."""
    s = make("oxycodone", Form.DEPOT, 40, "mg", Exposure.LONG_TERM)
    assert s.pace is Pace.WEEKLY
    check_schedule(s, d0=40, strengths=OXY, patch=False, per_day=2, max_units=4)
    assert [(x.daily_dose, x.days) for x in s.steps] == [
        (40, 14), (35, 7), (30, 7), (25, 7), (20, 14), (15, 7), (10, 21), (5, 14)]
    assert s.total_days == 91  # 13 weeks, within 8–20 weeks
    assert 8 * 7 <= s.total_days <= 20 * 7
    # every cut is the smallest givable one (5 mg), never two tablets' worth at once
    assert all(a.daily_dose - b.daily_dose == 5 for a, b in zip(s.steps, s.steps[1:]))
    assert s.steps[0].per_administration == (20.0, 20.0)
    assert s.steps[1].per_administration == (15.0, 20.0)  # 35 = 15 morning + 20 evening
    assert s.steps[-1].per_administration == (0.0, 5.0)  # 5 mg: one evening tablet
    assert "longer-than-6-months" not in s.warnings


def test_subacute_oxycodone_20_fast():
    """FAST: 10 % of 20 = 2 mg every 3 days. A 5 mg cut waits until 2t/3 ≥ 5 → t ≥ 7.5 → day 8;
    0 needs 20 ≤ 2t/3 → t ≥ 30. Steps of at least 3 days."""
    s = make("oxycodone", Form.DEPOT, 20, "mg", Exposure.SUBACUTE)
    assert s.pace is Pace.FAST
    check_schedule(s, d0=20, strengths=OXY, patch=False, per_day=2, max_units=4)
    assert [x.daily_dose for x in s.steps] == [20, 15, 10, 5]
    assert s.steps[0].days == 8
    assert all(x.days >= 3 for x in s.steps)
    assert 30 <= s.total_days <= 35  # nominal 10 cuts × 3 days, a little rounding slack


def test_oxycodone_37_not_a_multiple_of_any_strength():
    """37 mg cannot be given with 5 mg steps: the first step is 35 (largest givable ≤ 37), with a
    warning; the pace still counts from 37 (10 % = 3.7 mg/week)."""
    s = make("oxycodone", Form.IMMEDIATE, 37, "mg", Exposure.LONG_TERM)
    check_schedule(s, d0=37, strengths=OXY, patch=False, per_day=2, max_units=4)
    assert s.steps[0].daily_dose == 35
    assert "start-dose-rounded-down" in s.warnings
    assert s.form is Form.DEPOT  # immediate release is tapered with the depot formulation
    assert s.start_dose == 37
    # 30 needs a cut of 7 ≤ 3.7·t/7 → t ≥ 13.2 → day 14
    assert s.steps[1].daily_dose == 30 and (s.steps[1].start - START).days == 14


def test_tramadol_200_four_weeks_per_step():
    """Tramadol: 4 weeks on every dose step. 50 mg depot steps (25 % of 200); the long-term curve
    allows 50 mg by day 28 (10 %·200·28/7 = 80 ≥ 50), so 200→150→100→50→0 at days 28, 56, 84, 112:
    at day 84 the cut 150 ≤ 140 + 10·(84−49)/7 = 190; at day 112, 200 ≤ 140 + 10·63/7 = 230."""
    s = make("tramadol", Form.DEPOT, 200, "mg", Exposure.LONG_TERM)
    assert s.pace is Pace.TRAMADOL
    check_schedule(s, d0=200, strengths=TRAMADOL, patch=False, per_day=2, max_units=4)
    assert all(x.days >= 28 for x in s.steps)
    assert [x.daily_dose for x in s.steps] == [200, 150, 100, 50]
    assert s.total_days == 4 * 28
    assert s.steps[1].per_administration == (50.0, 100.0)  # extra in the evening


def test_subacute_tramadol_100():
    """100→50 is a 50 % cut: on the long-term curve 10·t/7 ≥ 50 → t ≥ 35 (not 28); 0 needs
    100 ≤ 70 + 5(t−49)/7 → t ≥ 91."""
    s = make("tramadol", Form.DEPOT, 100, "mg", Exposure.SUBACUTE)
    assert s.pace is Pace.TRAMADOL
    check_schedule(s, d0=100, strengths=TRAMADOL, patch=False, per_day=2, max_units=4)
    assert [(x.daily_dose, x.days) for x in s.steps] == [(100, 35), (50, 56)]


def test_fentanyl_patch_50_long_term():
    """Fentanyl 72-hour patches: steps are whole patch changes (multiples of 3 days), at most two
    patches, and the weekly pace (5 µg/h per week, 2.5 after 30 %)."""
    s = make("fentanyl", Form.PATCH, 50, "ug/h", Exposure.LONG_TERM)
    assert s.unit == "ug/h" and s.form is Form.PATCH
    check_schedule(s, d0=50, strengths=FENT_PATCH, patch=True, per_day=1)
    assert all(x.days % 3 == 0 and x.days >= 7 for x in s.steps)
    assert 8 * 7 <= s.total_days <= 20 * 7
    # 37 = 25 + 12 (two patches); first cut 13 needs 5t/7 ≥ 13 → t ≥ 18.2 → day 21 on the 3-day grid
    assert s.steps[1].daily_dose == 37 and s.steps[1].units == (((25.0, 1), (12.0, 1)),)
    assert (s.steps[1].start - START).days == 21


def test_fentanyl_no_duplicate_two_12_patches_for_25():
    """Two '12' patches deliver what one '25' does: 24 µg/h is never a step after 25."""
    s = make("fentanyl", Form.PATCH, 100, "ug/h", Exposure.LONG_TERM)
    check_schedule(s, d0=100, strengths=FENT_PATCH, patch=True, per_day=1)
    assert 24 not in [x.daily_dose for x in s.steps]


def test_buprenorphine_patch_20_long_term():
    """7-day patches: steps of whole weeks; 5 µg/h cuts (25 % of 20) wait for 2·t/7 ≥ 5 → t ≥ 17.5
    → day 21."""
    s = make("buprenorphine", Form.PATCH, 20, "ug/h", Exposure.LONG_TERM)
    check_schedule(s, d0=20, strengths=BUP_PATCH, patch=True, per_day=1)
    assert all(x.days % 7 == 0 for x in s.steps)
    assert [x.daily_dose for x in s.steps] == [20, 15, 10, 5]
    assert s.steps[0].days == 21
    assert 8 * 7 <= s.total_days <= 20 * 7


def test_morphine_60_multi_year_slow_warns_beyond_six_months():
    """SLOW: 10 % of 60 = 6 mg every 4 weeks; 0 needs 60 ≤ 6t/28 → t ≥ 280 days > 183."""
    s = make("morphine", Form.DEPOT, 60, "mg", Exposure.MULTI_YEAR)
    assert s.pace is Pace.SLOW
    check_schedule(s, d0=60, strengths=MORPHINE, patch=False, per_day=2, max_units=4)
    assert s.total_days >= 280
    assert s.total_days <= 280 + 28  # rounding to whole weeks costs less than one 4-week interval
    assert "longer-than-6-months" in s.warnings
    # 55 mg = 25 + 30: each administration a sum of 5/10/30/60/100
    assert s.steps[1].daily_dose == 55 and s.steps[1].per_administration == (25.0, 30.0)


def test_oxycodone_160_slower_after_30_percent():
    """160 mg: 16 mg/week (10 %), then 8 mg/week (5 %) below 48 mg. No step cuts more than 16 mg;
    at or below 48 mg no step cuts more than 8 mg."""
    s = make("oxycodone", Form.DEPOT, 160, "mg", Exposure.LONG_TERM)
    check_schedule(s, d0=160, strengths=OXY, patch=False, per_day=2, max_units=4)
    for a, b in zip(s.steps, s.steps[1:]):
        assert a.daily_dose - b.daily_dose <= 16
        if a.daily_dose <= 48:
            assert a.daily_dose - b.daily_dose <= 8
    assert 13 * 7 <= s.total_days <= 20 * 7  # nominal 7 + 6 weeks = 91 days


def test_hydromorphone_once_daily_depot():
    s = make("hydromorphone", Form.DEPOT, 24, "mg", Exposure.LONG_TERM)
    check_schedule(s, d0=24, strengths=HYDRO, patch=False, per_day=1, max_units=4)
    assert s.steps[0].units == (((16.0, 1), (8.0, 1)),)  # 24 = 16 + 8


def test_tapentadol_300_long_term():
    s = make("tapentadol", Form.DEPOT, 300, "mg", Exposure.LONG_TERM)
    check_schedule(s, d0=300, strengths=TAPENTADOL, patch=False, per_day=2, max_units=4)
    assert s.steps[0].per_administration == (150.0, 150.0)


def test_ketobemidone_has_no_depot():
    s = make("ketobemidone", Form.IMMEDIATE, 30, "mg", Exposure.LONG_TERM)
    assert "no-depot-formulation" in s.warnings
    assert s.form is Form.IMMEDIATE
    check_schedule(s, d0=30, strengths=KETO, patch=False, per_day=3, max_units=4)
    assert s.steps[0].per_administration == (10.0, 10.0, 10.0)


def test_codeine_combination_respects_paracetamol_ceiling():
    """Paracetamol/codeine 500/30: at most 2 tablets per dose, 4 doses (8 tablets = 4 g paracetamol)."""
    s = make("codeine", Form.IMMEDIATE, 120, "mg", Exposure.LONG_TERM)
    assert "no-depot-formulation" in s.warnings
    check_schedule(s, d0=120, strengths=CODEINE, patch=False, per_day=4, max_units=2)
    high = make("codeine", Form.IMMEDIATE, 300, "mg", Exposure.LONG_TERM)
    assert high.steps[0].daily_dose == 240  # 8 × 30 mg, never more
    assert "start-dose-rounded-down" in high.warnings


def test_subacute_fentanyl_fast_on_patch_changes():
    s = make("fentanyl", Form.PATCH, 50, "ug/h", Exposure.SUBACUTE)
    assert s.pace is Pace.FAST
    check_schedule(s, d0=50, strengths=FENT_PATCH, patch=True, per_day=1)
    assert all(x.days % 3 == 0 for x in s.steps)
    assert 30 <= s.total_days <= 40  # nominal 30 days (10 × 3)


def test_high_fentanyl_start_allows_more_patches_only_where_needed():
    s = make("fentanyl", Form.PATCH, 300, "ug/h", Exposure.LONG_TERM)
    assert s.steps[0].units == (((100.0, 3),),)  # the start needs three 100 patches
    for step in s.steps:
        count = sum(c for _, c in step.units[0])
        assert count <= 2 or step.daily_dose > 200  # 3 patches only above 2 × 100
    # 137 = 100 + 25 + 12 needs three patches: the start is given as it is, not cut on day one
    odd = make("fentanyl", Form.PATCH, 137, "ug/h", Exposure.LONG_TERM)
    assert odd.steps[0].daily_dose == 137 and "start-dose-rounded-down" not in odd.warnings
    assert all(sum(c for _, c in x.units[0]) <= 2 for x in odd.steps[1:])


# ---------------------------------------------------------------------------------------------
# edges and warnings


def test_acute_taper_on_request_is_fast_with_warning():
    s = make("oxycodone", Form.DEPOT, 10, "mg", Exposure.ACUTE)
    assert s.pace is Pace.FAST
    assert "acute-stop-possible" in s.warnings
    check_schedule(s, d0=10, strengths=OXY, patch=False, per_day=2, max_units=4)


def test_explicit_pace_overrides_default():
    s = make("oxycodone", Form.DEPOT, 40, "mg", Exposure.LONG_TERM, pace=Pace.SLOW)
    assert s.pace is Pace.SLOW
    check_schedule(s, d0=40, strengths=OXY, patch=False, per_day=2, max_units=4)
    assert s.total_days >= 280  # 10 % of 40 every 28 days → 10 intervals


def test_dose_below_smallest_strength_gives_no_steps():
    s = make("oxycodone", Form.DEPOT, 4, "mg", Exposure.SUBACUTE)
    assert s.steps == () and "dose-below-smallest-strength" in s.warnings
    assert s.end == START and s.total_days == 0


def test_unknown_ingredient_and_unit_mismatch_are_said():
    s = make("dihydrocodeine", Form.DEPOT, 60, "mg", Exposure.LONG_TERM)
    assert s.steps == () and "no-strengths-known" in s.warnings
    s = make("fentanyl", Form.PATCH, 50, "mg", Exposure.LONG_TERM)
    assert s.steps == () and "unit-mismatch" in s.warnings
    s = make("oxycodone", Form.DEPOT, 0, "mg", Exposure.LONG_TERM)
    assert s.steps == () and "no-dose" in s.warnings
    s = make("oxycodone", Form.DEPOT, float("nan"), "mg", Exposure.LONG_TERM)
    assert s.steps == () and "no-dose" in s.warnings
    s = make(None, Form.UNKNOWN, None, None, Exposure.LONG_TERM)
    assert s.steps == () and "no-strengths-known" in s.warnings
    s = make("oxycodone", Form.DEPOT, 40, "mg", Exposure.LONG_TERM, strengths=(0.0, -5.0))
    assert s.steps == () and "no-strengths-known" in s.warnings


def test_strengths_argument_overrides_table():
    s = make("oxycodone", Form.DEPOT, 40, "mg", Exposure.LONG_TERM, strengths=(10.0,))
    check_schedule(s, d0=40, strengths=(10,), patch=False, per_day=2, max_units=4)
    assert [x.daily_dose for x in s.steps] == [40, 30, 20, 10]


# A region's own strengths table: oxycodone depot in 20 mg tablets only.
REGION_TABLE_ONLY_OXY_20 = (
    "ingredient,form,strengths,unit,administrations_per_day,change_interval_days,"
    "max_units_per_administration,depot,atc,ingredient_sv,product_sv,product_en,source,note\n"
    "oxycodone,depot,20,mg,2,,,yes,N02AA05,oxikodon,Oxikodon depot,Oxycodone depot,test,\n"
)


def test_strengths_table_from_environment(tmp_path, monkeypatch):
    table = tmp_path / "region.csv"
    table.write_text(REGION_TABLE_ONLY_OXY_20, encoding="utf-8")
    monkeypatch.setenv("TRAPPA_STRENGTHS_TABLE", str(table))
    s = make("oxycodone", Form.DEPOT, 80, "mg", Exposure.LONG_TERM)
    check_schedule(s, d0=80, strengths=(20,), patch=False, per_day=2, max_units=4)
    assert [x.daily_dose for x in s.steps] == [80, 60, 40, 20]
    assert make("morphine", Form.DEPOT, 60, "mg", Exposure.LONG_TERM).warnings == ("no-strengths-known",)


def test_strengths_table_is_parsed_once_and_not_looked_at_again(tmp_path, monkeypatch):
    """The table is configuration: once parsed, calls never touch the file again (no system call
    inside an evaluation). A removed file keeps serving what was read; the next restart reads anew."""
    from cds_service.domain.taper import strengths_table

    table = tmp_path / "region-once.csv"
    table.write_text(REGION_TABLE_ONLY_OXY_20, encoding="utf-8")
    monkeypatch.setenv("TRAPPA_STRENGTHS_TABLE", str(table))
    first = strengths_table()
    table.unlink()
    assert strengths_table() is first
    s = make("oxycodone", Form.DEPOT, 80, "mg", Exposure.LONG_TERM)
    assert [x.daily_dose for x in s.steps] == [80, 60, 40, 20]
    with pytest.raises(TypeError):
        first[("morphine", Form.DEPOT, ())] = first[("oxycodone", Form.DEPOT, ())]  # shared by all calls: read-only


def test_six_month_warning_iff_longer_than_183_days():
    cases = [
        make("oxycodone", Form.DEPOT, 40, "mg", Exposure.LONG_TERM),
        make("morphine", Form.DEPOT, 60, "mg", Exposure.MULTI_YEAR),
        make("tramadol", Form.DEPOT, 400, "mg", Exposure.MULTI_YEAR),
        make("oxycodone", Form.DEPOT, 20, "mg", Exposure.SUBACUTE),
    ]
    for s in cases:
        assert ("longer-than-6-months" in s.warnings) == (s.total_days > 183)
    assert any(s.total_days > 183 for s in cases) and any(s.total_days <= 183 for s in cases)


def test_as_extension_shape():
    s = make("oxycodone", Form.DEPOT, 20, "mg", Exposure.SUBACUTE)
    ext = s.as_extension()
    assert ext[0] == {"start": "2025-03-03", "days": 8, "dailyDose": 20.0, "unit": "mg",
                      "medd": s.steps[0].medd}
    assert [e["dailyDose"] for e in ext] == [20.0, 15.0, 10.0, 5.0]
    assert s.step_on(START + timedelta(days=8)) is s.steps[1]
    assert s.step_on(s.end) is None


# ---------------------------------------------------------------------------------------------
# MEDD per step (clinical-rules §4 factors: oxycodone 2, morphine 1, tramadol 0.2, buprenorphine
# patch 2 per µg/h, fentanyl patch 2.4 per µg/h)


@pytest.mark.parametrize(
    "ingredient, form, dose, unit, factor",
    [
        ("oxycodone", Form.DEPOT, 40, "mg", 2.0),
        ("morphine", Form.DEPOT, 60, "mg", 1.0),
        ("tramadol", Form.DEPOT, 200, "mg", 0.2),
        ("buprenorphine", Form.PATCH, 20, "ug/h", 2.0),
        ("fentanyl", Form.PATCH, 50, "ug/h", 2.4),
    ],
)
def test_medd_per_step(ingredient, form, dose, unit, factor):
    s = make(ingredient, form, dose, unit, Exposure.LONG_TERM)
    for step in s.steps:
        assert step.medd == pytest.approx(step.daily_dose * factor), step
    assert "medd-unknown" not in s.warnings


# ---------------------------------------------------------------------------------------------
# property: any drug, dose and exposure gives a valid schedule (or an empty one that says why)

_ROWS = {
    ("oxycodone", Form.DEPOT, "mg"): OXY,
    ("morphine", Form.DEPOT, "mg"): MORPHINE,
    ("tramadol", Form.DEPOT, "mg"): TRAMADOL,
    ("buprenorphine", Form.PATCH, "ug/h"): BUP_PATCH,
    ("fentanyl", Form.PATCH, "ug/h"): FENT_PATCH,
    ("tapentadol", Form.DEPOT, "mg"): TAPENTADOL,
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    row=st.sampled_from(sorted(_ROWS, key=str)),
    dose=st.integers(min_value=1, max_value=400),
    exposure=st.sampled_from([Exposure.ACUTE, Exposure.SUBACUTE, Exposure.LONG_TERM, Exposure.MULTI_YEAR]),
)
def test_property_schedules_keep_the_rules(row, dose, exposure):
    ingredient, form, unit = row
    strengths = _ROWS[row]
    s = make(ingredient, form, float(dose), unit, exposure)
    if dose < min(strengths):
        assert s.steps == () and "dose-below-smallest-strength" in s.warnings
        return
    patch = form is Form.PATCH
    check_schedule(s, d0=dose, strengths=strengths, patch=patch, per_day=1 if patch else 2)
    assert ("longer-than-6-months" in s.warnings) == (s.total_days > 183)


def test_strengths_for_keeps_the_combination_where_the_table_has_it():
    from cds_service.domain.taper import strengths_for

    assert strengths_for("oxycodone", Form.DEPOT, companions=("naloxone",)).atc == "N02AA55"
    assert strengths_for("oxycodone", Form.IMMEDIATE, companions=("naloxone",)).combination == ("naloxone",)
    assert strengths_for("oxycodone", Form.DEPOT).atc == "N02AA05"
    assert strengths_for("oxycodone", Form.DEPOT, companions=("paracetamol",)).atc == "N02AA05"  # no such row: plain
    assert strengths_for("codeine", Form.IMMEDIATE).combination == ("paracetamol",)  # only a combination exists
    assert strengths_for("codeine", Form.IMMEDIATE, companions=("paracetamol",)).max_units_per_administration == 2


def test_oxycodone_naloxone_schedule_uses_its_own_strengths():
    s = taper_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=60, unit="mg", exposure=Exposure.LONG_TERM,
                       start=date(2026, 1, 5), companions=("naloxone",))
    assert (s.atc, s.display, s.strengths, s.combination) == ("N02AA55", "Oxikodon/naloxon depottablett",
                                                              (5.0, 10.0, 20.0, 40.0), ("naloxone",))
    assert s.steps[0].daily_dose == 60 and s.steps[0].medd == 120  # the oxycodone part counts: × 2


@pytest.mark.parametrize("column, value, message", [
    ("rxnorm", "25:1049502", "is not 'strength:code'"),  # 25 mg is not one of the row's strengths
    ("rxnorm", "10-1049502", "is not 'strength:code'"),
    ("npl", "10:", "is not 'strength:code'"),
])
def test_a_malformed_code_column_stops_the_table(tmp_path, column, value, message):
    from cds_service.domain.taper import _load_table

    header = REGION_TABLE_ONLY_OXY_20.splitlines()[0] + ",combination,rxnorm,npl\n"
    row = "oxycodone,depot,10/20,mg,2,,,yes,N02AA05,oxikodon,Oxikodon depot,Oxycodone depot,test,,,"
    row += (value + "," if column == "rxnorm" else "," + value) + "\n"
    table = tmp_path / "codes.csv"
    table.write_text(header + row, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        _load_table(str(table))
