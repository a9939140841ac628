"""Every FHIR resource inside every suggestion of every fixture's cards validates with fhir.resources.R4B,
and cards follow the CDS Hooks 2.0 card rules."""
from __future__ import annotations

import importlib
import json

import pytest

from cds_service.web.config import Settings
from cds_service.protocol.evaluate import evaluate_request
from cds_service.protocol.services import SERVICES
from conftest import FIXTURES

REQUESTS = sorted(p.name for p in (FIXTURES / "requests").glob("*.json")
                  if not p.name.endswith(".expected.json") and "no-prefetch" not in p.name)
SETTINGS = Settings(allow_clock_override=True)


def _model(resource_type: str):
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def _empty_values(obj, path=""):
    """Paths holding null, "" , [] or {} (CDS Hooks: omit optional fields instead)."""
    if obj is None or obj == "" or obj == [] or obj == {}:
        yield path
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _empty_values(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _empty_values(v, f"{path}[{i}]")


@pytest.mark.parametrize("name", REQUESTS)
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_suggested_resources_validate_and_cards_are_well_formed(name, lang):
    body = json.loads((FIXTURES / "requests" / name).read_text(encoding="utf-8"))
    service = next(s for s in SERVICES.values() if s.hook == body["hook"])
    cards = evaluate_request(service, body, SETTINGS, None, lang).response["cards"]
    checked = 0
    for card in cards:
        assert len(card["summary"]) < 140
        outside_extension = {k: v for k, v in card.items() if k != "extension"}
        assert list(_empty_values(outside_extension)) == [], card["source"]["topic"]["code"]
        suggestion_ids = [s["uuid"] for s in card.get("suggestions", [])]
        assert len(set(suggestion_ids)) == len(suggestion_ids)
        for suggestion in card.get("suggestions", []):
            assert suggestion["label"] and suggestion["actions"]
            for action in suggestion["actions"]:
                assert action["type"] in ("create", "update", "delete")
                if action["type"] == "delete":
                    assert "/" in action["resourceId"]
                    continue
                resource = action["resource"]
                _model(resource["resourceType"]).model_validate(resource)  # raises if invalid
                checked += 1
    if any(c.get("suggestions") for c in cards):
        assert checked or all(a["type"] == "delete" for c in cards for s in c.get("suggestions", []) for a in s["actions"])


def test_topic_displays_are_words_in_the_card_language():
    from cds_service.cards.topics import TOPIC_TITLES, topic_title
    from cds_service.rules import RULES

    topics = {getattr(module, "TOPIC") for module in RULES}
    assert topics == set(TOPIC_TITLES)  # every rule's topic has a name, and no name is left over
    for topic in topics:
        assert topic_title(topic, "sv") != topic and topic_title(topic, "en") != topic
