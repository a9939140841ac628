"""TRAPPA_CA_BUNDLE: a region's private CA trusted for https FHIR servers and JWKS URLs, so nobody has to
turn on TRAPPA_FHIR_ALLOW_HTTP and send the FHIR token in clear text (docs/security.md). Real TLS on
loopback with a certificate the system does not trust."""
from __future__ import annotations

import pytest

from cds_service.web.auth import JwksUnavailable, fetch_jwks_url
from cds_service.domain.settings import ConfigurationError
from cds_service.web.config import Settings
from cds_service.protocol.fhir_client import FhirFetcher
from tests.support.service import ServiceProcess
from tests.support.tls import JsonHttpsServer, self_signed

PATIENT = {"resourceType": "Patient", "id": "ca-1", "birthDate": "1960-01-01"}
JWKS = {"keys": [{"kty": "EC", "crv": "P-384", "kid": "k1", "x": "AAAA", "y": "AAAA"}]}


@pytest.fixture()
def https(tmp_path):
    context, cert_file = self_signed(tmp_path)
    with JsonHttpsServer(context, {"/fhir/Patient/ca-1": PATIENT, "/jwks.json": JWKS}) as server:
        yield server, str(cert_file)


def test_a_fhir_server_with_a_private_ca_is_reached_only_with_the_bundle(https):
    server, bundle = https
    base = server.origin + "/fhir"
    untrusted = FhirFetcher(Settings(dev_mode=True, fhir_budget_s=2.0))
    result = untrusted.fetch_many(base, None, {"patient": "Patient/ca-1"})["patient"]
    assert not result.ok  # the system's trust store does not know this CA
    trusted = FhirFetcher(Settings(dev_mode=True, fhir_budget_s=2.0, ca_bundle=bundle))
    result = trusted.fetch_many(base, None, {"patient": "Patient/ca-1"})["patient"]
    assert result.ok and result.resources == [PATIENT]


def test_a_jwks_url_with_a_private_ca_is_fetched_only_with_the_bundle(https):
    server, bundle = https
    with pytest.raises(JwksUnavailable):
        fetch_jwks_url(server.origin + "/jwks.json", 2.0)
    assert fetch_jwks_url(server.origin + "/jwks.json", 2.0, bundle) == JWKS


def test_a_bundle_that_is_not_a_file_stops_the_start_up(tmp_path):
    missing = str(tmp_path / "no-such-ca.pem")
    with pytest.raises(ConfigurationError, match="TRAPPA_CA_BUNDLE"):
        Settings.from_env({"TRAPPA_CA_BUNDLE": missing})
    proc = ServiceProcess(env={"TRAPPA_CA_BUNDLE": missing}, workers=1)
    try:
        with pytest.raises(RuntimeError) as failed:
            proc.start(timeout=20)
        assert "TRAPPA_CA_BUNDLE" in str(failed.value) and "Traceback" not in str(failed.value)
    finally:
        proc.cleanup()
