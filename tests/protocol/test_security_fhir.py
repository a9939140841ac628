"""The FHIR access token and server: SSRF guard, redirects, paging, hostile answers, time bounds.

Process tests run the real server (gunicorn) in production configuration (not development mode; EHR
authentication off here — tests/web/test_auth.py covers it) with a scripted local FHIR server on the
allow-list and a second local server that is *not* on it: whatever reaches the second one is a leak.
Address-rule tests call ``check_fhir_server`` in-process with an injected resolver (no DNS needed).
"""
from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cds_service.protocol import fhir_client
from cds_service.web.config import Settings
from cds_service.protocol.fhir_client import FhirFetcher, FhirServerNotAllowed, check_fhir_server
from tests.support.scripted_fhir import Reply, ScriptedServer, Seen, bundle
from tests.support.service import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "/cds-services/trappa-patient-view"
BUDGET_S = 1.5
MAX_PAGES = 5
MAX_BYTES = 200_000


def patient_resources() -> list[dict]:
    data = json.loads((ROOT / "fixtures/patients/anna-testsson.json").read_text(encoding="utf-8"))
    return [e["resource"] for e in data["entry"]]


class Fhir:
    """Serves the fixture patient by type; ``mode`` switches in hostile behaviour per test."""

    def __init__(self) -> None:
        self.resources = patient_resources()
        self.mode = "normal"
        self.other_url = ""  # the off-list server, for redirects and links
        self.server: ScriptedServer | None = None

    def __call__(self, seen: Seen) -> Reply:
        parts = urlsplit(seen.path)
        path = parts.path.removeprefix("/fhir/")
        rtype = path.split("/")[0]
        mode = self.mode
        if mode == "redirect":
            return Reply(302, b"", headers={"Location": self.other_url + "/fhir/" + path})
        if mode == "slow":
            return Reply(200, bundle([]), delay_s=5)
        if mode == "drip":
            return Reply(200, (b" " for _ in range(10_000)), chunk_pause_s=0.05)
        if mode == "huge":
            return Reply(200, (b" " * 65536 for _ in range(100)))
        if mode == "huge-declared":
            return Reply(200, b"{}", headers={"Content-Length": str(MAX_BYTES * 10)})
        if mode == "endless" and rtype == "MedicationRequest":
            page = int(parse_qs(parts.query).get("page", ["0"])[0])
            return Reply(200, bundle([], next_url=f"{self.server.base_url}/fhir/MedicationRequest?page={page + 1}"))
        if mode == "self-loop" and rtype == "MedicationRequest":
            return Reply(200, bundle([], next_url=f"{self.server.base_url}{seen.path}"))
        if mode == "next-off-server" and rtype == "MedicationRequest":
            return Reply(200, bundle([], next_url=self.other_url + "/fhir/MedicationRequest?page=2"))
        if mode == "next-file" and rtype == "MedicationRequest":
            return Reply(200, bundle([], next_url="file:///etc/passwd"))
        if mode == "deep" and rtype == "MedicationRequest":
            return Reply(200, b'{"resourceType": "Bundle", "entry": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
        if mode == "not-json":
            return Reply(200, b"<html>login</html>", headers={"Content-Type": "text/html"})
        if mode == "operation-outcome":
            return Reply(200, {"resourceType": "OperationOutcome", "issue": []})
        if mode == "error-500":
            return Reply(500, {"resourceType": "OperationOutcome", "issue": []})
        if "/" in path:  # read: Type/id
            rid = path.split("/")[1]
            for r in self.resources:
                if r["resourceType"] == rtype and r["id"] == rid:
                    return Reply(200, r)
            return Reply(404, {"resourceType": "OperationOutcome", "issue": []})
        return Reply(200, bundle([r for r in self.resources if r["resourceType"] == rtype]))


@pytest.fixture(scope="module")
def fhir():
    script = Fhir()
    with ScriptedServer(script) as server, ScriptedServer() as other:
        script.server = server
        script.other_url = other.base_url
        yield script, server, other


@pytest.fixture(scope="module")
def prod(fhir):
    _, server, _ = fhir
    env = {
        "TRAPPA_AUTH_REQUIRED": "0",
        "TRAPPA_FHIR_ALLOW_HTTP": "1",
        "TRAPPA_FHIR_ALLOWLIST": server.origin,
        "TRAPPA_FHIR_BUDGET": str(BUDGET_S),
        "TRAPPA_FHIR_TIMEOUT": "1.0",
        "TRAPPA_FHIR_MAX_PAGES": str(MAX_PAGES),
        "TRAPPA_FHIR_MAX_RESPONSE_BYTES": str(MAX_BYTES),
    }
    with ServiceProcess(env=env, dev=False, workers=1) as proc:
        yield proc


@pytest.fixture()
def reset(fhir):
    script, server, other = fhir
    script.mode = "normal"
    server.clear()
    other.clear()
    yield script, server, other
    script.mode = "normal"


def hook_request(fhir_server: str, token: str, prefetch: dict | None = None) -> dict:
    body = json.loads(
        (ROOT / "fixtures/requests/patient-view.anna-testsson.no-prefetch.json").read_text(encoding="utf-8")
    )
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"]["access_token"] = token
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def assert_outcome(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    if code:
        assert body["issue"][0]["code"] == code
    return body


# ------------------------------------------------------------------------------------------------
# The normal path: the token goes to the fhirServer and nowhere else


def test_fallback_fetch_sends_the_token_only_to_the_fhir_server(prod, reset):
    _, server, other = reset
    token = "tok-" + uuid.uuid4().hex
    resp = prod.post(SERVICE, hook_request(server.base_url + "/fhir", token))
    assert resp.status_code == 200, resp.text[:500]
    seen = server.requests()
    # patient, medicationRequests and the six optional keys: one query each (8), all with the token
    assert {s.path.split("?")[0].removeprefix("/fhir/").split("/")[0] for s in seen} >= {
        "Patient", "MedicationRequest", "MedicationDispense", "MedicationStatement", "Condition", "Flag",
        "CarePlan", "ServiceRequest"}
    assert all(s.authorization == f"Bearer {token}" for s in seen)
    assert other.requests() == []
    assert token not in resp.text


# ------------------------------------------------------------------------------------------------
# fhirServer refused before any connection


@pytest.mark.parametrize(
    "fhir_server",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_x",
        "ftp://127.0.0.1/fhir",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:169.254.169.254]/fhir",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://0.0.0.0:{port}/fhir",
        "http://user:pw@127.0.0.1:{port}/fhir",
        "http://127.0.0.1:{port}\\@evil.example/fhir",
        "http://127.0.0.1:{port}/fhir?x=1",
        "http://2130706433:{port}/fhir",  # 127.0.0.1 as a decimal number: not the allow-listed origin
        "http://localhost:{port}/fhir",  # same address, different origin: not what was allow-listed
    ],
)
def test_fhir_server_off_the_allow_list_is_refused_before_any_connection(prod, reset, fhir_server):
    _, server, other = reset
    url = fhir_server.format(port=server.base_url.rsplit(":", 1)[1])
    token = "tok-" + uuid.uuid4().hex
    resp = prod.post(SERVICE, hook_request(url, token))
    outcome = assert_outcome(resp, 400, "security")
    assert outcome["issue"][0]["expression"] == ["fhirServer"]
    assert token not in resp.text
    assert server.requests() == [] and other.requests() == []


def test_other_local_server_is_refused(prod, reset):
    _, server, other = reset
    resp = prod.post(SERVICE, hook_request(other.base_url + "/fhir", "tok"))
    assert_outcome(resp, 400, "security")
    assert other.requests() == []


def test_prefetched_request_needs_no_fhir_server_check(prod, reset):
    # With every key prefetched nothing is fetched, so an unusable fhirServer does not matter.
    _, server, other = reset
    body = json.loads((ROOT / "fixtures/requests/patient-view.anna-testsson.json").read_text(encoding="utf-8"))
    body["fhirServer"] = other.base_url
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 60,
                                 "scope": "patient/*.read", "subject": "x"}
    assert prod.post(SERVICE, body).status_code == 200
    assert other.requests() == []


# ------------------------------------------------------------------------------------------------
# Redirects and links never lead off the server


def test_redirect_off_the_allow_list_is_not_followed(prod, reset):
    script, server, other = reset
    script.mode = "redirect"
    token = "tok-" + uuid.uuid4().hex
    resp = prod.post(SERVICE, hook_request(server.base_url + "/fhir", token))
    body = assert_outcome(resp, 412, "incomplete")
    assert "HTTP 302" in body["issue"][0]["diagnostics"]
    assert other.requests() == []
    assert token not in resp.text


def test_next_link_off_the_server_is_not_followed(prod, reset):
    script, server, other = reset
    script.mode = "next-off-server"
    resp = prod.post(SERVICE, hook_request(server.base_url + "/fhir", "tok"))
    body = assert_outcome(resp, 412, "incomplete")
    assert "off the FHIR server" in body["issue"][0]["diagnostics"]
    assert other.requests() == []


def test_next_link_to_a_file_is_not_followed(prod, reset):
    script, server, _ = reset
    script.mode = "next-file"
    assert_outcome(prod.post(SERVICE, hook_request(server.base_url + "/fhir", "tok")), 412, "incomplete")


def test_ehr_supplied_next_link_off_the_server_is_not_fetched_with_the_token(prod, reset):
    """A prefetched Bundle's next link is fetched from fhirServer — but only if it is *on* fhirServer."""
    _, server, other = reset
    resources = patient_resources()
    token = "tok-" + uuid.uuid4().hex
    prefetch = {
        "patient": resources[0],
        "medicationRequests": bundle(
            [r for r in resources if r["resourceType"] == "MedicationRequest"][:2],
            next_url=other.base_url + "/fhir/MedicationRequest?page=2",
        ),
        "medicationDispenses": None, "medicationStatements": None,
        "conditions": None, "flags": None, "carePlans": None, "serviceRequests": None,
    }
    resp = prod.post(SERVICE, hook_request(server.base_url + "/fhir", token, prefetch))
    assert_outcome(resp, 412, "incomplete")
    assert other.requests() == []


def test_endless_next_links_are_bounded(prod, reset):
    script, server, _ = reset
    script.mode = "endless"
    started = time.monotonic()
    resp = prod.post(SERVICE, hook_request(server.base_url + "/fhir", "tok"))
    elapsed = time.monotonic() - started
    body = assert_outcome(resp, 412, "incomplete")
    assert f"more than {MAX_PAGES} pages" in body["issue"][0]["diagnostics"]
    pages = [s for s in server.requests() if s.path.startswith("/fhir/MedicationRequest")]
    assert len(pages) == MAX_PAGES
    assert elapsed < BUDGET_S + 2


def test_self_linking_page_is_read_once(prod, reset):
    script, server, _ = reset
    script.mode = "self-loop"
    resp = prod.post(SERVICE, hook_request(server.base_url + "/fhir", "tok"))
    assert resp.status_code == 200, resp.text[:300]
    assert len([s for s in server.requests() if s.path.startswith("/fhir/MedicationRequest")]) == 1


# ------------------------------------------------------------------------------------------------
# Slow, huge and broken answers: bounded in time and size, never a 5xx


@pytest.mark.parametrize("mode", ["slow", "drip", "huge", "huge-declared"])
def test_slow_or_huge_answers_stay_within_the_budget(prod, reset, mode):
    script, server, _ = reset
    script.mode = mode
    started = time.monotonic()
    resp = prod.post(SERVICE, hook_request(server.base_url + "/fhir", "tok"), timeout=15)
    elapsed = time.monotonic() - started
    assert_outcome(resp, 412, "incomplete")
    assert elapsed < BUDGET_S + 2, f"{mode}: {elapsed:.2f} s"


@pytest.mark.parametrize("mode", ["not-json", "operation-outcome", "error-500", "deep"])
def test_broken_answers_give_412_not_500(prod, reset, mode):
    script, server, _ = reset
    script.mode = mode
    resp = prod.post(SERVICE, hook_request(server.base_url + "/fhir", "tok"))
    assert_outcome(resp, 412, "incomplete")


def test_service_still_healthy_after_hostile_answers(prod, reset):
    _, server, _ = reset
    assert prod.post(SERVICE, hook_request(server.base_url + "/fhir", "tok")).status_code == 200
    assert prod.get("/health").status_code == 200


# ------------------------------------------------------------------------------------------------
# Address rules in-process (injected resolver: no DNS needed)


PROD = Settings(fhir_allowlist=("https://fhir.region.example",))
DEV = Settings(dev_mode=True, fhir_allow_http=True)


def resolver_to(*addresses: str):
    calls = []

    def resolve(host, port, timeout):
        calls.append((host, port))
        import ipaddress

        return [ipaddress.ip_address(a) for a in addresses]

    resolve.calls = calls
    return resolve


def test_allow_listed_name_is_resolved_and_accepted():
    resolve = resolver_to("10.1.2.3")
    assert check_fhir_server("https://fhir.region.example/r4/", PROD, resolve) == "https://fhir.region.example/r4"
    assert resolve.calls == [("fhir.region.example", 443)]
    # default port written out is the same origin
    assert check_fhir_server("https://fhir.region.example:443/r4", PROD, resolver_to("10.1.2.3"))


@pytest.mark.parametrize("address", ["169.254.169.254", "fe80::1", "::ffff:169.254.169.254", "0.0.0.0",
                                     "100.100.100.200", "fd00:ec2::254", "224.0.0.1"])
def test_allow_listed_name_resolving_to_a_forbidden_address_is_refused(address):
    with pytest.raises(FhirServerNotAllowed, match="address is not allowed"):
        check_fhir_server("https://fhir.region.example/r4", PROD, resolver_to("10.1.2.3", address))


def test_name_that_cannot_be_resolved_is_refused():
    def fail(host, port, timeout):
        raise OSError("nope")

    with pytest.raises(FhirServerNotAllowed, match="could not be resolved"):
        check_fhir_server("https://fhir.region.example/r4", PROD, fail)


def test_default_resolver_is_used(monkeypatch):
    # The real resolver path (getaddrinfo on the helper pool), with getaddrinfo answering link-local.
    def fake_getaddrinfo(host, port, *args):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    monkeypatch.setattr(fhir_client.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(FhirServerNotAllowed, match="address is not allowed"):
        check_fhir_server("https://fhir.region.example/r4", PROD)


def test_dev_mode_resolves_too():
    with pytest.raises(FhirServerNotAllowed):
        check_fhir_server("http://rebind.example/fhir", DEV, resolver_to("169.254.169.254"))
    assert check_fhir_server("http://fhir.local/fhir", DEV, resolver_to("127.0.0.1")) == "http://fhir.local/fhir"


@pytest.mark.parametrize(
    "url, settings, why",
    [
        ("https://fhir.region.example/r4", Settings(), "none is configured"),  # production, no allow-list
        ("http://fhir.region.example/r4", PROD, "https"),
        ("https://other.example/r4", PROD, "allow-list"),
        ("https://fhir.region.example:8443/r4", PROD, "allow-list"),
        ("https://fhir.region.example.evil.example/r4", PROD, "allow-list"),
        ("https://fhir.region.example@evil.example/r4", PROD, "credentials"),
        ("https://evil.example\\@fhir.region.example/r4", PROD, "valid URL"),
        ("https://fhir.region.example/r4#x", PROD, "query or fragment"),
        ("https://fhir.region.example:99999/r4", PROD, "valid URL"),
        ("https://fhir region.example/r4", PROD, "valid URL"),
        ("https://xn--fhir-.example/r4", DEV, "host name"),
        ("javascript:alert(1)", DEV, "https"),
        ("file:///etc/passwd", DEV, "https"),
        ("http://169.254.169.254/", DEV, "address"),
        ("http://[fe80::1]/", DEV, "address"),
        ("http://metadata/computeMetadata", DEV, "address"),
        ("https://" + "a" * 2000 + ".example/", DEV, "valid URL"),
    ],
)
def test_refused_urls(url, settings, why):
    with pytest.raises(FhirServerNotAllowed, match=why):
        check_fhir_server(url, settings, resolver_to("10.0.0.1"))


def test_fetcher_refuses_a_first_url_off_the_server():
    # fetch_many's queries may be absolute URLs (EHR-supplied next links): the first one is checked too.
    fetcher = FhirFetcher(Settings(dev_mode=True, fhir_allow_http=True))
    with ScriptedServer(lambda seen: Reply(200, bundle([]))) as base, ScriptedServer() as other:
        results = fetcher.fetch_many(base.base_url, "tok", {"k": other.base_url + "/x", "ok": "Patient?x=1"})
        assert results["k"].error == "link points off the FHIR server; not followed"
        assert results["ok"].ok
        assert other.requests() == []
        assert [s.authorization for s in base.requests()] == ["Bearer tok"]
