"""Request validation (``cds_service.protocol``): the fast validator (jsonschema_rs) and the reference
one (jsonschema) must agree, since the fast one alone decides that a request is valid."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service import protocol
from cds_service.errors import RequestProblem
from cds_service.jsonio import parse_json
from test_fuzz import SERVICES, _load_schema, encode, fixture_requests, from_schema, mutated, request_schema

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
    Python, so "٠" is refused fast and then accepted as before."""
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
