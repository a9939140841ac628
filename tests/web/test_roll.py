"""The fixture roller (demo/roll.py): every FHIR date moved by N days — dates, dateTimes and instants
with their zones, partial dates by whole months or years, month ends and leap days as the calendar has
them — and nothing else; +N then −N gives the document back; every fixture file rolls."""
from __future__ import annotations

import copy
import importlib.util
import json
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, ROOT
from demo.roll import (
    DATE_ELEMENTS,
    REFERENCE_DATE,
    days_to,
    fixture_date,
    is_date_shaped,
    roll,
    roll_to,
    shift,
    whole_months,
    whole_years,
    without_today,
)

FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*.json") if not p.name.endswith(".expected.json"))


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------------
# One value


@pytest.mark.parametrize(("value", "days", "expected"), [
    ("2026-11-23", 0, "2026-11-23"),
    ("2026-11-23", 10, "2026-12-03"),
    ("2026-11-23", -10, "2026-11-13"),
    ("2026-11-23", 400, "2027-12-28"),
    # month and year ends
    ("2026-01-31", 1, "2026-02-01"),
    ("2026-01-31", 28, "2026-02-28"),
    ("2026-03-31", -31, "2026-02-28"),
    ("2026-04-30", 1, "2026-05-01"),
    ("2026-12-31", 1, "2027-01-01"),
    ("2027-01-01", -1, "2026-12-31"),
    # leap days (2028 is a leap year, 2027 and 2100 are not, 2000 was)
    ("2028-02-28", 1, "2028-02-29"),
    ("2028-02-29", 1, "2028-03-01"),
    ("2028-03-01", -1, "2028-02-29"),
    ("2027-02-28", 1, "2027-03-01"),
    ("2028-02-29", 365, "2029-02-28"),
    ("2027-02-28", 366, "2028-02-29"),
    ("2100-02-28", 1, "2100-03-01"),
    ("2000-02-28", 1, "2000-02-29"),
])
def test_a_date_moves_by_calendar_days(value, days, expected):
    assert shift(value, days) == expected


@pytest.mark.parametrize(("value", "days", "expected"), [
    ("2026-11-23T00:00:00-06:00", 400, "2027-12-28T00:00:00-06:00"),  # the CDC requests' validityPeriod
    ("2026-11-23T08:30:00+01:00", 10, "2026-12-03T08:30:00+01:00"),
    ("2026-11-23T23:59:59.999+14:00", 1, "2026-11-24T23:59:59.999+14:00"),
    ("2026-11-23T00:00:00-12:00", -1, "2026-11-22T00:00:00-12:00"),
    ("2026-11-23T10:15:00Z", 7, "2026-11-30T10:15:00Z"),
    ("2028-02-28T23:00:00.123456789Z", 1, "2028-02-29T23:00:00.123456789Z"),  # an instant, nanoseconds
    ("2026-11-23T10:15:00", 2, "2026-11-25T10:15:00"),  # no zone (not valid FHIR, kept as written)
    ("2026-11-23T10:15", 2, "2026-11-25T10:15"),
])
def test_a_datetime_moves_its_date_and_keeps_time_fraction_and_zone(value, days, expected):
    assert shift(value, days) == expected


@pytest.mark.parametrize("value", ["2026-11-23T00:00:00-06:00", "2026-03-28T02:30:00+01:00",
                                   "2026-10-25T02:30:00.250+02:00", "2028-02-29T12:00:00Z"])
@pytest.mark.parametrize("days", [1, -1, 31, 400, -400])
def test_the_instant_moves_by_exactly_n_times_24_hours(value, days):
    before = datetime.fromisoformat(value.replace("Z", "+00:00"))
    after = datetime.fromisoformat(shift(value, days).replace("Z", "+00:00"))
    assert after - before == timedelta(days=days)


@pytest.mark.parametrize(("value", "days", "expected"), [
    ("2025-09", 10, "2025-09"),  # under half a month: as it is
    ("2025-09", -15, "2025-09"),
    ("2025-09", 16, "2025-10"),
    ("2025-09", 400, "2026-10"),  # 13 months
    ("2025-09", -400, "2024-08"),
    ("2025-12", 31, "2026-01"),
    ("2026-01", -31, "2025-12"),
    ("1968", 10, "1968"),
    ("1968", 182, "1968"),
    ("1968", 183, "1969"),
    ("1968", 400, "1969"),
    ("1968", -400, "1967"),
])
def test_a_partial_date_moves_by_whole_months_or_years(value, days, expected):
    assert shift(value, days) == expected


def test_whole_months_and_years_round_symmetrically():
    for days in range(-2000, 2001):
        assert whole_months(-days) == -whole_months(days)
        assert whole_years(-days) == -whole_years(days)
    assert whole_months(400) == 13 and whole_years(400) == 1


@pytest.mark.parametrize("value", ["2026-02-30", "2027-02-29", "2026-13-01", "2026-00-10", "2026-13", "0000"])
def test_a_date_shape_that_is_no_date_raises_naming_where(value):
    with pytest.raises(ValueError, match=r"\$\.entry\[0\]\.resource\.birthDate"):
        roll({"entry": [{"resource": {"resourceType": "Patient", "birthDate": value}}]}, 1)


@pytest.mark.parametrize(("value", "days"), [("9999-12-31", 1), ("0001-01-01", -1), ("9999-12", 31), ("0001", -400)])
def test_a_date_rolled_out_of_the_years_1_to_9999_raises(value, days):
    with pytest.raises(ValueError, match="cannot be moved"):
        shift(value, days)


def test_shift_refuses_what_is_not_a_date():
    for value in ("soon", "23/11/2026", "2026-11-23 10:00", " 2026-11-23", "2026-1-3"):
        with pytest.raises(ValueError, match="not a FHIR date"):
            shift(value, 1)
        assert not is_date_shaped(value)


_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
_times = st.sampled_from(["", "T00:00:00Z", "T23:59:59+14:00", "T12:30:00.5-06:00", "T08:00:00.123456789+01:00"])


@settings(max_examples=300, deadline=None)
@given(day=_dates, time=_times, precision=st.sampled_from(["day", "month", "year"]),
       days=st.integers(min_value=-20_000, max_value=20_000))
def test_plus_n_then_minus_n_is_the_identity(day, time, precision, days):
    value = {"day": day.isoformat() + time, "month": f"{day:%Y-%m}", "year": f"{day:%Y}"}[precision]
    assert shift(shift(value, days), -days) == value


# --------------------------------------------------------------------------------------------------
# A document


def _sample() -> dict:
    """A request that holds every kind of date and every kind of thing that must not move."""
    patient = {
        "resourceType": "Patient", "id": "2026-11-23",  # an id of a date's shape
        "meta": {"lastUpdated": "2026-11-23T09:00:00.000Z"},
        "identifier": [{"system": "urn:x", "value": "2026"}],  # Identifier.value: a string, not a date
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">2026-11-23</div>"},
        "birthDate": "1968-03-14",
        "_birthDate": {"extension": [{"url": "urn:x:time", "valueString": "2026-11-23"}]},
        "deceasedBoolean": False,
        "extension": [{"url": "http://fhir.org/guides/cdc/opioid-cds/StructureDefinition/dataDateRoller",
                       "extension": [{"url": "dateLastUpdated", "valueDateTime": "2026-11-23"},
                                     {"url": "frequency", "valueDuration": {"value": 30.0, "code": "d"}}]}],
    }
    order = {
        "resourceType": "MedicationRequest", "id": "mr-1", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/2026-11-23"},
        "authoredOn": "2026-10-24",
        "note": [{"text": "förnyad 2026-10-24", "time": "2026-10-24T10:00:00+02:00"}],
        "medicationCodeableConcept": {"coding": [{"system": "urn:x", "code": "2026-11-23", "display": "2026-11-23"}],
                                      "text": "2026-11-23"},
        "dosageInstruction": [{"text": "1 tablett 2026-11-23", "timing": {
            "event": ["2026-11-23T08:00:00+01:00", "2026-11-24"],
            "repeat": {"boundsPeriod": {"start": "2026-11-23", "end": "2026-12-23"}, "when": ["MORN"],
                       "frequency": 2, "period": 1, "periodUnit": "d"}}}],
        "dispenseRequest": {"validityPeriod": {"start": "2026-10-24T00:00:00-06:00", "end": "2027-10-24"},
                            "expectedSupplyDuration": {"value": 30, "unit": "dagar"}},
    }
    sequence = {"resourceType": "MolecularSequence", "id": "seq", "variant": [{"start": 2026, "end": 2027}]}
    condition = {"resourceType": "Condition", "id": "c", "onsetDateTime": "2025-09", "recordedDate": "2025",
                 "abatementString": "2026-11-23"}
    return {
        "hook": "order-sign", "hookInstance": "2026-11-23",
        "context": {"userId": "Practitioner/x", "patientId": "2026-11-23",
                    "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}},
        "extension": {"trappa": {"today": "2026-11-23", "note": "2026-11-23"}},
        "prefetch": {
            "patient": patient,
            "medicationRequests": {"resourceType": "Bundle", "type": "searchset", "link": [
                {"relation": "self", "url": "http://x/MedicationRequest?authoredon=ge2026-11-23"}],
                "entry": [{"fullUrl": "http://x/MedicationRequest/mr-1", "resource": order},
                          {"resource": sequence}, {"resource": condition}]},
            "flags": None,
        },
    }


def _changes(a, b, path="$"):
    """The paths at which two JSON values differ (leaves)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        return [c for k in a for c in _changes(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        return [c for i, (x, y) in enumerate(zip(a, b)) for c in _changes(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def test_every_date_moves_and_nothing_else():
    doc = _sample()
    rolled = roll(doc, 10)
    order = "$.context.draftOrders.entry[0].resource"
    prefetched = "$.prefetch.medicationRequests.entry[0].resource"
    patient = "$.prefetch.patient"
    moved = {f"{o}{leaf}" for o in (order, prefetched) for leaf in (
        ".authoredOn", ".note[0].time", ".dosageInstruction[0].timing.event[0]", ".dosageInstruction[0].timing.event[1]",
        ".dosageInstruction[0].timing.repeat.boundsPeriod.start", ".dosageInstruction[0].timing.repeat.boundsPeriod.end",
        ".dispenseRequest.validityPeriod.start", ".dispenseRequest.validityPeriod.end")}
    moved |= {f"{patient}.meta.lastUpdated", f"{patient}.birthDate", f"{patient}.extension[0].extension[0].valueDateTime",
              "$.extension.trappa.today"}
    assert set(_changes(doc, rolled)) == moved
    r = rolled["context"]["draftOrders"]["entry"][0]["resource"]
    assert r["authoredOn"] == "2026-11-03"
    assert r["dosageInstruction"][0]["timing"]["event"] == ["2026-12-03T08:00:00+01:00", "2026-12-04"]
    assert r["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-12-03", "end": "2027-01-02"}
    assert r["dispenseRequest"]["validityPeriod"] == {"start": "2026-11-03T00:00:00-06:00", "end": "2027-11-03"}
    assert rolled["prefetch"]["patient"]["birthDate"] == "1968-03-24"
    # the dataDateRoller now says when the data were rolled to
    assert rolled["prefetch"]["patient"]["extension"][0]["extension"][0]["valueDateTime"] == "2026-12-03"
    assert rolled["extension"]["trappa"] == {"today": "2026-12-03", "note": "2026-11-23"}
    # 10 days: the partial dates stay; 400: they move by whole months and years
    far = roll(doc, 400)["prefetch"]["medicationRequests"]["entry"][2]["resource"]
    assert (far["onsetDateTime"], far["recordedDate"], far["abatementString"]) == ("2026-10", "2026", "2026-11-23")


def test_the_input_is_not_changed_and_the_copy_shares_nothing_mutable():
    doc = _sample()
    before = copy.deepcopy(doc)
    rolled = roll(doc, 400)
    assert doc == before
    rolled["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"][0]["timing"]["repeat"]["when"].append("EVE")
    rolled["prefetch"]["patient"]["identifier"][0]["value"] = "x"
    assert doc == before


@pytest.mark.parametrize("days", [1, -1, 10, 400, -400, 3653])
def test_the_sample_rolls_back_to_itself(days):
    assert roll(roll(_sample(), days), -days) == _sample()


def test_roll_to_uses_the_requests_own_today_and_the_reference_date_for_the_rest():
    request = _sample()
    assert fixture_date(request) == date(2026, 11, 23) == REFERENCE_DATE
    rolled = roll_to(request, date(2027, 1, 2))
    assert rolled["extension"]["trappa"]["today"] == "2027-01-02"
    assert rolled["context"]["draftOrders"]["entry"][0]["resource"]["authoredOn"] == "2026-12-03"  # 40 days on
    pinned = dict(request, extension={"trappa": {"today": "2026-12-01"}})  # written for another day
    assert days_to(pinned, date(2026, 12, 11)) == 10
    assert roll_to(pinned, date(2026, 12, 11))["extension"]["trappa"]["today"] == "2026-12-11"
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": {"resourceType": "Patient", "id": "p", "birthDate": "1968-03-14"}}]}
    assert fixture_date(bundle) == REFERENCE_DATE
    assert roll_to(bundle, REFERENCE_DATE + timedelta(days=3))["entry"][0]["resource"]["birthDate"] == "1968-03-17"
    for bad in ("not-a-date", 20261123, "2026-11", None):
        assert fixture_date({"extension": {"trappa": {"today": bad}}}) == REFERENCE_DATE


def test_roll_to_without_today_drops_the_clock_override():
    rolled = roll_to(_sample(), date(2026, 12, 3), keep_today=False)
    assert rolled["extension"] == {"trappa": {"note": "2026-11-23"}}
    only = {"hook": "patient-view", "extension": {"trappa": {"today": "2026-11-23"}}}
    assert without_today(only) == {"hook": "patient-view"}
    assert only == {"hook": "patient-view", "extension": {"trappa": {"today": "2026-11-23"}}}  # not changed
    both = {"extension": {"trappa": {"today": "2026-11-23"}, "other": 1}}
    assert without_today(both) == {"extension": {"other": 1}}
    assert without_today({"hook": "x"}) == {"hook": "x"}
    assert without_today([1]) == [1]


def test_a_today_that_is_no_date_is_left_for_the_service_to_refuse():
    body = {"extension": {"trappa": {"today": "tomorrow"}}, "context": {}}
    assert roll(body, 5) == body
    with pytest.raises(ValueError, match="extension.trappa.today"):
        roll({"extension": {"trappa": {"today": "2026-02-30"}}}, 5)


# --------------------------------------------------------------------------------------------------
# The element names and the fixtures


def _r4_date_element_names() -> set[str]:
    """Every element name of type date, dateTime or instant in the R4 resources and data types (choice
    types spelt out), from the StructureDefinitions the FHIR test server uses."""
    from tests.support.fhir_server import FHIR_SERVER_DIR, ensure_node_modules

    ensure_node_modules()
    r4 = FHIR_SERVER_DIR / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4"
    names = set()
    for name in ("profiles-types.json", "profiles-resources.json"):
        for entry in json.loads((r4 / name).read_text(encoding="utf-8"))["entry"]:
            sd = entry["resource"]
            if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") == "logical" \
                    or sd.get("derivation") == "constraint":
                continue
            for element in sd.get("snapshot", {}).get("element", []):
                if "." not in element["path"]:
                    continue
                leaf = element["path"].rsplit(".", 1)[1]
                for t in element.get("type", []):
                    if t["code"] in ("date", "dateTime", "instant"):
                        names.add(leaf.replace("[x]", t["code"][0].upper() + t["code"][1:]))
    return names


def test_the_date_element_names_are_those_of_fhir_r4():
    derived = _r4_date_element_names()
    assert "whenHandedOver" in derived and "start" in derived and "value" in derived
    assert DATE_ELEMENTS == derived - {"value"}


def _date_strings(node, key=None, path="$", *, full=True):
    """(path, key, value) of every string of a date's shape in a JSON value (``full``: YYYY-MM-DD…)."""
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in _date_strings(v, k, f"{path}.{k}", full=full)]
    if isinstance(node, list):
        return [x for i, v in enumerate(node) for x in _date_strings(v, key, f"{path}[{i}]", full=full)]
    return [(path, key, node)] if is_date_shaped(node) and (len(node) >= 10 or not full) else []


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.name for p in FIXTURE_FILES])
def test_every_fixture_rolls_there_and_back_and_misses_no_date(path):
    doc = _load(path)
    for days in (400, -400, 10):
        rolled = roll(doc, days)
        assert roll(rolled, -days) == doc
    rolled = roll(doc, 400)
    # Every full date of the file sits where the roller moves it (a new fixture with a date under a
    # name the roller does not know fails here, instead of going stale unnoticed) ...
    stale = [(p, k, v) for p, k, v in _date_strings(doc)
             if k not in DATE_ELEMENTS and p != "$.extension.trappa.today"]
    assert stale == []
    # ... none is left where it was, and nothing but dates changed.
    changed = set(_changes(doc, rolled))
    assert {p for p, _, _ in _date_strings(doc)} <= changed
    assert changed <= {p for p, _, _ in _date_strings(doc, full=False)}


def test_the_reference_date_is_the_day_the_fixtures_are_built_for():
    """fixtures/patients carry no date of their own: they are written for REFERENCE_DATE, the TODAY
    of fixtures/build_fixtures.py, as the requests built beside them say in extension.trappa.today."""
    spec = importlib.util.spec_from_file_location("_build_fixtures", ROOT / "fixtures" / "build_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TODAY == REFERENCE_DATE
    for name in ("patient-view", "order-sign"):
        for patient in sorted((FIXTURES / "patients").glob("*.json")):
            request = FIXTURES / "requests" / f"{name}.{patient.stem}.json"
            if request.exists():
                assert fixture_date(_load(request)) == REFERENCE_DATE, request.name


def test_the_command_line_prints_a_fixture_rolled_to_the_day_without_its_today(tmp_path):
    """``python -m demo.roll`` as the README's by-hand sandbox steps use it: a patient's Bundle and a
    request, rolled as roll_to rolls them, the request without extension.trappa.today; a file that is
    not there: exit 2, a message, nothing on stdout."""
    import subprocess
    import sys

    day = date(2027, 12, 28)
    for name in ("patients/anna-testsson.json", "requests/order-sign.anna-testsson.json"):
        out = subprocess.run([sys.executable, "-m", "demo.roll", str(FIXTURES / name), "--to", day.isoformat()],
                             cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
        fixture = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
        assert json.loads(out.stdout) == roll_to(fixture, day, keep_today=False)
        assert "today" not in json.loads(out.stdout).get("extension", {}).get("trappa", {})
    missing = subprocess.run([sys.executable, "-m", "demo.roll", str(tmp_path / "none.json")],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (missing.returncode, missing.stdout) == (2, "")
    assert "none.json" in missing.stderr
