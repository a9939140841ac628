"""One slow FHIR server must not take the fetch capacity of the others, nor hold a call past its budget.

The real server process (gunicorn, production configuration, one worker so that all calls share one
fetch pool) has two allow-listed loopback FHIR servers: a healthy scripted one serving the fixture
patient, and a dripping one (``tests/support/drip_fhir.py``) that sends its headers, or its body, one
byte a second — a per-recv timeout never fires on it. A burst of calls pointed at the dripping server
runs beside calls pointed at the healthy one: the healthy ones get their cards, every call answers
within the budget plus a margin, and the dripping server's connections are closed right after.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cds_service.web.config import Settings
from cds_service.protocol.fhir_client import FhirFetcher
from tests.support.drip_fhir import DripServer
from tests.support.scripted_fhir import Reply, ScriptedServer, Seen, bundle
from tests.support.service import ServiceProcess
from tests.support.tls import self_signed

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "/cds-services/trappa-patient-view"
BUDGET_S = 1.0
MARGIN_S = 0.3  # what a call may take past TRAPPA_FHIR_BUDGET: reading the request, the turn, the answer
SLOW_CALLS = 10
HEALTHY_CALLS = 6


def _anna() -> list[dict]:
    data = json.loads((ROOT / "fixtures/patients/anna-testsson.json").read_text(encoding="utf-8"))
    return [e["resource"] for e in data["entry"]]


class Healthy:
    """Serves the fixture patient by type, at once."""

    def __init__(self) -> None:
        self.resources = _anna()

    def __call__(self, seen: Seen) -> Reply:
        path = urlsplit(seen.path).path.removeprefix("/fhir/")
        rtype = path.split("/")[0]
        if "/" in path:
            rid = path.split("/")[1]
            for r in self.resources:
                if r["resourceType"] == rtype and r["id"] == rid:
                    return Reply(200, r)
            return Reply(404, {"resourceType": "OperationOutcome", "issue": []})
        return Reply(200, bundle([r for r in self.resources if r["resourceType"] == rtype]))


def hook_request(fhir_server: str, prefetch: dict | None = None) -> dict:
    body = json.loads(
        (ROOT / "fixtures/requests/patient-view.anna-testsson.no-prefetch.json").read_text(encoding="utf-8")
    )
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"]["access_token"] = "tok"
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def all_but_care_plans() -> dict:
    """The fixture's full prefetch without carePlans: one optional key to fetch."""
    body = json.loads((ROOT / "fixtures/requests/patient-view.anna-testsson.json").read_text(encoding="utf-8"))
    prefetch = body["prefetch"]
    del prefetch["carePlans"]
    return prefetch


@pytest.fixture(scope="module")
def servers():
    with ScriptedServer(Healthy()) as healthy, DripServer(interval_s=1.0) as drip:
        yield healthy, drip


@pytest.fixture(scope="module")
def prod(servers):
    healthy, drip = servers
    env = {
        "TRAPPA_AUTH_REQUIRED": "0",
        "TRAPPA_FHIR_ALLOW_HTTP": "1",
        "TRAPPA_FHIR_ALLOWLIST": f"{healthy.origin},{drip.origin}",
        "TRAPPA_FHIR_BUDGET": str(BUDGET_S),
        "TRAPPA_FHIR_TIMEOUT": "1.0",
        # Enough request threads for every call of the burst at once: what is measured is the fetching,
        # not gunicorn's queue of calls waiting for a thread.
        "TRAPPA_THREADS": "24",
    }
    with ServiceProcess(env=env, dev=False, workers=1) as proc:
        # One call first: the worker's imports and first-call work are not part of what is measured.
        assert proc.post(SERVICE, hook_request(healthy.base_url + "/fhir"), timeout=15).status_code == 200
        yield proc


def _timed_post(proc: ServiceProcess, body: dict) -> tuple[int, float, dict]:
    started = time.monotonic()
    resp = proc.post(SERVICE, body, timeout=30)
    return resp.status_code, time.monotonic() - started, resp.json()


def _wait_until(predicate, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_dripping_server_neither_starves_a_healthy_one_nor_outlasts_the_budget(prod, servers):
    healthy, drip = servers
    slow_bodies = [
        hook_request(drip.origin + ("/drip-headers/fhir" if i % 2 else "/stall-body/fhir")) for i in range(SLOW_CALLS)
    ]
    optional_bodies = [hook_request(drip.origin + "/drip-headers/fhir", all_but_care_plans()) for _ in range(2)]
    accepted_before = drip.accepted
    with ThreadPoolExecutor(max_workers=SLOW_CALLS + len(optional_bodies) + HEALTHY_CALLS) as clients:
        slow = [clients.submit(_timed_post, prod, b) for b in slow_bodies + optional_bodies]
        # The healthy calls start once the dripping server holds connections: the fetch capacity the
        # slow calls can take is taken.
        assert _wait_until(lambda: drip.accepted - accepted_before >= 8, 2 * BUDGET_S)
        healthy_calls = [clients.submit(_timed_post, prod, hook_request(healthy.base_url + "/fhir"))
                         for _ in range(HEALTHY_CALLS)]
        slow_results = [f.result(timeout=60) for f in slow]
        healthy_results = [f.result(timeout=60) for f in healthy_calls]
    burst_over = time.monotonic()

    print("healthy calls:", ", ".join(f"{s} {t:.2f} s" for s, t, _ in healthy_results))
    print("slow calls:   ", ", ".join(f"{s} {t:.2f} s" for s, t, _ in slow_results))
    for status, elapsed, body in healthy_results:
        assert status == 200, body
        assert [c["source"]["topic"]["code"] for c in body["cards"]] == ["opioid-review"]  # as with prefetch
        assert elapsed < BUDGET_S + MARGIN_S, f"healthy call took {elapsed:.2f} s"
    for status, elapsed, body in slow_results[:SLOW_CALLS]:
        assert status == 412, body
        assert body["issue"][0]["code"] == "incomplete"
        assert "could not be fetched" in body["issue"][0]["diagnostics"]
        assert elapsed < BUDGET_S + MARGIN_S, f"slow call took {elapsed:.2f} s"
    for status, elapsed, body in slow_results[SLOW_CALLS:]:
        assert status == 200, body
        card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "opioid-review")
        assert card["extension"]["trappa"]["dataGaps"] == ["carePlans"]  # named on the card
        assert elapsed < BUDGET_S + MARGIN_S, f"call with an optional key from the slow server took {elapsed:.2f} s"

    # No fetch thread is left reading a dripping socket: the service closed every connection by the
    # deadline (closing is seen by the dripping server at once).
    assert _wait_until(lambda: drip.open_connections() == 0, 0.5), f"{drip.open_connections()} connections still open"
    assert all(t <= burst_over + 0.5 for t in drip.closed_by_client)
    # And a call after the burst is served at once.
    status, elapsed, _ = _timed_post(prod, hook_request(healthy.base_url + "/fhir"))
    assert status == 200 and elapsed < BUDGET_S / 2, f"{status}, {elapsed:.2f} s"


def test_a_second_burst_finds_the_capacity_free(prod, servers):
    """Slots and threads are given back after a burst: the same burst again behaves the same."""
    healthy, drip = servers
    with ThreadPoolExecutor(max_workers=SLOW_CALLS + HEALTHY_CALLS) as clients:
        slow = [clients.submit(_timed_post, prod, hook_request(drip.origin + "/drip-headers/fhir"))
                for _ in range(SLOW_CALLS)]
        fine = [clients.submit(_timed_post, prod, hook_request(healthy.base_url + "/fhir"))
                for _ in range(HEALTHY_CALLS)]
        slow_results = [f.result(timeout=60) for f in slow]
        fine_results = [f.result(timeout=60) for f in fine]
    assert [s for s, _, _ in fine_results] == [200] * HEALTHY_CALLS
    assert [s for s, _, _ in slow_results] == [412] * SLOW_CALLS
    worst = max(t for _, t, _ in slow_results + fine_results)
    assert worst < BUDGET_S + MARGIN_S, f"{worst:.2f} s"
    assert _wait_until(lambda: drip.open_connections() == 0, 0.5)


# ------------------------------------------------------------------------------------------------
# The fetcher in-process: the deadline and the per-server slots on their own


def test_fetch_ends_at_its_deadline_and_closes_the_connection():
    settings = Settings(dev_mode=True, fhir_allow_http=True, fhir_timeout_s=5.0, fhir_budget_s=0.5)
    fetcher = FhirFetcher(settings)
    with DripServer(interval_s=0.2) as drip:
        started = time.monotonic()
        results = fetcher.fetch_many(drip.origin + "/drip-headers/fhir", None, {"a": "Patient/1", "b": "Flag?x=1"})
        elapsed = time.monotonic() - started
        assert elapsed < 0.5 + 0.2, elapsed
        assert all("budget" in r.error for r in results.values()), results
        # The dripping server sees both connections closed by then: no thread is still reading them.
        assert _wait_until(lambda: drip.open_connections() == 0, 0.3), drip.open_connections()


def test_a_server_with_all_its_slots_taken_waits_at_most_the_budget_and_others_go_on():
    settings = Settings(dev_mode=True, fhir_allow_http=True, fhir_timeout_s=5.0, fhir_budget_s=0.6,
                        fhir_max_per_server=2)
    fetcher = FhirFetcher(settings)
    with DripServer(interval_s=0.2) as drip, ScriptedServer(Healthy()) as healthy:
        with ThreadPoolExecutor(max_workers=2) as callers:
            started = time.monotonic()
            slow = callers.submit(
                fetcher.fetch_many, drip.origin + "/drip-headers/fhir", None, {f"q{i}": f"Flag?i={i}" for i in range(6)}
            )
            assert _wait_until(lambda: drip.accepted >= 2, 0.5)
            fine = fetcher.fetch_many(healthy.base_url + "/fhir", None, {f"q{i}": f"Flag?i={i}" for i in range(6)})
            fine_elapsed = time.monotonic() - started
            slow_results = slow.result(timeout=5)
            slow_elapsed = time.monotonic() - started
        assert all(r.ok for r in fine.values()), fine
        assert fine_elapsed < 0.4, fine_elapsed  # not queued behind the slow server's two slots
        assert slow_elapsed < 0.6 + 0.2, slow_elapsed
        assert drip.accepted == 2  # never more than its two slots at once, and the rest never sent
        errors = sorted(r.error for r in slow_results.values())
        assert all("budget" in e for e in errors), errors
        assert _wait_until(lambda: drip.open_connections() == 0, 0.3)


@pytest.fixture()
def tls_context(tmp_path):
    """A server-side TLS context with a fresh self-signed certificate for 127.0.0.1, and its file."""
    return self_signed(tmp_path)


def test_the_deadline_holds_over_tls(tls_context, monkeypatch):
    """Wrapping a socket for TLS replaces the socket object the connection started with: the deadline
    must still reach the connection."""
    context, cert_file = tls_context
    plain_session = FhirFetcher._session

    def trusting_the_test_certificate(self):
        session = plain_session(self)
        session.verify = str(cert_file)
        return session

    monkeypatch.setattr(FhirFetcher, "_session", trusting_the_test_certificate)
    fetcher = FhirFetcher(Settings(dev_mode=True, fhir_timeout_s=5.0, fhir_budget_s=0.5))
    with DripServer(interval_s=0.2, ssl_context=context) as drip:
        started = time.monotonic()
        results = fetcher.fetch_many(drip.origin + "/drip-headers/fhir", None, {"a": "Patient/1"})
        assert time.monotonic() - started < 0.5 + 0.2
        assert "budget" in results["a"].error, results
        assert drip.accepted == 1  # the TLS handshake was made: this is the deadline, not a TLS error
        assert _wait_until(lambda: drip.open_connections() == 0, 0.5), drip.open_connections()
