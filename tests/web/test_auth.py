"""EHR authentication against the real server process (gunicorn), with keys generated in this run and
JWKS documents served by a real local HTTP server (tests/support/jwt_keys.py).

The JWT rejection matrix (CDS Hooks 2.0 §security), rotation, fail-closed JWKS, the jti replay guard across two server
processes sharing one database, and what a refusal looks like (401, one OperationOutcome for every
reason, the reason in the log, the token nowhere)."""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
import requests

from cds_service.web.auth import (
    REFUSED,
    AuthConfigError,
    AuthFailure,
    _public_key,
    parse_jwks,
    parse_trusted_issuers,
)
from tests.support.jwt_keys import JwksServer, SigningKey, claims, hmac_token, unsigned_token
from tests.support.service import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "/cds-services/trappa-patient-view"
FEEDBACK = SERVICE + "/feedback"

ISS = "https://ehr.test"  # main issuer: ES384, ES256, RS384, RS256 keys; an extra allowed jku
ISS_ROT = "https://rotating.test"  # key rotation
ISS_KIDS = "https://kids.test"  # unknown-kid refresh and its rate limit
ISS_DOWN = "https://down.test"  # JWKS answers 500: fail closed
ISS_FILE = "https://file.test"  # JWKS from a local file
ISS_TENANT = "https://tenant.test"  # tenant-bound issuer
TENANT = "region-test"


def request_body() -> dict:
    """A valid patient-view request with full prefetch (the repository's fixture)."""
    return json.loads((ROOT / "fixtures/requests/patient-view.anna-testsson.json").read_text(encoding="utf-8"))


def feedback_body() -> dict:
    return {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-23T10:00:00Z",
                "overrideReason": {"reason": {"code": "patient-declined", "system": "urn:test"}},
            }
        ]
    }


@pytest.fixture(scope="module")
def keys():
    return {
        "es384": SigningKey("ES384"),
        "es256": SigningKey("ES256"),
        "rs384": SigningKey("RS384"),
        "rs256": SigningKey("RS256"),
        "alt": SigningKey("ES384"),  # only in the extra (allowed) jku document
        "rogue": SigningKey("ES384"),  # only in a JWKS we never trust
        "rot1": SigningKey("ES384"),
        "rot2": SigningKey("ES384"),
        "kids": SigningKey("ES384"),
        "file": SigningKey("ES384"),
        "tenant": SigningKey("ES384"),
    }


@pytest.fixture(scope="module")
def jwks(keys):
    with JwksServer() as server:
        server.publish("main.json", [keys["es384"], keys["es256"], keys["rs384"], keys["rs256"]])
        server.publish("alt.json", [keys["alt"]])
        server.publish("rogue.json", [keys["rogue"]])
        server.publish("rotate.json", [keys["rot1"]])
        server.publish("kids.json", [keys["kids"]])
        server.publish("tenant.json", [keys["tenant"]])
        server.fail("down.json", 500)
        yield server


def issuers_config(jwks: JwksServer, keys, tmp: Path) -> str:
    jwks_file = tmp / "file-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [keys["file"].jwk()]}), encoding="utf-8")
    return json.dumps(
        [
            {"iss": ISS, "jwks_url": jwks.url("main.json"), "jku": [jwks.url("alt.json")]},
            {"iss": ISS_ROT, "jwks_url": jwks.url("rotate.json")},
            {"iss": ISS_KIDS, "jwks_url": jwks.url("kids.json")},
            {"iss": ISS_DOWN, "jwks_url": jwks.url("down.json")},
            {"iss": ISS_FILE, "jwks_file": str(jwks_file)},
            {"iss": ISS_TENANT, "jwks_url": jwks.url("tenant.json"), "tenant": TENANT},
        ]
    )


@pytest.fixture(scope="module")
def server(jwks, keys, tmp_path_factory):
    """Production configuration (not development mode), one worker so that JWKS fetch counts are
    exact; the jti guard across processes is tested with two processes below."""
    tmp = tmp_path_factory.mktemp("auth")
    env = {"TRAPPA_TRUSTED_ISSUERS": issuers_config(jwks, keys, tmp), "TRAPPA_LOG_LEVEL": "DEBUG"}
    with ServiceProcess(env=env, dev=False, workers=1) as proc:
        yield proc


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def call(server: ServiceProcess, token: str | None, path: str = SERVICE, body=None) -> requests.Response:
    headers = bearer(token) if token is not None else {}
    return server.post(path, request_body() if body is None else body, headers=headers)


def aud(server: ServiceProcess, path: str = SERVICE) -> str:
    return server.base_url + path


def assert_refused(resp: requests.Response) -> None:
    assert resp.status_code == 401, (resp.status_code, resp.text[:300])
    # a refusal carries no detail: the same OperationOutcome whatever the reason
    assert resp.headers["Content-Type"] == "application/fhir+json"
    assert resp.json() == {"resourceType": "OperationOutcome",
                           "issue": [{"severity": "error", "code": "login", "diagnostics": REFUSED}]}
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    # CORS and security headers on refusals too, so browser-based EHRs see the status
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


# ------------------------------------------------------------------------------------------------
# Accepted tokens


@pytest.mark.parametrize("name", ["es384", "es256", "rs384", "rs256"])
def test_valid_token_of_each_allowed_algorithm_is_accepted(server, keys, name):
    key = keys[name]
    resp = call(server, key.token(claims(ISS, aud(server))))
    assert resp.status_code == 200, resp.text[:300]
    assert isinstance(resp.json()["cards"], list)


def test_discovery_and_feedback_need_and_accept_a_token(server, keys):
    assert_refused(server.get("/cds-services"))
    resp = server.get("/cds-services", headers=bearer(keys["es384"].token(claims(ISS, aud(server, "/cds-services")))))
    assert resp.status_code == 200
    assert {s["id"] for s in resp.json()["services"]} >= {"trappa-patient-view"}

    assert_refused(call(server, None, FEEDBACK, feedback_body()))
    resp = call(server, keys["es384"].token(claims(ISS, aud(server, FEEDBACK))), FEEDBACK, feedback_body())
    assert resp.status_code == 200, resp.text[:300]
    assert resp.json() == {"stored": 1}


def test_allow_listed_jku_is_used_for_the_key(server, keys, jwks):
    before = jwks.hits("alt.json")
    token = keys["alt"].token(claims(ISS, aud(server)), jku=jwks.url("alt.json"))
    assert call(server, token).status_code == 200
    assert jwks.hits("alt.json") == before + 1  # the key came from the jku document


def test_jwks_file_issuer(server, keys):
    assert call(server, keys["file"].token(claims(ISS_FILE, aud(server)))).status_code == 200


def test_tenant_must_match_when_the_issuer_has_one(server, keys):
    key = keys["tenant"]
    assert call(server, key.token(claims(ISS_TENANT, aud(server), tenant=TENANT))).status_code == 200
    assert_refused(call(server, key.token(claims(ISS_TENANT, aud(server)))))
    assert_refused(call(server, key.token(claims(ISS_TENANT, aud(server), tenant="other-region"))))


def test_audience_may_be_a_list_containing_the_endpoint(server, keys):
    token = keys["es384"].token(claims(ISS, [aud(server), "https://elsewhere.example/x"]))
    assert call(server, token).status_code == 200


def test_small_clock_skew_is_tolerated(server, keys):
    # iat 30 s in the future and exp 30 s past are both within the 60 s skew.
    now = time.time()
    token = keys["es384"].token(claims(ISS, aud(server), iat=int(now + 30), exp=int(now - 30)))
    assert call(server, token).status_code == 200


# ------------------------------------------------------------------------------------------------
# The rejection matrix


def _matrix(server: ServiceProcess, keys, jwks) -> dict[str, dict]:
    """name -> {"headers": ..., "path": ...}; each builds a fresh token at call time."""
    es = keys["es384"]
    good = lambda **kw: claims(ISS, aud(server), **kw)  # noqa: E731
    now = time.time()
    return {
        "missing token": {"headers": {}},
        "not bearer": {"headers": {"Authorization": "Basic " + "dXNlcjpwYXNz"}},
        "empty bearer": {"headers": {"Authorization": "Bearer "}},
        "not a JWT": {"headers": bearer("not.a.jwt")},
        "bad signature (other key, same kid)": {"headers": bearer(keys["rogue"].token(good(), kid=es.kid))},
        "tampered payload": {"headers": bearer(_tamper(es.token(good())))},
        "alg not allowed (PS384)": {"headers": bearer(keys["rs384"].token(good(), alg="PS384"))},
        "alg not allowed (ES512)": {"headers": bearer(SigningKey("ES512", kid=es.kid).token(good()))},
        "alg does not fit key (RS384 on an EC kid)": {"headers": bearer(keys["rs384"].token(good(), kid=es.kid))},
        "alg none": {"headers": bearer(unsigned_token(good(), es.kid))},
        "HMAC with the public key as secret": {"headers": bearer(hmac_token(good(), es.public_pem(), es.kid))},
        "HMAC HS384": {"headers": bearer(hmac_token(good(), b"secret", es.kid, "HS384"))},
        "wrong aud (other service)": {
            "headers": bearer(es.token(claims(ISS, aud(server, "/cds-services/trappa-order-sign"))))
        },
        "wrong aud (other host)": {
            "headers": bearer(es.token(claims(ISS, "https://other.example" + SERVICE)))
        },
        "aud missing": {"headers": bearer(es.token(claims(ISS, aud(server), aud=None)))},
        "expired": {"headers": bearer(es.token(good(exp=int(now - 120))))},
        "exp missing": {"headers": bearer(es.token(good(exp=None)))},
        "exp too far ahead (2 h)": {"headers": bearer(es.token(good(exp=int(now + 7200))))},
        "future iat": {"headers": bearer(es.token(good(iat=int(now + 300))))},
        "iat missing": {"headers": bearer(es.token(good(iat=None)))},
        "jti missing": {"headers": bearer(es.token(good(jti=None)))},
        "jti not a string": {"headers": bearer(es.token(good(jti=12345)))},
        "unknown issuer": {"headers": bearer(es.token(claims("https://evil.example", aud(server))))},
        "issuer missing": {"headers": bearer(es.token(claims(ISS, aud(server), iss=None)))},
        "unknown kid": {"headers": bearer(es.token(good(), kid="no-such-kid"))},
        "kid missing": {"headers": bearer(es.token(good(), kid=""))},
        "jku not allowed": {"headers": bearer(keys["rogue"].token(good(), jku=jwks.url("rogue.json")))},
        "JWKS unavailable (fail closed)": {
            "headers": bearer(es.token(claims(ISS_DOWN, aud(server))))
        },
    }


def _tamper(token: str) -> str:
    import base64

    head, payload, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["iss"] = ISS  # same issuer, but now with a changed claim
    data["jti"] = "tampered-" + data["jti"]
    new = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{head}.{new}.{sig}"


MATRIX_CASES = [
    "missing token", "not bearer", "empty bearer", "not a JWT", "bad signature (other key, same kid)",
    "tampered payload", "alg not allowed (PS384)", "alg not allowed (ES512)",
    "alg does not fit key (RS384 on an EC kid)", "alg none", "HMAC with the public key as secret", "HMAC HS384",
    "wrong aud (other service)", "wrong aud (other host)", "aud missing", "expired", "exp missing",
    "exp too far ahead (2 h)", "future iat", "iat missing", "jti missing", "jti not a string",
    "unknown issuer", "issuer missing", "unknown kid", "kid missing", "jku not allowed",
    "JWKS unavailable (fail closed)",
]


@pytest.mark.parametrize("case", MATRIX_CASES)
def test_rejection_matrix(server, keys, jwks, case):
    spec = _matrix(server, keys, jwks)[case]
    resp = server.post(SERVICE, request_body(), headers=spec["headers"])
    assert_refused(resp)


def test_matrix_is_complete():
    # Every case of the list is in the matrix (guards against a case silently dropped).
    required = {"missing token", "bad signature (other key, same kid)", "alg not allowed (PS384)", "alg none",
                "HMAC with the public key as secret", "wrong aud (other service)", "expired", "future iat",
                "unknown issuer", "unknown kid", "jku not allowed"}
    assert required <= set(MATRIX_CASES)


def test_jku_not_allowed_is_never_fetched(server, keys, jwks):
    before = jwks.hits("rogue.json")
    token = keys["rogue"].token(claims(ISS, aud(server)), jku=jwks.url("rogue.json"))
    assert_refused(call(server, token))
    assert jwks.hits("rogue.json") == before == 0  # refused before any connection to the jku


def test_replayed_jti_is_refused(server, keys):
    token = keys["es384"].token(claims(ISS, aud(server)))
    assert call(server, token).status_code == 200
    assert_refused(call(server, token))
    # The same jti under a new signature (new exp) is still a replay.
    first = claims(ISS, aud(server))
    assert call(server, keys["es384"].token(first)).status_code == 200
    again = dict(first, exp=first["exp"] + 10)
    assert_refused(call(server, keys["es256"].token(again)))


def test_refused_token_does_not_burn_its_jti(server, keys):
    # A token refused for its audience must not have had its jti remembered (else an attacker who
    # saw a jti could block the real token): the same jti with the right aud is accepted.
    jti = uuid.uuid4().hex
    assert_refused(call(server, keys["es384"].token(claims(ISS, "https://other.example/x", jti=jti))))
    assert call(server, keys["es384"].token(claims(ISS, aud(server), jti=jti))).status_code == 200


# ------------------------------------------------------------------------------------------------
# JWKS caching, rotation, unknown kid


def test_unknown_kid_triggers_one_rate_limited_refresh(server, keys, jwks):
    key = keys["kids"]
    assert jwks.hits("kids.json") == 0
    assert call(server, key.token(claims(ISS_KIDS, aud(server)))).status_code == 200
    assert jwks.hits("kids.json") == 1  # cold cache: one fetch
    assert call(server, key.token(claims(ISS_KIDS, aud(server)))).status_code == 200
    assert jwks.hits("kids.json") == 1  # cached
    assert_refused(call(server, key.token(claims(ISS_KIDS, aud(server)), kid="unknown-1")))
    assert jwks.hits("kids.json") == 2  # one refresh for the unknown kid
    for n in range(3):
        assert_refused(call(server, key.token(claims(ISS_KIDS, aud(server)), kid=f"unknown-{n + 2}")))
    assert jwks.hits("kids.json") == 2  # rate-limited: random kids cannot hammer the issuer
    assert call(server, key.token(claims(ISS_KIDS, aud(server)))).status_code == 200


def test_key_rotation_is_followed_after_one_refresh(server, keys, jwks):
    assert call(server, keys["rot1"].token(claims(ISS_ROT, aud(server)))).status_code == 200
    fetched = jwks.hits("rotate.json")
    assert fetched == 1
    jwks.publish("rotate.json", [keys["rot2"]])  # the EHR rotates: new key, new kid, old key gone
    assert call(server, keys["rot2"].token(claims(ISS_ROT, aud(server)))).status_code == 200
    assert jwks.hits("rotate.json") == fetched + 1


def test_unavailable_jwks_fails_closed_and_is_not_hammered(server, keys, jwks):
    before = jwks.hits("down.json")
    for _ in range(3):
        assert_refused(call(server, keys["es384"].token(claims(ISS_DOWN, aud(server)))))
    # The first failure may fetch once (an earlier test may have already); then retries wait.
    assert jwks.hits("down.json") <= max(before, 1)


# ------------------------------------------------------------------------------------------------
# What stays open, what the log says


def test_preflight_needs_no_token(server):
    resp = requests.options(
        server.base_url + SERVICE,
        headers={"Origin": "https://ehr.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"},
        timeout=5,
    )
    assert resp.status_code == 204
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]


def test_health_says_only_whether_the_service_can_serve(server):
    """/health is open: it used to name the trusted issuers, the authentication state and devMode.
    Those are in the start-up log."""
    resp = server.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
    assert ISS not in resp.text
    assert "EHR authentication required; trusted issuers: " in server.log()


def test_refusal_reasons_are_logged_without_the_token(server, keys):
    token = unsigned_token(claims(ISS, aud(server)), keys["es384"].kid)
    expired = keys["es384"].token(claims(ISS, aud(server), exp=int(time.time() - 600)))
    assert_refused(call(server, token))
    assert_refused(call(server, expired))
    time.sleep(0.2)
    log = server.log()
    assert "EHR authentication refused for POST /cds-services/trappa-patient-view: algorithm 'none' not allowed" in log
    assert "expired" in log
    for tok in (token, expired):
        for part in tok.split("."):
            if part:
                assert part not in log


# ------------------------------------------------------------------------------------------------
# Replicas sharing one database; public base URL behind a proxy


def test_jti_replay_is_refused_across_two_processes_sharing_a_database(jwks, keys, tmp_path):
    """Two replicas behind one proxy (same public URL), one SQLite file: a token used on one is a
    replay on the other."""
    public = "https://trappa.region.example"
    db = f"sqlite:///{tmp_path}/shared.sqlite3"
    env = {"TRAPPA_TRUSTED_ISSUERS": issuers_config(jwks, keys, tmp_path), "TRAPPA_PUBLIC_BASE_URL": public}
    a = ServiceProcess(env=env, dev=False, database_url=db, workers=1)
    b = ServiceProcess(env=env, dev=False, database_url=db, workers=1)
    # One after the other: started at the same moment on a fresh database, the two processes race to
    # create the tables (storage.Store's create_all; reported, not ours to fix here).
    a.start()
    try:
        b.start()
        token = keys["es384"].token(claims(ISS, public + SERVICE))
        assert call(a, token).status_code == 200
        assert_refused(call(b, token))
        # b accepts fresh tokens: the refusal above was the replay, not b's configuration
        assert call(b, keys["es384"].token(claims(ISS, public + SERVICE))).status_code == 200
        # With a public base URL the audience is that URL, not the address the process listens on.
        assert_refused(call(a, keys["es384"].token(claims(ISS, a.base_url + SERVICE))))
        assert "jti replayed" in b.log()
    finally:
        a.cleanup()
        b.cleanup()


def test_no_trusted_issuers_refuses_everything(keys):
    with ServiceProcess(env={}, dev=False, workers=1) as proc:
        assert_refused(call(proc, keys["es384"].token(claims(ISS, aud(proc)))))
        assert "no trusted issuers are configured" in proc.log()


def test_development_mode_turns_authentication_off_loudly(service):
    # the session's development-mode server (tests/conftest.py)
    assert call(service, None).status_code == 200
    assert service.get("/health").json() == {"status": "ok"}
    assert "DEVELOPMENT MODE: EHR authentication is OFF" in service.log()


# ------------------------------------------------------------------------------------------------
# Configuration parsing (in-process: no server needed)


def test_issuers_config_from_a_file_with_relative_jwks_file(tmp_path, keys):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys/ehr.json").write_text(json.dumps({"keys": [keys["es384"].jwk()]}))
    cfg = tmp_path / "issuers.json"
    cfg.write_text(json.dumps([{"iss": ISS, "jwks_file": "keys/ehr.json", "tenant": "t1"}]))
    issuers = parse_trusted_issuers(str(cfg))
    assert issuers[ISS].jwks_file == str((tmp_path / "keys/ehr.json").resolve())
    assert issuers[ISS].tenant == "t1"


@pytest.mark.parametrize(
    "config",
    [
        "not json [",
        '{"iss": 1, "jwks_url": "https://x/j"}',
        '[{"iss": "a"}]',  # no key source
        '[{"iss": "a", "jwks_url": "https://x/j", "jwks_file": "f"}]',  # two sources
        '[{"iss": "a", "jwks_url": "http://ehr.example/jwks"}]',  # plain http off loopback
        '[{"iss": "a", "jwks_url": "https://x/j", "jku": ["http://evil.example/j"]}]',
        '[{"iss": "a", "jwks-url": "https://x/j"}]',  # typo: unknown field
        '[{"iss": "a", "jwks_url": "https://x/j"}, {"iss": "a", "jwks_url": "https://y/j"}]',
        '[{"iss": "a", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}}]',  # HMAC key only
        "/no/such/issuers.json",
    ],
)
def test_malformed_issuer_configuration_is_refused(config):
    with pytest.raises(AuthConfigError):
        parse_trusted_issuers(config)


def test_malformed_issuer_configuration_stops_the_server():
    proc = ServiceProcess(env={"TRAPPA_TRUSTED_ISSUERS": '[{"iss": "a"}]'}, dev=False, workers=1)
    with pytest.raises(RuntimeError):
        proc.start(timeout=15)
    proc.cleanup()


def test_documented_sandbox_jwks_is_one_usable_p384_key():
    """docs/security.md quotes the CDS Hooks sandbox's public JWKS as a test-only issuer: it must be
    valid configuration (one ES384 key on P-384 under the documented kid)."""
    text = (ROOT / "docs/security.md").read_text(encoding="utf-8")
    block = text.split("<!-- sandbox-jwks -->", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    jwks_doc = json.loads(block)
    issuers = parse_trusted_issuers(json.dumps([{"iss": "https://sandbox.cds-hooks.org", "jwks": jwks_doc}]))
    (issuer,) = issuers.values()
    keys = parse_jwks(issuer.jwks)
    assert list(keys) == ["44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"]
    key = _public_key(keys["44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"], "ES384")
    assert key.curve.name == "secp384r1"
    with pytest.raises(AuthFailure):
        _public_key(keys["44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"], "ES256")  # pinned to ES384


def test_random_tokens_are_refused_never_a_500(server, keys):
    """Hostile Authorization headers: random JSON in header and payload (claims of every type, known
    and unknown issuers and kids), random signatures, random bytes — always a bare 401."""
    import base64

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                        st.sampled_from([ISS, keys["es384"].kid, "ES384", "none", "HS256", aud(server)]))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
    header = st.fixed_dictionaries({}, optional={"alg": values, "kid": values, "jku": values, "typ": values})
    payload = st.fixed_dictionaries({}, optional={k: values for k in ("iss", "aud", "exp", "iat", "jti", "nbf", "tenant")})
    token = st.one_of(
        st.builds(lambda h, p, sig: f"{b64(json.dumps(h).encode())}.{b64(json.dumps(p).encode())}.{b64(sig)}",
                  header, payload, st.binary(max_size=120)),
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=200),
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=os.environ.get("CI", "").lower() == "true")
    @given(token)
    def run(tok):
        assert_refused(call(server, tok))

    run()
