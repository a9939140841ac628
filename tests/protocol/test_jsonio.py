"""The hook view's JSON decoding (``cds_service.protocol.jsonio``): the fast outline must never change what the
service decides, and must never hide an element the service reads.

Reference: the general decoder (``orjson.loads``), which builds every element. Every comparison runs the
real evaluation (``evaluate_request``) on both decodings."""
from __future__ import annotations

import copy
import glob
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.corpus import TODAY, build_corpus
from cds_service.web.config import Settings
from cds_service.protocol.errors import RequestProblem
from cds_service.protocol.evaluate import evaluate_request
from cds_service.protocol.jsonio import dump_response, parse_json
from cds_service.protocol.services import SERVICES
from fhir_mappings.read.facts import build_patient_facts
from cds_service.runtime.outline import OUTLINED_TYPES, RESOURCE_ELEMENTS, SHARED_ELEMENTS, content_key
from tests.fhir.test_mapping_properties import any_resource, medication_request

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = sorted(
    p for p in glob.glob(str(ROOT / "fixtures" / "requests" / "*.json"))
    if not p.endswith(".expected.json") and ".no-prefetch." not in p
)
DEV = Settings.from_env({"TRAPPA_DEV_MODE": "1", "TRAPPA_DATABASE_URL": "sqlite:///:memory:"})
CORPUS = build_corpus((10, 100))


def _service(body: dict):
    return next(s for s in SERVICES.values() if s.hook == body["hook"])


def _without_uuids(value):
    """Card and suggestion uuids are random per call; everything else must be equal."""
    if isinstance(value, dict):
        return {k: ("<uuid>" if k == "uuid" else _without_uuids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_uuids(v) for v in value]
    return value


def _cards(body: dict, lang: str = "sv", raw: bytes | None = None) -> list:
    return _without_uuids(evaluate_request(_service(body), body, DEV, None, lang, raw=raw).response["cards"])


def _bodies():
    for path in REQUESTS:
        yield Path(path).name, Path(path).read_bytes()
    for n, entry in CORPUS.items():
        yield f"bench-corpus-{n}", entry.body


def _order_resources(body: dict):
    for value in (body.get("prefetch") or {}).values():
        if not isinstance(value, dict):
            continue
        items = [e.get("resource") for e in value.get("entry") or () if isinstance(e, dict)] or [value]
        yield from (r for r in items if isinstance(r, dict) and _outlined_type(r))


def _outlined_type(resource: dict) -> bool:
    rtype = resource.get("resourceType")
    return isinstance(rtype, str) and rtype in OUTLINED_TYPES


@pytest.mark.parametrize("name,raw", list(_bodies()), ids=[n for n, _ in _bodies()])
def test_outlined_decoding_decides_exactly_as_the_full_decoding(name, raw):
    fast, full = parse_json(raw), orjson.loads(raw)
    for lang in ("sv", "en"):
        assert _cards(fast, lang, raw) == _cards(full, lang)
    assert fast["context"] == full["context"]  # the envelope is never outlined


def test_the_corpus_is_actually_outlined_and_shared():
    """Guard for the test above: the fast path really ran (elements skipped, values shared)."""
    raw = CORPUS[100].body
    fast, full = parse_json(raw), orjson.loads(raw)
    orders = list(_order_resources(fast))
    assert len(orders) > 100
    assert all(set(r) <= RESOURCE_ELEMENTS for r in orders)
    assert any(set(r) < set(f) for r, f in zip(orders, _order_resources(full)))  # "subject" is skipped
    dosages = {id(r["dosageInstruction"]) for r in orders if "dosageInstruction" in r}
    assert len(dosages) < len(orders) / 5  # the same dosage object for the renewals of a prescription
    assert all(content_key(r["dosageInstruction"]) for r in orders if "dosageInstruction" in r)


class _Recording(dict):
    """A resource that remembers which of its elements were read."""

    def __init__(self, value: dict, read: set):
        super().__init__(value)
        self._read = read

    def get(self, key, default=None):
        self._read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self._read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self._read.add(key)
        return super().__contains__(key)

    def _everything(self):
        self._read.add("* (every element)")

    def __iter__(self):
        self._everything()
        return super().__iter__()

    def keys(self):
        self._everything()
        return super().keys()

    def values(self):
        self._everything()
        return super().values()

    def items(self):
        self._everything()
        return super().items()


def _recorded(body: dict, read: set) -> dict:
    body = copy.deepcopy(body)
    for value in (body.get("prefetch") or {}).values():
        if isinstance(value, dict):
            for entry in value.get("entry") or ():
                res = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(res, dict) and _outlined_type(res):
                    entry["resource"] = _Recording(res, read)
    return body


def test_every_element_the_service_reads_of_an_order_is_in_the_outline():
    """Evaluate every fixture and the benchmark corpus with the orders (decoded whole) recording what is
    read of them: an element read but missing from RESOURCE_ELEMENTS would be data the fast path hides."""
    read: set = set()
    for _, raw in _bodies():
        body = orjson.loads(raw)
        for lang in ("sv", "en"):
            # with the body as received, as the hook view passes it: a suggestion that ends an old
            # prescription reads that one whole from there, not from the outline
            evaluate_request(_service(body), _recorded(body, read), DEV, None, lang, raw=raw)
    assert {"dosageInstruction", "medicationCodeableConcept", "dispenseRequest"} <= read  # it recorded
    assert read - RESOURCE_ELEMENTS == set()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=st.lists(st.one_of(medication_request(), medication_request("MedicationDispense"),
                                 medication_request("MedicationStatement")), max_size=6),
       others=st.lists(any_resource, max_size=3))
def test_generated_records_read_in_outline_give_the_same_facts(orders, others):
    """Generated orders (every element the mapping tests generate, junk included), with or without other
    resources in the same Bundle (which must then be read whole), give identical facts both ways."""
    base = json.loads(CORPUS[10].body)
    bundle = base["prefetch"]["medicationRequests"]
    bundle["entry"] = [{"resource": r} for r in orders + others] + bundle["entry"]
    raw = orjson.dumps(base)
    fast, full = parse_json(raw), orjson.loads(raw)

    def facts(body):
        records = [e.get("resource") for b in body["prefetch"].values() if isinstance(b, dict)
                   for e in b.get("entry") or () if isinstance(e, dict)]
        return build_patient_facts("bench-10", [r for r in records if isinstance(r, dict)], [], TODAY)

    assert facts(fast) == facts(full)


def test_evaluating_leaves_shared_values_as_decoded():
    """Shared values serve every later request: the service must never change one."""
    raw = CORPUS[100].body
    body = parse_json(raw)
    shared = [(r[name], content_key(r[name])) for r in _order_resources(body) for name in SHARED_ELEMENTS
              if content_key(r.get(name)) is not None]
    assert shared
    for lang in ("sv", "en"):
        evaluate_request(_service(body), body, DEV, None, lang)
    for value, text in shared:
        assert value == orjson.loads(text)


@pytest.mark.parametrize("prefetch", [
    {"medicationRequests": {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}},
    {"medicationRequests": {"resourceType": "Bundle", "entry": ["not an entry", {"resource": 5}]}},
    {"medicationRequests": {"resourceType": "Bundle", "entry": "not a list"}},
    {"medicationRequests": {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "MedicationRequest", "id": "a", "subject": {"reference": "Patient/x"}}},
        {"resource": {"resourceType": "ServiceRequest", "id": "s", "category": [{"text": "kept whole"}],
                      "orderDetail": [{"coding": [{"system": "urn:trappa:referral-target", "code": "x"}]}]}},
    ]}},
    {"medicationRequests": None, "patient": None, "unknownKey": {"a": 1}},
    {"medicationRequests": {"resourceType": "MedicationRequest", "id": "single", "status": "active"}},
    # found by the fuzzer (test_fuzz): an unhashable resourceType made the outline check itself fail
    {"medicationRequests": {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": ["MedicationRequest"]}},
                                                                {"resource": {"resourceType": {"a": 1}}}]}},
    [1, 2, 3],
])
def test_unusual_prefetch_shapes_decode_exactly_as_the_full_decoding(prefetch):
    body = {"hook": "order-sign", "hookInstance": "h", "context": {"patientId": "p"}, "prefetch": prefetch}
    raw = json.dumps(body).encode()
    fast = parse_json(raw)
    full = orjson.loads(raw)
    if isinstance(prefetch, dict) and isinstance((prefetch.get("medicationRequests") or {}).get("entry"), list) \
            and any(isinstance(e, dict) and isinstance(e.get("resource"), dict)
                    and e["resource"].get("resourceType") == "ServiceRequest" for e in prefetch["medicationRequests"]["entry"]):
        assert fast == full  # another type in an order Bundle: the Bundle is read whole, nothing skipped
    else:
        # Only skipped elements may differ: what is kept is the same.
        assert _kept(fast) == _kept(full)


def _kept(body):
    body = copy.deepcopy(body)
    for value in (body.get("prefetch") or {}).values() if isinstance(body.get("prefetch"), dict) else ():
        if isinstance(value, dict):
            items = [e.get("resource") for e in value.get("entry") or () if isinstance(e, dict)] \
                if isinstance(value.get("entry"), list) else []
            for r in items + [value]:
                if isinstance(r, dict) and _outlined_type(r):
                    for k in [k for k in r if k not in RESOURCE_ELEMENTS and k != "entry"]:
                        del r[k]
    return body


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,", b'{"a": NaN}', b"\xff", b'{"a":1} x', b'"\\ud800"',
                                 b'{"hook": "order-sign", "prefetch": {"medicationRequests": {"entry": [{"resource": '
                                 b'{"dosageInstruction": [1,}}]}}}'])
def test_invalid_json_is_a_400_either_way(raw):
    with pytest.raises(RequestProblem) as problem:
        parse_json(raw)
    assert problem.value.status == 400
    assert "not valid JSON" in problem.value.message


def test_too_deep_json_is_a_400():
    with pytest.raises(RequestProblem) as problem:
        parse_json(b'{"context": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert problem.value.status == 400


def test_feedback_bodies_are_decoded_whole():
    raw = b'{"feedback": [{"card": "c", "outcome": "accepted"}], "other": 1}'
    assert parse_json(raw, hook_request=False) == orjson.loads(raw)


def test_response_with_an_integer_beyond_64_bits_is_written_not_refused():
    """A draft order may carry any JSON number into a suggestion; orjson writes only 64-bit integers."""
    response = {"cards": [{"summary": "Å", "n": 10**30, "x": 1.5}]}
    assert json.loads(dump_response(response)) == response
    assert dump_response({"cards": [{"summary": "Nedtrappning"}]}) == '{"cards":[{"summary":"Nedtrappning"}]}'.encode()


def test_response_nested_too_deeply_is_a_recursion_error():
    deep: list = []
    for _ in range(1000):
        deep = [deep]
    with pytest.raises(RecursionError):
        dump_response({"cards": deep})


def test_junk_in_an_unknown_prefetch_key_is_still_a_400():
    from cds_service.protocol.validate import validate_request

    body = {"hook": "order-sign", "hookInstance": "h", "context": {"patientId": "p"}, "prefetch": {"junk": 5}}
    decoded = parse_json(json.dumps(body).encode())
    assert decoded["prefetch"] == {"junk": 5}
    with pytest.raises(RequestProblem) as problem:
        validate_request(decoded, "order-sign")
    assert problem.value.status == 400 and "prefetch" in problem.value.message


def test_a_prefetched_resource_is_found_whole_and_only_by_its_own_type_and_id():
    from cds_service.protocol.jsonio import prefetched_resource

    order = {"resourceType": "MedicationRequest", "id": "rx-1", "status": "active", "subject": {"reference": "Patient/p"},
             "identifier": [{"value": "E-recept 123"}], "dispenseRequest": {"numberOfRepeatsAllowed": 3}}
    mentions = {"resourceType": "MedicationRequest", "id": "rx-2", "note": [{"text": "ersätter rx-1"}],
                "basedOn": [{"reference": "MedicationRequest/rx-1"}]}
    body = {"hook": "order-sign", "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p"},
        "medicationRequests": {"resourceType": "Bundle", "entry": [{"resource": mentions}, {"resource": order}]},
        "flags": None}}
    raw = orjson.dumps(body)
    assert prefetched_resource(raw, "MedicationRequest", "rx-1") == order  # whole: what the outline skips too
    assert prefetched_resource(raw, "MedicationStatement", "rx-1") is None
    assert prefetched_resource(raw, "MedicationRequest", "rx-9") is None
    assert prefetched_resource(b'{"prefetch": [1, 2]}', "MedicationRequest", "rx-1") is None  # another shape
