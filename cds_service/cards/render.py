"""Findings → CDS Hooks 2.0 cards, in one language.

Every card carries ``extension.trappa``: the facts it was decided on, machine-readable (``meddMg``,
``opioidDays``, ``exposure`` and the rule's own facts). Data that could not be had is named on every
card, since any card may have been decided without it.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Mapping

from cds_service.domain.model import PatientFacts
from cds_service.domain.problems import Problem
from fhir_mappings.codes.systems import CARD_TOPIC, TRAPPA_OVERRIDE

from cds_service.runtime.ids import new_uuid
from cds_service.rules.finding import Action, Finding, Localized, Suggestion
from cds_service.cards.overrides import OVERRIDE_REASONS
from cds_service.cards.topics import topic_title
from cds_service.cards.gaps import GAP_TEXT
from cds_service.cards.words import LANGUAGES, text
from cds_service.cards.wording import WORDED
from cds_service.cards.proposals import optional, resource_for

SUPPORTED_LANGUAGES = LANGUAGES


def _t(text: Localized, lang: str) -> str:
    return text.get(lang) or text.get("sv") or next(iter(text.values()), "")


def _round(value: float | None) -> float | int | None:
    if value is None:
        return None
    r = round(value, 1)
    return int(r) if r == int(r) else r


def base_facts(facts: PatientFacts) -> dict[str, Any]:
    """The facts every card is decided on (meddMg, opioidDays, exposure: clinical-rules §4, §2)."""
    total = facts.regimen.medd
    fixed = facts.regimen.fixed_medd
    out: dict[str, Any] = {
        "meddMg": _round(total.value) if total.complete else None,
        "meddKnownPartMg": _round(total.value),
        "meddComplete": total.complete,
        # The regular doses alone, as-needed maxima left out: what a taper starts from (clinical-rules §3).
        "meddFixedMg": _round(fixed.value) if fixed.complete else None,
        "opioidDays": facts.episode.days,
        "exposure": facts.episode.exposure.value,
        "taperActive": facts.taper_plan is not None,
        "excluded": list(facts.exclusions),
    }
    if total.unknown:
        out["meddUnknown"] = list(total.unknown)
    # Doses given in tablets or patches are mg or µg/h by the product's strength: which strength, and
    # where it came from (Medication, RxNorm, product text, products table), next to the MEDD it makes.
    counted = {o.drug.display: {"display": o.drug.display, "strength": o.drug.strength, "unit": o.drug.strength_unit,
                                "source": o.drug.strength_source}
               for o in facts.regimen.opioids if o.daily_dose.counted and o.drug.strength is not None}
    if counted:
        out["countedStrengths"] = list(counted.values())
    if facts.data_gaps:
        out["dataGaps"] = list(facts.data_gaps)
    if facts.unidentified:
        out["unidentifiedCount"] = len(facts.unidentified)
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, Problem):
        return str(value)  # its English text, as the facts have always carried it
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (int, float, str, bool)):
        return value.value  # enums
    return value


def render(finding: Finding, facts: PatientFacts, lang: str, shared: dict[str, Any] | None = None,
           drafts: Mapping[str, dict] | None = None, record: Any = None) -> dict:
    """The card of ``finding`` in ``lang``. ``drafts``: the hook call's draft orders as sent, by id — an
    action that amends one returns it whole (``cards.proposals``); a suggestion whose proposal cannot be
    written is left out. ``record``: the record's resources as sent (``find(type, id)``), for an action
    that ends a record order; one that is not at hand leaves that action out alone."""
    worded = WORDED[finding.topic]  # every topic's words are the cards' (wording.py)
    summary, detail = worded.words(finding, facts, lang)
    suggestions = worded.suggestions(finding, facts)
    notes = []
    if facts.data_gaps:
        gaps = "; ".join(text(GAP_TEXT[g], lang) for g in facts.data_gaps if g in GAP_TEXT)
        if gaps:
            notes.append(text("card.gaps", lang, gaps=gaps))
    if facts.unidentified and "unidentified" not in finding.facts:  # a card that lists them itself
        notes.append(text("card.unidentified", lang, names=", ".join(facts.unidentified[:5])))
    if notes:
        detail = detail + "\n\n" + "\n\n".join(notes)

    trappa = dict(shared if shared is not None else base_facts(facts))
    trappa.update(_json_safe(dict(finding.facts)))
    trappa["guidelineSection"] = f"{finding.guideline.key}: {finding.section}"

    card: dict[str, Any] = {
        "uuid": new_uuid(),
        "summary": summary,
        "indicator": finding.indicator,
        "detail": detail,
        "source": {
            "label": _t(finding.guideline.label, lang),
            "url": finding.guideline.url,
            "topic": {"system": CARD_TOPIC, "code": finding.topic, "display": topic_title(finding.topic, lang)},
        },
        "extension": {"trappa": trappa},
    }
    # A proposal several suggestions share (ending a still-valid prescription is the same for every
    # pace) is written once: the record copy is measured and amended once, not once per pace.
    resources: dict[int, dict | None] = {}
    written = [s for s in (_suggestion(s, lang, drafts or {}, record, resources) for s in suggestions)
               if s is not None]
    if written:
        card["suggestions"] = written
        card["selectionBehavior"] = finding.selection_behavior
    if finding.override_reasons:
        card["overrideReasons"] = [
            {"system": TRAPPA_OVERRIDE, "code": code, "display": text(OVERRIDE_REASONS[code], lang)}
            for code in finding.override_reasons
            if code in OVERRIDE_REASONS
        ]
    return card


def _suggestion(s: Suggestion, lang: str, drafts: Mapping[str, dict], record: Any,
                resources: dict[int, dict | None]) -> dict | None:
    actions = []
    for a in s.actions:
        action = _action(a, lang, drafts, record, resources)
        if action is None:
            if a.proposal is not None and optional(a.proposal):
                continue
            return None  # half a suggestion would do something else than its label says
        actions.append(action)
    return {"label": _t(s.label, lang), "uuid": new_uuid(), "isRecommended": s.is_recommended, "actions": actions}


def _action(action: Action, lang: str, drafts: Mapping[str, dict], record: Any,
            resources: dict[int, dict | None]) -> dict | None:
    out: dict[str, Any] = {"type": action.type, "description": _t(action.description, lang)}
    if action.proposal is not None:
        key = id(action.proposal)  # the proposals live as long as the finding, beyond this render
        if key in resources:
            resource = resources[key]
        else:
            resource = resources[key] = resource_for(action.proposal, drafts, record)
        if resource is None:
            return None
        out["resource"] = resource
    elif action.resource is not None:
        out["resource"] = action.resource
    if action.resource_id is not None:
        out["resourceId"] = action.resource_id
    return out
