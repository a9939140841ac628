"""Plans, flags, diagnoses and exclusions already in the record (clinical-rules §3, §5, §7, §8)."""
from __future__ import annotations

from datetime import date

import pytest

from cds_service.domain.model import (
    MG,
    UG_PER_H,
    Conditions,
    DailyDose,
    DoseStep,
    Drug,
    DrugClass,
    Form,
    IdentifiedBy,
    Medd,
    MedicationOrder,
)
from fhir_mappings.read.record import (
    age_on,
    careplan_steps,
    exclusions,
    is_restriction_flag,
    is_taper_careplan,
    read_conditions,
    restriction_flag,
    taper_plans,
)
from fhir_mappings.codes.systems import SNOMED, TRAPPA_CAREPLAN, TRAPPA_FLAG

TODAY = date(2025, 6, 1)
D = date.fromisoformat
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_SE = "urn:oid:1.2.752.116.1.1.1.1.3"
ICD11 = "http://id.who.int/icd/release/11/mms"


# ---------------------------------------------------------------------------------------------
# Conditions
# ---------------------------------------------------------------------------------------------

def cond(code, system=ICD10, clinical="active", verification=None, **extra):
    c = {"resourceType": "Condition", "code": {"coding": [{"system": system, "code": code}]}}
    if clinical is not None:
        # "STU3": clinicalStatus as a plain code string, as STU3 had it.
        c["clinicalStatus"] = "active" if clinical == "STU3" else {"coding": [{"code": clinical}]}
    if verification is not None:
        c["verificationStatus"] = {"coding": [{"code": verification}]}
    c.update(extra)
    return c


CONDITION_CASES = [
    pytest.param([cond("R52.1")], Conditions(long_term_pain=True), id="R52.1 long-term pain"),
    pytest.param([cond("R522A", ICD10_SE)], Conditions(long_term_pain=True), id="ICD-10-SE OID, no dot R522A"),
    pytest.param([cond("R52.2A", "urn:local:diagnoser")], Conditions(long_term_pain=True), id="local URI R52.2A"),
    pytest.param([cond("r52.2")], Conditions(long_term_pain=True), id="lower case r52.2"),
    pytest.param([cond("R52.0")], Conditions(), id="R52.0 acute pain is not long-term pain"),
    pytest.param([cond("MG30.01", ICD11)], Conditions(long_term_pain=True), id="ICD-11 MG30.01"),
    pytest.param([cond("C50.9")], Conditions(cancer=True), id="C50.9 cancer"),
    pytest.param([cond("C97")], Conditions(cancer=True), id="C97 upper bound"),
    pytest.param([cond("D05.1")], Conditions(), id="D05 in situ is not C00-C97"),
    pytest.param([cond("Z51.5")], Conditions(palliative=True), id="Z51.5 palliative"),
    pytest.param([cond("F11.2")], Conditions(substance_use=("F11.2",), opioid_dependence=True), id="F11.2 opioid"),
    pytest.param([cond("F112", ICD10_SE), cond("F13.2")],
                 Conditions(substance_use=("F11.2", "F13.2"), opioid_dependence=True, sedative_dependence=True,
                            mixed_dependence=True), id="F11 + F13: two groups = mixed"),
    pytest.param([cond("F11.2"), cond("F11.1")],
                 Conditions(substance_use=("F11.1", "F11.2"), opioid_dependence=True), id="two F11 codes: one group"),
    pytest.param([cond("F19.2")], Conditions(substance_use=("F19.2",), mixed_dependence=True), id="F19 mixed"),
    pytest.param([cond("F32.1"), cond("F03")], Conditions(psychiatric=("F03", "F32.1")), id="psychiatric F32.1, F03"),
    pytest.param([cond("C50", SNOMED), cond("C01AA05", "http://www.whocc.no/atc")], Conditions(),
                 id="SNOMED / ATC codings are not ICD"),
    pytest.param([cond("C50.9", clinical="resolved")], Conditions(), id="resolved ignored"),
    pytest.param([cond("C50.9", clinical="remission")], Conditions(), id="remission ignored"),
    pytest.param([cond("C50.9", clinical="recurrence")], Conditions(cancer=True), id="recurrence counts"),
    pytest.param([cond("C50.9", clinical=None)], Conditions(cancer=True), id="no clinicalStatus counts"),
    pytest.param([cond("C50.9", clinical="STU3")], Conditions(cancer=True), id="STU3 string clinicalStatus"),
    pytest.param([cond("C50.9", verification="refuted")], Conditions(), id="refuted ignored"),
    pytest.param([cond("C50.9", verification="entered-in-error")], Conditions(), id="entered-in-error ignored"),
    pytest.param([cond("C50.9", verification="unconfirmed")], Conditions(cancer=True), id="unconfirmed counts"),
    pytest.param([cond("C50.9", clinical=None, abatementDateTime="2024-01-01")], Conditions(),
                 id="abated before today without status"),
]


@pytest.mark.parametrize("conditions, expected", CONDITION_CASES)
def test_read_conditions_table(conditions, expected):
    assert read_conditions(conditions, TODAY) == expected


def test_read_conditions_junk_never_raises():
    junk = [None, 5, "C50", {"code": "C50"}, {"code": {"coding": "C50"}}, {"code": {"coding": [{"code": 50}]}},
            {"clinicalStatus": ["active"], "code": {"coding": [None, {"code": None}]}}]
    assert read_conditions(junk, TODAY) == Conditions()


# ---------------------------------------------------------------------------------------------
# Prescribing-restriction flag
# ---------------------------------------------------------------------------------------------

def flag(code=None, text=None, status="active", start=None, end=None, fid="f1", author="Practitioner/p1"):
    f = {"resourceType": "Flag", "id": fid, "status": status, "code": {}, "author": {"reference": author}}
    if code:
        f["code"]["coding"] = [code]
    if text:
        f["code"]["text"] = text
    if start or end:
        f["period"] = {k: v for k, v in (("start", start), ("end", end)) if v}
    return f


OURS = {"system": TRAPPA_FLAG, "code": "prescribing-restriction"}


@pytest.mark.parametrize("f, expected", [
    (flag(OURS), True),
    (flag({"system": "urn:local", "code": "FR", "display": "Förskrivningsrestriktion"}), True),
    (flag(text="FORSKRIVNINGSRESTRIKTION opioider"), True),
    (flag(text="Prescribing restriction: opioids"), True),
    (flag(text="Uppmärksamhetssignal – opioider förskrivs endast av dr A"), True),
    (flag(text="Uppmärksamhetssignal: penicillinallergi"), False),
    (flag(text="Fall risk"), False),
    (flag({"system": "urn:other", "code": "prescribing-restriction-x"}), True),
    (flag({"system": TRAPPA_FLAG, "code": "something-else"}), False),
])
def test_is_restriction_flag(f, expected):
    assert is_restriction_flag(f) is expected


@pytest.mark.parametrize("f, found", [
    (flag(OURS), True),
    (flag(OURS, status="inactive"), False),
    (flag(OURS, status="entered-in-error"), False),
    (flag(OURS, status=None), True),
    (flag(OURS, start="2025-01-01", end="2025-12-31"), True),
    (flag(OURS, start="2025-06-01", end="2025-06-01"), True),  # period bounds inclusive
    (flag(OURS, start="2025-06-02"), False),  # not yet started
    (flag(OURS, end="2025-05-31"), False),  # ended yesterday
])
def test_restriction_flag_status_and_period(f, found):
    assert (restriction_flag([f], TODAY) is not None) is found


def test_restriction_flag_latest_start_with_author_and_dates():
    older = flag(OURS, start="2024-01-01", fid="old", author="Practitioner/a")
    newer = flag(OURS, start="2025-02-01", end="2025-08-01", fid="new", author="Practitioner/b")
    got = restriction_flag([newer, older, "junk", None], TODAY)
    assert (got.id, got.author, got.start, got.end) == ("new", "Practitioner/b", D("2025-02-01"), D("2025-08-01"))


# ---------------------------------------------------------------------------------------------
# Taper plans
# ---------------------------------------------------------------------------------------------

TAPER_CATEGORY = [{"coding": [{"system": SNOMED, "code": "874903005"}]}]


def step_detail(start, end, amount, unit="mg"):
    return {"detail": {"status": "scheduled", "scheduledPeriod": {"start": start, "end": end},
                       "dailyAmount": {"value": amount, "unit": unit}}}


def careplan(cid="cp1", status="active", category=TAPER_CATEGORY, activity=None, author="Practitioner/lead", period=None):
    cp = {"resourceType": "CarePlan", "id": cid, "status": status, "intent": "plan", "category": category,
          "activity": activity or []}
    if author:
        cp["author"] = {"reference": author}
    if period:
        cp["period"] = period
    return cp


def oxy_order(oid, doses, starts, *, status="active", requester="Practitioner/gp", end=None, ingredient="oxycodone"):
    """A MedicationOrder with consecutive steps: steps[i] from starts[i] to the day before starts[i+1]."""
    steps = []
    for i, (dose, start) in enumerate(zip(doses, starts)):
        nxt = D(starts[i + 1]) if i + 1 < len(starts) else (D(end) if end else None)
        steps.append(DoseStep(i + 1, D(start), date.fromordinal(nxt.toordinal() - 1) if nxt else None,
                              DailyDose(dose, MG)))
    drug = Drug(DrugClass.OPIOID, ingredient, ingredient=ingredient, form=Form.DEPOT, identified_by=IdentifiedBy.ATC)
    return MedicationOrder(id=oid, resource_type="MedicationRequest", status=status, intent="order", drug=drug,
                           daily_dose=steps[0].daily_dose, medd=Medd(None), steps=tuple(steps),
                           start=D(starts[0]), requester=requester)


def raw(oid, based_on=None):
    r = {"resourceType": "MedicationRequest", "id": oid}
    if based_on:
        r["basedOn"] = [{"reference": based_on}]
    return r


@pytest.mark.parametrize("cp, expected", [
    (careplan(), True),
    (careplan(category=[{"coding": [{"code": "874903005"}]}]), True),  # no system: accepted
    (careplan(category=[{"coding": [{"system": "urn:other", "code": "874903005"}]}]), False),
    (careplan(category=[], activity=[{"detail": {"code": {"coding": [{"system": TRAPPA_CAREPLAN, "code": "opioid-taper"}]}}}]), True),
    (careplan(category=[], activity=[{"detail": {"code": {"coding": [{"system": SNOMED, "code": "874903005"}]}}}]), True),
    (careplan(category=[{"coding": [{"system": "http://loinc.org", "code": "80764-4"}]}]), False),  # pain plan only
    (careplan(category="874903005"), False),
])
def test_is_taper_careplan(cp, expected):
    assert is_taper_careplan(cp) is expected


def test_careplan_steps_from_activity_details():
    cp = careplan(activity=[
        step_detail("2025-06-15", None, 36),      # listed out of order: sorted by start
        step_detail("2025-05-01", "2025-05-31", 45),
        step_detail("2025-06-01", "2025-06-14", 40),
        {"detail": {"status": "cancelled", "scheduledPeriod": {"start": "2025-07-01"}, "dailyAmount": {"value": 99, "unit": "mg"}}},
        {"detail": {"kind": "Appointment", "scheduledPeriod": {"start": "2025-06-07"}}},  # a visit, not a step
    ])
    steps = careplan_steps(cp)
    assert [(s.sequence, s.start, s.end, s.daily_dose.amount) for s in steps] == [
        (1, D("2025-05-01"), D("2025-05-31"), 45.0),
        (2, D("2025-06-01"), D("2025-06-14"), 40.0),
        (3, D("2025-06-15"), None, 36.0),
    ]


def test_careplan_step_units():
    steps = careplan_steps(careplan(activity=[
        step_detail("2025-05-01", "2025-05-31", 25, "ug/h"),
        step_detail("2025-06-01", "2025-06-30", 500, "µg"),
        step_detail("2025-07-01", "2025-07-31", 5, "ml"),
    ]))
    assert (steps[0].daily_dose.amount, steps[0].daily_dose.unit) == (25.0, UG_PER_H)
    assert (steps[1].daily_dose.amount, steps[1].daily_dose.unit) == (0.5, MG)  # 500 µg = 0.5 mg
    assert steps[2].daily_dose.amount is None and "ml" in str(steps[2].daily_dose.problem)  # unknown, not 0


def test_active_careplan_with_steps_author_and_step_today():
    cp = careplan(activity=[step_detail("2025-05-01", "2025-05-31", 45), step_detail("2025-06-01", "2025-06-14", 40)])
    active, previous = taper_plans([cp], [], TODAY)
    assert (active.source, active.id, active.author) == ("CarePlan", "cp1", "Practitioner/lead")
    assert active.step_on(TODAY).daily_dose.amount == 40.0
    assert (active.start, active.end) == (D("2025-05-01"), D("2025-06-14"))
    assert previous == ()


def test_careplan_steps_from_a_referenced_medication_request():
    order = oxy_order("mr1", [40, 30], ["2025-05-15", "2025-06-01"], requester="Practitioner/gp")
    cp = careplan(author=None, activity=[{"reference": {"reference": "MedicationRequest/mr1"}}])
    active, previous = taper_plans([cp], [(raw("mr1"), order)], TODAY)
    assert active.source == "CarePlan"
    assert [s.daily_dose.amount for s in active.steps] == [40.0, 30.0]
    assert active.author == "Practitioner/gp"  # no CarePlan.author: the linked request's requester
    assert active.ingredient == "oxycodone"
    assert previous == ()  # the linked request is not a second taper


def test_careplan_steps_from_a_request_based_on_it():
    order = oxy_order("mr2", [20, 15, 10], ["2025-05-01", "2025-05-15", "2025-06-01"])
    cp = careplan(cid="cp9")
    active, previous = taper_plans([cp], [(raw("mr2", "CarePlan/cp9"), order)], TODAY)
    assert active.id == "cp9" and active.author == "Practitioner/lead"
    assert active.step_on(TODAY).daily_dose.amount == 10.0
    assert previous == ()


@pytest.mark.parametrize("status, outcome", [("completed", "completed"), ("revoked", "failed"), ("on-hold", None)])
def test_previous_careplan_outcomes(status, outcome):
    active, previous = taper_plans([careplan(status=status)], [], TODAY)
    assert active is None
    assert [(p.status, p.outcome) for p in previous] == [(status, outcome)]


@pytest.mark.parametrize("status", ["entered-in-error", "draft", "cancelled"])
def test_not_a_taper_statuses(status):
    assert taper_plans([careplan(status=status)], [], TODAY) == (None, ())


def test_active_careplan_past_its_period_is_previous_with_unknown_outcome():
    cp = careplan(period={"start": "2024-01-01", "end": "2024-06-30"})
    active, previous = taper_plans([cp], [], TODAY)
    assert active is None and [p.outcome for p in previous] == [None]


def test_decreasing_active_request_is_a_taper_plan():
    order = oxy_order("mr3", [60, 50, 40], ["2025-05-01", "2025-05-22", "2025-06-12"], requester="Practitioner/x")
    active, _ = taper_plans([], [(raw("mr3"), order)], TODAY)
    assert (active.source, active.id, active.author, active.ingredient) == ("MedicationRequest", "mr3", "Practitioner/x", "oxycodone")
    assert active.step_on(TODAY).daily_dose.amount == 50.0  # May22..Jun11


def test_increasing_or_single_step_requests_are_not_tapers():
    up = oxy_order("up", [20, 30], ["2025-05-01", "2025-05-20"])
    single = oxy_order("one", [20], ["2025-05-01"])
    assert taper_plans([], [(raw("up"), up), (raw("one"), single)], TODAY) == (None, ())


@pytest.mark.parametrize("status, outcome", [("completed", "completed"), ("stopped", "failed")])
def test_ended_request_tapers(status, outcome):
    order = oxy_order("old", [40, 30], ["2024-01-01", "2024-02-01"], end="2024-03-01", status=status)
    active, previous = taper_plans([], [(raw("old"), order)], TODAY)
    assert active is None and [(p.id, p.outcome) for p in previous] == [("old", outcome)]


def test_taper_prescribed_in_pieces_is_one_attempt():
    # Piece 1 (stopped when renewed) Apr1..Apr30, piece 2 starts May 1: one attempt, active, no failure.
    first = oxy_order("p1", [60, 50], ["2025-04-01", "2025-04-15"], end="2025-05-01", status="stopped")
    second = oxy_order("p2", [40, 30], ["2025-05-01", "2025-05-20"], requester="Practitioner/same")
    active, previous = taper_plans([], [(raw("p1"), first), (raw("p2"), second)], TODAY)
    assert previous == ()
    assert active.id == "p2" and [s.daily_dose.amount for s in active.steps] == [60.0, 50.0, 40.0, 30.0]
    assert [s.sequence for s in active.steps] == [1, 2, 3, 4]
    assert active.start == D("2025-04-01")


def test_two_separate_failed_attempts_count_twice():
    a = oxy_order("a", [40, 30], ["2023-01-01", "2023-01-15"], end="2023-02-01", status="stopped")
    b = oxy_order("b", [40, 30], ["2024-01-01", "2024-01-15"], end="2024-02-01", status="stopped")
    _, previous = taper_plans([], [(raw("b"), b), (raw("a"), a)], TODAY)
    assert [(p.id, p.outcome) for p in previous] == [("a", "failed"), ("b", "failed")]


def test_careplan_preferred_over_request_when_both_active():
    order = oxy_order("mr4", [60, 50], ["2025-05-25", "2025-06-10"])
    active, _ = taper_plans([careplan(period={"start": "2025-01-01"})], [(raw("mr4"), order)], TODAY)
    assert active.source == "CarePlan"


# ---------------------------------------------------------------------------------------------
# Age and exclusions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("birth, age", [
    ("2007-06-02", 17),  # turns 18 tomorrow
    ("2007-06-01", 18),  # 18 today
    ("1950-03", 75),     # 1950-03-01..31: 75 either way on 2025-06-01
    ("2007-06", None),   # 2007-06-01 → 18, 2007-06-30 → 17: ambiguous
    ("1950", None),      # 1950-01-01 → 75, 1950-12-31 → 74
    ("2030-01-01", None), ("0001-01-01", None), (19500101, None), ("unknown", None), (None, None),
])
def test_age_on(birth, age):
    assert age_on(birth, TODAY) == age


def laro_order(status="active", start="2025-01-01", end=None, draft=False):
    drug = Drug(DrugClass.LARO, "Metadon", ingredient="methadone", atc="N07BC02", identified_by=IdentifiedBy.ATC)
    return MedicationOrder(id="l", resource_type="MedicationRequest", status=status, intent="order", drug=drug,
                           daily_dose=DailyDose(None, None), medd=Medd(None), start=D(start),
                           supply_end=D(end) if end else None, is_draft=draft)


@pytest.mark.parametrize("conditions, orders, drafts, age, expected", [
    (Conditions(), [], [], 40, ()),
    (Conditions(cancer=True, palliative=True), [], [], 40, ("cancer", "palliative")),
    (Conditions(), [laro_order()], [], 40, ("laro",)),
    (Conditions(), [laro_order("completed", "2025-05-01", "2025-06-15")], [], 40, ("laro",)),  # covers today
    (Conditions(), [laro_order("completed", "2024-01-01", "2024-03-01")], [], 40, ()),  # long over
    (Conditions(), [], [laro_order("draft", draft=True)], 40, ("laro",)),
    (Conditions(), [], [], 17, ("under-18",)),
    (Conditions(), [], [], None, ()),  # unknown age: no exclusion claimed
])
def test_exclusions(conditions, orders, drafts, age, expected):
    assert exclusions(conditions, orders, drafts, age, TODAY) == expected


def test_open_ended_piece_superseded_by_the_next_is_the_same_attempt():
    first = oxy_order("p1", [60, 50], ["2025-03-01", "2025-03-15"], status="stopped")  # last step open
    second = oxy_order("p2", [40, 30], ["2025-05-01", "2025-05-20"])
    active, previous = taper_plans([], [(raw("p1"), first), (raw("p2"), second)], TODAY)
    assert previous == () and active.id == "p2" and len(active.steps) == 4


def test_pieces_more_than_30_days_apart_are_separate_attempts():
    # p1 ends Mar31 (inclusive); p2 starts May2: 31 uncovered days (Apr1..May1) > 30.
    first = oxy_order("p1", [60, 50], ["2025-03-01", "2025-03-15"], end="2025-04-01", status="stopped")
    second = oxy_order("p2", [40, 30], ["2025-05-02", "2025-05-20"])
    active, previous = taper_plans([], [(raw("p1"), first), (raw("p2"), second)], TODAY)
    assert active.id == "p2" and [(p.id, p.outcome) for p in previous] == [("p1", "failed")]


def test_pieces_exactly_30_days_apart_are_one_attempt():
    # p1 ends Mar31; p2 starts May1: 30 uncovered days (Apr1..Apr30) <= 30.
    first = oxy_order("p1", [60, 50], ["2025-03-01", "2025-03-15"], end="2025-04-01", status="stopped")
    second = oxy_order("p2", [40, 30], ["2025-05-01", "2025-05-20"])
    active, previous = taper_plans([], [(raw("p1"), first), (raw("p2"), second)], TODAY)
    assert previous == () and active.start == D("2025-03-01")
