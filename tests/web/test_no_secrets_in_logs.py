"""Log and storage hygiene: a full run at DEBUG level leaks neither tokens nor the patient's name.

One real server process (gunicorn, production configuration, EHR authentication on, log level DEBUG)
talks to the real FHIR test server (Medplum) on the fallback path. We make every kind of call — hooks
with prefetch and with fallback fetches carrying an access token, feedback with a free-text comment,
refused JWTs of every flavour, a refused fhirServer, a fallback that runs out of time — then stop the
server and search everything it wrote (its log file, and its database) for:

- the FHIR access tokens,
- every JWT sent, and every segment of each (header, payload, signature),
- the patient's name.
"""
from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path

import pytest

from tests.support.jwt_keys import JwksServer, SigningKey, claims, hmac_token, unsigned_token
from tests.support.service import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
PATIENT_ID = "anna-testsson"
# A name that appears nowhere else (the fixture's id contains its own name, so rename the patient).
GIVEN, FAMILY = "Sigrid", f"Hemligsdotter{uuid.uuid4().hex[:6]}"
ISS = "https://ehr.logtest"


def patient_bundle() -> dict:
    data = json.loads((ROOT / "fixtures/patients/anna-testsson.json").read_text(encoding="utf-8"))
    for entry in data["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["name"] = [{"given": [GIVEN], "family": FAMILY, "text": f"{GIVEN} {FAMILY}"}]
    return data


def fixture_request(name: str) -> dict:
    return json.loads((ROOT / "fixtures/requests" / name).read_text(encoding="utf-8"))


def with_renamed_patient(body: dict) -> dict:
    body = copy.deepcopy(body)
    patient = (body.get("prefetch") or {}).get("patient")
    if isinstance(patient, dict):
        patient["name"] = [{"given": [GIVEN], "family": FAMILY, "text": f"{GIVEN} {FAMILY}"}]
    return body


def fhir_auth(token: str) -> dict:
    return {"access_token": token, "token_type": "Bearer", "expires_in": 300,
            "scope": "patient/*.read", "subject": "trappa"}


@pytest.fixture(scope="module")
def run(fhir_server, tmp_path_factory):
    """Everything the full run sent and what the server wrote: (secrets, log text, db bytes, notes)."""
    fhir_server.reset()
    fhir_server.set_delay(0)
    fhir_server.load(patient_bundle())
    key = SigningKey("ES384")
    with JwksServer() as jwks:
        jwks.publish("jwks.json", [key])
        env = {
            "TRAPPA_LOG_LEVEL": "DEBUG",
            "TRAPPA_TRUSTED_ISSUERS": json.dumps([{"iss": ISS, "jwks_url": jwks.url("jwks.json")}]),
            "TRAPPA_FHIR_ALLOWLIST": fhir_server.root_url,
            "TRAPPA_FHIR_ALLOW_HTTP": "1",
            "TRAPPA_ALLOW_CLOCK_OVERRIDE": "1",
            "TRAPPA_FHIR_BUDGET": "1.0",
        }
        proc = ServiceProcess(env=env, dev=False, workers=2)
        proc.start()
        jwts: list[str] = []
        access_tokens: list[str] = []
        statuses: dict[str, int] = {}

        def jwt_for(path: str, **over) -> str:
            token = key.token(claims(ISS, proc.base_url + path, **over))
            jwts.append(token)
            return token

        def post(label: str, path: str, body, token: str | None):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            statuses[label] = proc.post(path, body, headers=headers, timeout=15).status_code

        try:
            svc = "/cds-services/trappa-patient-view"
            sign = "/cds-services/trappa-order-sign"
            # discovery
            statuses["discovery"] = proc.get("/cds-services", headers={
                "Authorization": f"Bearer {jwt_for('/cds-services')}"}).status_code
            # hooks with full prefetch
            post("prefetch", svc, with_renamed_patient(fixture_request("patient-view.anna-testsson.json")), jwt_for(svc))
            post("prefetch-sign", sign, with_renamed_patient(fixture_request("order-sign.anna-testsson.json")),
                 jwt_for(sign))
            # hooks with fallback fetches carrying an access token
            for name, path in (("patient-view.anna-testsson.no-prefetch.json", svc),
                               ("order-sign.anna-testsson.no-prefetch.json", sign)):
                body = fixture_request(name)
                body["fhirServer"] = fhir_server.base_url
                access = "fhir-access-" + uuid.uuid4().hex
                access_tokens.append(access)
                body["fhirAuthorization"] = fhir_auth(access)
                fhir_server.clear_log()
                post("fallback " + name, path, body, jwt_for(path))
                statuses["fallback requests seen by FHIR"] = len(fhir_server.requests_log())
                assert {e["authorization"] for e in fhir_server.requests_log()} == {f"Bearer {access}"}
            # a fallback that runs out of time (FHIR server slower than the budget)
            body = fixture_request("patient-view.anna-testsson.no-prefetch.json")
            body["fhirServer"] = fhir_server.base_url
            access = "fhir-access-" + uuid.uuid4().hex
            access_tokens.append(access)
            body["fhirAuthorization"] = fhir_auth(access)
            fhir_server.set_delay(1500)
            post("fallback timeout", svc, body, jwt_for(svc))
            fhir_server.set_delay(0)
            # a fhirServer that is refused
            body["fhirServer"] = "http://169.254.169.254/fhir"
            post("refused fhirServer", svc, body, jwt_for(svc))
            # feedback with a free-text comment naming the patient
            fb = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden",
                                "outcomeTimestamp": "2026-11-23T10:00:00Z",
                                "overrideReason": {"reason": {"code": "x", "system": "urn:test"},
                                                   "userComment": f"{GIVEN} {FAMILY} vill vänta"}}]}
            post("feedback", svc + "/feedback", fb, jwt_for(svc + "/feedback"))
            # refused JWTs of every flavour
            good = with_renamed_patient(fixture_request("patient-view.anna-testsson.json"))
            replayed = jwt_for(svc)
            post("replay-1", svc, good, replayed)
            post("replay-2", svc, good, replayed)
            post("expired", svc, good, jwt_for(svc, exp=int(time.time() - 600)))
            post("wrong aud", svc, good, jwt_for(sign))
            none_token = unsigned_token(claims(ISS, proc.base_url + svc), key.kid)
            hmac = hmac_token(claims(ISS, proc.base_url + svc), key.public_pem(), key.kid)
            jwts.extend([none_token, hmac])
            post("alg none", svc, good, none_token)
            post("hmac", svc, good, hmac)
            post("access token as JWT", svc, good, access_tokens[0])
            post("garbage", svc, good, "x" * 50)
        finally:
            proc.stop()
        log = proc.log()
        db_path = Path(proc.database_url.removeprefix("sqlite:///"))
        db = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
        yield {"jwts": jwts, "access": access_tokens, "log": log, "db": db, "statuses": statuses}
        proc.cleanup()


def test_the_run_exercised_every_path(run):
    s = run["statuses"]
    assert s["discovery"] == 200 and s["prefetch"] == 200 and s["prefetch-sign"] == 200
    assert s["fallback patient-view.anna-testsson.no-prefetch.json"] == 200
    assert s["fallback order-sign.anna-testsson.no-prefetch.json"] == 200
    assert s["fallback requests seen by FHIR"] >= 6  # the fallback really went to the FHIR server
    assert s["fallback timeout"] == 412
    assert s["refused fhirServer"] == 400
    assert s["feedback"] == 200 and s["replay-1"] == 200
    for refused in ("replay-2", "expired", "wrong aud", "alg none", "hmac", "access token as JWT", "garbage"):
        assert s[refused] == 401, refused
    # DEBUG really was on, and the refusals were logged (with reasons, not tokens)
    assert " DEBUG " in run["log"]
    assert "jti replayed" in run["log"] and "algorithm 'none' not allowed" in run["log"]


def test_no_access_token_in_the_log_or_database(run):
    for token in run["access"]:
        assert token not in run["log"]
        assert token.encode() not in run["db"]


def test_no_jwt_nor_any_of_its_segments_in_the_log_or_database(run):
    for token in run["jwts"]:
        assert token not in run["log"]
        for segment in token.split("."):
            if segment:
                assert segment not in run["log"], segment[:20]
                assert segment.encode() not in run["db"]


def test_no_patient_name_in_the_log_or_database(run):
    for text in (FAMILY, GIVEN):
        assert text.lower() not in run["log"].lower()
        assert text.encode() not in run["db"]
