"""Every topic's words: topic → its module in the cards (``words(finding, facts, lang)`` → summary and
detail, ``suggestions(finding, facts)`` → the suggestions its proposals make). The rules decide and
give typed data; ``render`` asks the topic's module for the words.

The module is the rule's namesake (``rules/taper_prn.py`` → ``cards/taper_prn.py``), found from the
rules' own list (``cds_service.rules.RULES``) so a new topic is listed once: a rule without its
cards module stops the import here, at a worker's start-up."""
from __future__ import annotations

from importlib import import_module
from types import ModuleType

from cds_service.rules import RULES


def _cards_of(rule: ModuleType) -> ModuleType:
    return import_module(f"cds_service.cards.{rule.__name__.rsplit('.', 1)[1]}")


WORDED: dict[str, ModuleType] = {rule.TOPIC: _cards_of(rule) for rule in RULES}
