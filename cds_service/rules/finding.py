"""What a rule gives back: findings, ready to be rendered as CDS Hooks cards.

A rule is a module in ``cds_service.rules`` with:

- ``TOPIC`` — its card topic code (system ``urn:trappa:card-topic``),
- ``HOOKS`` — the hooks it runs on,
- ``findings(facts, ctx) -> list[Finding]`` — a pure function of the patient's facts.

A finding holds no words: ``data`` (typed values) and ``proposals``, which ``cds_service.cards`` words
and writes; it knows nothing of HTTP, uuids or JSON layout: ``cds_service.cards.render`` turns it into a card. A suggestion's change is a
typed proposal (``cds_service.rules.proposals``) whose FHIR the card layer writes. The hooks a rule
speaks at are ``cds_service.domain.hooks``; the guidelines it cites, ``cds_service.domain.guidelines``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from cds_service.domain.guidelines import Guideline
from cds_service.domain.settings import ClinicalSettings
from cds_service.rules.proposals import Proposal, TaperOption

Localized = Mapping[str, str]  # {"sv": "...", "en": "..."}

@dataclass(frozen=True)
class Action:
    type: str  # "create" | "update" | "delete"
    description: Localized
    resource: Mapping[str, Any] | None = None
    resource_id: str | None = None  # for delete
    # What the action changes, as domain values (cds_service.rules.proposals): the card layer writes
    # its resource. An action has a proposal or a resource, not both.
    proposal: Proposal | None = None


@dataclass(frozen=True)
class Suggestion:
    label: Localized
    actions: tuple[Action, ...]
    is_recommended: bool = False


@dataclass(frozen=True)
class ReferralProposal:
    """A referral the card proposes: to which clinic, for and by whom. The card words it and writes its
    ServiceRequest (cds_service.cards), pre-filled from the record."""

    target: str  # PSYCHIATRY | PAIN_CLINIC (cds_service.domain.model)
    patient_ref: str
    requester_ref: str | None


@dataclass(frozen=True, kw_only=True)
class Finding:
    """What a rule decided: ``data`` (typed values the card words: which criteria, the numbers) and
    ``proposals``. ``summary``/``detail``/``suggestions`` are the card layer's (``cds_service.cards.wording``
    fills them in for tests, ``tests/support/worded.py``); a rule leaves them empty."""

    topic: str
    indicator: str  # "info" | "warning" | "critical"
    summary: Localized = field(default_factory=dict)  # < 140 characters in every language
    detail: Localized = field(default_factory=dict)  # GitHub-flavoured markdown
    guideline: Guideline
    section: str  # guideline section, e.g. "När behövs nedtrappning?"
    facts: Mapping[str, Any] = field(default_factory=dict)  # extra facts for extension.trappa
    suggestions: tuple[Suggestion, ...] = ()
    selection_behavior: str = "at-most-one"  # used only when there are suggestions
    override_reasons: tuple[str, ...] = ()  # codes from cds_service.cards.overrides
    data: Any = None  # the typed values the card layer words (not in extension.trappa)
    proposals: tuple[ReferralProposal | Proposal | TaperOption, ...] = ()  # the card makes one suggestion of each


@dataclass(frozen=True)
class RuleContext:
    """What a rule may know besides the patient's facts."""

    hook: str
    today: date
    user_ref: str | None = None  # "Practitioner/123" from context.userId
    patient_ref: str | None = None  # "Patient/123"
    settings: ClinicalSettings = field(default_factory=ClinicalSettings)
    # Work shared by rules within one hook call (e.g. the taper proposal that two cards build on).
    memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
