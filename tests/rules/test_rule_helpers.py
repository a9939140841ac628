"""Shared rule criteria (drafts, taper state) and the cards' phrases: dose/MEDD formatting in Swedish and English, the schedule table, references."""
from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from cds_service.rules import drafts
from cds_service.cards import phrases
from cds_service.rules import taper_state
from cds_service.domain.model import MG, UG_PER_H, Exposure
from tests.support.rules_facts import draft, facts, order, plan, sedative, step


@pytest.mark.parametrize(
    "value, sv, en",
    [(20, "20", "20"), (7.5, "7,5", "7.5"), (2.25, "2,25", "2.25"), (10.0, "10", "10"), (None, "?", "?")],
)
def test_fmt_number(value, sv, en):
    assert phrases.fmt_number(value, "sv") == sv
    assert phrases.fmt_number(value, "en") == en


def test_daily_dose_texts():
    assert phrases.fmt_daily_dose(20, MG, "sv") == "20 mg/dygn"
    assert phrases.fmt_daily_dose(20, MG, "en") == "20 mg/day"
    assert phrases.fmt_daily_dose(25, UG_PER_H, "sv") == "25 µg/h"
    assert phrases.fmt_daily_dose(12.5, UG_PER_H, "sv") == "12,5 µg/h"
    assert phrases.fmt_daily_dose(None, MG, "sv") == "okänd dygnsdos"


def test_medd_texts_are_honest_about_unknown_parts():
    assert phrases.fmt_medd(45, "sv") == "45 MEDD"
    assert phrases.fmt_medd(45, "sv", complete=False) == "minst 45 MEDD"
    assert phrases.fmt_medd(45, "en", complete=False) == "at least 45 MEDD"
    assert phrases.fmt_medd(22.5, "sv") == "22,5 MEDD"
    assert phrases.fmt_medd(None, "sv") == "okänd MEDD"


def test_days_and_weeks():
    assert phrases.fmt_days(1, "sv") == "1 dag"
    assert phrases.fmt_days(3, "sv") == "3 dagar"
    assert phrases.fmt_days(21, "sv") == "3 veckor"
    assert phrases.fmt_days(21, "en") == "3 weeks"
    assert phrases.fmt_days(10, "en") == "10 days"


def test_ingredient_names_in_swedish():
    assert phrases.ingredient_name("oxycodone", "sv") == "oxikodon"
    assert phrases.ingredient_name("codeine", "sv") == "kodein"
    assert phrases.ingredient_name("oxycodone", "en") == "oxycodone"
    assert phrases.ingredient_name(None, "sv") == "okänd opioid"


def test_exclusion_summary():
    assert phrases.exclusion_summary(("cancer", "under-18"), "sv") == "aktiv cancer, under 18 år"
    assert phrases.exclusion_summary((), "sv") == ""


def test_same_reference():
    assert drafts.same_reference("Practitioner/1", "https://x.se/fhir/Practitioner/1") is True
    assert drafts.same_reference("Practitioner/1", "Practitioner/2") is False
    assert drafts.same_reference("Practitioner/1", "PractitionerRole/1") is False
    assert drafts.same_reference(None, "Practitioner/1") is None
    assert drafts.same_reference("garbage", "Practitioner/1") is None


def test_taper_table_two_doses_a_day_and_the_stop_row():
    s1 = SimpleNamespace(number=1, start=date(2026, 11, 23), days=7, daily_dose=15.0,
                         per_administration=(7.5, 7.5), units=(), medd=30.0)
    s2 = SimpleNamespace(number=2, start=date(2026, 11, 30), days=7, daily_dose=5.0,
                         per_administration=(0.0, 5.0), units=(), medd=10.0)
    schedule = SimpleNamespace(unit=MG, steps=(s1, s2), end=date(2026, 12, 7), administrations_per_day=2)
    lines = phrases.taper_table(schedule, "sv").splitlines()
    assert lines[0] == "| Steg | Från | Dagar | Dygnsdos | Morgon + kväll | MEDD |"
    assert lines[2] == "| 1 | 2026-11-23 | 7 | 15 mg/dygn | 7,5 + 7,5 mg | 30 |"
    assert lines[3] == "| 2 | 2026-11-30 | 7 | 5 mg/dygn | 0 + 5 mg | 10 |"
    assert lines[4] == "| 3 | 2026-12-07 | – | utsatt | – | – |"
    assert phrases.taper_table(schedule, "en").splitlines()[4] == "| 3 | 2026-12-07 | – | stopped | – | – |"


def test_taper_table_patches_list_the_patches_worn():
    s1 = SimpleNamespace(number=1, start=date(2026, 11, 23), days=9, daily_dose=37.0,
                         per_administration=(37.0,), units=(((25.0, 1), (12.0, 1)),), medd=88.8)
    schedule = SimpleNamespace(unit=UG_PER_H, steps=(s1,), end=date(2026, 12, 2), administrations_per_day=1)
    lines = phrases.taper_table(schedule, "sv").splitlines()
    assert lines[0].split(" | ")[4] == "Plåster"
    assert lines[0].split(" | ")[3] == "Dos"  # a patch is worn continuously: µg/h, not a daily dose
    assert lines[2] == "| 1 | 2026-11-23 | 9 | 37 µg/h | 25 + 12 µg/h | 88,8 |"


def test_current_daily_dose_sums_and_stays_unknown_when_a_part_is_unknown():
    f = facts(in_effect=[order("oxycodone", 20), order("oxycodone", 10, id="rx-2")], days=100)
    assert taper_state.current_daily_dose(f, "oxycodone").amount == 30
    f = facts(in_effect=[order("oxycodone", 20), order("oxycodone", None, id="rx-2")], days=100)
    dose = taper_state.current_daily_dose(f, "oxycodone")
    assert dose.amount is None and dose.problem
    f = facts(in_effect=[order("oxycodone", 20), order("oxycodone", 10, id="rx-2", unit=UG_PER_H)], days=100)
    assert taper_state.current_daily_dose(f, "oxycodone").amount is None
    assert taper_state.current_daily_dose(f, "morphine").amount is None


def test_drafts_and_taper_state():
    d, z = draft("oxycodone", 20), sedative()
    f = facts(drafts=[d, z], days=30, taper_plan=plan(step(1, -7, 14, 20)))
    assert drafts.draft_opioids(f) == [d]
    assert drafts.draft_sedatives(f) == [z]
    assert drafts.draft_reference(d) == "MedicationRequest/draft-oxycodone"
    assert taper_state.in_taper(f)
    assert taper_state.today_step(f.taper_plan, f.today).sequence == 1
    assert taper_state.taper_end(f.taper_plan) == date(2026, 11, 29)  # day -7 + 14 days - 1
    assert taper_state.tapered_ingredient(f) == "oxycodone"


def test_opioid_ingredients_count_unidentified_by_name():
    f = facts(drafts=[draft(None, 10, display="Okänt smärtläkemedel")], in_effect=[order("oxycodone", 20)], days=30)
    assert taper_state.opioid_ingredients(f) == ["oxycodone", "Okänt smärtläkemedel"]


def test_exposure_text():
    assert phrases.exposure_text(Exposure.LONG_TERM, "sv") == "långvarig användning, över 3 månader"


def test_draft_reference_needs_a_valid_fhir_id():
    assert drafts.draft_reference(draft("oxycodone", 20, id="abc-1.2")) == "MedicationRequest/abc-1.2"
    assert drafts.draft_reference(draft("oxycodone", 20, id="x" * 65)) is None  # FHIR ids: at most 64
    assert drafts.draft_reference(draft("oxycodone", 20, id="a/b")) is None


def test_clip():
    assert phrases.clip("Zopiklon  7,5 mg\n") == "Zopiklon 7,5 mg"
    assert phrases.clip("a" * 100, 10) == "a" * 9 + "…"
    assert phrases.clip(None) == ""


def test_localized_text_is_made_once_per_language_when_first_read():
    made = []
    text = phrases.localized(lambda lang: made.append(lang) or f"text ({lang})")
    assert made == []  # nothing built until a card is rendered
    assert text["sv"] == "text (sv)" and text.get("sv") == "text (sv)"
    assert made == ["sv"]  # once, and the English text not at all
    assert dict(text) == {"sv": "text (sv)", "en": "text (en)"}
    assert made == ["sv", "en"]
    assert text.get("de") is None and "de" not in text and len(text) == 2


def test_a_card_rendered_in_swedish_never_builds_the_english_detail(monkeypatch):
    """taper-plan-missing's detail (with the taper table) is the longest text of the typical call."""
    from cds_service.cards import taper_plan_missing as words
    from cds_service.cards.render import render
    from cds_service.rules import taper_plan_missing
    from tests.support.rules_facts import ctx

    languages = []
    real = words.detail
    monkeypatch.setattr(words, "detail", lambda c, f, lang: languages.append(lang) or real(c, f, lang))
    d = draft()
    f = facts(drafts=[d], in_effect=[order(factor=2)], days=200)
    [finding] = taper_plan_missing.findings(f, ctx())
    card = render(finding, f, "sv")
    assert "Föreslagen nedtrappning" in card["detail"]
    assert languages == ["sv"]


def test_duration_says_one_day_in_the_singular():
    one = facts(in_effect=[order("oxycodone", 10)], days=1)
    assert phrases.duration_text(one, "sv").startswith("1 dag i följd")
    assert phrases.duration_text(one, "en").startswith("1 consecutive day")
    many = facts(in_effect=[order("oxycodone", 10)], days=120)
    assert phrases.duration_text(many, "sv").startswith("120 dagar i följd")
