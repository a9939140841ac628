"""Rule tests for a topic whose words are in the cards: the rule's findings with their card words and
suggestions filled in, in both languages, as render puts them on a card (cds_service.cards.wording);
with ``written=True`` also each action's resource, as render writes it (cds_service.cards.proposals)."""
from __future__ import annotations

import dataclasses

from cds_service.cards.proposals import optional, resource_for
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


def with_resources(finding, drafts=None, record=None):
    """The suggestions' proposals written into their actions' resources. As on a card: an optional
    action that cannot be written is left out, a suggestion with any other such action too."""
    written = []
    for s in finding.suggestions:
        actions = []
        for a in s.actions:
            if a.proposal is None:
                actions.append(a)
                continue
            resource = resource_for(a.proposal, drafts or {}, record)
            if resource is not None:
                actions.append(dataclasses.replace(a, resource=resource))
            elif not optional(a.proposal):
                break
        else:
            written.append(dataclasses.replace(s, actions=tuple(actions)))
    return dataclasses.replace(finding, suggestions=tuple(written))


class Worded:
    """``Worded(rule).findings(facts, ctx)``: the rule's findings with their words; other names as the rule's."""

    def __init__(self, rule, *, written=False, record=None):
        self._rule = rule
        self._written = written
        self._record = record

    def __getattr__(self, name):
        return getattr(self._rule, name)

    def findings(self, facts, ctx):
        found = [with_words(f, facts) for f in self._rule.findings(facts, ctx)]
        if self._written:
            found = [with_resources(f, record=self._record) for f in found]
        return found
