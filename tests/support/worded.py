"""Rule tests for a topic whose words are in the cards: the rule's findings with their card words and
suggestions filled in, in both languages, as render puts them on a card (cds_service.cards.wording)."""
from __future__ import annotations

import dataclasses

from cds_service.cards.wording import WORDED


def with_words(finding, facts):
    cards = WORDED[finding.topic]
    texts = {lang: cards.words(finding, facts, lang) for lang in ("sv", "en")}
    return dataclasses.replace(
        finding,
        summary={lang: t[0] for lang, t in texts.items()},
        detail={lang: t[1] for lang, t in texts.items()},
        suggestions=finding.suggestions + cards.suggestions(finding, facts),
    )


class Worded:
    """``Worded(rule).findings(facts, ctx)``: the rule's findings with their words; other names as the rule's."""

    def __init__(self, rule):
        self._rule = rule

    def __getattr__(self, name):
        return getattr(self._rule, name)

    def findings(self, facts, ctx):
        return [with_words(f, facts) for f in self._rule.findings(facts, ctx)]
