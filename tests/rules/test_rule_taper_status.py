"""taper-status: [RJL "Allmänna principer"] — running taper (step, dose, next change, weekly check-in)
or ended within 6 months (post-withdrawal follow-up)."""
from __future__ import annotations

import pytest

from cds_service.rules import taper_status
from tests.support.worded import Worded
from tests.support.rules_facts_referral import check_texts, ctx, day, facts, opioid, plan, step

rule = Worded(taper_status)  # the findings with the words the card shows

# weekly steps 30 → 27 → 24 → 21 mg/day; step 3 covers offsets -6..0 (today), step 4 starts tomorrow
PLAN = plan((step(1, -20, 7, 30), step(2, -13, 7, 27), step(3, -6, 7, 24), step(4, 1, 7, 21)))


def oxy(mg):
    return opioid(amount=mg, medd=2 * mg)


def test_running_taper_status():
    [finding] = rule.findings(facts(opioids=(oxy(24),), taper_plan=PLAN), ctx())
    assert finding.indicator == "info"
    f = finding.facts
    assert f["phase"] == "running"
    assert (f["stepNumber"], f["steps"], f["todayStepDose"]) == (3, 4, 24)
    assert f["nextStepDate"] == "2026-11-24" and f["nextStepDose"] == 21
    assert f["planEnd"] == "2026-11-30"  # step 4: offsets 1..7 → 2026-11-24 .. 2026-11-30
    assert f["followUpDays"] == 7
    assert "steg 3 av 4, 24 mg/dygn i dag, nästa steg 2026-11-24 (21 mg/dygn)" in finding.summary["sv"]
    assert "kort avstämning varje vecka" in finding.detail["sv"]
    assert "Nästa ändring: 2026-11-24 till 21 mg/dygn" in finding.detail["sv"]
    assert "Öka aldrig dosen" in finding.detail["sv"]
    assert "Dygnsdos i journalen" not in finding.detail["sv"]  # record matches the step
    check_texts(finding)


def test_follow_up_interval_from_settings():
    [finding] = rule.findings(facts(opioids=(oxy(24),), taper_plan=PLAN), ctx(follow_up_days=14))
    assert "var 14:e dag" in finding.detail["sv"]
    assert finding.facts["followUpDays"] == 14


def test_record_dose_above_step_is_said():
    [finding] = rule.findings(facts(opioids=(oxy(30),), taper_plan=PLAN), ctx())
    assert "Dygnsdos i journalen: 30 mg/dygn – över dagens steg" in finding.detail["sv"]
    assert finding.facts["currentDailyDose"] == 30


def test_last_step():
    last = plan((step(1, -13, 7, 10), step(2, -6, 10, 5)))  # step 2: offsets -6..3
    [finding] = rule.findings(facts(opioids=(oxy(5),), taper_plan=last), ctx())
    assert "sista steget, till 2026-11-26" in finding.summary["sv"]
    assert finding.facts["nextStepDate"] is None


def test_planned_taper():
    later = plan((step(1, 3, 7, 27), step(2, 10, 7, 24)))
    [finding] = rule.findings(facts(opioids=(oxy(30),), taper_plan=later), ctx())
    assert finding.facts["phase"] == "planned"
    assert "start 2026-11-26 med 27 mg/dygn" in finding.summary["sv"]
    check_texts(finding)


def test_ended_within_six_months_post_withdrawal():
    # ended 183 days ago (the default window): still shown; 184: not
    done183 = plan((step(1, -200, 18, 5),), status="completed", outcome="completed", id="p183")
    assert done183.end == day(-183)
    [finding] = rule.findings(facts(previous_tapers=(done183,)), ctx())
    assert finding.facts["phase"] == "ended" and finding.facts["daysSinceEnd"] == 183
    assert "nedstämdhet, energilöshet" in finding.detail["sv"]
    assert "upp till 6 månader" in finding.summary["sv"]
    assert "1–2 veckor" not in finding.detail["sv"]
    check_texts(finding)
    done184 = plan((step(1, -201, 18, 5),), status="completed", outcome="completed", id="p184")
    assert rule.findings(facts(previous_tapers=(done184,)), ctx()) == []


def test_recently_ended_mentions_acute_withdrawal():
    done = plan((step(1, -40, 30, 5),), status="completed", outcome="completed")  # ended 11 days ago
    [finding] = rule.findings(facts(previous_tapers=(done,)), ctx())
    assert finding.facts["daysSinceEnd"] == 11
    assert "1–2 veckor" in finding.detail["sv"]


def test_a_taper_that_ended_yesterday_says_one_day():
    done = plan((step(1, -30, 30, 5),), status="completed", outcome="completed")  # last day: yesterday
    [finding] = rule.findings(facts(previous_tapers=(done,)), ctx())
    assert finding.facts["daysSinceEnd"] == 1
    assert "(1 dag sedan)" in finding.detail["sv"] and "(1 day ago)" in finding.detail["en"]
    [earlier] = rule.findings(facts(previous_tapers=(plan((step(1, -40, 30, 5),), status="completed",
                                                           outcome="completed"),)), ctx())
    assert "(11 dagar sedan)" in earlier.detail["sv"] and "(11 days ago)" in earlier.detail["en"]


def test_failed_taper_is_not_post_withdrawal():
    failed = plan((step(1, -40, 30, 5),), status="stopped", outcome="failed")
    assert rule.findings(facts(opioids=(oxy(30),), previous_tapers=(failed,)), ctx()) == []


def test_active_plan_whose_schedule_ended():
    over = plan((step(1, -30, 14, 10), step(2, -16, 14, 5)))  # last day offset -3
    [finding] = rule.findings(facts(taper_plan=over), ctx())
    assert finding.facts["phase"] == "ended" and finding.facts["daysSinceEnd"] == 3
    assert "avsluta den" in finding.detail["sv"]


def test_silent_without_any_taper():
    assert rule.findings(facts(opioids=(oxy(30),)), ctx()) == []


@pytest.mark.parametrize("exclusion", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded_patients(exclusion):
    assert rule.findings(facts(opioids=(oxy(24),), taper_plan=PLAN, exclusions=(exclusion,)), ctx()) == []


def test_past_end_plan_from_the_record_with_opioid_still_in_effect():
    # the record builder reports an active plan past its end as a previous taper with unknown outcome
    over = plan((step(1, -30, 20, 10),), status="active", outcome=None)  # ended offset -11
    [finding] = rule.findings(facts(opioids=(oxy(10),), previous_tapers=(over,)), ctx())
    assert finding.facts["daysSinceEnd"] == 11
    assert "avsluta den" in finding.detail["sv"]
    assert "Journalen visar fortfarande oxikodon i effekt" in finding.detail["sv"]
