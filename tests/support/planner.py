"""Helpers of the planner tests: the planner link of a hook response, the page's configuration, the
API body the page sends first, and the card table as the API gives it."""
from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

PLANNER_TOPICS = ("taper-plan-missing", "taper-status")


def planner_links(response: dict) -> list[tuple[dict, dict]]:
    """(card, link) for every planner link of a CDS Hooks response."""
    out = []
    for card in response.get("cards", []):
        for link in card.get("links", ()):
            if "/planner/" in link.get("url", ""):
                out.append((card, link))
    return out


def token_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def page_config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="planner-config">(.*?)</script>', html, re.S)
    assert found, "the page carries its configuration"
    return json.loads(found.group(1))


def first_body(config: dict, **changes) -> dict:
    """The body the page sends first: the proposal as it is."""
    p = config["proposal"]
    body = {"drug": p["drug"], "startDailyDose": p["startDailyDose"], "startDate": p["startDate"],
            "pace": {"preset": p["pace"]}, "split": "evening", "holds": []}
    body.update(changes)
    return body


def table_lines(table: dict) -> list[str]:
    """The API's table as the markdown lines of the card's table."""
    return ["| " + " | ".join(row) + " |" for row in [table["head"], *table["rows"]]]
