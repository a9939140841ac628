"""Hostile and broken input against the real server process: zero 5xx, every 4xx an OperationOutcome,
every 200 a well-formed card list, no hang.

Three generators, each then *mutated* (fields dropped or retyped, numbers as strings, huge strings,
deep nesting, NaN/Infinity, repeated list items):

1. requests generated from the service's own JSON Schemas (``cds_service/protocol/schemas``) by a small
   schema-to-hypothesis translator below — ``hypothesis-jsonschema`` 0.23.1, the latest release, does
   not work with the hypothesis this project uses (it calls a removed hypothesis internal), so it is
   not a dependency;
2. the repository's fixture requests (``fixtures/requests``): realistic clinical data, so mutations
   reach the FHIR mapping and the rules, not only the validator;
3. FHIR answers on the fallback path: a scripted local FHIR server returns mutated resources,
   malformed Bundles, wrong resource types, non-JSON, error statuses and endless ``next`` links.

Bounded budget: a fixed number of examples per test (``FUZZ_EXAMPLES`` scales it), derandomized
under CI so a red run is reproducible; the whole file runs in well under a minute on 2 cores.
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.scripted_fhir import Reply, ScriptedServer, Seen
from tests.support.service import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
FUZZ = settings(
    max_examples=1,  # replaced per test below
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                           HealthCheck.function_scoped_fixture],
    print_blob=True,
)
REQUEST_TIMEOUT_S = 10  # a request that needs longer than this counts as a hang
SERVICES = {
    "patient-view": "trappa-patient-view",
    "order-select": "trappa-order-select",
    "order-sign": "trappa-order-sign",
    "medication-prescribe": "trappa-medication-prescribe",
}
PREFETCH_KEYS = ("patient", "medicationRequests", "medicationDispenses", "medicationStatements", "conditions", "flags",
                 "carePlans", "serviceRequests")


def examples(n: int) -> settings:
    return settings(FUZZ, max_examples=max(1, int(n * SCALE)))


# ------------------------------------------------------------------------------------------------
# JSON Schema -> hypothesis strategy (the subset our schemas use)


def _load_schema(name: str) -> dict:
    return json.loads(resources.files("cds_service.protocol.schemas").joinpath(name).read_text(encoding="utf-8"))


_DEFS = _load_schema("definitions.schema.json")["$defs"]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)


def from_schema(schema: dict) -> st.SearchStrategy:
    """Values valid against ``schema`` (types, properties, required, additionalProperties, items,
    enum/const, string length and pattern, $ref into definitions, dependentRequired, allOf of
    if-const/then-required)."""
    if "$ref" in schema:
        return from_schema(_DEFS[schema["$ref"].rsplit("/", 1)[1]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    types = schema.get("type")
    if isinstance(types, list):
        return st.one_of([from_schema({**schema, "type": t}) for t in types])
    if types == "null":
        return st.none()
    if types == "boolean":
        return st.booleans()
    if types == "integer":
        return st.integers(-(10**6), 10**6)
    if types == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if types == "string":
        lo, hi = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: lo <= len(s) <= schema.get("maxLength", 10**9))
        return st.text(min_size=lo, max_size=max(lo, hi))
    if types == "array":
        items = from_schema(schema.get("items", {}))
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 4), 4))
    if types == "object" or "properties" in schema:
        return _object(schema)
    return json_values


def _object(schema: dict) -> st.SearchStrategy:
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    extra = schema.get("additionalProperties")
    extra_strategy = from_schema(extra) if isinstance(extra, dict) else json_values

    @st.composite
    def build(draw):
        out = {}
        for name, sub in props.items():
            if name in required or draw(st.booleans()):
                out[name] = draw(from_schema(sub))
        if extra is not False and draw(st.integers(0, 3)) == 0:
            for key in draw(st.lists(st.text(min_size=1, max_size=8), max_size=2)):
                out.setdefault(key, draw(extra_strategy))
        for trigger, needed in schema.get("dependentRequired", {}).items():
            if trigger in out:
                for name in needed:
                    if name not in out:
                        out[name] = draw(from_schema(props.get(name, {})))
        for rule in schema.get("allOf", []):  # if {properties: {x: {const: v}}} then {required: [...]}
            cond = rule.get("if", {}).get("properties", {})
            if cond and all(out.get(k) == c.get("const") for k, c in cond.items()):
                for name in rule.get("then", {}).get("required", []):
                    if name not in out:
                        out[name] = draw(from_schema(props.get(name, {})))
        return out

    return build()


def request_schema(hook: str) -> dict:
    schema = copy.deepcopy(_load_schema("request.schema.json"))
    schema["properties"]["hook"] = {"const": hook}
    schema["properties"]["context"] = _load_schema(f"context.{hook}.schema.json")
    # Prefetch under its real keys (the schema allows any key; these are the ones the code reads).
    schema["properties"]["prefetch"]["properties"] = {
        k: {"type": ["object", "null"], "properties": {"resourceType": {"enum": [
            "Bundle", "Patient", "MedicationRequest", "MedicationDispense", "MedicationStatement", "OperationOutcome"]}}}
        for k in PREFETCH_KEYS
    }
    return schema


# ------------------------------------------------------------------------------------------------
# Mutations


def _paths(doc: Any, max_paths: int = 5000) -> list[tuple]:
    """Paths to every node (breadth-first, capped): where a mutation may strike."""
    out: list[tuple] = []
    queue: list[tuple[tuple, Any]] = [((), doc)]
    while queue and len(out) < max_paths:
        path, node = queue.pop(0)
        out.append(path)
        if isinstance(node, dict):
            queue.extend((path + (k,), v) for k, v in node.items())
        elif isinstance(node, list):
            queue.extend((path + (i,), v) for i, v in enumerate(node))
    return out


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


class Deep:
    """``inner`` wrapped in ``depth`` arrays or objects. Kept symbolic (Python's own json encoder and
    the mutation walk would hit the recursion limit) and spliced in as text by :func:`encode`."""

    def __init__(self, inner: Any, depth: int, as_list: bool):
        self.inner, self.depth, self.as_list = inner, depth, as_list

    def text(self) -> str:
        inner = encode(self.inner)
        if self.as_list:
            return "[" * self.depth + inner + "]" * self.depth
        return '{"a":' * self.depth + inner + "}" * self.depth


def encode(doc: Any) -> str:
    """JSON text of ``doc`` (NaN/Infinity allowed: Python's json accepts them), Deep nodes spliced in."""
    deep: dict[str, Deep] = {}

    def default(obj):
        if isinstance(obj, Deep):
            marker = f"@@deep{len(deep)}@@"
            deep[marker] = obj
            return marker
        raise TypeError(type(obj).__name__)

    text = json.dumps(doc, allow_nan=True, default=default)
    for marker, node in deep.items():
        text = text.replace(json.dumps(marker), node.text(), 1)
    return text


replacements = st.one_of(
    json_scalars,
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 10**30, 1e308, "", " ", "0", "-5", "1e9",
                     "NaN", "2026-02-30", "9999-12-31T99:99:99Z", "Patient/", "#", "urn:uuid:", "\u0000", "💊" * 3]),
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.sampled_from(["resourceType", "id", "reference", "value", "code", "system", "entry"]),
                    json_scalars, max_size=3),
)


@st.composite
def mutated(draw, doc: Any, max_mutations: int = 4) -> Any:
    """``doc`` with 1..max_mutations mutations at random places."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, max_mutations))):
        # Deepest first (hypothesis leans to early choices; the FHIR content is deep), never the root
        # itself (test_raw_bytes_and_framing covers non-objects).
        paths = _paths(doc)[1:][::-1]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["drop", "retype", "stringify", "huge", "deep", "repeat", "empty"]))
        node = _get(doc, path)
        if op == "stringify":
            new = encode(node) if not isinstance(node, str) else node
        elif op == "retype":
            new = draw(replacements)
        elif op == "huge":
            new = draw(st.sampled_from(["x", "9", "å", "<script>"])) * draw(st.sampled_from([10_000, 300_000]))
        elif op == "deep":
            new = Deep(node, draw(st.sampled_from([40, 400, 900, 5000])), draw(st.booleans()))
        elif op == "repeat":  # many copies of a small node (a big one would only test the 413 again)
            new = [node] * (draw(st.sampled_from([2, 50, 500])) if len(encode(node)) < 2000 else 2)
        elif op == "empty":
            new = draw(st.sampled_from([{}, [], "", None]))
        else:  # drop
            new = None
        parent = _get(doc, path[:-1])
        if op == "drop":
            del parent[path[-1]]
        else:
            parent[path[-1]] = new
    return doc


def fixture_requests(no_prefetch: bool = False) -> list[dict]:
    out = []
    for f in sorted((ROOT / "fixtures/requests").glob("*.json")):
        if f.name.endswith(".expected.json") or ("no-prefetch" in f.name) != no_prefetch:
            continue
        body = json.loads(f.read_text(encoding="utf-8"))
        if isinstance(body, dict) and body.get("hook") in SERVICES:
            out.append(body)
    assert out, "fixture requests missing"
    return out


# ------------------------------------------------------------------------------------------------
# The server under fuzz, and what every answer must look like


class FhirScript:
    """What the scripted FHIR server answers, set per example by the FHIR fuzz test."""

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.default = Reply(200, {"resourceType": "Bundle", "type": "searchset"})
        self.server: ScriptedServer | None = None

    def __call__(self, seen: Seen) -> Reply:
        rtype = seen.path.split("?")[0].removeprefix("/fhir/").split("/")[0]
        return self.replies.get(rtype, self.default)


@pytest.fixture(scope="module")
def fhir():
    script = FhirScript()
    with ScriptedServer(script) as server:
        script.server = server
        yield script


@pytest.fixture(scope="module")
def server(fhir):
    env = {
        "TRAPPA_AUTH_REQUIRED": "0",  # authentication has its own tests; here: what follows it
        "TRAPPA_ALLOW_CLOCK_OVERRIDE": "1",  # fixture dates, so that the rules fire
        "TRAPPA_FHIR_ALLOW_HTTP": "1",
        "TRAPPA_FHIR_ALLOWLIST": fhir.server.origin,
        "TRAPPA_FHIR_BUDGET": "1.0",
        "TRAPPA_FHIR_TIMEOUT": "0.5",
        "TRAPPA_FHIR_MAX_PAGES": "4",
        "TRAPPA_MAX_BODY_BYTES": str(MAX_BODY),
    }
    with ServiceProcess(env=env, dev=False, workers=2) as proc:
        yield proc
        # after all the fuzzing: still alive, and never answered with a 500
        assert proc.get("/health").status_code == 200
        assert "unhandled" not in proc.log(), proc.log()[-3000:]


MAX_BODY = 2 * 1024 * 1024  # the fuzzed server's TRAPPA_MAX_BODY_BYTES


def post(server: ServiceProcess, path: str, body: Any) -> requests.Response:
    data = encode(body)
    # Past the limit the server answers 413 whatever follows: don't spend time sending megabytes more.
    data = data[: MAX_BODY + 1024]
    return requests.post(server.base_url + path, data=data, headers={"Content-Type": "application/json"},
                         timeout=REQUEST_TIMEOUT_S)


def check_answer(resp: requests.Response, what: str) -> None:
    assert resp.status_code < 500, f"{what}: {resp.status_code} {resp.text[:500]}"
    body = resp.json()  # every answer is JSON
    if resp.status_code >= 400:
        assert body.get("resourceType") == "OperationOutcome", f"{what}: {resp.text[:300]}"
        issues = body.get("issue")
        assert isinstance(issues, list) and issues
        assert all(i.get("severity") in ("error", "fatal", "warning") and isinstance(i.get("code"), str)
                   and isinstance(i.get("diagnostics"), str) for i in issues)
        assert len(resp.content) < 4000, f"{what}: error answer too long (echoing input?)"
        return
    assert resp.status_code == 200
    if "cards" in body:
        assert isinstance(body["cards"], list)
        for card in body["cards"]:
            # CDS Hooks 2.0: summary < 140 characters, indicator from the value set, a source label
            assert isinstance(card.get("summary"), str) and 0 < len(card["summary"]) < 140, card.get("summary")
            assert card.get("indicator") in ("info", "warning", "critical")
            assert isinstance(card.get("source", {}).get("label"), str)
    else:
        assert body == {"stored": body.get("stored")} and isinstance(body["stored"], int)


# ------------------------------------------------------------------------------------------------
# 1. Requests generated from the schemas, then mutated


@pytest.mark.parametrize("hook", sorted(SERVICES))
def test_schema_generated_requests(server, hook):
    schema = request_schema(hook)

    @examples(40)
    @given(data=st.data())
    def run(data):
        body = data.draw(from_schema(schema), label="generated")
        if data.draw(st.booleans(), label="mutate"):
            body = data.draw(mutated(body, 3), label="mutated")
        check_answer(post(server, f"/cds-services/{SERVICES[hook]}", body), hook)

    run()


def test_schema_generated_feedback(server):
    schema = _load_schema("feedback.schema.json")

    @examples(40)
    @given(data=st.data())
    def run(data):
        body = data.draw(from_schema(schema), label="generated")
        if data.draw(st.booleans(), label="mutate"):
            body = data.draw(mutated(body, 3), label="mutated")
        check_answer(post(server, "/cds-services/trappa-order-sign/feedback", body), "feedback")

    run()


def test_schema_translator_makes_valid_requests():
    """The generator is only as good as its validity: unmutated output passes the service's own
    validation (so fuzzing starts from requests that get past the front door)."""
    from cds_service.protocol.errors import RequestProblem
    from cds_service.protocol.validate import validate_feedback, validate_request

    @settings(max_examples=30, deadline=None, derandomize=True)
    @given(data=st.data())
    def run(data):
        hook = data.draw(st.sampled_from(sorted(SERVICES)))
        validate_request(data.draw(from_schema(request_schema(hook))), hook)
        validate_feedback(data.draw(from_schema(_load_schema("feedback.schema.json"))))

    try:
        run()
    except RequestProblem as problem:  # pragma: no cover - shows the schema/translator mismatch
        pytest.fail(f"translator produced an invalid request: {problem.message}")


# ------------------------------------------------------------------------------------------------
# 2. Fixture requests (real clinical data), mutated


def test_mutated_fixture_requests(server):
    seeds = fixture_requests()

    @examples(250)
    @given(data=st.data())
    def run(data):
        seed = data.draw(st.sampled_from(seeds), label="seed")
        body = data.draw(mutated(seed, 4), label="mutated")
        hook = seed["hook"]
        check_answer(post(server, f"/cds-services/{SERVICES[hook]}", body), hook)

    run()


def test_raw_bytes_and_framing(server):
    """Bodies that are not JSON objects at all, wrong content types, nesting past any limit."""
    cases = [
        (b"", "application/json"),
        (b"null", "application/json"),
        (b"[]", "application/json"),
        (b'"x"', "application/json"),
        (b"\xff\xfe\x00{", "application/json"),
        (b"{" * 100_000, "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"),
        (b'{"hook": 1e999999}', "application/json"),
        (b'{"hook": ' + b"9" * 5000 + b"}", "application/json"),  # int longer than Python converts
        (b"{}", "text/plain"),
        (b"{}", "application/x-www-form-urlencoded"),
        (b'{"hook": "patient-view", "hookInstance": "x", "context": {"userId": "Practitioner/1", "patientId": "p"}, "hook": "order-sign"}', "application/json"),
    ]
    for raw, ctype in cases:
        resp = requests.post(server.base_url + "/cds-services/trappa-patient-view", data=raw,
                             headers={"Content-Type": ctype}, timeout=REQUEST_TIMEOUT_S)
        check_answer(resp, repr(raw[:40]))
        assert resp.status_code != 200 or raw.startswith(b'{"hook": "patient-view"')


def test_body_over_the_size_limit_is_413(server):
    raw = b'{"hook": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    resp = requests.post(server.base_url + "/cds-services/trappa-patient-view", data=raw,
                         headers={"Content-Type": "application/json"}, timeout=REQUEST_TIMEOUT_S)
    assert resp.status_code == 413
    assert resp.json()["resourceType"] == "OperationOutcome"


# ------------------------------------------------------------------------------------------------
# 3. Hostile FHIR answers on the fallback path


def _resources_by_type() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for body in fixture_requests():
        for value in (body.get("prefetch") or {}).values():
            if not isinstance(value, dict):
                continue
            items = [e.get("resource") for e in value.get("entry", [])] if value.get("resourceType") == "Bundle" else [value]
            for r in items:
                if isinstance(r, dict) and isinstance(r.get("resourceType"), str):
                    out.setdefault(r["resourceType"], []).append(r)
    return out


RESOURCES = _resources_by_type()
FETCHED_TYPES = ("Patient", "MedicationRequest", "MedicationDispense", "MedicationStatement", "Medication", "Condition",
                 "Flag", "CarePlan", "ServiceRequest")


def _pool(rtype: str) -> list[dict]:
    """Resources to answer a query on ``rtype`` with. The fixtures hold no dispenses or statements:
    their MedicationRequests, relabelled, give order-shaped data the mapping must cope with."""
    if rtype in RESOURCES:
        return RESOURCES[rtype]
    if rtype in ("MedicationDispense", "MedicationStatement"):
        return [{**r, "resourceType": rtype} for r in RESOURCES["MedicationRequest"]]
    return RESOURCES["Patient"]


# Weights: mostly data (mutated or not), each kind of breakage now and then, slowness rarely (every
# slow example costs wall time; the deterministic budget tests are in test_security_fhir.py).
REPLY_KINDS = (["bundle"] * 8 + ["resource"] * 3 + ["broken-bundle"] * 3 + ["wrong-type"] * 2 + ["endless"] * 2
               + ["not-json", "status", "status", "outcome", "slow"])


@st.composite
def fhir_reply(draw, rtype: str, next_base: str) -> Reply:
    """One FHIR answer for a query on ``rtype``: usually a (mutated) searchset or resource, sometimes
    broken framing, wrong types, errors or endless paging."""
    kind = draw(st.sampled_from(REPLY_KINDS))
    pool = _pool(rtype)
    if kind in ("bundle", "endless", "broken-bundle"):
        picked = draw(st.lists(st.sampled_from(pool), max_size=4))
        body: Any = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in picked]}
        if kind == "endless":
            body["link"] = [{"relation": "next", "url": f"{next_base}/fhir/{rtype}?page={draw(st.integers(0, 10**9))}"}]
        if draw(st.booleans()):
            body = draw(mutated(body, 3))
        return Reply(200, encode(body).encode())
    if kind == "resource":
        return Reply(200, encode(draw(mutated(draw(st.sampled_from(pool)), 3))).encode())
    if kind == "wrong-type":
        other = draw(st.sampled_from(sorted(RESOURCES)))
        return Reply(200, {"resourceType": "Bundle", "entry": [{"resource": r} for r in RESOURCES[other][:3]]})
    if kind == "not-json":
        return Reply(200, draw(st.sampled_from([b"", b"<html/>", b"{", b"[1,2]", b"\xff\xfe", b'"Bundle"', b"null"])))
    if kind == "status":
        return Reply(draw(st.sampled_from([204, 301, 302, 401, 403, 404, 410, 429, 500, 502, 503])), b"{}",
                     headers={"Location": "http://169.254.169.254/"})
    if kind == "outcome":
        return Reply(200, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]})
    # slow: mostly within the budget (answers arrive out of order); sometimes past it (the deadline).
    return Reply(200, {"resourceType": "Bundle", "type": "searchset"}, delay_s=draw(st.sampled_from([0.05, 0.3, 0.3, 1.2])))


def test_hostile_fhir_answers_on_the_fallback_path(server, fhir):
    seeds = fixture_requests(no_prefetch=True)
    budget_s = 1.0

    @examples(60)
    @given(data=st.data())
    def run(data):
        seed = copy.deepcopy(data.draw(st.sampled_from(seeds), label="seed"))
        seed["fhirServer"] = fhir.server.base_url + "/fhir"
        fhir.replies = {t: data.draw(fhir_reply(t, fhir.server.base_url), label=t) for t in FETCHED_TYPES}
        started = time.monotonic()
        resp = post(server, f"/cds-services/{SERVICES[seed['hook']]}", seed)
        elapsed = time.monotonic() - started
        check_answer(resp, "fallback")
        assert resp.status_code in (200, 412), resp.text[:300]
        # The fetch budget (the medication round included) plus rule evaluation bounds the latency.
        assert elapsed < budget_s + 1.5, f"{elapsed:.2f} s"

    run()

