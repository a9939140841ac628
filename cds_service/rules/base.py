"""What a rule gives back: findings, ready to be rendered as CDS Hooks cards.

A rule is a module in ``cds_service.rules`` with:

- ``TOPIC`` — its card topic code (system ``urn:trappa:card-topic``),
- ``HOOKS`` — the hooks it runs on,
- ``findings(facts, ctx) -> list[Finding]`` — a pure function of the patient's facts.

Texts are produced in both languages (``{"sv": ..., "en": ...}``); the HTTP layer picks one. A finding
knows nothing of HTTP, uuids or JSON layout: ``cds_service.cards`` turns it into a card.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

# Rules and their tests name the clinical thresholds from here; they are loaded with the rest of the
# configuration (config.py), once, at start-up.
from ..config import ClinicalSettings  # noqa: F401  (re-exported)

Localized = Mapping[str, str]  # {"sv": "...", "en": "..."}

PATIENT_VIEW = "patient-view"
ORDER_SELECT = "order-select"
ORDER_SIGN = "order-sign"
MEDICATION_PRESCRIBE = "medication-prescribe"
ORDER_HOOKS = frozenset({ORDER_SELECT, ORDER_SIGN, MEDICATION_PRESCRIBE})
ALL_HOOKS = ORDER_HOOKS | {PATIENT_VIEW}


@dataclass(frozen=True)
class Guideline:
    key: str
    label: Localized
    url: str


# The two source guidelines (verbatim copies in docs/guidelines/). Neither text carries its own address,
# so a card's source.url is the document the guideline itself links for what the cards are about: RJL's
# guidance points to the fakta-dokument "Svår smärta och opioidbehandling" it belongs to; VGR's guideline
# links its own document on opioids in long-term non-cancer pain. The label names that document.
RJL = Guideline(
    key="RJL",
    label={
        "sv": "Region Jönköpings län: Att tänka på som läkare ansvarig för nedtrappning av opioider (2024),"
              " i Fakta-dokument Svår smärta och opioidbehandling",
        "en": "Region Jönköping: Guidance for the physician responsible for an opioid taper (2024),"
              " in the fact document Svår smärta och opioidbehandling",
    },
    url="https://folkhalsaochsjukvard.rjl.se/dokument/nkk/40916_profession_primarvard?pageId=218881&blockId=329824",
)
VGR = Guideline(
    key="VGR",
    label={
        "sv": "VGR: Regional medicinsk riktlinje – Smärta långvarig, icke cancerrelaterad;"
              " Opioider vid långvarig icke-cancerrelaterad smärta",
        "en": "VGR: Regional guideline – long-term non-cancer pain;"
              " Opioider vid långvarig icke-cancerrelaterad smärta (opioids in long-term non-cancer pain)",
    },
    url=(
        "https://alfresco.vgregion.se/alfresco/service/vgr/storage/node/content/32876/"
        "Opioider%20vid%20l%c3%a5ngvarig%20icke-cancerrelaterad%20sm%c3%a4rta.pdf?a=false&guest=true"
    ),
)


@dataclass(frozen=True)
class Action:
    type: str  # "create" | "update" | "delete"
    description: Localized
    resource: Mapping[str, Any] | None = None
    resource_id: str | None = None  # for delete


@dataclass(frozen=True)
class Suggestion:
    label: Localized
    actions: tuple[Action, ...]
    is_recommended: bool = False


@dataclass(frozen=True)
class Finding:
    topic: str
    indicator: str  # "info" | "warning" | "critical"
    summary: Localized  # < 140 characters in every language
    detail: Localized  # GitHub-flavoured markdown
    guideline: Guideline
    section: str  # guideline section, e.g. "När behövs nedtrappning?"
    facts: Mapping[str, Any] = field(default_factory=dict)  # extra facts for extension.trappa
    suggestions: tuple[Suggestion, ...] = ()
    selection_behavior: str = "at-most-one"  # used only when there are suggestions
    override_reasons: tuple[str, ...] = ()  # codes from cds_service.rules.overrides


@dataclass(frozen=True)
class RuleContext:
    """What a rule may know besides the patient's facts."""

    hook: str
    today: date
    user_ref: str | None = None  # "Practitioner/123" from context.userId
    patient_ref: str | None = None  # "Patient/123"
    settings: ClinicalSettings = field(default_factory=ClinicalSettings)
    # The draft orders as the EHR sent them, keyed by resource id: rules that propose an *update* of a
    # draft (e.g. exit-plan) return the draft itself, amended.
    drafts_raw: Mapping[str, dict] = field(default_factory=dict)
    # The record's resources as the EHR sent or the FHIR server gave them: a rule that proposes an
    # *update* of a record order (ending an old prescription) returns that resource, amended. Looked
    # up only then (``common.record_resource``: an object with ``find(type, id)``, or a list).
    record_resources: Any = ()
    # Work shared by rules within one hook call (e.g. the taper proposal that two cards build on).
    memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
