"""Pinned ``jku`` keys: trusting the CDS Hooks sandbox (or any EHR that always sends a ``jku``) with
keys from the configuration, never fetched.

The sandbox signs ES384 tokens with a ``kid`` and always ``jku:
https://sandbox.cds-hooks.org/.well-known/jwks.json``. The server here runs the configuration
documented in docs/security.md, with a key generated in this run in place of the sandbox's public one,
and with all network access off: a ``sitecustomize`` in the server process refuses (and writes down)
every name lookup that is not loopback, so a fetch of the sandbox's JWKS could not succeed and would
be seen. Loopback JWKS URLs are served by a real local server that counts its requests."""
from __future__ import annotations

import json
import os
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import requests

from cds_service.web.auth import (
    REFUSED,
    AuthConfigError,
    Authenticator,
    AuthFailure,
    _public_key,
    parse_jwks,
    parse_trusted_issuers,
)
from cds_service.web.config import Settings
from tests.support.jwt_keys import JwksServer, SigningKey, claims
from tests.support.service import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
OTHER_ISS = "https://fetching.test"  # lists, to fetch, a URL the sandbox issuer pins
SERVICE = "/cds-services/trappa-patient-view"
FEEDBACK = SERVICE + "/feedback"

NO_NETWORK = '''
"""Test only: no name lookups off loopback in this process (each attempt is written down)."""
import os
import socket

_real_getaddrinfo = socket.getaddrinfo
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "", None}


def _getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name not in _LOOPBACK:
        with open(os.environ["TRAPPA_TEST_NETWORK_LOG"], "a", encoding="utf-8") as fh:
            fh.write(f"{name}\\n")
        raise socket.gaierror(socket.EAI_NONAME, "network access is off in this test")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
'''


def documented_config() -> list:
    """The offline sandbox configuration exactly as docs/security.md shows it."""
    text = (ROOT / "docs/security.md").read_text(encoding="utf-8")
    block = text.split("<!-- sandbox-issuers -->", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    return json.loads(block)


def sandbox_token(key: SigningKey, aud: str, *, jku: str | None = SANDBOX_JKU, kid: str | None = None) -> str:
    """A JWT as the sandbox signs one (jwt-generator.js): ES384, typ JWT, kid, jku; iss, aud = the exact
    URL, exp = iat + 300, a fresh jti."""
    assert key.alg == "ES384"
    now = int(time.time())
    body = claims(SANDBOX_ISS, aud, now=now, lifetime=300, jti=str(uuid.uuid4()))
    assert body["exp"] == body["iat"] + 300
    return key.token(body, kid=kid, jku=jku)


def request_body() -> dict:
    return json.loads((ROOT / "fixtures/requests/patient-view.anna-testsson.json").read_text(encoding="utf-8"))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(resp: requests.Response) -> None:
    assert resp.status_code == 401, (resp.status_code, resp.text[:300])
    assert resp.json()["issue"][0]["diagnostics"] == REFUSED  # as every refusal (docs/security.md): no detail
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.fixture(scope="module")
def keys():
    return {
        "sandbox": SigningKey("ES384"),  # stands in for the sandbox's key, pinned for its jku
        "unpinned": SigningKey("ES384"),  # a kid the pinned set does not hold
        "local": SigningKey("ES384"),  # pinned for a loopback jku
        "served": SigningKey("ES384"),  # what the loopback JWKS server publishes
    }


@pytest.fixture(scope="module")
def jwks(keys):
    with JwksServer() as server:
        # If any of these were fetched, the key it serves would verify the token: only the hit
        # counts and the refusals show that they were not.
        server.publish("pinned-local.json", [keys["served"], keys["unpinned"]])
        server.publish("unlisted.json", [keys["sandbox"], keys["unpinned"]])
        server.publish("shared.json", [keys["served"]])
        yield server


@pytest.fixture(scope="module")
def env(keys, jwks, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pinned")
    (tmp / "sitecustomize.py").write_text(textwrap.dedent(NO_NETWORK), encoding="utf-8")
    network_log = tmp / "network.log"
    network_log.write_text("", encoding="utf-8")
    (tmp / "local-jwks.json").write_text(json.dumps({"keys": [keys["local"].jwk()]}), encoding="utf-8")

    config = documented_config()
    (sandbox,) = config
    # The documented configuration, with our generated key in place of the sandbox's public one ...
    sandbox["pinned_jku"][SANDBOX_JKU]["jwks"] = {"keys": [keys["sandbox"].jwk()]}
    # ... a pinned file for a loopback jku whose server would answer (counted), and a URL this issuer
    # pins that another issuer fetches.
    sandbox["pinned_jku"][jwks.url("pinned-local.json")] = {"jwks_file": str(tmp / "local-jwks.json")}
    sandbox["pinned_jku"][jwks.url("shared.json")] = {"jwks": {"keys": [keys["local"].jwk()]}}
    config.append({"iss": OTHER_ISS, "jwks_url": jwks.url("shared.json")})
    path = tmp / "issuers.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return {
        "TRAPPA_TRUSTED_ISSUERS": str(path),
        "TRAPPA_LOG_LEVEL": "DEBUG",
        "PYTHONPATH": os.pathsep.join(p for p in (str(tmp), os.environ.get("PYTHONPATH")) if p),
        "TRAPPA_TEST_NETWORK_LOG": str(network_log),
        "_network_log": str(network_log),
    }


@pytest.fixture(scope="module")
def server(env):
    env = {k: v for k, v in env.items() if not k.startswith("_")}
    with ServiceProcess(env=env, dev=False, workers=1) as proc:
        yield proc


def lookups(env) -> list[str]:
    return Path(env["_network_log"]).read_text(encoding="utf-8").split()


def test_the_network_is_really_off_in_the_server_process(server, env):
    # The guard works: a lookup in a process started like the server's is refused and written down.
    import subprocess
    import sys

    code = "import socket\ntry:\n    socket.getaddrinfo('sandbox.cds-hooks.org', 443)\nexcept OSError:\n    print('off')\n"
    run_env = {**os.environ, **{k: v for k, v in env.items() if not k.startswith("_")}}
    out = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "off", out.stderr
    assert lookups(env)[-1:] == ["sandbox.cds-hooks.org"]
    Path(env["_network_log"]).write_text("", encoding="utf-8")


def test_sandbox_shaped_token_with_a_pinned_key_is_accepted_offline(server, keys, jwks, env):
    key = keys["sandbox"]
    for path, body in (("/cds-services", None), (SERVICE, request_body()),
                       (FEEDBACK, {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted",
                                                 "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
                                                 "outcomeTimestamp": "2026-11-23T10:00:00Z"}]})):
        headers = bearer(sandbox_token(key, server.base_url + path))
        resp = server.get(path, headers=headers) if body is None else server.post(path, body, headers=headers)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
    assert lookups(env) == []  # nothing was looked up, let alone fetched
    assert "unavailable" not in server.log()


def test_pinned_file_for_a_loopback_jku_is_never_fetched(server, keys, jwks, env):
    token = sandbox_token(keys["local"], server.base_url + SERVICE, jku=jwks.url("pinned-local.json"))
    assert server.post(SERVICE, request_body(), headers=bearer(token)).status_code == 200
    assert jwks.hits("pinned-local.json") == 0


def test_jku_neither_pinned_nor_listed_is_refused_and_not_fetched(server, keys, jwks, env):
    # The unlisted document would hold the right key: only never fetching it makes this a refusal.
    token = sandbox_token(keys["sandbox"], server.base_url + SERVICE, jku=jwks.url("unlisted.json"))
    assert_refused(server.post(SERVICE, request_body(), headers=bearer(token)))
    assert jwks.hits("unlisted.json") == 0
    # A look-alike of the sandbox's URL is another URL.
    for jku in ("https://sandbox.cds-hooks.org/.well-known/jwks.json?x=1",
                "https://sandbox.cds-hooks.org/other/jwks.json",
                "http://sandbox.cds-hooks.org/.well-known/jwks.json"):
        token = sandbox_token(keys["sandbox"], server.base_url + SERVICE, jku=jku)
        assert_refused(server.post(SERVICE, request_body(), headers=bearer(token)))
    assert lookups(env) == []
    assert "is not allowed for issuer 'https://sandbox.cds-hooks.org'" in server.log()


def test_pinned_jku_with_a_kid_not_in_the_pinned_set_is_refused_and_not_fetched(server, keys, jwks, env):
    for _ in range(2):  # the unknown-kid refresh re-reads the pinned keys; it fetches nothing
        token = sandbox_token(keys["unpinned"], server.base_url + SERVICE)
        assert_refused(server.post(SERVICE, request_body(), headers=bearer(token)))
    # The loopback URL serves this kid; pinned, it is still not fetched.
    token = sandbox_token(keys["served"], server.base_url + SERVICE, jku=jwks.url("pinned-local.json"))
    assert_refused(server.post(SERVICE, request_body(), headers=bearer(token)))
    assert jwks.hits("pinned-local.json") == 0
    # The pinned sandbox kid signed by another key: a bad signature, not a fetch.
    token = sandbox_token(keys["unpinned"], server.base_url + SERVICE, kid=keys["sandbox"].kid)
    assert_refused(server.post(SERVICE, request_body(), headers=bearer(token)))
    assert lookups(env) == []
    assert "not in the JWKS of issuer 'https://sandbox.cds-hooks.org'" in server.log()


def test_token_without_jku_is_refused_when_the_issuer_has_only_pinned_keys(server, keys, env):
    token = sandbox_token(keys["sandbox"], server.base_url + SERVICE, jku=None)
    assert_refused(server.post(SERVICE, request_body(), headers=bearer(token)))
    assert "has keys only for pinned jku" in server.log()
    assert lookups(env) == []


def test_pinned_keys_belong_to_their_issuer_only(server, keys, jwks):
    """The same URL pinned by one issuer and fetched by another: each issuer gets its own keys."""
    url = jwks.url("shared.json")
    other = lambda key: key.token(claims(OTHER_ISS, server.base_url + SERVICE), jku=url)  # noqa: E731
    # The sandbox issuer pins "local" for this URL; the fetched document holds "served".
    assert_refused(server.post(SERVICE, request_body(), headers=bearer(
        sandbox_token(keys["served"], server.base_url + SERVICE, jku=url))))
    assert server.post(SERVICE, request_body(), headers=bearer(
        sandbox_token(keys["local"], server.base_url + SERVICE, jku=url))).status_code == 200
    assert jwks.hits("shared.json") == 0
    # The fetching issuer never sees the sandbox issuer's pinned key, and does fetch.
    assert_refused(server.post(SERVICE, request_body(), headers=bearer(other(keys["local"]))))
    assert server.post(SERVICE, request_body(), headers=bearer(other(keys["served"]))).status_code == 200
    assert jwks.hits("shared.json") >= 1


# ------------------------------------------------------------------------------------------------
# Configuration (in-process)


def test_documented_sandbox_configuration_pins_the_sandbox_key_for_its_jku():
    issuers = parse_trusted_issuers(json.dumps(documented_config()))
    issuer = issuers[SANDBOX_ISS]
    assert set(issuer.pinned_jku) == {SANDBOX_JKU}
    assert issuer.default_source is None and issuer.jwks_url is None and not issuer.jku
    pinned = parse_jwks(issuer.pinned_jku[SANDBOX_JKU].jwks)
    assert list(pinned) == [SANDBOX_KID]
    assert _public_key(pinned[SANDBOX_KID], "ES384").curve.name == "secp384r1"
    # The pinned key is the one the docs quote as the sandbox's published JWKS.
    text = (ROOT / "docs/security.md").read_text(encoding="utf-8")
    published = json.loads(text.split("<!-- sandbox-jwks -->", 1)[1].split("```json", 1)[1].split("```", 1)[0])
    assert issuer.pinned_jku[SANDBOX_JKU].jwks == published


def test_documented_configuration_verifies_a_sandbox_token_in_process_without_fetching(monkeypatch, keys):
    """The Authenticator itself, the documented configuration with our key: the fetch function is
    replaced by one that fails the test."""
    import cds_service.web.auth as auth

    def no_fetch(*args, **kwargs):
        raise AssertionError("a pinned jku was fetched")

    monkeypatch.setattr(auth, "fetch_jwks_url", no_fetch)
    config = documented_config()
    config[0]["pinned_jku"][SANDBOX_JKU]["jwks"] = {"keys": [keys["sandbox"].jwk()]}

    class Store:
        def remember_jti(self, key, expires):
            return True

    settings = Settings.from_env().with_(auth_required=True, trusted_issuers=json.dumps(config))
    authenticator = Authenticator(settings, Store(), parse_trusted_issuers(settings.trusted_issuers))
    aud = "https://trappa.example/cds-services/trappa-order-sign"
    assert authenticator.verify(sandbox_token(keys["sandbox"], aud), aud)["iss"] == SANDBOX_ISS
    with pytest.raises(AuthFailure, match="not in the JWKS"):
        authenticator.verify(sandbox_token(keys["unpinned"], aud), aud)


def test_pinned_jwks_file_is_relative_to_the_issuers_file(tmp_path, keys):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys/sandbox.json").write_text(json.dumps({"keys": [keys["sandbox"].jwk()]}))
    cfg = tmp_path / "issuers.json"
    cfg.write_text(json.dumps([{"iss": SANDBOX_ISS, "pinned_jku": {SANDBOX_JKU: {"jwks_file": "keys/sandbox.json"}}}]))
    issuer = parse_trusted_issuers(str(cfg))[SANDBOX_ISS]
    assert issuer.pinned_jku[SANDBOX_JKU].jwks_file == str((tmp_path / "keys/sandbox.json").resolve())
    assert SANDBOX_JKU in issuer.allowed_jku


def test_pinned_jku_next_to_a_default_key_source(keys):
    jwks = {"keys": [keys["local"].jwk()]}
    issuer = parse_trusted_issuers(json.dumps([{
        "iss": "https://ehr.test", "jwks_url": "https://ehr.test/jwks.json",
        "pinned_jku": {"https://keys.ehr.test/jwks.json": {"jwks": jwks}},
    }]))["https://ehr.test"]
    assert issuer.default_source == "https://ehr.test/jwks.json"
    assert issuer.allowed_jku == {"https://ehr.test/jwks.json", "https://keys.ehr.test/jwks.json"}


_KEYS = '{"keys": [{"kty": "EC", "crv": "P-384", "kid": "k", "x": "AA", "y": "AA"}]}'


@pytest.mark.parametrize(
    "config",
    [
        '[{"iss": "a", "pinned_jku": {}}]',  # no key source at all
        '[{"iss": "a", "pinned_jku": []}]',
        '[{"iss": "a", "pinned_jku": "https://x/j"}]',
        '[{"iss": "a", "pinned_jku": {"https://x/j": "keys.json"}}]',  # not an object
        '[{"iss": "a", "pinned_jku": {"https://x/j": {}}}]',
        '[{"iss": "a", "pinned_jku": {"https://x/j": {"jwks_file": "f", "jwks": ' + _KEYS + '}}}]',  # both
        '[{"iss": "a", "pinned_jku": {"https://x/j": {"jwks_url": "https://x/j"}}}]',  # fetching is not pinning
        '[{"iss": "a", "pinned_jku": {"https://x/j": {"jwks": {"keys": []}}}}]',  # no usable key
        '[{"iss": "a", "pinned_jku": {"https://x/j": {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}}}}]',
        '[{"iss": "a", "pinned_jku": {"https://x/j": {"jwks_file": ""}}}]',
        '[{"iss": "a", "pinned_jku": {"http://ehr.example/j": {"jwks": ' + _KEYS + '}}}]',  # http off loopback
        '[{"iss": "a", "pinned_jku": {"not a url": {"jwks": ' + _KEYS + '}}}]',
        # both pinned and fetched: which keys would count?
        '[{"iss": "a", "jku": ["https://x/j"], "pinned_jku": {"https://x/j": {"jwks": ' + _KEYS + '}}}]',
        '[{"iss": "a", "jwks_url": "https://x/j", "pinned_jku": {"https://x/j": {"jwks": ' + _KEYS + '}}}]',
        '[{"iss": "a", "jwks_url": "https://x/j", "jwks": ' + _KEYS + ', "pinned_jku": {"https://y/j": {"jwks": ' + _KEYS + '}}}]',
    ],
)
def test_malformed_pinned_jku_configuration_is_refused(config):
    with pytest.raises(AuthConfigError):
        parse_trusted_issuers(config)
