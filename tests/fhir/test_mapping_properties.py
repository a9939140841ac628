"""Property tests: random but schema-shaped FHIR, and junk where structure belongs.

Properties: mapping and fact assembly never raise; what cannot be read comes back unknown — an
unknown daily dose never yields a MEDD (in particular never 0), and the total says it is incomplete.
"""
from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.domain.episodes import classify_exposure, coverage
from fhir_mappings.read.facts import build_patient_facts
from cds_service.domain.model import MedicationOrder, PatientFacts
from fhir_mappings.read.orders import map_order
from fhir_mappings.read.record import read_conditions, restriction_flag, taper_plans

TODAY = date(2025, 6, 1)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Whole records are costly to *generate* (nested strategies), not to map: a smaller budget.
RECORD_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------
# Junk: numbers as strings, lists where objects belong, nulls, NaN, empty strings ...
# ---------------------------------------------------------------------------------------------

scalar_junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.sampled_from(["10", "1e309", "NaN", "", "mg", "2025-13-45", "-1", "Medication/"]),
)
junk = st.recursive(scalar_junk, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=6)


# Inside structures a shallow junk value is as good a test and much cheaper to generate.
shallow_junk = st.one_of(scalar_junk, st.lists(scalar_junk, max_size=2),
                         st.dictionaries(st.text(max_size=3), scalar_junk, max_size=2))


def maybe(strategy):
    """The proper value, junk, or absent (None → key left out)."""
    return st.one_of(strategy, shallow_junk, st.just(None))


dates = st.dates(date(1990, 1, 1), date(2030, 12, 31)).map(date.isoformat)
datetimes = st.dates(date(1990, 1, 1), date(2030, 12, 31)).map(lambda d: d.isoformat() + "T10:00:00+01:00")
fhir_date = st.one_of(dates, datetimes, st.sampled_from(["2024", "2024-02", "2024-02-30", "0001-01-01", "9999-12-31"]))
number = st.one_of(st.integers(0, 2000), st.floats(0, 2000, allow_nan=False), st.just(0), st.floats(-5, 0))
unit = st.sampled_from(["mg", "ug", "µg", "mcg", "g", "ml", "tablet", "tablett", "st", "{tbl}", "patch",
                        "ug/h", "µg/h", "d", "h", "wk", "mo", "a", "min", "", "xyz"])


@st.composite
def quantity(draw):
    q = {}
    for key, strat in (("value", number), ("unit", unit), ("code", unit), ("system", st.just("http://unitsofmeasure.org"))):
        v = draw(maybe(strat))
        if v is not None:
            q[key] = v
    return q


@st.composite
def codeable(draw):
    system = st.sampled_from(["http://www.whocc.no/atc", "http://www.nlm.nih.gov/research/umls/rxnorm",
                              "http://snomed.info/sct", "urn:oid:1.2.752.129.2.2.3.1.1", "urn:local"])
    code = st.sampled_from(["N02AA05", "N02AA01", "N02AX02", "N02AB03", "N02AE01", "N07BC02", "N05BA01",
                            "R05DA04", "N02AJ13", "1049621", "7052", "161", "C50.9", "X99", "", "N02A"])
    display = st.sampled_from(["Oxikodon", "OxyContin 10 mg", "Morfin", "fentanyl 25 mikrog/timme depotplåster",
                               "Norspan 10 µg/h", "tramadol 50 mg", "Alvedon", "okänt", "", "metadon"])
    coding = st.fixed_dictionaries({}, optional={"system": maybe(system), "code": maybe(code), "display": maybe(display)})
    return draw(st.fixed_dictionaries({}, optional={"coding": st.one_of(st.lists(st.one_of(coding, junk), max_size=3), junk),
                                                     "text": maybe(display)}))


@st.composite
def dosage(draw):
    repeat = draw(st.fixed_dictionaries({}, optional={
        "frequency": maybe(st.integers(0, 6)), "frequencyMax": maybe(st.integers(0, 8)),
        "period": maybe(number), "periodUnit": maybe(unit), "when": maybe(st.lists(st.sampled_from(["MORN", "EVE", "HS"]))),
        "timeOfDay": maybe(st.lists(st.sampled_from(["08:00:00", "20:00:00"]))),
        "boundsPeriod": maybe(st.fixed_dictionaries({}, optional={"start": maybe(fhir_date), "end": maybe(fhir_date)})),
        "boundsDuration": maybe(quantity()),
    }))
    dose_and_rate = st.lists(st.fixed_dictionaries({}, optional={
        "doseQuantity": maybe(quantity()),
        "doseRange": maybe(st.fixed_dictionaries({}, optional={"low": quantity(), "high": quantity()})),
    }), max_size=2)
    return draw(st.fixed_dictionaries({}, optional={
        "sequence": maybe(st.integers(-1, 4)), "text": maybe(st.text(max_size=20)),
        "timing": maybe(st.fixed_dictionaries({}, optional={"repeat": maybe(st.just(repeat))})),
        "asNeededBoolean": maybe(st.booleans()),
        "doseAndRate": maybe(dose_and_rate),
        "doseQuantity": maybe(quantity()),  # STU3
        "maxDosePerPeriod": maybe(st.fixed_dictionaries({}, optional={"numerator": quantity(), "denominator": quantity()})),
        "route": maybe(codeable()),
    }))


@st.composite
def medication(draw, mid=None):
    strength = st.fixed_dictionaries({}, optional={"numerator": maybe(quantity()), "denominator": maybe(quantity())})
    ingredient = st.fixed_dictionaries({}, optional={"itemCodeableConcept": maybe(codeable()), "strength": maybe(strength)})
    med = draw(st.fixed_dictionaries({"resourceType": st.just("Medication")}, optional={
        "code": maybe(codeable()), "form": maybe(codeable()),
        "ingredient": maybe(st.lists(ingredient, max_size=2)),
    }))
    med["id"] = mid or draw(st.sampled_from(["m1", "m2", "c1"]))
    return med


@st.composite
def medication_request(draw, resource_type="MedicationRequest"):
    status = st.sampled_from(["active", "completed", "stopped", "on-hold", "cancelled", "entered-in-error",
                              "draft", "unknown", "ACTIVE"])
    intent = st.sampled_from(["order", "plan", "proposal", "original-order", "instance-order", "filler-order", "option"])
    reference = st.sampled_from(["#c1", "Medication/m1", "Medication/m2", "m1", "urn:uuid:m1", "Medication/none",
                                 "https://x/fhir/Medication/m2/_history/1", "#", ""])
    dispense = st.fixed_dictionaries({}, optional={
        "validityPeriod": maybe(st.fixed_dictionaries({}, optional={"start": maybe(fhir_date), "end": maybe(fhir_date)})),
        "quantity": maybe(quantity()), "expectedSupplyDuration": maybe(quantity()),
        "numberOfRepeatsAllowed": maybe(st.integers(-2, 12)),
    })
    r = draw(st.fixed_dictionaries({"resourceType": st.just(resource_type)}, optional={
        "id": maybe(st.text(min_size=1, max_size=5)),
        "status": maybe(status), "intent": maybe(intent),
        "medicationCodeableConcept": maybe(codeable()),
        "medicationReference": maybe(st.fixed_dictionaries({"reference": maybe(reference)})),
        "contained": maybe(st.lists(medication("c1"), max_size=1)),
        "authoredOn": maybe(fhir_date),
        "requester": maybe(st.one_of(st.fixed_dictionaries({"reference": maybe(st.just("Practitioner/1"))}),
                                     st.fixed_dictionaries({"agent": st.fixed_dictionaries({"reference": st.just("Practitioner/2")})}))),
        "dosageInstruction": maybe(st.lists(dosage(), max_size=3)),
        "dosage": maybe(st.lists(dosage(), max_size=2)),
        "dispenseRequest": maybe(dispense),
        "whenHandedOver": maybe(fhir_date), "daysSupply": maybe(quantity()), "quantity": maybe(quantity()),
        "effectivePeriod": maybe(st.fixed_dictionaries({}, optional={"start": maybe(fhir_date), "end": maybe(fhir_date)})),
        "effectiveDateTime": maybe(fhir_date),
        "meta": maybe(st.fixed_dictionaries({"lastUpdated": maybe(datetimes)})),
        "basedOn": maybe(st.lists(st.fixed_dictionaries({"reference": maybe(st.just("CarePlan/cp1"))}), max_size=1)),
    }))
    return {k: v for k, v in r.items() if v is not None}


order_resources = st.one_of(
    medication_request(), medication_request("MedicationDispense"), medication_request("MedicationStatement"),
)


def assert_order_honest(o: MedicationOrder) -> None:
    assert isinstance(o, MedicationOrder)
    if o.daily_dose.amount is None:
        assert o.medd.value is None, "unknown dose must not give a MEDD"
    if o.medd.value is not None:
        assert o.daily_dose.amount is not None
        assert o.medd.value >= 0
    if o.supply_end is not None:
        assert o.start is not None and o.supply_end >= o.start
    iv = coverage(o, TODAY)
    assert iv is None or iv[0] < iv[1]


@SETTINGS
@given(resource=order_resources, draft=st.booleans())
def test_map_order_never_raises_and_stays_honest(resource, draft):
    o = map_order(resource, TODAY, None, is_draft=draft)
    assert_order_honest(o)
    if draft:
        assert o.start is not None  # a draft without dates starts today


@SETTINGS
@given(resource=junk)
def test_map_order_on_pure_junk(resource):
    o = map_order(resource, TODAY)
    assert o is None if not isinstance(resource, dict) else isinstance(o, MedicationOrder)


condition = st.fixed_dictionaries({"resourceType": st.just("Condition")}, optional={
    "code": maybe(codeable()), "clinicalStatus": maybe(codeable()), "verificationStatus": maybe(codeable()),
    "abatementDateTime": maybe(fhir_date)})
flag = st.fixed_dictionaries({"resourceType": st.just("Flag")}, optional={
    "status": maybe(st.sampled_from(["active", "inactive", "entered-in-error"])), "code": maybe(codeable()),
    "period": maybe(st.fixed_dictionaries({}, optional={"start": maybe(fhir_date), "end": maybe(fhir_date)}))})
careplan = st.fixed_dictionaries({"resourceType": st.just("CarePlan"), "id": st.just("cp1")}, optional={
    "status": maybe(st.sampled_from(["active", "completed", "revoked", "draft"])),
    "category": maybe(st.lists(codeable(), max_size=2)),
    "activity": maybe(st.lists(st.fixed_dictionaries({}, optional={
        "reference": maybe(st.fixed_dictionaries({"reference": maybe(st.just("MedicationRequest/a"))})),
        "detail": maybe(st.fixed_dictionaries({}, optional={
            "code": maybe(codeable()), "dailyAmount": maybe(quantity()), "productCodeableConcept": maybe(codeable()),
            "scheduledPeriod": maybe(st.fixed_dictionaries({}, optional={"start": maybe(fhir_date), "end": maybe(fhir_date)}))})),
    }), max_size=3)),
    "author": maybe(st.fixed_dictionaries({"reference": maybe(st.just("Practitioner/9"))})),
    "period": maybe(st.fixed_dictionaries({}, optional={"start": maybe(fhir_date), "end": maybe(fhir_date)}))})
patient = st.fixed_dictionaries({"resourceType": st.just("Patient"), "id": st.just("p1")},
                                optional={"birthDate": maybe(fhir_date)})

any_resource = st.one_of(order_resources, medication(), condition, flag, careplan, patient, junk)


@RECORD_SETTINGS
@given(resources=st.lists(any_resource, max_size=6), drafts=st.lists(st.one_of(medication_request(), junk), max_size=2),
       gap=st.integers(0, 60))
def test_build_patient_facts_never_raises_and_unknown_stays_unknown(resources, drafts, gap):
    facts = build_patient_facts("p1", resources, drafts, TODAY, gap_days=gap)
    assert isinstance(facts, PatientFacts)
    for o in (*facts.orders, *facts.drafts):
        assert_order_honest(o)
    assert facts.episode.days >= 0
    if facts.episode.start is not None:
        assert facts.episode.exposure is classify_exposure(facts.episode.days)
    medds = [o.medd.value for o in facts.regimen.record_opioids]
    if any(v is None for v in medds):
        assert facts.regimen.record_medd.complete is False
    if medds and all(v is None for v in medds):
        assert facts.regimen.record_medd.value is None  # never 0 for all-unknown
    if not any(d.drug.is_opioid for d in facts.drafts):
        assert facts.is_renewal is None
    if facts.age is not None:
        assert 0 <= facts.age < 150


@SETTINGS
@given(conditions=st.lists(st.one_of(condition, junk), max_size=5), flags=st.lists(st.one_of(flag, junk), max_size=3),
       careplans=st.lists(st.one_of(careplan, junk), max_size=3))
def test_record_readers_never_raise(conditions, flags, careplans):
    read_conditions(conditions, TODAY)
    restriction_flag(flags, TODAY)
    active, previous = taper_plans(careplans, [], TODAY)
    for plan in (active, *previous):
        if plan is not None:
            assert all(s.daily_dose.amount is None or s.daily_dose.amount >= 0 for s in plan.steps)


@SETTINGS
@given(resource=medication_request())
def test_without_dose_information_the_dose_is_unknown_never_zero(resource):
    # Strip everything a dose could be read from: what is left must come back unknown.
    for key in ("dosageInstruction", "dosage", "dispenseRequest", "quantity", "daysSupply"):
        resource.pop(key, None)
    o = map_order(resource, TODAY)
    assert o.daily_dose.amount is None and o.daily_dose.problem
    assert o.medd.value is None
    facts = build_patient_facts("p1", [resource], [], TODAY)
    if facts.regimen.record_opioids:
        assert facts.regimen.record_medd.complete is False and facts.regimen.record_medd.value is None


HUGE = 10**400  # JSON allows it, Python's json module (the FHIR fallback's reader) reads it exactly; no float holds it


def test_integers_beyond_any_float_are_unreadable_numbers_not_a_crash():
    resource = {
        "resourceType": "MedicationRequest", "status": "active", "authoredOn": "2026-11-01",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "N02AA05"}]},
        "dosageInstruction": [{"timing": {"repeat": {"frequency": HUGE, "period": 1, "periodUnit": "d"}},
                               "doseAndRate": [{"doseQuantity": {"value": HUGE, "unit": "mg"}}]}],
        "dispenseRequest": {"numberOfRepeatsAllowed": HUGE, "expectedSupplyDuration": {"value": HUGE, "code": "d"},
                            "quantity": {"value": HUGE, "unit": "mg"}},
    }
    order = map_order(resource, TODAY)
    assert order.daily_dose.amount is None and order.daily_dose.problem  # unknown, said so; never zero
    assert order.medd.value is None
    assert_order_honest(order)
