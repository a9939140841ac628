"""taper-plan-missing: a renewal of ongoing opioid use without a taper plan [RJL opening; "När behövs
nedtrappning?"]. The schedule itself is tested with the taper module; here: that the card fires on the
right patients, starts from the right dose and pace, and carries the schedule, texts and suggestions."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.medicationrequest import MedicationRequest

from cds_service.rules import taper_plan_missing
from cds_service.domain.hooks import ORDER_HOOKS, PATIENT_VIEW
from tests.support.worded import Worded
from tests.support.rules_facts import (
    MG,
    PATIENT,
    TODAY,
    UG_PER_H,
    USER,
    Form,
    check_texts,
    ctx,
    draft,
    facts,
    flag as flag_of,
    order,
    plan,
    sedative,
    step,
)

OXY_FACTOR = 2  # clinical-rules §4: 30 mg oxycodone = 60 MEDD
TRAMADOL_FACTOR = 0.2  # 300 mg tramadol = 60 MEDD

rule = Worded(taper_plan_missing, written=True)  # the card's words and the suggestions' resources


def run(days=120, *, amount=40.0, record_amount=40.0, ingredient="oxycodone", unit=MG, form=Form.DEPOT,
        extra=(), **kw):
    d = draft(ingredient, amount, unit=unit, form=form, factor=OXY_FACTOR)
    in_effect = [order(ingredient, record_amount, unit=unit, form=form, factor=OXY_FACTOR)] if record_amount is not False else []
    in_effect += list(extra)
    f = facts(drafts=[d], in_effect=in_effect, days=days, **kw)
    return rule.findings(f, ctx())


def test_fires_on_long_term_renewal_with_weekly_schedule_from_the_record_dose():
    (card,) = run(120)
    assert card.indicator == "warning"
    assert card.facts["pace"] == "weekly"  # > 3 months: 10 %/week to 30 %, then slower
    assert card.facts["doseBasis"] == "record"
    steps = card.facts["taperSteps"]
    assert steps[0]["dailyDose"] == 40
    assert steps[0]["start"] == TODAY.isoformat()
    for s in steps:
        assert s["medd"] == pytest.approx(s["dailyDose"] * OXY_FACTOR)
        assert s["dailyDose"] > 0
    # Dates add up: the schedule ends (first day at zero) after the sum of the step lengths.
    total = sum(s["days"] for s in steps)
    assert card.facts["taperDays"] == total
    assert card.facts["projectedEnd"] == (TODAY + timedelta(days=total)).isoformat()
    # Weekly pace, first phase: the cut by day t is at most 10 % of 40 mg per 7 days = 4·t/7 mg.
    t = 0
    for s in steps:
        if t <= 49:
            assert 40 - s["dailyDose"] <= 4 * t / 7 + 1e-9, (t, s)
        t += s["days"]
    check_texts(card)


def test_detail_shows_the_schedule_as_a_table_and_the_agreement():
    (card,) = run(120)
    sv = card.detail["sv"]
    rows = [line for line in sv.splitlines() if line.startswith("| ")]
    # header + one row per step + the "utsatt" row
    assert len(rows) == 1 + len(card.facts["taperSteps"]) + 1
    assert "| 1 | 2026-11-23 |" in sv and "40 mg/dygn" in sv
    assert "utsatt" in rows[-1]
    assert card.facts["projectedEnd"] in sv
    assert "Borttappade läkemedel ersätts inte" in sv
    assert "Aldrig bensodiazepiner, zopiklon eller zolpidem" in sv
    assert "1–2 veckor" in sv and "1–2 steg i taget" in sv
    assert "| Step | From |" in card.detail["en"]


@pytest.mark.parametrize(
    "days, pace",
    [(13, None), (14, "fast"), (89, "fast"), (90, "weekly"), (729, "weekly"), (730, "slow")],
)
def test_exposure_thresholds_and_pace(days, pace):
    found = run(days)
    if pace is None:
        assert found == []  # acute use (< 14 days): no taper needed
    else:
        (card,) = found
        assert card.facts["pace"] == pace


def test_tramadol_holds_every_step_at_least_four_weeks():
    (card,) = run(120, ingredient="tramadol", amount=200, record_amount=200)
    assert card.facts["pace"] == "tramadol"
    assert all(s["days"] >= 28 for s in card.facts["taperSteps"])


def test_six_month_warning():
    # Multi-year: 10 % every 4 weeks → 40 mg needs ~10 cuts of 4 weeks ≈ 280 days > 183.
    (slow,) = run(800)
    assert slow.facts["taperDays"] > 183
    assert slow.facts["longTaper"] is True
    assert "Längre än ett halvår" in slow.detail["sv"]
    (weekly,) = run(120)
    assert weekly.facts["taperDays"] <= 183
    assert weekly.facts["longTaper"] is False
    assert "Längre än ett halvår" not in weekly.detail["sv"]


def test_suggestions_create_plan_and_request_and_replace_the_renewal():
    (card,) = run(120)
    assert card.selection_behavior == "at-most-one"
    first, *alternatives = card.suggestions
    assert first.is_recommended
    kinds = [(a.type, a.resource["resourceType"] if a.resource else a.resource_id) for a in first.actions]
    assert kinds == [("create", "CarePlan"), ("create", "MedicationRequest"),
                     ("delete", "MedicationRequest/draft-oxycodone"), ("create", "Flag")]
    careplan, request = first.actions[0].resource, first.actions[1].resource
    assert careplan["author"]["reference"] == USER
    assert careplan["subject"]["reference"] == PATIENT
    assert request["requester"]["reference"] == USER
    CarePlan.model_validate(careplan)
    MedicationRequest.model_validate(request)
    # Long-term: the faster (fast) and the slower (slow) pace, both not recommended.
    assert card.facts["alternativePaces"] == ["fast", "slow"]
    assert [s.is_recommended for s in alternatives] == [False, False]
    assert "snabbare" in alternatives[0].label["sv"] and "långsammare" in alternatives[1].label["sv"]
    check_texts(card)


def test_each_pace_carries_its_own_restriction_until_its_end_plus_the_margin():
    (card,) = run(120)
    ends = []
    for suggestion in card.suggestions:
        (flag,) = [a.resource for a in suggestion.actions if a.resource and a.resource["resourceType"] == "Flag"]
        plan = next(a.resource for a in suggestion.actions if a.resource and a.resource["resourceType"] == "CarePlan")
        # the CarePlan's period ends on the schedule's last day; the Flag 14 days after the first day at zero
        last_day = date.fromisoformat(plan["period"]["end"])
        assert date.fromisoformat(flag["period"]["end"]) == last_day + timedelta(days=1 + 14)
        assert flag["author"]["reference"] == USER
        ends.append(flag["period"]["end"])
    assert len(set(ends)) == len(ends) == 3  # fast, weekly, slow end on different days
    # an active restriction in the record: no second one
    (card,) = run(120, restriction=flag_of())
    assert all(a.resource is None or a.resource["resourceType"] != "Flag" for s in card.suggestions for a in s.actions)


def test_subacute_offers_only_a_slower_alternative():
    (card,) = run(30)
    assert card.facts["pace"] == "fast"
    assert card.facts["alternativePaces"] == ["weekly"]


def test_record_dose_is_preferred_over_the_draft():
    (card,) = run(120, amount=60, record_amount=40)
    assert card.facts["startDailyDose"] == 40
    assert card.facts["draftDailyDose"] == 60


def test_draft_dose_used_when_the_record_dose_is_unknown():
    (card,) = run(120, amount=30, record_amount=None)
    assert card.facts["doseBasis"] == "draft"
    assert card.facts["taperSteps"][0]["dailyDose"] == 30


def test_unknown_dose_still_warns_but_proposes_no_schedule():
    (card,) = run(120, amount=None, record_amount=None)
    assert card.indicator == "warning"
    assert card.facts["taperSteps"] is None
    assert card.facts["doseBasis"] == "unknown"
    assert card.suggestions == ()
    assert "Dygnsdosen kunde inte läsas ut" in card.detail["sv"]
    assert "långsam" in card.detail["sv"]  # the pace still named
    check_texts(card)


def test_dose_below_the_smallest_strength_says_so():
    # Tramadol depot: smallest givable daily dose is 2 × 50 mg evenly, or 50 mg once; 25 mg/day fits none.
    (card,) = run(120, ingredient="tramadol", amount=25, record_amount=25)
    assert card.facts["taperSteps"] is None
    assert "lägre än minsta" in card.detail["sv"]


def test_several_opioids_total_medd_and_patient_chooses():
    tramadol = order("tramadol", 200, factor=TRAMADOL_FACTOR)
    (card,) = run(120, extra=[tramadol])
    sv = card.detail["sv"]
    # 40 mg oxycodone × 2 + 200 mg tramadol × 0.2 = 80 + 40 = 120 MEDD
    assert "120 MEDD" in sv
    assert "Patienten väljer vilken opioid som trappas ned först" in sv
    assert card.facts["opioidCount"] == 2


def test_several_opioids_with_unknown_part_says_at_least():
    tramadol = order("tramadol", 200, factor=None)
    (card,) = run(120, extra=[tramadol])
    assert "minst 80 MEDD" in card.detail["sv"]  # only oxycodone 40 × 2 known


def test_patch_schedule_in_micrograms_per_hour():
    (card,) = run(120, ingredient="fentanyl", amount=25, record_amount=25, unit=UG_PER_H, form=Form.PATCH)
    assert card.facts["unit"] == UG_PER_H
    assert card.facts["taperSteps"][0]["dailyDose"] == 25
    assert "| Plåster |" in card.detail["sv"]
    assert "25 µg/h" in card.detail["sv"]


@pytest.mark.parametrize("group", ["cancer", "palliative", "laro", "under-18"])
def test_silent_for_excluded(group):
    assert run(120, exclusions=(group,)) == []


def test_silent_with_an_active_taper_plan():
    assert run(120, taper_plan=plan(step(1, -7, 14, 40))) == []


def test_silent_for_a_new_start():
    assert run(120, is_renewal=False) == []


def test_silent_without_a_draft_opioid():
    f = facts(drafts=[sedative()], in_effect=[order("oxycodone", 40)], days=120)
    assert rule.findings(f, ctx()) == []


def test_runs_on_order_hooks_only():
    assert rule.HOOKS == ORDER_HOOKS
    assert PATIENT_VIEW not in rule.HOOKS


def test_missing_care_plans_are_not_called_no_plan():
    (card,) = run(120, data_gaps=("carePlans",))
    assert "ingen nedtrappningsplan hittades" in card.detail["sv"]
    assert "det finns ingen nedtrappningsplan" not in card.detail["sv"]
    (complete,) = run(120)
    assert "det finns ingen nedtrappningsplan" in complete.detail["sv"]


def test_the_taper_starts_from_the_fixed_dose_and_names_the_prn():
    # depot 20 mg × 2 (40 mg) + immediate-release 5 mg as needed, at most 4 a day (20 mg): starts at 40
    prn = order("oxycodone", 20, form=Form.IMMEDIATE, prn=True, factor=OXY_FACTOR, id="rx-prn",
                display="OxyNorm 5 mg kapsel")
    (card,) = run(120, extra=[prn])
    assert card.facts["startDailyDose"] == 40
    assert card.facts["taperSteps"][0]["dailyDose"] == 40
    assert card.facts["asNeeded"] == [{"display": "OxyNorm 5 mg kapsel", "maxDailyDose": 20, "unit": MG}]
    sv = card.detail["sv"]
    assert "OxyNorm 5 mg kapsel: högst 20 mg/dygn" in sv
    assert "kartlägg förbrukningen med ett veckoschema under 1–2 veckor" in sv.lower()
    check_texts(card)


def test_as_needed_only_gives_no_schedule_but_asks_for_the_consumption():
    d = draft("oxycodone", 20, form=Form.IMMEDIATE, prn=True, factor=OXY_FACTOR)
    rec = order("oxycodone", 20, form=Form.IMMEDIATE, prn=True, factor=OXY_FACTOR)
    f = facts(drafts=[d], in_effect=[rec], days=120)
    (card,) = rule.findings(f, ctx())
    assert card.facts["taperSteps"] is None and card.facts["doseBasis"] == "prn-only"
    assert card.suggestions == ()
    assert "kartlägg förbrukningen" in card.detail["sv"]


def test_still_valid_prescriptions_are_named_and_ended():
    # the record's current order is active (a valid prescription): the taper ends it
    (card,) = run(120)
    assert card.facts["validPrescriptionsEnded"] == ["rx-oxycodone"]
    assert "Makulera giltiga recept" in card.detail["sv"]


def test_every_pace_ends_the_valid_prescription_as_the_record_holds_it():
    sent = {"resourceType": "MedicationRequest", "id": "rx-oxycodone", "status": "active", "note": [{"text": "x"}]}
    f = facts(drafts=[draft("oxycodone", 40, factor=OXY_FACTOR)], in_effect=[order("oxycodone", 40, factor=OXY_FACTOR)],
              days=120)
    (card,) = Worded(taper_plan_missing, written=True, record=[sent]).findings(f, ctx())
    assert len(card.suggestions) == 3
    for suggestion in card.suggestions:
        kinds = [(a.type, a.resource["resourceType"] if a.resource else a.resource_id) for a in suggestion.actions]
        assert kinds == [("create", "CarePlan"), ("create", "MedicationRequest"),
                         ("delete", "MedicationRequest/draft-oxycodone"), ("update", "MedicationRequest"),
                         ("create", "Flag")]
        update = suggestion.actions[3]
        assert update.resource == {**sent, "status": "stopped", "statusReason": {"text": "Ersätts av nedtrappningsschema"}}
        assert update.description["sv"].startswith("Avsluta giltigt recept: ")
    assert sent["status"] == "active"  # the record's own resource is not changed


def test_a_new_form_is_a_new_order_not_a_renewal():
    # depot in the record; the draft is an immediate-release capsule as needed: not "Förnyelse"
    d = draft("oxycodone", 20, form=Form.IMMEDIATE, prn=True, factor=OXY_FACTOR)
    f = facts(drafts=[d], in_effect=[order("oxycodone", 40, factor=OXY_FACTOR)], days=120)
    (card,) = rule.findings(f, ctx())
    assert card.summary["sv"].startswith("Ny ordination av oxikodon") and "Förnyelse" not in card.summary["sv"]
    (card,) = run(120)
    assert card.summary["sv"].startswith("Förnyelse av oxikodon")


def test_a_dose_read_from_the_dosage_text_is_said():
    from dataclasses import replace as _replace
    rec = order("oxycodone", 40, factor=OXY_FACTOR)
    rec = _replace(rec, daily_dose=_replace(rec.daily_dose, basis="free-text"))
    d = draft("oxycodone", 40, factor=OXY_FACTOR)
    (card,) = rule.findings(facts(drafts=[d], in_effect=[rec], days=120), ctx())
    assert "Dosen är tolkad ur doseringstexten" in card.detail["sv"]
    (card,) = run(120)
    assert "tolkad ur doseringstexten" not in card.detail["sv"]


# --- The product the patient has: combinations and forms kept, a switch said -------------------------

def _with(order_, **drug_fields):
    from dataclasses import replace

    return replace(order_, drug=replace(order_.drug, **drug_fields))


def _run_product(ingredient, amount, form, *, companions=(), display="x", code_systems=(), factor=OXY_FACTOR):
    d = _with(draft(ingredient, amount, form=form, factor=factor), companions=companions, display=display,
              code_systems=code_systems)
    record = _with(order(ingredient, amount, form=form, factor=factor), companions=companions, display=display)
    f = facts(drafts=[d], in_effect=[record], days=200)
    (card,) = rule.findings(f, ctx())
    return card


def _requests(card):
    return [a.resource for s in card.suggestions for a in s.actions
            if a.type == "create" and a.resource["resourceType"] == "MedicationRequest"]


def test_oxycodone_naloxone_is_tapered_as_oxycodone_naloxone():
    card = _run_product("oxycodone", 20, Form.DEPOT, companions=("naloxone",), display="Targiniq 10 mg/5 mg",
                        code_systems=("atc",))
    assert card.facts["formulationSwitch"] is None
    for request in _requests(card):
        MedicationRequest.model_validate(request)
        product = request["medicationCodeableConcept"]
        assert product["text"] == "Oxikodon/naloxon depottablett"
        assert product["coding"] == [{"system": "http://www.whocc.no/atc", "code": "N02AA55"}]
    assert "Byte av beredning" not in card.detail["sv"]


def test_plain_oxycodone_is_not_tapered_with_naloxone():
    card = _run_product("oxycodone", 20, Form.DEPOT, display="OxyContin 10 mg")
    for request in _requests(card):
        assert request["medicationCodeableConcept"]["coding"][0]["code"] == "N02AA05"


def test_immediate_release_to_depot_is_said_on_the_card():
    """[RJL "Praktiska tips och trix"]: the taper is given in depot — a switch from OxyNorm capsules."""
    card = _run_product("oxycodone", 20, Form.IMMEDIATE, display="OxyNorm 5 mg kapsel")
    switch = card.facts["formulationSwitch"]
    assert (switch["fromForm"], switch["toForm"], switch["leftOut"], switch["added"]) == ("immediate", "depot", [], [])
    assert "**Byte av beredning:** schemat ges som Oxikodon depottablett i stället för OxyNorm 5 mg kapsel" in card.detail["sv"]
    assert "direktverkande → depot" in card.detail["sv"]
    assert "**Change of product:**" in card.detail["en"]


def test_a_combination_the_table_lacks_is_switched_and_said():
    """Acetylsalicylic acid/codeine (Treo comp) has no strengths row: paracetamol/codeine is used, and the card
    says the acetylsalicylic acid is left out and paracetamol added (its 4 g ceiling holds the schedule)."""
    card = _run_product("codeine", 60, Form.IMMEDIATE, companions=("acetylsalicylic acid",),
                        display="Treo comp 500 mg/10 mg", factor=0.15)
    switch = card.facts["formulationSwitch"]
    assert (switch["leftOut"], switch["added"]) == (["acetylsalicylic acid"], ["paracetamol"])
    assert "utan acetylsalicylsyra; med paracetamol" in card.detail["sv"]


def test_an_rxnorm_draft_gets_rxnorm_first_for_the_tapered_product():
    card = _run_product("oxycodone", 20, Form.DEPOT, code_systems=("rxnorm",))
    for request in _requests(card):
        codings = request["medicationCodeableConcept"]["coding"]
        assert [c["system"] for c in codings] == ["http://www.nlm.nih.gov/research/umls/rxnorm", "http://www.whocc.no/atc"]
        assert codings[0]["code"] == "1049502"  # 12 HR oxycodone 10 MG: the tablet of the first step (10 + 10 mg)


def test_no_rxnorm_code_is_made_up_where_the_table_has_none():
    card = _run_product("oxycodone", 20, Form.DEPOT, companions=("naloxone",), code_systems=("rxnorm", "atc"))
    for request in _requests(card):
        assert [c["code"] for c in request["medicationCodeableConcept"]["coding"]] == ["N02AA55"]
