"""What a card must keep when its fixture is rolled (demo/roll.py): topic, indicator and the facts it
was decided on (``extension.trappa``: meddMg, opioidDays, exposure, the taper steps' daily doses and
days …), with the dates among those facts moved back by the days the fixture was rolled."""
from __future__ import annotations

from typing import Any

from demo.roll import is_date_shaped, shift


def _back(node: Any, days: int) -> Any:
    if isinstance(node, dict):
        return {k: _back(v, days) for k, v in node.items()}
    if isinstance(node, list):
        return [_back(v, days) for v in node]
    if is_date_shaped(node) and len(node) >= 10:  # a full date; the facts hold no partial ones
        return shift(node, -days)
    return node


def card_essence(cards: list[dict], rolled_by: int = 0) -> list[tuple]:
    """Per card, sorted: (topic, indicator, facts with their dates moved back by ``rolled_by`` days)."""
    out = [(c["source"]["topic"]["code"], c["indicator"], _back(c.get("extension", {}).get("trappa", {}), rolled_by))
           for c in cards]
    return sorted(out, key=lambda t: (t[0], t[1], repr(t[2])))


def topics(cards: list[dict]) -> list[str]:
    return sorted(c["source"]["topic"]["code"] for c in cards)
