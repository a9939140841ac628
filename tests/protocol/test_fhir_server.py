"""The loopback FHIR R4 test server (tests/fhir_server) behaves like the EHR FHIR server we rely on.

Synthetic data only: two made-up patients, oxycodone orders coded with ATC N02AA05.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from support.fhir_server import FhirServerError, FhirTestServer, ensure_node_modules, fhir_server_session

ATC = "http://www.whocc.no/atc"
PATIENT_ID = "syntetisk-astrid"
OTHER_PATIENT_ID = "syntetisk-gunnar"
ORDERS_FOR_PATIENT = 120
ORDERS_FOR_OTHER = 3
# Every 4th order of the main patient points at the shared Medication resource
# instead of carrying a CodeableConcept: 120 / 4 = 30 orders.
EVERY_NTH_BY_REFERENCE = 4
ORDERS_BY_REFERENCE = ORDERS_FOR_PATIENT // EVERY_NTH_BY_REFERENCE

OXYCODONE = {"coding": [{"system": ATC, "code": "N02AA05", "display": "oxikodon"}]}


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _medication_request(subject_ref: str, n: int, medication_urn: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": subject_ref},
        "authoredOn": f"2024-01-{1 + n % 28:02d}",
        "dosageInstruction": [{"text": f"Oxikodon 5 mg, 1 tablett vid behov (order {n})"}],
    }
    if medication_urn is not None:
        resource["medicationReference"] = {"reference": medication_urn}
    else:
        resource["medicationCodeableConcept"] = OXYCODONE
    return resource


def synthetic_bundle() -> dict[str, Any]:
    """Transaction: 2 patients (PUT, fixed ids), 1 Medication and 123 orders (POST, urn:uuid references)."""
    patient_urn, other_urn, medication_urn = _urn(), _urn(), _urn()
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": patient_urn,
            "resource": {
                "resourceType": "Patient",
                "id": PATIENT_ID,
                "name": [{"family": "Exempelsdotter", "given": ["Astrid"]}],
                "gender": "female",
                "birthDate": "1958-04-12",
            },
            "request": {"method": "PUT", "url": f"Patient/{PATIENT_ID}"},
        },
        {
            "fullUrl": other_urn,
            "resource": {
                "resourceType": "Patient",
                "id": OTHER_PATIENT_ID,
                "name": [{"family": "Provsson", "given": ["Gunnar"]}],
                "gender": "male",
                "birthDate": "1949-11-30",
            },
            "request": {"method": "PUT", "url": f"Patient/{OTHER_PATIENT_ID}"},
        },
        {
            "fullUrl": medication_urn,
            "resource": {"resourceType": "Medication", "code": OXYCODONE},
            "request": {"method": "POST", "url": "Medication"},
        },
    ]
    for n in range(ORDERS_FOR_PATIENT):
        by_reference = n % EVERY_NTH_BY_REFERENCE == 0
        entries.append(
            {
                "fullUrl": _urn(),
                "resource": _medication_request(patient_urn, n, medication_urn if by_reference else None),
                "request": {"method": "POST", "url": "MedicationRequest"},
            }
        )
    for n in range(ORDERS_FOR_OTHER):
        entries.append(
            {
                "fullUrl": _urn(),
                "resource": _medication_request(other_urn, n, None),
                "request": {"method": "POST", "url": "MedicationRequest"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.fixture(scope="module")
def fhir() -> Iterator[FhirTestServer]:
    yield from fhir_server_session()


@pytest.fixture
def loaded(fhir: FhirTestServer) -> FhirTestServer:
    """A server holding exactly the synthetic bundle, with no delay and an empty log."""
    fhir.reset()
    fhir.set_delay(0)
    fhir.clear_failures()
    fhir.load(synthetic_bundle())
    fhir.clear_log()
    return fhir


def _get(server: FhirTestServer, path: str, **params: Any) -> dict[str, Any]:
    resp = requests.get(f"{server.base_url}/{path}", params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == relation), None)


def test_transaction_resolves_urn_uuid_references(loaded: FhirTestServer) -> None:
    orders = _get(loaded, "MedicationRequest", patient=f"Patient/{PATIENT_ID}", _count=200)
    subjects = {e["resource"]["subject"]["reference"] for e in orders["entry"]}
    assert subjects == {f"Patient/{PATIENT_ID}"}
    med_refs = {
        e["resource"]["medicationReference"]["reference"]
        for e in orders["entry"]
        if "medicationReference" in e["resource"]
    }
    medications = _get(loaded, "Medication")
    assert medications["total"] == 1
    assert med_refs == {f"Medication/{medications['entry'][0]['resource']['id']}"}


def test_bare_id_reference_search_equals_typed_reference(loaded: FhirTestServer) -> None:
    # 120 orders for the main patient, 3 for the other: the filter must really filter.
    for params in ({"patient": PATIENT_ID}, {"subject": PATIENT_ID}, {"patient": f"Patient/{PATIENT_ID}"}):
        assert _get(loaded, "MedicationRequest", _count=0, **params)["total"] == ORDERS_FOR_PATIENT, params
    assert _get(loaded, "MedicationRequest", patient=OTHER_PATIENT_ID)["total"] == ORDERS_FOR_OTHER
    # 120 + 3 = 123 orders in all.
    assert _get(loaded, "MedicationRequest", _summary="count")["total"] == 123
    assert _get(loaded, "MedicationRequest", patient="no-such-patient")["total"] == 0


def test_read_by_id_and_token_search_on_atc_code(loaded: FhirTestServer) -> None:
    patient = _get(loaded, f"Patient/{PATIENT_ID}")
    assert patient["name"][0]["family"] == "Exempelsdotter"
    assert patient["meta"]["versionId"]
    # code= only looks at medicationCodeableConcept: 120 - 30 by reference = 90, plus 3 for the other patient.
    coded = _get(loaded, "MedicationRequest", code=f"{ATC}|N02AA05", _count=0)
    assert coded["total"] == ORDERS_FOR_PATIENT - ORDERS_BY_REFERENCE + ORDERS_FOR_OTHER
    missing = requests.get(f"{loaded.base_url}/Patient/does-not-exist", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


def test_post_search_with_form_body_matches_get(loaded: FhirTestServer) -> None:
    resp = requests.post(
        f"{loaded.base_url}/MedicationRequest/_search",
        data={"patient": PATIENT_ID, "_count": "50"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/fhir+json")
    posted = resp.json()
    got = _get(loaded, "MedicationRequest", patient=PATIENT_ID, _count=50)
    assert posted["total"] == ORDERS_FOR_PATIENT
    assert len(_ids(posted)) == 50
    assert _ids(posted) == _ids(got)


def test_paging_through_next_links_yields_each_order_once(loaded: FhirTestServer) -> None:
    url: str | None = f"{loaded.base_url}/MedicationRequest?patient={PATIENT_ID}&_count=50"
    page_sizes: list[int] = []
    seen: list[str] = []
    while url is not None:
        assert url.startswith(loaded.base_url + "/"), url
        page = requests.get(url, timeout=10).json()
        assert page["type"] == "searchset"
        assert page["total"] == ORDERS_FOR_PATIENT
        self_query = parse_qs(urlsplit(_link(page, "self") or "").query)
        assert self_query["_count"] == ["50"] and self_query["patient"] == [PATIENT_ID]
        page_sizes.append(len(_ids(page)))
        seen.extend(_ids(page))
        url = _link(page, "next")
        assert len(page_sizes) <= 5, "next links never ended"
    # 120 orders at 50 a page: 50 + 50 + 20.
    assert page_sizes == [50, 50, 20]
    assert len(seen) == ORDERS_FOR_PATIENT
    assert len(set(seen)) == ORDERS_FOR_PATIENT


def test_default_page_size_is_20_with_a_next_link(loaded: FhirTestServer) -> None:
    first = _get(loaded, "MedicationRequest", patient=PATIENT_ID)
    assert len(_ids(first)) == 20
    assert _link(first, "next") is not None


def test_include_medication_adds_the_referenced_medication_once(loaded: FhirTestServer) -> None:
    bundle = _get(
        loaded, "MedicationRequest", patient=PATIENT_ID, _include="MedicationRequest:medication", _count=200
    )
    assert len(_ids(bundle, "match")) == ORDERS_FOR_PATIENT
    included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [r["resourceType"] for r in included] == ["Medication"]
    by_reference = [
        e for e in bundle["entry"] if e["resource"].get("medicationReference", {}).get("reference")
    ]
    assert len(by_reference) == ORDERS_BY_REFERENCE
    assert all(e["fullUrl"].startswith(loaded.base_url + "/") for e in bundle["entry"])


def test_unsupported_search_is_an_error_not_an_empty_result(loaded: FhirTestServer) -> None:
    # Medplum's in-memory matcher cannot evaluate quantity parameters or chains;
    # an empty searchset would silently look like "no data".
    for path in ("Observation?value-quantity=5", "MedicationRequest?patient.name=Exempelsdotter"):
        resp = requests.get(f"{loaded.base_url}/{path}", timeout=10)
        assert resp.status_code == 400, path
        assert resp.json()["resourceType"] == "OperationOutcome"


def test_delay_control_slows_fhir_responses(loaded: FhirTestServer) -> None:
    delay_ms = 300
    loaded.set_delay(delay_ms)
    try:
        started = time.monotonic()
        _get(loaded, "MedicationRequest", patient=PATIENT_ID, _count=1)
        assert time.monotonic() - started >= delay_ms / 1000
    finally:
        loaded.set_delay(0)
    started = time.monotonic()
    _get(loaded, "MedicationRequest", patient=PATIENT_ID, _count=1)
    assert time.monotonic() - started < delay_ms / 1000


def test_failure_control_fails_one_resource_type_only(loaded: FhirTestServer) -> None:
    loaded.set_failure("MedicationDispense", status=500)
    try:
        failed = requests.get(f"{loaded.base_url}/MedicationDispense", params={"patient": PATIENT_ID}, timeout=10)
        assert failed.status_code == 500
        assert failed.json()["resourceType"] == "OperationOutcome"
        # Other types, and the harness's own loading, are untouched.
        assert _get(loaded, "MedicationRequest", patient=PATIENT_ID, _count=0)["total"] == ORDERS_FOR_PATIENT
        loaded.load({"resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": {"resourceType": "MedicationDispense", "id": "syntetisk-uttag", "status": "completed",
                         "subject": {"reference": f"Patient/{PATIENT_ID}"}, "medicationCodeableConcept": OXYCODONE},
            "request": {"method": "PUT", "url": "MedicationDispense/syntetisk-uttag"}}]})
        loaded.set_failure("MedicationDispense", delay_ms=300)  # replaces the 500: late, not failed
        started = time.monotonic()
        late = _get(loaded, "MedicationDispense", patient=PATIENT_ID)
        assert time.monotonic() - started >= 0.3
        assert _ids(late) == ["syntetisk-uttag"]
    finally:
        loaded.clear_failures()
    started = time.monotonic()
    assert _get(loaded, "MedicationDispense", patient=PATIENT_ID)["total"] == 1
    assert time.monotonic() - started < 0.3
    for bad in ({"resourceType": "NoSuchType", "status": 500}, {"resourceType": "Patient", "status": 200},
                {"resourceType": "Patient"}):
        assert requests.post(f"{loaded.root_url}/$test/fail", json=bad, timeout=10).status_code == 400, bad


@pytest.mark.parametrize("order_type", ["MedicationDispense", "MedicationStatement"])
def test_include_medication_works_for_dispenses_and_statements(loaded: FhirTestServer, order_type: str) -> None:
    """The discovery document asks for ``<type>?patient=…&_include=<type>:medication``: R4 defines the
    ``medication`` search parameter on both, and the server must honour it rather than answer 400."""
    medication = _get(loaded, "Medication")["entry"][0]["resource"]
    order: dict[str, Any] = {"resourceType": order_type, "id": "syntetisk-order", "status": "completed",
                             "subject": {"reference": f"Patient/{PATIENT_ID}"},
                             "medicationReference": {"reference": f"Medication/{medication['id']}"}}
    loaded.load({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": order, "request": {"method": "PUT", "url": f"{order_type}/syntetisk-order"}}]})
    bundle = _get(loaded, order_type, patient=PATIENT_ID, _include=f"{order_type}:medication")
    assert _ids(bundle, "match") == ["syntetisk-order"]
    assert _ids(bundle, "include") == [medication["id"]]
    assert _get(loaded, order_type, patient=OTHER_PATIENT_ID, _include=f"{order_type}:medication")["total"] == 0


def test_cors_preflight_and_headers(loaded: FhirTestServer) -> None:
    origin = "http://ehr.test"
    pre = requests.options(
        f"{loaded.base_url}/MedicationRequest",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=10,
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == origin
    assert "authorization" in pre.headers["Access-Control-Allow-Headers"].lower()
    assert "GET" in pre.headers["Access-Control-Allow-Methods"]
    plain = requests.get(f"{loaded.base_url}/metadata", timeout=10)
    assert plain.headers["Access-Control-Allow-Origin"] == "*"


def test_request_log_records_authorization_header(loaded: FhirTestServer) -> None:
    token = "Bearer syntetisk-token-123"
    requests.get(
        f"{loaded.base_url}/MedicationRequest",
        params={"patient": PATIENT_ID},
        headers={"Authorization": token},
        timeout=10,
    )
    requests.get(f"{loaded.base_url}/Patient/{PATIENT_ID}", timeout=10)
    log = loaded.requests_log()
    # The fixture's own load was not logged: exactly our two requests.
    assert [(r["method"], r["path"]) for r in log] == [
        ("GET", f"/MedicationRequest?patient={PATIENT_ID}"),
        ("GET", f"/Patient/{PATIENT_ID}"),
    ]
    assert log[0]["has_authorization"] is True and log[0]["authorization"] == token
    assert log[1]["has_authorization"] is False and log[1]["authorization"] is None
    loaded.clear_log()
    assert loaded.requests_log() == []


def test_failed_transaction_is_rolled_back(loaded: FhirTestServer) -> None:
    bad = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "id": "syntetisk-ny"},
                "request": {"method": "PUT", "url": "Patient/syntetisk-ny"},
            },
            # id in the body disagrees with the URL: the server must reject the entry.
            {
                "resource": {"resourceType": "Patient", "id": "annat-id"},
                "request": {"method": "PUT", "url": "Patient/syntetisk-fel"},
            },
        ],
    }
    with pytest.raises(FhirServerError):
        loaded.load(bad)
    assert requests.get(f"{loaded.base_url}/Patient/syntetisk-ny", timeout=10).status_code == 404
    # The two patients of the fixture are still there.
    assert _get(loaded, "Patient")["total"] == 2


def test_placeholders_upper_case_resolve_and_undeclared_ones_are_rejected(loaded: FhirTestServer) -> None:
    upper = "urn:uuid:ABCDEF01-1111-4111-8111-111111111111"
    result = loaded.load(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": upper,
                    "resource": {"resourceType": "Patient"},
                    "request": {"method": "POST", "url": "Patient"},
                },
                {
                    "resource": _medication_request(upper, 0, None),
                    "request": {"method": "POST", "url": "MedicationRequest"},
                },
            ],
        }
    )
    new_patient_ref = result["entry"][0]["response"]["location"]
    assert result["entry"][1]["resource"]["subject"]["reference"] == new_patient_ref
    assert new_patient_ref.startswith("Patient/")
    dangling = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": _medication_request("urn:uuid:abcdef01-2222-4111-8111-111111111111", 0, None),
                "request": {"method": "POST", "url": "MedicationRequest"},
            }
        ],
    }
    with pytest.raises(FhirServerError):
        loaded.load(dangling)


def test_reset_empties_the_repository(loaded: FhirTestServer) -> None:
    loaded.reset()
    assert _get(loaded, "MedicationRequest")["total"] == 0
    assert requests.get(f"{loaded.base_url}/Patient/{PATIENT_ID}", timeout=10).status_code == 404


def test_base_path_prefix_is_honoured_in_links() -> None:
    ensure_node_modules()
    with FhirTestServer(base_path="/fhir/r4", default_count=2) as server:
        assert server.base_url.endswith("/fhir/r4")
        server.load(synthetic_bundle())
        page = _get(server, "MedicationRequest", patient=OTHER_PATIENT_ID)
        # default_count=2 and 3 orders: a second page exists, under the same base path.
        next_url = _link(page, "next")
        assert next_url is not None and next_url.startswith(server.base_url + "/MedicationRequest?")
        assert len(requests.get(next_url, timeout=10).json()["entry"]) == 1
        assert requests.get(f"{server.root_url}/metadata", timeout=10).status_code == 404
