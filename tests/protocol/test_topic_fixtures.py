"""One synthetic patient per card topic (fixtures/requests/<topic>.json), each run through the real
HTTP service: exactly the topics listed in <topic>.expected.json come back."""
from __future__ import annotations

import json

import pytest

from conftest import FIXTURES

ALL_TOPICS = {
    "taper-plan-missing", "prescribing-restriction", "referral-psychiatry", "referral-pain-clinic",
    "taper-dose-increase", "taper-prn", "taper-early-renewal", "taper-other-prescriber", "co-sedatives",
    "withdrawal-sedative", "gabapentinoid-caution", "exit-plan", "pain-diagnosis-missing", "opioid-review",
    "taper-status", "medd-unknown",
}
CASES = sorted(p.name.removesuffix(".expected.json") for p in (FIXTURES / "requests").glob("*.expected.json")
               if not p.name.startswith("regimen."))  # those: tests/protocol/test_regimen_fixtures.py


def test_every_topic_has_a_fixture_patient():
    assert set(CASES) >= ALL_TOPICS, sorted(ALL_TOPICS - set(CASES))


@pytest.mark.parametrize("topic", CASES)
def test_topic_fixture_gets_its_topics_over_http(service, topic):
    body = json.loads((FIXTURES / "requests" / f"{topic}.json").read_text(encoding="utf-8"))
    expected = json.loads((FIXTURES / "requests" / f"{topic}.expected.json").read_text(encoding="utf-8"))["topics"]
    assert topic in expected
    for lang in ("sv", "en"):
        resp = service.post(f"/cds-services/trappa-{body['hook']}", body, headers={"Accept-Language": lang})
        assert resp.status_code == 200, resp.text[:300]
        got = sorted(c["source"]["topic"]["code"] for c in resp.json()["cards"])
        assert got == sorted(expected), (lang, got)
