"""The taper-safety fixtures (fixtures/requests/<topic>.json) give exactly their expected topics when
evaluated in-process (the lead's HTTP test runs them through the real service as well)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.web.config import Settings
from cds_service.protocol.evaluate import evaluate_request
from cds_service.protocol.services import SERVICES

REQUESTS = Path(__file__).resolve().parents[2] / "fixtures" / "requests"
TOPICS = ("taper-plan-missing", "prescribing-restriction", "taper-dose-increase", "taper-prn",
          "taper-early-renewal", "taper-other-prescriber", "withdrawal-sedative", "exit-plan")


@pytest.mark.parametrize("topic", TOPICS)
def test_fixture_gives_expected_topics(topic):
    body = json.loads((REQUESTS / f"{topic}.json").read_text(encoding="utf-8"))
    expected = json.loads((REQUESTS / f"{topic}.expected.json").read_text(encoding="utf-8"))["topics"]
    assert topic in expected
    assert body["extension"]["trappa"]["today"] == "2026-11-23"
    service = next(s for s in SERVICES.values() if s.hook == body["hook"])
    settings = Settings(allow_clock_override=True, auth_required=False)
    result = evaluate_request(service, body, settings, None, "sv")
    assert sorted(result.topics) == sorted(expected)
    for card in result.response["cards"]:
        assert len(card["summary"]) < 140
