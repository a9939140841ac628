"""What the server answers before the app sees a request (cds_service/web/http_server.py) and the Host rule,
against the real server process (gunicorn, production configuration).

A token over about 8 KB used to get gunicorn's HTML 431 page (its header field limit, 8190 bytes, was
below the authenticator's 16 KiB); HTTP/1.1 without Host was answered 200."""
from __future__ import annotations

import json
import secrets
import socket

import pytest
import requests

from cds_service.web.auth import MAX_TOKEN_CHARS, REFUSED
from cds_service.web.http_server import LIMIT_REQUEST_FIELD_SIZE
from tests.support.jwt_keys import JwksServer, SigningKey, claims
from tests.support.service import ServiceProcess

ISS = "https://ehr.limits.test"
HOOK = "/cds-services/trappa-patient-view"


@pytest.fixture(scope="module")
def key():
    return SigningKey("ES384")


@pytest.fixture(scope="module")
def server(key):
    with JwksServer() as jwks:
        jwks.publish("jwks.json", [key])
        env = {"TRAPPA_TRUSTED_ISSUERS": json.dumps([{"iss": ISS, "jwks_url": jwks.url("jwks.json")}])}
        with ServiceProcess(env=env, dev=False, workers=1) as proc:
            yield proc


def body() -> dict:
    from conftest import load_fixture

    return load_fixture("requests/patient-view.anna-testsson.json")


def jwt_like(chars: int) -> str:
    """Three base64url segments, ``chars`` characters in all, that are not a valid token."""
    part = (chars - 2) // 3
    segs = [secrets.token_urlsafe(part)[:part] for _ in range(3)]
    segs[2] += "A" * (chars - 2 - 3 * part)
    return ".".join(segs)


def outcome(resp: requests.Response, status: int) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:200])
    assert resp.headers["Content-Type"].startswith("application/fhir+json"), resp.headers["Content-Type"]
    data = resp.json()
    assert data["resourceType"] == "OperationOutcome"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    return data


def raw(server: ServiceProcess, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                length = next((int(ln.split(b":")[1]) for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")), None)
                if length is not None and len(rest) >= length:
                    break
        return out


def test_a_valid_12_kb_token_reaches_the_authenticator_and_is_accepted(server, key):
    token = key.token(claims(ISS, server.base_url + HOOK, padding="x" * 8_900))
    assert 12_000 < len(token) < MAX_TOKEN_CHARS
    resp = server.post(HOOK, body(), headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and "cards" in resp.json()


def test_a_bad_12_kb_token_is_a_401_operation_outcome(server):
    resp = server.post(HOOK, body(), headers={"Authorization": f"Bearer {jwt_like(12_288)}"})
    assert outcome(resp, 401)["issue"][0]["diagnostics"] == REFUSED
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_just_over_the_limit_is_refused_by_the_authenticator(server):
    token = jwt_like(MAX_TOKEN_CHARS + 1)
    assert len("Authorization: Bearer ") + len(token) + 2 < LIMIT_REQUEST_FIELD_SIZE
    outcome(server.post(HOOK, body(), headers={"Authorization": f"Bearer {token}"}), 401)
    assert "token too long" in server.log()


def test_a_header_over_the_field_limit_is_a_431_operation_outcome_not_html(server):
    token = jwt_like(LIMIT_REQUEST_FIELD_SIZE + 100)
    resp = server.post(HOOK, body(), headers={"Authorization": f"Bearer {token}"})
    data = outcome(resp, 431)
    assert "html" not in resp.text.lower()
    assert str(MAX_TOKEN_CHARS) in data["issue"][0]["diagnostics"]
    assert resp.headers["Access-Control-Allow-Origin"] == "*"  # a browser-based EHR can read it
    for segment in token.split("."):
        assert segment[:40] not in server.log()


def test_gunicorns_refusals_log_no_request_text(server):
    """A header line without a colon used to be logged whole: here it holds a token."""
    token = jwt_like(200)
    reply = raw(server, f"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization Bearer {token}\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b'"resourceType": "OperationOutcome"' in reply and b"InvalidHeader" in reply
    log = server.log()
    assert "invalid request from 127.0.0.1: InvalidHeader (answered 400)" in log
    assert token[:40] not in log


def test_a_request_line_over_the_limit_is_a_414_operation_outcome(server):
    outcome(server.get("/cds-services/" + "x" * 5000), 414)


def test_http_1_1_without_host_is_400(server):
    reply = raw(server, b"GET /health HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:100]
    assert b"without a Host header" in reply and b"OperationOutcome" in reply
    # also on the service endpoints, before authentication
    reply = raw(server, f"POST {HOOK} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}".encode())
    assert reply.startswith(b"HTTP/1.1 400 ") and b"without a Host header" in reply


@pytest.mark.parametrize("hosts", [[b"a.example", b"b.example"], [b"a.example/evil"], [b"a b"], [b""]])
def test_a_repeated_or_malformed_host_is_400(server, hosts):
    head = b"".join(b"Host: " + h + b"\r\n" for h in hosts)
    reply = raw(server, b"GET /health HTTP/1.1\r\n" + head + b"Connection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:200]
    assert b"OperationOutcome" in reply


@pytest.mark.parametrize("host", [b"127.0.0.1:8080", b"cds.region.example", b"[::1]:8080", b"localhost"])
def test_ordinary_hosts_and_http_1_0_without_host_are_served(server, host):
    assert raw(server, b"GET /health HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200 ")
    assert raw(server, b"GET /health HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200 ")
