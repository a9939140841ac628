"""The CDS Hooks protocol over HTTP, against the real server process (gunicorn, development mode).

Discovery, every hook, feedback, health, CORS, and a table of malformed requests that must each get
the right 4xx with an OperationOutcome that names the problem — never a 500.
"""
from __future__ import annotations

import copy
import json
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from conftest import load_fixture

HOOKS = ("patient-view", "order-select", "order-sign", "medication-prescribe")


def test_discovery_lists_one_service_per_hook_with_2_0_prefetch_tokens(service):
    resp = service.get("/cds-services")
    assert resp.status_code == 200
    services = resp.json()["services"]
    assert sorted(s["hook"] for s in services) == sorted(HOOKS)
    for s in services:
        assert s["id"] and s["title"] and s["description"]
        # the scope and the excluded groups are stated
        for word in ("cancer", "palliative", "LARO", "18"):
            assert word in s["description"]
        prefetch = s["prefetch"]
        assert set(prefetch) == {"patient", "medicationRequests", "medicationDispenses", "medicationStatements",
                                 "conditions", "flags", "carePlans", "serviceRequests"}
        for template in prefetch.values():
            tokens = [t.split("}}")[0] for t in template.split("{{")[1:]]
            assert tokens and all(t.startswith("context.") for t in tokens), template


def test_health_reports_only_its_status(service):
    resp = service.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}  # no authentication state, issuers or devMode: it is open


def test_cors_preflight_needs_no_jwt_and_allows_authorization_and_content_type(service):
    import requests

    resp = requests.options(
        service.base_url + "/cds-services/trappa-order-sign",
        headers={"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"},
        timeout=5,
    )
    assert resp.status_code in (200, 204)
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert resp.headers["Access-Control-Allow-Origin"] in ("*", "https://sandbox.cds-hooks.org")
    # ordinary responses carry CORS and no-caching headers too
    disc = service.get("/cds-services")
    assert disc.headers["Access-Control-Allow-Origin"]
    assert disc.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in disc.headers["Cache-Control"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_answers_with_cards_that_follow_the_spec(service, hook):
    body = load_fixture(f"requests/{hook}.anna-testsson.json")
    resp = service.post(f"/cds-services/trappa-{hook}", body)
    assert resp.status_code == 200, resp.text
    cards = resp.json()["cards"]
    assert cards, "Anna renews after 240 days of oxycodone without a plan: cards are due"
    for card in cards:
        uuid.UUID(card["uuid"])
        assert 0 < len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"] and card["source"]["url"].startswith("https://")
        assert card["source"]["topic"]["system"] == "urn:trappa:card-topic"
        assert isinstance(card["detail"], str) and card["detail"]
        trappa = card["extension"]["trappa"]
        assert trappa["exposure"] in ("none", "acute", "subacute", "long-term", "multi-year")
        assert isinstance(trappa["opioidDays"], int)
        assert trappa["meddMg"] is None or isinstance(trappa["meddMg"], (int, float))
        if card.get("suggestions"):
            assert card["selectionBehavior"] in ("at-most-one", "any")
        for reason in card.get("overrideReasons", []):
            assert reason["code"] and reason["display"]
        assert "null" not in json.dumps({k: v for k, v in card.items() if k != "extension"})


def test_first_cards_renewal_gives_taper_plan_missing_and_patient_view_gives_opioid_review(service):
    sign = service.post("/cds-services/trappa-order-sign", load_fixture("requests/order-sign.anna-testsson.json"))
    topics = [c["source"]["topic"]["code"] for c in sign.json()["cards"]]
    assert "taper-plan-missing" in topics
    card = next(c for c in sign.json()["cards"] if c["source"]["topic"]["code"] == "taper-plan-missing")
    # 240 days of oxycodone 10 mg × 2: long-term; MEDD = 20 mg × 2 (oxycodone factor 2) = 40
    assert card["extension"]["trappa"]["exposure"] == "long-term"
    assert card["extension"]["trappa"]["meddMg"] == 40
    assert card["indicator"] == "warning"

    view = service.post("/cds-services/trappa-patient-view", load_fixture("requests/patient-view.anna-testsson.json"))
    topics = [c["source"]["topic"]["code"] for c in view.json()["cards"]]
    assert "opioid-review" in topics
    assert "taper-plan-missing" not in topics  # an order-hook card never shows on patient-view


def test_english_when_accept_language_prefers_it(service):
    body = load_fixture("requests/order-sign.anna-testsson.json")
    sv = service.post("/cds-services/trappa-order-sign", body).json()["cards"]
    en = service.post("/cds-services/trappa-order-sign", body, headers={"Accept-Language": "en-GB,en;q=0.9,sv;q=0.5"}).json()["cards"]
    sv_card = next(c for c in sv if c["source"]["topic"]["code"] == "taper-plan-missing")
    en_card = next(c for c in en if c["source"]["topic"]["code"] == "taper-plan-missing")
    assert "nedtrappning" in sv_card["summary"].lower()
    assert "taper" in en_card["summary"].lower() and "nedtrappning" not in en_card["summary"].lower()


def _valid():
    return load_fixture("requests/order-sign.anna-testsson.json")


def _without(path):
    def mutate(body):
        *parents, last = path
        target = body
        for p in parents:
            target = target[p]
        del target[last]
        return body
    return mutate


def _set(path, value):
    def mutate(body):
        *parents, last = path
        target = body
        for p in parents:
            target = target[p]
        target[last] = value
        return body
    return mutate


# (name, service id, raw body or mutation of a valid body, content type, status, words the diagnostics must contain)
MALFORMED = [
    ("not json", "trappa-order-sign", b"{not json", "application/json", 400, ["not valid JSON"]),
    ("json but not an object", "trappa-order-sign", b"[1, 2, 3]", "application/json", 400, ["object"]),
    ("wrong content type", "trappa-order-sign", b"hook=order-sign", "application/x-www-form-urlencoded", 415, ["Content-Type"]),
    ("no hookInstance", "trappa-order-sign", _without(["hookInstance"]), None, 400, ["hookInstance"]),
    ("no context", "trappa-order-sign", _without(["context"]), None, 400, ["context"]),
    ("context without patientId", "trappa-order-sign", _without(["context", "patientId"]), None, 400, ["patientId"]),
    ("patientId with a slash", "trappa-order-sign", _set(["context", "patientId"], "../../admin"), None, 400, ["patientId"]),
    # A reference is taken for the bare id only when it names the right type and one id.
    ("patientId names a Practitioner", "trappa-order-sign", _set(["context", "patientId"], "Practitioner/1"), None, 400, ["context.patientId"]),
    ("patientId Patient/ without an id", "trappa-order-sign", _set(["context", "patientId"], "Patient/"), None, 400, ["context.patientId"]),
    ("patientId with two segments", "trappa-order-sign", _set(["context", "patientId"], "Patient/a/b"), None, 400, ["context.patientId"]),
    ("encounterId names a Patient", "trappa-order-sign", _set(["context", "encounterId"], "Patient/1"), None, 400, ["context.encounterId"]),
    ("userId not a reference", "trappa-order-sign", _set(["context", "userId"], "dr-lind"), None, 400, ["userId"]),
    ("draftOrders not a Bundle", "trappa-order-sign", _set(["context", "draftOrders"], {"resourceType": "MedicationRequest"}), None, 400, ["draftOrders"]),
    ("draftOrders a list", "trappa-order-sign", _set(["context", "draftOrders"], []), None, 400, ["draftOrders"]),
    ("hook does not match the service", "trappa-order-sign", _set(["hook"], "patient-view"), None, 400, ["hook"]),
    ("prefetch is a list", "trappa-order-sign", _set(["prefetch"], []), None, 400, ["prefetch"]),
    ("fhirAuthorization without fhirServer", "trappa-order-sign", _set(["fhirAuthorization"], {"access_token": "t", "token_type": "Bearer", "expires_in": 1, "scope": "s", "subject": "x"}), None, 400, ["fhirServer"]),
    ("hookInstance a number", "trappa-order-sign", _set(["hookInstance"], 12), None, 400, ["hookInstance"]),
    ("unknown service", "no-such-service", lambda b: b, None, 404, ["unknown service"]),
    ("oversized body", "trappa-order-sign", b'{"hook": "' + b"x" * (21 * 1024 * 1024) + b'"}', "application/json", 413, ["larger"]),
    ("deeply nested", "trappa-order-sign", b"[" * 100000 + b"]" * 100000, "application/json", 400, ["JSON"]),
    ("order-select without selections", "trappa-order-select", lambda b: _without(["context", "selections"])(load_fixture("requests/order-select.anna-testsson.json")), None, 400, ["selections"]),
    ("medication-prescribe without medications", "trappa-medication-prescribe", lambda b: dict(b, hook="medication-prescribe"), None, 400, ["medications"]),
]


@pytest.mark.parametrize("name,service_id,body,ctype,status,words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_the_right_4xx_with_an_operation_outcome(service, name, service_id, body, ctype, status, words):
    if callable(body):
        body = json.dumps(body(copy.deepcopy(_valid()))).encode()
    resp = service.post(f"/cds-services/{service_id}", body, headers={"Content-Type": ctype or "application/json"})
    assert resp.status_code == status, resp.text[:500]
    outcome = resp.json()
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics = outcome["issue"][0]["diagnostics"]
    for word in words:
        assert word.lower() in diagnostics.lower(), diagnostics


def _cards_without_uuids(value):
    """Card and suggestion uuids, and the planner link's id, are new on every call; everything else must
    be equal."""
    if isinstance(value, dict):
        return {k: ("<uuid>" if k == "uuid" or (k == "url" and "/planner/" in str(v)) else _cards_without_uuids(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_cards_without_uuids(v) for v in value]
    return value


def _referenced(cards: list) -> set[str]:
    """Every reference in the suggested resources."""
    out: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                out.add(node["reference"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk([s for c in cards for s in c.get("suggestions", [])])
    return out


def test_cdc_shaped_request_with_reference_ids_gets_cards(service):
    """The CDC opioid CDS's example requests (and several EHRs) send patientId "Patient/…" and
    encounterId "Encounter/…": a request of their shape — RxNorm-coded order-sign, dataDateRoller
    extensions, null prefetch keys — is answered with the cards its record calls for, not a 400."""
    body = load_fixture("requests/order-sign.cdc-shaped.json")
    assert body["context"]["patientId"] == "Patient/example-rec-01"
    assert body["context"]["encounterId"].startswith("Encounter/")
    resp = service.post("/cds-services/trappa-order-sign", body)
    assert resp.status_code == 200, resp.text[:500]
    cards = resp.json()["cards"]
    topics = [c["source"]["topic"]["code"] for c in cards]
    # 179 days of oxycodone ER 10 mg × 2 renewed without a plan [RJL "När behövs nedtrappning?"]
    assert {"taper-plan-missing", "prescribing-restriction"} <= set(topics)
    taper = cards[topics.index("taper-plan-missing")]["extension"]["trappa"]
    assert (taper["exposure"], taper["meddMg"]) == ("long-term", 40)
    # The suggested CarePlan, MedicationRequest and Flag are about the patient, referenced once.
    patients = {r for r in _referenced(cards) if r.startswith("Patient")}
    assert patients == {"Patient/example-rec-01"}


def test_reference_and_bare_context_ids_give_the_same_cards(service):
    """Metamorphic: "Patient/x" / "Encounter/y" and the bare ids are the same request."""
    as_reference = load_fixture("requests/order-sign.cdc-shaped.json")
    bare = copy.deepcopy(as_reference)
    bare["context"]["patientId"] = "example-rec-01"
    bare["context"]["encounterId"] = "example-rec-01-context"
    answers = [service.post("/cds-services/trappa-order-sign", b) for b in (as_reference, bare)]
    assert [a.status_code for a in answers] == [200, 200]
    first, second = (_cards_without_uuids(a.json()["cards"]) for a in answers)
    assert first and first == second


def test_reference_context_ids_render_prefetch_queries_with_the_bare_id(service):
    """Without prefetch the service fills its templates ("Patient/{{context.patientId}}") itself: a
    reference id must give Patient/anna-testsson, not Patient/Patient/anna-testsson."""
    from tests.support.scripted_fhir import Reply, ScriptedServer, bundle

    resources = [e["resource"] for e in load_fixture("patients/anna-testsson.json")["entry"]]

    def fhir(seen):
        path = seen.path.split("?")[0].removeprefix("/fhir/")
        if "/" in path:  # a read: Type/id
            rtype, rid = path.split("/", 1)
            found = [r for r in resources if r["resourceType"] == rtype and r.get("id") == rid]
            return Reply(200, found[0]) if found else Reply(404, {"resourceType": "OperationOutcome", "issue": []})
        return Reply(200, bundle([r for r in resources if r["resourceType"] == path]))

    with ScriptedServer(fhir) as server:
        body = load_fixture("requests/order-sign.anna-testsson.no-prefetch.json")
        body["fhirServer"] = server.base_url + "/fhir"
        body["context"]["patientId"] = "Patient/anna-testsson"
        resp = service.post("/cds-services/trappa-order-sign", body)
        assert resp.status_code == 200, resp.text[:500]
        paths = [s.path for s in server.requests()]
    assert "/fhir/Patient/anna-testsson" in paths
    assert any(p.startswith("/fhir/MedicationRequest?patient=anna-testsson&") for p in paths), paths
    assert not any("Patient%2F" in p or "Patient/Patient" in p or "patient=Patient" in p for p in paths), paths
    assert "taper-plan-missing" in [c["source"]["topic"]["code"] for c in resp.json()["cards"]]


def test_a_record_of_five_thousand_orders_is_answered_with_cards(service):
    """A multi-year opioid history is the largest record and the one the cards matter most for: the
    default body limit admits it (5 000 MedicationRequests are over 5 MiB) instead of answering 413."""
    from bench.corpus import EXPECTED_MEDD_MG, build_corpus

    body = build_corpus((5000,))[5000].body
    assert len(body) > 5 * 1024 * 1024
    resp = service.post("/cds-services/trappa-order-sign", body, timeout=30)
    assert resp.status_code == 200, resp.text[:500]
    cards = resp.json()["cards"]
    topics = {c["source"]["topic"]["code"] for c in cards}
    assert "taper-plan-missing" in topics
    assert all(c["extension"]["trappa"]["meddMg"] == EXPECTED_MEDD_MG for c in cards)


def test_missing_required_data_without_a_fhir_server_is_412(service):
    body = _valid()
    del body["prefetch"]["medicationRequests"]
    resp = service.post("/cds-services/trappa-order-sign", body)
    assert resp.status_code == 412
    outcome = resp.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "medicationRequests" in outcome["issue"][0]["diagnostics"]


def test_missing_optional_data_is_named_on_the_cards(service):
    body = _valid()
    body["prefetch"]["conditions"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    resp = service.post("/cds-services/trappa-order-sign", body)
    assert resp.status_code == 200
    for card in resp.json()["cards"]:
        assert "Kunde inte kontrolleras" in card["detail"] and "diagnoser" in card["detail"]
        assert card["extension"]["trappa"]["dataGaps"] == ["conditions"]


def test_null_prefetch_means_no_data_not_a_gap(service):
    body = _valid()
    body["prefetch"]["flags"] = None
    resp = service.post("/cds-services/trappa-order-sign", body)
    assert resp.status_code == 200
    assert all("dataGaps" not in c["extension"]["trappa"] for c in resp.json()["cards"])


def test_feedback_is_stored_durably_and_validated(service):
    sign = service.post("/cds-services/trappa-order-sign", _valid()).json()
    card = sign["cards"][0]
    fb = {"feedback": [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-23T10:00:00Z",
                        "overrideReason": {"reason": {"system": "urn:trappa:override-reason", "code": "plan-elsewhere"},
                                           "userComment": "free text that must not be stored"}}]}
    resp = service.post("/cds-services/trappa-order-sign/feedback", fb)
    assert resp.status_code == 200 and resp.json() == {"stored": 1}
    bad = service.post("/cds-services/trappa-order-sign/feedback", {"feedback": [{"card": "x", "outcome": "maybe"}]})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    accepted_without_ids = {"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "2026-11-23T10:00:00Z"}]}
    assert service.post("/cds-services/trappa-order-sign/feedback", accepted_without_ids).status_code == 400
    # Durable: read the database file the server process wrote, with a separate connection.
    engine = create_engine(service.database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("select outcome, override_code, has_user_comment from feedback where card_uuid = :u"),
                            {"u": card["uuid"]}).all()
        dump = " ".join(str(r) for r in conn.execute(text("select * from feedback")).all())
    assert rows == [("overridden", "plan-elsewhere", 1)]
    assert "free text" not in dump
    # The audit row is written behind the response (storage.AuditWriter), within milliseconds.
    # The fixture's hookInstance is reused across tests: the row of *this* call holds this card's uuid.
    deadline = time.monotonic() + 5
    while True:
        with engine.connect() as conn:
            audit = conn.execute(text("select service, status, cards from audit where hook_instance = :h"),
                                 {"h": _valid()["hookInstance"]}).all()
        if any(row[0] == "trappa-order-sign" and row[1] == 200 and card["uuid"] in row[2] for row in audit):
            break
        assert time.monotonic() < deadline, "no audit row for the call within 5 s"
        time.sleep(0.02)


def test_wrong_method_is_405_with_operation_outcome(service):
    import requests

    resp = requests.delete(service.base_url + "/cds-services/trappa-order-sign", timeout=5)
    assert resp.status_code == 405
    assert resp.json()["resourceType"] == "OperationOutcome"
