"""The planner's SMART App Launch end to end: a real OAuth 2.0 authorization server (oidc-provider, as
the EHR's), the real FHIR test server (as the EHR's FHIR server, serving its smart-configuration) and the
real service process. Launch, sign-in, token, the page, save; then the CarePlan, MedicationRequest and
Flag are read back from the FHIR server and validated with fhir.resources. And the refusals: a bad or
reused state, a PKCE verifier that does not match, an unknown session."""
from __future__ import annotations

import json
import sqlite3
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import load_fixture
from tests.support.fhir_server import FhirTestServer
from tests.support.oidc_server import OidcTestServer
from tests.support.planner import first_body, page_config, planner_links
from tests.support.service import ServiceProcess, free_port

CLIENT_ID = "trappa-planner"
PATIENT = "pat-smart-1"


@pytest.fixture(scope="module")
def ehr():
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/planner/callback"
    with OidcTestServer(CLIENT_ID, redirect) as oidc, FhirTestServer(base_path="/fhir") as fhir:
        d = oidc.discovery
        requests.post(f"{fhir.root_url}/$test/smart-configuration", timeout=5, json={
            "issuer": d["issuer"], "authorization_endpoint": d["authorization_endpoint"],
            "token_endpoint": d["token_endpoint"], "code_challenge_methods_supported": ["S256"],
            "capabilities": ["launch-ehr", "client-public", "context-ehr-patient"]}).raise_for_status()
        allow = f"{fhir.root_url},{oidc.issuer}"
        with ServiceProcess(port=port, env={"TRAPPA_SMART_CLIENT_ID": CLIENT_ID, "TRAPPA_FHIR_ALLOWLIST": allow}) as svc:
            yield oidc, fhir, svc


def _proposal_id(svc) -> str:
    body = load_fixture("requests/order-sign.anna-testsson.json")
    r = svc.post(f"/cds-services/trappa-{body['hook']}", body)
    assert r.status_code == 200, r.text
    smart_links = [link for _, link in planner_links(r.json()) if link["type"] == "smart"]
    assert len(smart_links) == 1
    return smart_links[0]["appContext"]


def _to_callback(oidc, fhir, svc, browser: requests.Session) -> str:
    """What the EHR and the physician's browser do: launch the app, sign in at the EHR; the callback URL."""
    launch = oidc.register_launch(PATIENT, _proposal_id(svc))
    r = browser.get(f"{svc.base_url}/planner/launch", params={"iss": fhir.base_url, "launch": launch},
                    allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    url = r.headers["Location"]
    for _ in range(10):  # the authorization server's own redirects: /auth → /interaction → /auth → callback
        if url.startswith(f"{svc.base_url}/planner/callback"):
            return url
        r = browser.get(url, allow_redirects=False, timeout=10)
        assert r.status_code in (302, 303), r.text[:500]
        url = requests.compat.urljoin(url, r.headers["Location"])
    raise AssertionError("the authorization server never sent the browser back")


def test_launch_token_page_and_save_to_the_record(ehr):
    from fhir.resources.R4B.careplan import CarePlan
    from fhir.resources.R4B.flag import Flag
    from fhir.resources.R4B.medicationrequest import MedicationRequest

    oidc, fhir, svc = ehr
    browser = requests.Session()
    callback = _to_callback(oidc, fhir, svc, browser)
    assert "code=" in callback and "state=" in callback
    r = browser.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    page_path = r.headers["Location"]
    page = browser.get(f"{svc.base_url}{page_path}", timeout=10)
    assert page.status_code == 200
    config = page_config(page.text)
    assert config["canSave"] is True and config["api"]["save"] == f"{page_path}/save"
    # The access token stays on the server: not in the page, not in a cookie, not in the log.
    db = sqlite3.connect(svc.database_url.removeprefix("sqlite:///"))
    try:
        (held,), = db.execute("SELECT session FROM planner_session")
    finally:
        db.close()
    access_token = json.loads(held)["access_token"]
    assert access_token not in page.text and access_token not in str(browser.cookies.get_dict())

    # The page's API answers on the session as on a proposal id.
    sid = page_path.rsplit("/", 1)[-1]
    headers = {"Authorization": config["authorization"]}
    r = browser.post(f"{svc.base_url}/taper/schedule", json=first_body(config), headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    steps = r.json()["steps"]

    fhir.clear_log()
    body = first_body(config, holds=[{"step": 1, "extraDays": 7}])
    r = browser.post(f"{svc.base_url}/planner/{sid}/save", json=body, timeout=20)
    assert r.status_code == 201, r.text
    saved = r.json()["saved"]
    assert [s.split("/")[0] for s in saved] == ["CarePlan", "MedicationRequest", "Flag"]
    posts = [e for e in fhir.requests_log() if e["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["authorization"] == f"Bearer {access_token}", "one transaction, the EHR's token"

    read = {}
    for ref in saved:
        got = requests.get(f"{fhir.base_url}/{ref}", timeout=10)
        assert got.status_code == 200, got.text
        read[ref.split("/")[0]] = got.json()
    CarePlan.model_validate(read["CarePlan"])
    MedicationRequest.model_validate(read["MedicationRequest"])
    Flag.model_validate(read["Flag"])
    for resource in read.values():
        assert resource["subject"]["reference"] == f"Patient/{PATIENT}"
    dosage = read["MedicationRequest"]["dosageInstruction"]
    assert sorted({d["sequence"] for d in dosage}) == [s["number"] for s in steps]
    first = next(d for d in dosage if d["sequence"] == 1)
    held_step = browser.post(f"{svc.base_url}/taper/schedule", json=body, headers=headers, timeout=10).json()["steps"][0]
    assert first["timing"]["repeat"]["boundsPeriod"]["end"] == held_step["end"], "the held step is what was saved"

    assert access_token not in svc.log()
    # The state opens one callback: the same redirect again is refused with a page that says so.
    again = browser.get(callback, allow_redirects=False, timeout=10)
    assert again.status_code == 400 and "unknown, used or expired state" in again.text


def test_pkce_verifier_that_does_not_match_is_refused(ehr):
    oidc, fhir, svc = ehr
    browser = requests.Session()
    callback = _to_callback(oidc, fhir, svc, browser)
    db = sqlite3.connect(svc.database_url.removeprefix("sqlite:///"))
    try:  # another verifier than the one whose challenge the authorization server holds
        rows = db.execute("SELECT key, launch FROM planner_launch").fetchall()
        for key, text in rows:
            held = json.loads(text)
            held["verifier"] = "x" * 43
            db.execute("UPDATE planner_launch SET launch = ? WHERE key = ?", (json.dumps(held), key))
        db.commit()
    finally:
        db.close()
    r = browser.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "PKCE verifier" in r.text
    assert "Planeraren kunde inte startas från journalen" in r.text


@pytest.mark.parametrize("query", ["code=abc&state=not-issued-by-us", "state=x", "code=abc", "error=access_denied"])
def test_bad_callback_gets_a_clear_page(ehr, query):
    _, _, svc = ehr
    r = requests.get(f"{svc.base_url}/planner/callback?{query}", allow_redirects=False, timeout=10)
    assert r.status_code in (400, 403) and "Planeraren kunde inte startas från journalen" in r.text
    assert "Location" not in r.headers


def test_save_without_a_session_is_refused(ehr):
    _, _, svc = ehr
    r = requests.post(f"{svc.base_url}/planner/{'A' * 43}/save", json={}, timeout=10)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    assert urlsplit(svc.base_url).hostname == "127.0.0.1"


def test_in_a_real_browser_the_launch_opens_the_page_and_save_writes_the_record(ehr):
    """Debian's chromium follows the whole launch (service → oidc-provider → callback → page) itself,
    and the physician's click on Save writes the three resources to the FHIR server."""
    import shutil

    from playwright.sync_api import sync_playwright

    oidc, fhir, svc = ehr
    launch = oidc.register_launch(PATIENT, _proposal_id(svc))
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True,
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = b.new_context(locale="sv-SE", extra_http_headers={"Accept-Language": "sv"}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{svc.base_url}/planner/launch?iss={fhir.base_url}&launch={launch}")
            page.wait_for_selector("#results:not([hidden]) #schedule-table tbody tr", state="attached")
            assert page.url.startswith(f"{svc.base_url}/planner/") and "code=" not in page.url
            assert page.is_visible("#save")
            fhir.clear_log()
            page.click("#save")
            page.wait_for_function("() => document.getElementById('action-status').textContent.startsWith('Sparat')")
            status = page.text_content("#action-status")
            assert not errors, errors
        finally:
            b.close()
    refs = status.removeprefix("Sparat i journalen: ").rstrip(".").split(", ")
    assert [r.split("/")[0] for r in refs] == ["CarePlan", "MedicationRequest", "Flag"]
    for ref in refs:
        got = requests.get(f"{fhir.base_url}/{ref}", timeout=10)
        assert got.status_code == 200 and got.json()["subject"]["reference"] == f"Patient/{PATIENT}"
