"""The clinical thresholds of the README's configuration table (``config.ClinicalSettings``): read once at
start-up, refused when out of range, and each one changing the cards it is documented to change.

The effects are seen over HTTP: one real server process with every variable set to a value other than
its default, its cards compared with those of the default server (the session's ``service``) on the
topic fixtures (``fixtures/requests/<topic>.json``). The values are chosen so that no variable hides
another's effect on the fixtures checked.
"""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from dataclasses import fields

import pytest

from cds_service.domain.settings import CLINICAL_VARIABLES, ClinicalSettings, ConfigurationError
from cds_service.web.config import Settings
from conftest import ROOT, load_fixture
from tests.support.service import ServiceProcess

#: Every clinical variable, set away from its default (default in the comment).
NON_DEFAULTS = {
    "TRAPPA_REFERRAL_MEDD": "200",  # 60
    "TRAPPA_FAILED_TAPERS_FOR_REFERRAL": "3",  # 2
    "TRAPPA_LONG_TAPER_DAYS": "60",  # 183
    "TRAPPA_POST_WITHDRAWAL_DAYS": "20",  # 183
    "TRAPPA_FOLLOW_UP_DAYS": "14",  # 7
    "TRAPPA_EARLY_RENEWAL_MARGIN_DAYS": "7",  # 3
    "TRAPPA_RESTRICTION_MARGIN_DAYS": "30",  # 14
    "TRAPPA_EXIT_PLAN_DAYS": "5",  # 7
}


# ------------------------------------------------------------------------------------------------
# The loader


def test_every_field_has_one_variable_and_every_variable_is_set_in_the_process_test():
    assert [n for n, *_ in CLINICAL_VARIABLES] == [f.name for f in fields(ClinicalSettings)]
    assert {v for _, v, *_ in CLINICAL_VARIABLES} == set(NON_DEFAULTS)


def test_unset_or_empty_variables_give_the_defaults():
    assert ClinicalSettings.from_env({}) == ClinicalSettings()
    assert ClinicalSettings.from_env({v: "  " for v in NON_DEFAULTS}) == ClinicalSettings()


def test_each_variable_sets_its_field():
    loaded = ClinicalSettings.from_env(NON_DEFAULTS)
    assert loaded == ClinicalSettings(
        referral_medd=200.0, failed_tapers_for_referral=3, long_taper_days=60, post_withdrawal_days=20,
        follow_up_days=14, early_renewal_margin_days=7, restriction_margin_days=30, exit_plan_days=5,
    )
    assert set(loaded.differences()) == set(NON_DEFAULTS)
    assert ClinicalSettings().differences() == {}


def test_settings_from_env_carries_the_clinical_settings():
    assert Settings.from_env({"TRAPPA_EXIT_PLAN_DAYS": "10"}).clinical.exit_plan_days == 10
    assert Settings().clinical == ClinicalSettings()


@pytest.mark.parametrize("variable, value", [
    ("TRAPPA_REFERRAL_MEDD", "sixty"),
    ("TRAPPA_REFERRAL_MEDD", "0"),  # every patient on an opioid would be referred
    ("TRAPPA_REFERRAL_MEDD", "-60"),
    ("TRAPPA_REFERRAL_MEDD", "nan"),  # would make every comparison false: never referred
    ("TRAPPA_REFERRAL_MEDD", "inf"),
    ("TRAPPA_REFERRAL_MEDD", "60 mg"),
    ("TRAPPA_REFERRAL_MEDD", "1001"),
    ("TRAPPA_FAILED_TAPERS_FOR_REFERRAL", "0"),
    ("TRAPPA_FAILED_TAPERS_FOR_REFERRAL", "2.5"),
    ("TRAPPA_LONG_TAPER_DAYS", "0"),
    ("TRAPPA_LONG_TAPER_DAYS", "6 months"),
    ("TRAPPA_POST_WITHDRAWAL_DAYS", "0"),
    ("TRAPPA_FOLLOW_UP_DAYS", "0"),
    ("TRAPPA_EARLY_RENEWAL_MARGIN_DAYS", "-1"),
    ("TRAPPA_RESTRICTION_MARGIN_DAYS", "-14"),
    ("TRAPPA_RESTRICTION_MARGIN_DAYS", "14.0"),
    ("TRAPPA_EXIT_PLAN_DAYS", "0"),  # a planned end before the start
    ("TRAPPA_EXIT_PLAN_DAYS", "99999999"),  # today + that many days is past the last date there is
])
def test_a_value_out_of_range_is_refused_naming_the_variable(variable, value):
    """Not a silent default: a region that set a threshold must not get ours without noticing."""
    with pytest.raises(ConfigurationError) as refused:
        ClinicalSettings.from_env({variable: value})
    assert str(refused.value).startswith(f"{variable}={value!r}: must be ")
    with pytest.raises(ConfigurationError):
        Settings.from_env({variable: value})


@pytest.mark.parametrize("variable, value, field, expected", [
    ("TRAPPA_REFERRAL_MEDD", " 90.5 ", "referral_medd", 90.5),
    ("TRAPPA_REFERRAL_MEDD", "1000", "referral_medd", 1000.0),
    ("TRAPPA_EARLY_RENEWAL_MARGIN_DAYS", "0", "early_renewal_margin_days", 0),  # renewals on the day only
    ("TRAPPA_RESTRICTION_MARGIN_DAYS", "0", "restriction_margin_days", 0),
    ("TRAPPA_EXIT_PLAN_DAYS", "1", "exit_plan_days", 1),
    ("TRAPPA_LONG_TAPER_DAYS", "3650", "long_taper_days", 3650),
])
def test_the_edges_of_each_range_are_accepted(variable, value, field, expected):
    assert getattr(ClinicalSettings.from_env({variable: value}), field) == expected


def _readme_table() -> dict[str, str]:
    """``{variable: default}`` of the README's configuration table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `(TRAPPA_[A-Z_]+)` \| `([^`]*)` \|", text, flags=re.M))


def test_the_readme_documents_every_clinical_variable_with_its_default():
    table = _readme_table()
    default = ClinicalSettings()
    for name, variable, *_ in CLINICAL_VARIABLES:
        assert variable in table, f"{variable} is missing from the README's configuration table"
        assert float(table[variable]) == getattr(default, name), variable


# ------------------------------------------------------------------------------------------------
# Through the real server: one process with every variable set, against the default one


@pytest.fixture(scope="module")
def configured():
    with ServiceProcess(env=NON_DEFAULTS, workers=1) as proc:
        yield proc


def cards(proc: ServiceProcess, body: dict, lang: str = "en") -> dict[str, dict]:
    """{topic: card} of one hook call."""
    resp = proc.post(f"/cds-services/trappa-{body['hook']}", body, headers={"Accept-Language": lang})
    assert resp.status_code == 200, resp.text[:500]
    return {c["source"]["topic"]["code"]: c for c in resp.json()["cards"]}


def both(service, configured, fixture: str, mutate=None, lang: str = "en"):
    body = load_fixture(f"requests/{fixture}.json")
    if mutate:
        mutate(body)
    return cards(service, copy.deepcopy(body), lang), cards(configured, body, lang)


def facts(card: dict) -> dict:
    return card["extension"]["trappa"]


def test_the_start_up_log_names_the_settings_that_differ(configured):
    log = configured.log()
    assert "clinical settings differing from the defaults" in log
    for variable, value in NON_DEFAULTS.items():
        assert f"{variable}={value}" in log


def test_referral_medd_and_failed_tapers_decide_which_referral_criteria_are_met(service, configured):
    """80 MEDD (over 60, not over 200), 2 failed tapers (not 3) and F11 [RJL "Hjälp och kontaktvägar"]."""
    default, changed = both(service, configured, "referral-psychiatry")
    assert facts(default["referral-psychiatry"])["criteriaMet"] == ["highMedd", "failedTapers", "opioidDependence"]
    card = changed["referral-psychiatry"]
    assert facts(card)["criteriaMet"] == ["opioidDependence"]
    assert (facts(card)["referralMedd"], facts(card)["failedTapersForReferral"]) == (200, 3)
    assert "over 60" in default["referral-psychiatry"]["summary"] and "over 200" not in card["summary"]


def _without_dependence(body: dict) -> None:
    entries = body["prefetch"]["conditions"]["entry"]
    entries[:] = [e for e in entries if not e["resource"]["code"]["coding"][0]["code"].startswith("F11")]


def test_without_dependence_the_raised_thresholds_remove_the_referral_card(service, configured):
    default, changed = both(service, configured, "referral-psychiatry", _without_dependence)
    assert facts(default["referral-psychiatry"])["criteriaMet"] == ["highMedd", "failedTapers"]
    assert "referral-psychiatry" not in changed


def test_long_taper_days_decides_when_a_proposed_schedule_is_too_long(service, configured):
    """A 91-day schedule: within 183 days, past 60 [RJL "Allmänna principer"]."""
    default, changed = both(service, configured, "taper-plan-missing")
    assert facts(default["taper-plan-missing"])["taperDays"] == facts(changed["taper-plan-missing"])["taperDays"] == 91
    assert facts(default["taper-plan-missing"])["longTaper"] is False
    assert facts(changed["taper-plan-missing"])["longTaper"] is True
    assert "Longer than half a year" not in default["taper-plan-missing"]["detail"]
    assert "Longer than half a year" in changed["taper-plan-missing"]["detail"]


def test_post_withdrawal_days_decides_how_long_an_ended_taper_is_followed_up(service, configured):
    """The taper ended 30 days ago: within 183 days, past 20."""
    default, changed = both(service, configured, "taper-status")
    assert facts(default["taper-status"])["phase"] == "ended" and facts(default["taper-status"])["daysSinceEnd"] == 30
    assert "taper-status" not in changed


def test_follow_up_days_sets_the_check_in_interval_of_a_running_taper(service, configured):
    default, changed = both(service, configured, "prescribing-restriction")
    assert facts(default["taper-status"])["followUpDays"] == 7 and "every week" in default["taper-status"]["detail"]
    assert facts(changed["taper-status"])["followUpDays"] == 14
    assert "every 14 days" in changed["taper-status"]["detail"]


def test_early_renewal_margin_decides_whether_a_renewal_is_early(service, configured):
    """The previous supply lasts 7 more days: early with a margin of 3, on time with 7."""
    default, changed = both(service, configured, "taper-early-renewal")
    card = default["taper-early-renewal"]
    assert (card["indicator"], facts(card)["supplyDaysLeft"], facts(card)["marginDays"]) == ("warning", 7, 3)
    assert "taper-early-renewal" not in changed


def test_restriction_margin_moves_the_proposed_flags_end(service, configured):
    """The running taper ends 2027-01-03: the restriction lasts until + 14 days, or + 30."""
    default, changed = both(service, configured, "prescribing-restriction")

    def flag_end(card):
        (action,) = card["suggestions"][0]["actions"]
        assert action["resource"]["resourceType"] == "Flag"
        return action["resource"]["period"]["end"][:10]

    assert flag_end(default["prescribing-restriction"]) == "2027-01-17"
    assert flag_end(changed["prescribing-restriction"]) == "2027-02-02"
    assert facts(changed["prescribing-restriction"])["restrictionMarginDays"] == 30
    assert "taper end + 30 days" in changed["prescribing-restriction"]["detail"]


def test_exit_plan_days_sets_the_proposed_planned_end(service, configured):
    default, changed = both(service, configured, "exit-plan")

    def proposal(card):
        (action,) = card["suggestions"][0]["actions"]
        resource = action["resource"]
        return (resource["dispenseRequest"]["expectedSupplyDuration"]["value"],
                resource["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"])

    assert proposal(default["exit-plan"]) == (7, "2026-11-29")
    assert proposal(changed["exit-plan"]) == (5, "2026-11-27")  # today 2026-11-23 is the first day
    assert "Limit to 5 days" in changed["exit-plan"]["suggestions"][0]["label"]


def test_an_invalid_value_stops_the_start_up_with_the_reason_in_the_log():
    """Like a malformed MEDD table: no server that answers with thresholds nobody chose."""
    proc = ServiceProcess(env={"TRAPPA_REFERRAL_MEDD": "sixty"}, workers=1)
    try:
        with pytest.raises(RuntimeError) as failed:
            proc.start(timeout=20)
        message = str(failed.value)
        assert "exited early" in message
        assert "TRAPPA_REFERRAL_MEDD='sixty': must be a number above 0" in message
        assert "Traceback" not in message  # the reason, not a stack
    finally:
        proc.cleanup()


# ------------------------------------------------------------------------------------------------
# The evaluate command reads the same settings


def _evaluate(fixture: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRAPPA_")} | env
    return subprocess.run(
        [sys.executable, "-m", "cds_service", "evaluate", f"fixtures/requests/{fixture}.json", "--lang", "en"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60,
    )


def test_the_evaluate_command_uses_the_clinical_settings():
    out = _evaluate("exit-plan", {"TRAPPA_EXIT_PLAN_DAYS": "5"})
    assert out.returncode == 0, out.stderr
    (card,) = json.loads(out.stdout)["cards"]
    assert card["extension"]["trappa"]["proposedDays"] == 5


def test_the_evaluate_command_refuses_an_invalid_setting():
    out = _evaluate("exit-plan", {"TRAPPA_EXIT_PLAN_DAYS": "0"})
    assert out.returncode == 2 and out.stdout == ""
    assert "error: configuration: TRAPPA_EXIT_PLAN_DAYS='0': must be a whole number from 1 to 3650" in out.stderr
