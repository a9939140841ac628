"""Request validation (``cds_service.protocol.validate``): the fast validator (jsonschema_rs) and the reference
one (jsonschema) must agree, since the fast one alone decides that a request is valid."""
from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.protocol import validate as protocol
from cds_service.protocol.errors import RequestProblem
from cds_service.protocol.jsonio import parse_json
from tests.protocol.test_fuzz import SERVICES, _load_schema, encode, fixture_requests, from_schema, mutated, request_schema

HOOKS = tuple(SERVICES)
AGREE = settings(max_examples=40, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.large_base_example])


def verdicts(name: str, instance) -> tuple[bool, bool]:
    """(fast, reference): is ``instance`` valid against schema ``name``."""
    return protocol._fast_validators()[name].is_valid(instance), protocol._validators()[name].is_valid(instance)


def as_received(doc) -> object | None:
    """``doc`` as the hook view would hand it to validation (encoded, then decoded as it decodes), or
    None when the decoder already refuses it (too deep for the decoder: a 400 before validation)."""
    try:
        return parse_json(encode(doc).encode())
    except RequestProblem:
        return None


def agree(name: str, instance) -> bool:
    """What matters: the fast validator never accepts what the reference one refuses (it alone lets a
    request through). The other way round the reference validator is asked anyway and decides — e.g.
    ``\\d`` in a pattern matches only 0-9 in Rust (ECMA-262, as JSON Schema says) but any Unicode digit in
    Python, so "٠" is refused fast and then accepted by the reference validator."""
    fast, reference = verdicts(name, instance)
    return reference or not fast


def check_agreement(body) -> None:
    assert agree("request", body), "validators disagree on the envelope"
    if isinstance(body, dict) and isinstance(body.get("hook"), str) and body["hook"] in HOOKS:
        assert agree(f"context.{body['hook']}", body.get("context")), f"validators disagree on context.{body['hook']}"


def test_fixture_requests_are_valid_for_both():
    for body in fixture_requests() + fixture_requests(no_prefetch=True):
        assert verdicts("request", body) == (True, True)
        assert verdicts(f"context.{body['hook']}", body["context"]) == (True, True)


@pytest.mark.parametrize("hook", HOOKS)
@AGREE
@given(data=st.data())
def test_both_agree_on_generated_requests(hook, data):
    body = data.draw(from_schema(request_schema(hook)), label="generated")
    check_agreement(body)


@AGREE
@given(data=st.data())
def test_both_agree_on_generated_feedback(data):
    body = data.draw(from_schema(_load_schema("feedback.schema.json")), label="generated")
    assert agree("feedback", body)
    mangled = as_received(data.draw(mutated(body), label="mutated")) if body else None
    if mangled is not None:
        assert agree("feedback", mangled)


@AGREE
@given(data=st.data())
def test_both_agree_on_mutated_fixture_requests(data):
    base = data.draw(st.sampled_from(fixture_requests()), label="fixture")
    body = as_received(data.draw(mutated(base), label="mutated"))
    if body is not None:
        check_agreement(body)


@pytest.mark.parametrize("value", [
    2 ** 70,  # beyond 64 bits: Python's json and msgspec read it exactly
    -(2 ** 70),
    1e308,
    "\ud800",  # a lone surrogate, as JSON's \\ud800 escape decodes
    "x" * 100_000,
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    {"": None, "\u0000": [None, True, 1.5]},
])
@pytest.mark.parametrize("where", ["hookInstance", "context", "patientId", "prefetch", "expires_in"])
def test_odd_values_anywhere_get_the_reference_answer_never_an_exception(value, where):
    body = fixture_requests()[0]
    if where == "patientId":
        body["context"]["patientId"] = value
    elif where == "expires_in":
        body["fhirServer"] = "https://fhir.example.org"
        body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": value,
                                     "scope": "patient/*.read", "subject": "app"}
    else:
        body[where] = value
    reference_valid = (protocol._validators()["request"].is_valid(body)
                       and protocol._validators()[f"context.{body['hook']}"].is_valid(body.get("context")))
    try:
        protocol.validate_request(body, body["hook"])
        accepted = True
    except RequestProblem as problem:
        assert problem.status == 400
        accepted = False
    assert accepted == reference_valid


def test_an_invalid_request_is_worded_by_the_reference_validator():
    body = fixture_requests()[0]
    body["context"]["patientId"] = 42
    with pytest.raises(RequestProblem) as failed:
        protocol.validate_request(body, body["hook"])
    assert failed.value.status == 400
    assert failed.value.message.startswith("context.patientId: 42 is not of type 'string'")


# ------------------------------------------------------------------------------------------------
# context.patientId / context.encounterId: a bare id or a reference to it (docs: real senders, the CDC
# opioid CDS's example requests send "Patient/example-…" and "Encounter/…")


def _with_ids(hook: str, **ids) -> dict:
    body = next(b for b in fixture_requests() if b["hook"] == hook)
    body["context"].update(ids)
    return body


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("patient_id, encounter_id", [
    ("example-rec-01", "e-45"),
    ("Patient/example-rec-01", "Encounter/e-45"),
    ("Patient/123", "45"),
    ("A.b-1", "Encounter/" + "x" * 64),  # the id syntax's longest
])
def test_an_id_or_a_reference_to_it_is_valid_for_both_validators(hook, patient_id, encounter_id):
    body = _with_ids(hook, patientId=patient_id, encounterId=encounter_id)
    assert verdicts(f"context.{hook}", body["context"]) == (True, True)
    protocol.validate_request(body, hook)


@pytest.mark.parametrize("field, value", [
    ("patientId", "Practitioner/1"),  # another resource type
    ("patientId", "Encounter/1"),
    ("patientId", "patient/1"),  # resource types are case-sensitive
    ("patientId", "Patient/"),  # no id
    ("patientId", "/123"),
    ("patientId", "Patient/a/b"),  # more than one id
    ("patientId", "Patient/Patient/1"),
    ("patientId", "Patient/_history"),
    ("patientId", "https://fhir.example.org/Patient/1"),  # absolute: not what the senders send
    ("patientId", "Patient/a b"),  # outside the id syntax
    ("patientId", "Patient/ä"),
    ("patientId", "Patient/1?_id=2"),
    ("patientId", "Patient/" + "x" * 65),  # the id itself is too long
    ("patientId", ""),
    ("encounterId", "Patient/1"),
    ("encounterId", "Encounter/"),
    ("encounterId", "Encounter/a/b"),
    ("encounterId", "Encounter/../x"),
])
def test_a_malformed_context_id_is_a_400_naming_the_field(field, value):
    body = _with_ids("order-sign", **{field: value})
    assert verdicts("context.order-sign", body["context"]) == (False, False)
    with pytest.raises(RequestProblem) as failed:
        protocol.validate_request(body, "order-sign")
    assert failed.value.status == 400
    assert failed.value.expression == f"context.{field}"
    assert failed.value.message.startswith(f"context.{field}: ")


@pytest.mark.parametrize("context, bare", [
    ({"patientId": "Patient/123", "encounterId": "Encounter/45"}, {"patientId": "123", "encounterId": "45"}),
    ({"patientId": "Patient/123"}, {"patientId": "123"}),  # encounterId is optional
    ({"patientId": "123", "encounterId": "Encounter/45"}, {"patientId": "123", "encounterId": "45"}),
    ({"patientId": "Patient"}, {"patientId": "Patient"}),  # a bare id that happens to be a type's name
])
def test_with_bare_ids_takes_a_reference_as_its_id_and_keeps_the_rest(context, bare):
    body = {"hook": "patient-view", "hookInstance": "h", "context": {"userId": "Practitioner/1", **context},
            "prefetch": {"patient": None}}
    before = copy.deepcopy(body)
    out = protocol.with_bare_ids(body)
    assert out["context"] == {"userId": "Practitioner/1", **bare}  # userId stays a reference
    assert {k: v for k, v in out.items() if k != "context"} == {k: v for k, v in body.items() if k != "context"}
    assert body == before  # the caller's body is not changed


def test_with_bare_ids_returns_an_already_bare_request_itself():
    body = fixture_requests()[0]
    assert protocol.with_bare_ids(body) is body


@pytest.mark.parametrize("value", ["123\n", "Patient/123\n"])
def test_a_trailing_newline_is_refused_although_the_reference_validator_lets_it_through(value):
    """Python's "$" matches before a final newline: the reference validator accepts "123\\n" when the
    fast one refuses it, and the reference one decides. The id is checked in full before it is used."""
    body = _with_ids("order-sign", patientId=value)
    assert verdicts("context.order-sign", body["context"]) == (False, True)
    protocol.validate_request(body, "order-sign")  # the schemas let it through …
    with pytest.raises(RequestProblem) as failed:
        protocol.with_bare_ids(body)  # … the normalisation does not
    assert (failed.value.status, failed.value.expression) == (400, "context.patientId")


def test_the_ids_of_a_reference_reach_prefetch_templates_bare():
    from cds_service.protocol.gather import render_query
    from cds_service.protocol.services import PREFETCH

    body = protocol.with_bare_ids(_with_ids("order-sign", patientId="Patient/123", encounterId="Encounter/45"))
    assert render_query(PREFETCH["patient"], body["context"]) == "Patient/123"
    assert render_query("Encounter/{{context.encounterId}}", body["context"]) == "Encounter/45"
    assert render_query(PREFETCH["medicationRequests"], body["context"]).startswith("MedicationRequest?patient=123&")
