"""The schedule engine's work is bounded whatever the dose: a typo in the EHR (1000 tablets, mg for µg)
gets an answer at once, never a worker busy for minutes.

Work is counted, not timed: :class:`LineCounter` counts the lines of ``cds_service/domain/taper.py`` a call
executes (Python's trace hook), the same on a busy machine as on an idle one. Every call here starts
cold (the engine's caches emptied), so the count is the whole search.

Before the bound, the per-administration amounts were enumerated as every combination of up to
d0 / n / largest strength units (``itertools.combinations_with_replacement``, growing as
units^strengths) and every sum and split of them formed: oxycodone 1 500 mg/day took 1.5 million lines,
3 000 mg 7.7 million, 5 000 mg 17 million (1.4 s), 10 000 mg more than half a minute — and a worker was
lost for good on a larger typo. Now 1 500 mg takes about 76 000 lines and any dose above the ceiling 86.
"""
from __future__ import annotations

import json
import math
import sys
from datetime import date
from itertools import combinations_with_replacement
from pathlib import Path

import pytest

from cds_service.domain import taper
from cds_service.domain.taper import (
    MAX_ADMINISTRATIONS_PER_DAY,
    MAX_STRENGTHS,
    MAX_UNITS_PER_ADMINISTRATION,
    strengths_table,
    taper_schedule,
)
from cds_service.domain.model import Exposure, Form

START = date(2025, 3, 3)
REQUESTS = Path(__file__).resolve().parents[2] / "fixtures" / "requests"

# The most lines of taper.py one cold schedule may execute, whatever the dose. Measured: the heaviest
# default-table schedule (morphine just below its 3 000 mg ceiling, not givable as it is, so the start
# is widened) about 150 000; the heaviest case here, a fentanyl patch split over six administrations
# (which no row does), about 535 000.
WORK_BOUND = 600_000
# A dose above its ceiling is refused before any search: a few dozen lines.
REFUSAL_BOUND = 200

TABLE = strengths_table()
ROWS = sorted(TABLE, key=lambda k: (k[0], k[1].value, k[2]))  # (ingredient, form, combination)
DOSES = (1, 10, 100, 1_000, 10_000, 100_000, 10**6, 10**9)


class LineCounter:
    """Counts the lines of cds_service/domain/taper.py executed inside the ``with`` block."""

    def __init__(self):
        self.lines = 0
        self._previous = None

    def _call(self, frame, event, arg):
        return self._line if frame.f_code.co_filename == taper.__file__ else None

    def _line(self, frame, event, arg):
        if event == "line":
            self.lines += 1
        return self._line

    def __enter__(self):
        self._previous = sys.gettrace()
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc):
        sys.settrace(self._previous)


def cold_schedule(**kw):
    """A schedule computed from scratch, and the lines of taper.py it took."""
    taper._per_administration_amounts.cache_clear()
    taper._givable_doses.cache_clear()
    kw.setdefault("exposure", Exposure.LONG_TERM)
    with LineCounter() as counter:
        schedule = taper_schedule(start=START, **kw)
    return schedule, counter.lines


def schedule_of(row_key, dose, **kw):
    ingredient, form, combination = row_key
    return cold_schedule(ingredient=ingredient, form=form, daily_dose=float(dose), unit=TABLE[row_key].unit,
                         companions=combination, **kw)


# ---------------------------------------------------------------------------------------------
# doses from 1 to 10^9 (mg/day, µg/h for patches)


@pytest.mark.parametrize("row_key", ROWS, ids=lambda k: "-".join((k[0], k[1].value, *k[2])))
def test_every_dose_from_1_to_1e9_is_answered_with_bounded_work(row_key):
    row = TABLE[row_key]
    ceiling = row.max_daily_dose
    assert ceiling is not None, "every default row has a plausible maximum"
    for dose in (*DOSES, ceiling, ceiling * 0.999, ceiling + min(row.strengths)):
        schedule, lines = schedule_of(row_key, dose)
        assert lines <= WORK_BOUND, (dose, lines)
        if dose > ceiling:
            assert schedule.steps == () and "dose-implausible" in schedule.warnings, (dose, schedule.warnings)
            assert lines <= REFUSAL_BOUND, (dose, lines)
            assert schedule.start_dose == dose and schedule.display == row.product_sv  # the card can say what
        elif dose >= min(row.strengths):
            assert schedule.steps and "dose-implausible" not in schedule.warnings, (dose, schedule.warnings)
        else:
            assert schedule.steps == () and schedule.warnings  # below the smallest strength: says why


def test_the_work_does_not_grow_with_the_dose():
    """Above the ceiling the work is the same for 10 000 as for 10^9 mg/day: nothing is searched."""
    counts = {dose: schedule_of(("oxycodone", Form.DEPOT, ()), dose)[1] for dose in (1_501, 10_000, 10**6, 10**9, 10**300)}
    assert len(set(counts.values())) == 1, counts
    assert taper._givable_doses.cache_info().misses == 0  # no search space was built at all


@pytest.mark.parametrize("dose, bound", [(float("inf"), REFUSAL_BOUND), (float("nan"), REFUSAL_BOUND),
                                         (-1e9, REFUSAL_BOUND), (0.0, REFUSAL_BOUND), (None, REFUSAL_BOUND),
                                         (1e-12, WORK_BOUND)])  # below the smallest strength: looked for
def test_odd_doses_get_no_steps_and_a_reason(dose, bound):
    schedule, lines = cold_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=dose, unit="mg")
    assert schedule.steps == () and schedule.warnings
    assert lines <= bound


def test_the_ceiling_is_the_rows_and_the_units_bound_holds_without_one(tmp_path, monkeypatch):
    """A region's table without ``max_daily_dose``: the bound on units per administration still holds
    (20 mg tablets, twice a day, at most 20 a time: 800 mg/day), and beyond it the dose is implausible."""
    table = tmp_path / "region.csv"
    table.write_text(
        "ingredient,form,strengths,unit,administrations_per_day,change_interval_days,"
        "max_units_per_administration,depot,atc,ingredient_sv,product_sv,product_en,source,note\n"
        "oxycodone,depot,20,mg,2,,,yes,N02AA05,oxikodon,Oxikodon depot,Oxycodone depot,test,\n",
        encoding="utf-8")
    monkeypatch.setenv("TRAPPA_STRENGTHS_TABLE", str(table))
    top = 2 * MAX_UNITS_PER_ADMINISTRATION * 20
    at_top, lines = cold_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=float(top), unit="mg")
    assert at_top.steps[0].daily_dose == top and lines <= WORK_BOUND
    above, lines = cold_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=top + 20.0, unit="mg")
    assert above.steps == () and "dose-implausible" in above.warnings and lines <= REFUSAL_BOUND


def test_caller_strengths_keep_the_ceiling_of_the_drug():
    s, _ = cold_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=1600.0, unit="mg", strengths=(10.0, 20.0))
    assert s.steps == () and "dose-implausible" in s.warnings


# ---------------------------------------------------------------------------------------------
# absurd administration counts and strengths


@pytest.mark.parametrize("n", [7, 24, 1_000, 10**9])
def test_absurd_administrations_per_day_are_refused(n):
    s, lines = cold_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=40.0, unit="mg",
                             administrations_per_day=n)
    assert s.steps == () and "administrations-unsupported" in s.warnings and lines <= REFUSAL_BOUND


@pytest.mark.parametrize("n", range(1, MAX_ADMINISTRATIONS_PER_DAY + 1))
@pytest.mark.parametrize("row_key", [("oxycodone", Form.DEPOT, ()), ("fentanyl", Form.PATCH, ()), ("morphine", Form.DEPOT, ())],
                         ids=lambda k: k[0])
def test_every_supported_administration_count_has_bounded_work_up_to_the_ceiling(row_key, n):
    ceiling = TABLE[row_key].max_daily_dose
    for dose in (ceiling, ceiling - 3, ceiling / 2 - 1, 97):
        s, lines = schedule_of(row_key, dose, administrations_per_day=n)
        assert lines <= WORK_BOUND, (dose, n, lines)
        assert s.steps or s.warnings
        for step in s.steps:
            assert len(step.per_administration) == n
            assert max(step.per_administration) - min(step.per_administration) <= min(TABLE[row_key].strengths) + 1e-9


def test_absurd_strengths_are_refused_not_searched():
    many = tuple(float(x) for x in range(1, MAX_STRENGTHS + 2))
    s, lines = cold_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=40.0, unit="mg", strengths=many)
    assert s.steps == () and "no-strengths-known" in s.warnings and lines <= REFUSAL_BOUND
    # a strength too small to count in thousandths of a unit is none (it used to divide by zero)
    s, _ = cold_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=40.0, unit="mg", strengths=(0.0001,))
    assert s.steps == () and "no-strengths-known" in s.warnings
    # a single tiny strength: the units bound makes any real dose implausible at once
    s, lines = cold_schedule(ingredient="oxycodone", form=Form.DEPOT, daily_dose=40.0, unit="mg", strengths=(0.001,))
    assert s.steps == () and "dose-implausible" in s.warnings and lines <= REFUSAL_BOUND


@pytest.mark.parametrize("line, message", [
    ("oxycodone,depot,5/10,mg,0,,,,yes,,,,,,", "administrations_per_day"),
    ("oxycodone,depot,5/10,mg,7,,,,yes,,,,,,", "administrations_per_day"),
    ("oxycodone,depot,5/10,mg,2,,21,,yes,,,,,,", "max_units_per_administration"),
    ("oxycodone,depot,5/10,mg,2,,,-3,yes,,,,,,", "max_daily_dose"),
    ("oxycodone,depot,5/10,mg,2,,,inf,yes,,,,,,", "max_daily_dose"),
    ("oxycodone,depot," + "/".join(str(x) for x in range(1, MAX_STRENGTHS + 2)) + ",mg,2,,,,yes,,,,,,", "strengths"),
])
def test_a_table_outside_the_bounds_is_a_configuration_error(tmp_path, line, message):
    path = tmp_path / "bad.csv"
    path.write_text("ingredient,form,strengths,unit,administrations_per_day,change_interval_days,"
                    "max_units_per_administration,max_daily_dose,depot,atc,ingredient_sv,product_sv,"
                    "product_en,source,note\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        strengths_table(path)


# ---------------------------------------------------------------------------------------------
# the amounts of one administration: the same as enumerating every combination


def _enumerated(strengths, soft_max, max_units):
    """The enumeration the engine used to run (fewest units, then the largest strengths first)."""
    best = {0: ()}
    desc = tuple(sorted(strengths, reverse=True))
    for k in range(1, max_units + 1):
        for combo in combinations_with_replacement(desc, k):
            amount = sum(combo)
            if k > soft_max and amount <= soft_max * desc[0]:
                continue
            best.setdefault(amount, combo)
    return best


@pytest.mark.parametrize("strengths", sorted({tuple(round(s * 1000) for s in row.strengths) for row in TABLE.values()}
                                             | {(1000, 2500, 7500), (12000, 25000), (3000, 7000, 11000)}))
def test_amounts_by_units_equal_the_enumeration(strengths):
    for soft_max, max_units in ((1, 1), (2, 2), (2, 6), (4, 4), (4, 7)):
        assert dict(taper._per_administration_amounts(strengths, soft_max, max_units)) == \
            _enumerated(strengths, soft_max, max_units), (soft_max, max_units)


def test_the_search_space_is_bounded_by_the_units_bound():
    """Per row, the amounts of one administration at the largest unit count the engine ever uses."""
    for row in TABLE.values():
        strengths = tuple(round(s * 1000) for s in row.strengths)
        most = MAX_UNITS_PER_ADMINISTRATION + max(1, len(strengths) - 1)  # + the widened start's extra units
        amounts = taper._per_administration_amounts(strengths, most, most)
        step = math.gcd(*strengths)
        assert len(amounts) <= most * max(strengths) // step + 1
        assert max(amounts) == most * max(strengths)


# ---------------------------------------------------------------------------------------------
# through the rules: the card says the dose is implausible


def _co_sedatives_with_dose(tablets: float, frequency: float | None = None) -> dict:
    """The co-sedatives patient with the oxycodone 10 mg tablets per dose (and doses a day) changed,
    in the draft and the record alike (the taper starts from the record's dose)."""
    body = json.loads((REQUESTS / "co-sedatives.json").read_text(encoding="utf-8"))
    orders = [body["context"]["draftOrders"]["entry"][0]["resource"]]
    orders += [e["resource"] for e in body["prefetch"]["medicationRequests"]["entry"] if "oxy" in e["resource"]["id"]]
    for order in orders:
        dosage = order["dosageInstruction"][0]
        dosage["doseAndRate"][0]["doseQuantity"]["value"] = tablets
        if frequency is not None:
            dosage["timing"]["repeat"]["frequency"] = frequency
    return body


def _evaluate(body, lang="sv"):
    from cds_service.web.config import Settings
    from cds_service.protocol.evaluate import evaluate_request
    from cds_service.protocol.services import SERVICES

    service = next(s for s in SERVICES.values() if s.hook == body["hook"])
    settings = Settings(allow_clock_override=True, auth_required=False)
    with LineCounter() as counter:
        result = evaluate_request(service, body, settings, None, lang)
    return result, counter.lines


def _taper_card(result):
    return next(c for c in result.response["cards"] if c["source"]["topic"]["code"] == "taper-plan-missing")


@pytest.mark.parametrize("tablets, frequency, daily_text", [
    (1000, None, "20000 mg/dygn"),
    (10**9, None, "20000000000 mg/dygn"),
    (1, 10**6, "10000000 mg/dygn"),  # a million doses a day
])
def test_the_taper_card_says_the_dose_is_implausible(tablets, frequency, daily_text):
    result, lines = _evaluate(_co_sedatives_with_dose(tablets, frequency))
    assert lines <= WORK_BOUND
    card = _taper_card(result)
    assert f"Dygnsdosen {daily_text} är orimligt hög – kontrollera ordinationen." in card["detail"]
    assert not card.get("suggestions")  # no plan to create from a dose nobody takes
    assert card["extension"]["trappa"]["taperSteps"] is None
    english = _taper_card(_evaluate(_co_sedatives_with_dose(tablets, frequency), "en")[0])
    assert "is implausibly high – check the prescription." in english["detail"]
    # nor is the absurd dose counted anywhere else: no MEDD, no referral decided on it, and the
    # medd-unknown card says why (cds_service.domain.medd.MAX_PLAUSIBLE_MEDD)
    topics = {c["source"]["topic"]["code"]: c for c in result.response["cards"]}
    assert "referral-psychiatry" not in topics
    assert all(c["extension"]["trappa"]["meddMg"] is None for c in topics.values())
    assert "är orimligt hög – kontrollera ordinationen" in topics["medd-unknown"]["detail"]


def test_a_plausible_high_dose_still_gets_its_schedule():
    """50 tablets of 10 mg twice a day (1 000 mg/day): high, possible, and given a schedule."""
    card = _taper_card(_evaluate(_co_sedatives_with_dose(50))[0])
    steps = card["extension"]["trappa"]["taperSteps"]
    assert steps and steps[0]["dailyDose"] == 1000.0
    assert "orimligt" not in card["detail"]


# ---------------------------------------------------------------------------------------------
# over HTTP: the real server answers, and goes on answering


@pytest.fixture(scope="module")
def one_worker():
    """The production server with a single worker: were an evaluation stuck, nothing else would be
    answered, so "a normal call afterwards is answered" shows the worker is free again."""
    from tests.support.service import ServiceProcess

    with ServiceProcess(workers=1) as proc:
        yield proc


def _hook_path(body):
    return f"/cds-services/trappa-{body['hook']}"


def _normal_call_is_answered(server):
    body = json.loads((REQUESTS / "co-sedatives.json").read_text(encoding="utf-8"))
    expected = json.loads((REQUESTS / "co-sedatives.expected.json").read_text(encoding="utf-8"))["topics"]
    resp = server.post(_hook_path(body), body, timeout=10)
    assert resp.status_code == 200, resp.text[:500]
    assert sorted(c["source"]["topic"]["code"] for c in resp.json()["cards"]) == sorted(expected)


@pytest.mark.parametrize("tablets", [1000, 10_000, 10**6, 10**9])
def test_an_absurd_dose_over_http_is_answered_and_the_worker_stays_free(one_worker, tablets):
    body = _co_sedatives_with_dose(tablets)
    resp = one_worker.post(_hook_path(body), body, timeout=10)  # before the bound: never answered
    assert resp.status_code == 200, resp.text[:500]
    card = next(c for c in resp.json()["cards"] if c["source"]["topic"]["code"] == "taper-plan-missing")
    assert "är orimligt hög – kontrollera ordinationen" in card["detail"]
    _normal_call_is_answered(one_worker)


def test_the_highest_plausible_dose_over_http_gets_its_schedule(one_worker):
    """75 tablets of 10 mg twice a day: 1 500 mg/day, oxycodone's ceiling — the heaviest schedule."""
    body = _co_sedatives_with_dose(75)
    resp = one_worker.post(_hook_path(body), body, timeout=10)
    assert resp.status_code == 200, resp.text[:500]
    card = next(c for c in resp.json()["cards"] if c["source"]["topic"]["code"] == "taper-plan-missing")
    assert card["extension"]["trappa"]["taperSteps"][0]["dailyDose"] == 1500.0


def _record_with_dose(n: int, tablets: float) -> bytes:
    """A generated record of ``n`` MedicationRequests whose current oxycodone and draft are ``tablets``
    tablets of 10 mg twice a day: the benchmark's record of 1 000 orders (bench/corpus.py), its past
    orders repeated under new ids up to ``n`` (generating 100 000 afresh takes ten seconds)."""
    import orjson

    from bench.corpus import build_record, hook_request

    record = build_record(1000)
    for order in [record.draft, *(r for r in record.resources if "-oxy-" in r.get("id", ""))]:
        order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = tablets
    orders = [r for r in record.resources if r["resourceType"] == "MedicationRequest"]
    past = [r for r in orders if "-oxy-" not in r["id"]]
    extra = [{**past[i % len(past)], "id": f"{record.patient_id}-copy-{i}"} for i in range(n - len(orders))]
    record.resources.extend(extra)
    return orjson.dumps(hook_request(record))


def test_the_largest_record_the_body_limit_admits_with_an_absurd_dose_is_answered(one_worker):
    """18 000 MedicationRequests (about 19 MiB, just under the 20 MiB limit), the current one 10^6
    tablets twice a day. A record of 100 000 orders does not get this far (below)."""
    body = _record_with_dose(18_000, 10**6)
    assert 15 * 1024 * 1024 < len(body) < 20 * 1024 * 1024
    resp = one_worker.post("/cds-services/trappa-order-sign", body, timeout=60)
    assert resp.status_code == 200, resp.text[:500]
    card = next(c for c in resp.json()["cards"] if c["source"]["topic"]["code"] == "taper-plan-missing")
    assert "är orimligt hög – kontrollera ordinationen" in card["detail"]
    _normal_call_is_answered(one_worker)


def test_a_record_of_100_000_orders_is_refused_by_the_body_limit_not_evaluated(one_worker):
    """100 000 MedicationRequests are about 110 MiB: 413 (body limit), answered before the body is
    evaluated, and the worker serves the next call."""
    body = _record_with_dose(100_000, 1)
    assert len(body) > 20 * 1024 * 1024
    resp = one_worker.post("/cds-services/trappa-order-sign", body, timeout=60)
    assert resp.status_code == 413
    assert resp.json()["resourceType"] == "OperationOutcome"
    _normal_call_is_answered(one_worker)
