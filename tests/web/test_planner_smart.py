"""The planner's SMART App Launch, through the real server process (gunicorn, SQLite): the cards' SMART
link, and the EHR launch up to the redirect to the EHR's authorization endpoint. The EHR's
``.well-known/smart-configuration`` is served by a real HTTP server on loopback, started here."""
from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from cds_service.web.planner import smart
from tests.conftest import load_fixture
from tests.support.planner import planner_links, token_of
from tests.support.service import ServiceProcess


class _Ehr(BaseHTTPRequestHandler):
    config: dict = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.startswith("/fhir/.well-known/smart-configuration"):
            body = json.dumps(self.server.config).encode()  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def ehr():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ehr)
    root = f"http://127.0.0.1:{server.server_port}"
    server.config = {"authorization_endpoint": f"{root}/auth", "token_endpoint": f"{root}/token",  # type: ignore[attr-defined]
                     "code_challenge_methods_supported": ["S256"], "capabilities": ["launch-ehr"]}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"{root}/fhir"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def smart_service(ehr):
    _, iss = ehr
    origin = iss.removesuffix("/fhir")
    with ServiceProcess(env={"TRAPPA_SMART_CLIENT_ID": "trappa-planner", "TRAPPA_FHIR_ALLOWLIST": origin}) as proc:
        yield proc


def _hook(service) -> dict:
    body = load_fixture("requests/order-sign.anna-testsson.json")
    r = service.post(f"/cds-services/trappa-{body['hook']}", body)
    assert r.status_code == 200, r.text
    return r.json()


def test_card_carries_a_smart_link_to_the_same_proposal(smart_service):
    (card, absolute), (_, link) = planner_links(_hook(smart_service))
    assert absolute["type"] == "absolute"
    assert link == {"label": absolute["label"], "url": f"{smart_service.base_url}/planner/launch", "type": "smart",
                    "appContext": token_of(absolute["url"])}


def test_without_a_client_id_no_smart_link_and_no_launch(service):
    assert [link["type"] for _, link in planner_links(_hook(service))] == ["absolute"]
    r = service.get("/planner/launch?iss=http://127.0.0.1:1/fhir&launch=x", allow_redirects=False)
    assert r.status_code == 404 and "TRAPPA_SMART_CLIENT_ID" in r.text


def test_launch_redirects_to_the_ehr_with_pkce_and_state_kept_server_side(smart_service, ehr):
    server, iss = ehr
    r = smart_service.get("/planner/launch", params={"iss": iss, "launch": "ctx-123"}, allow_redirects=False)
    assert r.status_code == 302, r.text
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == server.config["authorization_endpoint"]
    q = {k: v for k, (v,) in parse_qs(location.query).items()}
    assert q["response_type"] == "code" and q["client_id"] == "trappa-planner" and q["launch"] == "ctx-123"
    assert q["aud"] == iss and q["scope"] == smart.SCOPES and q["code_challenge_method"] == "S256"
    assert q["redirect_uri"] == f"{smart_service.base_url}/planner/callback"
    assert len(q["state"]) >= 43 and q["state"] not in r.headers.get("Set-Cookie", "")
    db = sqlite3.connect(smart_service.database_url.removeprefix("sqlite:///"))
    try:
        (held,), = db.execute("SELECT launch FROM planner_launch WHERE key = ?", (smart.state_key(q["state"]),))
    finally:
        db.close()
    held = json.loads(held)
    assert held["iss"] == iss and held["token"] == server.config["token_endpoint"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(held["verifier"].encode()).digest()).rstrip(b"=").decode()
    assert q["code_challenge"] == challenge, "the challenge is the S256 of the verifier kept on the server"
    assert held["verifier"] not in r.headers["Location"]


@pytest.mark.parametrize("params, status, says", [
    ({"launch": "x"}, 400, "exactly one iss and one launch"),
    ({"iss": "http://127.0.0.1:9/fhir"}, 400, "exactly one iss and one launch"),
    ({"iss": "http://127.0.0.1:9/fhir", "launch": "x"}, 403, "not on the allow-list"),
    ({"iss": "http://169.254.169.254/fhir", "launch": "x"}, 403, "not allowed"),
    ({"iss": "javascript:alert(1)", "launch": "x"}, 403, "must be an https URL"),
])
def test_bad_launch_gets_a_clear_page(smart_service, params, status, says):
    r = smart_service.get("/planner/launch", params=params, allow_redirects=False)
    assert r.status_code == status
    assert "Planeraren kunde inte startas från journalen" in r.text and says in r.text
    assert "Location" not in r.headers


def test_an_ehr_without_pkce_s256_is_refused(smart_service, ehr):
    server, iss = ehr
    saved = dict(server.config)
    server.config["code_challenge_methods_supported"] = ["plain"]
    try:
        r = smart_service.get("/planner/launch", params={"iss": iss, "launch": "x"}, allow_redirects=False)
    finally:
        server.config = saved
    assert r.status_code == 502 and "PKCE S256" in r.text
