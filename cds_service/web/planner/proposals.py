"""A card's taper proposal, held for the planner under an unguessable id, and the card's link to it.

When a ``taper-plan-missing`` or ``taper-status`` card is made, the inputs of what it proposes — the
strengths row's drug (ingredient, form, combination), the start dose and date, the pace, the exposure
class, the card's date — are kept in the database (``storage.planner_proposal``) for
``TRAPPA_PROPOSAL_TTL_HOURS``, under the SHA-256 of a random id of 122 bits. The card carries a CDS Hooks
``links`` entry ``{label, url: <base>/planner/<id>, type: "absolute"}``. No patient name, personal
identity number, FHIR id or free text is held, and none is in the URL: the proposal is a drug, a dose
and dates. The physician who opens the link opens the planner on that proposal, and the id is the
authority the page calls the schedule API with (:mod:`.authority`).

Cost on the hot path: the inputs are read off the proposal the rule already computed (one per call,
``taper_plan_missing.proposal`` is memoised), the id comes from the batched random pool
(``cds_service.runtime.ids``), and the row is written by the hook view in one short transaction before the
answer leaves (:meth:`PlannerLinks.store`).
"""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import orjson

from cds_service.runtime.ids import new_uuid
from cds_service.rules import taper_plan_missing, taper_status
from cds_service.rules.taper_state import taper_progress
from cds_service.domain.taper import default_pace, Pace, strengths_for, taper_schedule
from cds_service.domain.model import UG_PER_H, Form

from cds_service.web.planner.smart import smart_link
from cds_service.web.planner.texts import LINK_LABEL

log = logging.getLogger(__name__)

TOPICS = (taper_plan_missing.TOPIC, taper_status.TOPIC)
PROPOSAL_VERSION = 1
ID_LENGTH = 32  # hex characters of a version 4 UUID without its dashes: 122 random bits


def proposal_key(token: str) -> str:
    """The database key of a link's id: its SHA-256, so the table alone opens no planner."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def well_formed(token: str | None) -> bool:
    return isinstance(token, str) and len(token) == ID_LENGTH and all(c in "0123456789abcdef" for c in token)


def proposal_inputs(finding, facts, ctx) -> dict[str, Any] | None:
    """What the planner opens on for this card, or None when there is nothing to plan (no schedule)."""
    if finding.topic == taper_plan_missing.TOPIC:
        return _from_plan_missing(facts, ctx)
    if finding.topic == taper_status.TOPIC:
        return _from_status(facts, ctx)
    return None


def _base(topic: str, facts, ctx) -> dict[str, Any]:
    return {"v": PROPOSAL_VERSION, "topic": topic, "today": ctx.today.isoformat(),
            "exposure": facts.episode.exposure.value, "exposureDays": facts.episode.days}


def _drug(schedule) -> dict[str, Any]:
    return {"ingredient": schedule.ingredient, "form": schedule.form.value, "combination": list(schedule.combination)}


def _from_plan_missing(facts, ctx) -> dict[str, Any] | None:
    prop = taper_plan_missing.proposal(facts, ctx)  # memoised: the card's own proposal
    if prop is None or prop.schedule is None:
        return None
    s = prop.schedule
    return {**_base(taper_plan_missing.TOPIC, facts, ctx), "drug": _drug(s), "startDailyDose": s.start_dose,
            "unit": s.unit, "startDate": s.start.isoformat(), "pace": s.pace.value,
            # The dose the patient takes regularly today: the planner never starts above it (a dose
            # increase, [RJL "Allmänna principer"]).
            "maxStartDailyDose": s.start_dose, "doseBasis": prop.dose_basis}


def _from_status(facts, ctx) -> dict[str, Any] | None:
    """A running taper: the rest of it from today's step dose, starting today (the physician holds the
    step or changes the pace from there); a planned one: from its first step. An ended one: nothing."""
    phase = taper_status.phase(facts, ctx)
    p = taper_progress(facts, ctx.today)
    if p is None or phase not in (taper_status.RUNNING, taper_status.PLANNED):
        return None
    if phase == taper_status.RUNNING:
        dose, unit, start = p.target, p.unit, ctx.today
    else:
        first = p.plan.steps[0]
        dose, unit, start = first.daily_dose.amount, first.daily_dose.unit, first.start
    ingredient = p.plan.ingredient
    if not ingredient or not dose or dose <= 0 or not unit or start is None:
        return None
    same = [o for o in facts.regimen.record_opioids if o.drug.ingredient == ingredient]
    form = same[0].drug.form if same and same[0].drug.form is not Form.UNKNOWN else (
        Form.PATCH if unit == UG_PER_H else Form.DEPOT)
    companions = same[0].drug.companions if same else ()
    row = strengths_for(ingredient, form, companions=companions)
    if row is None or row.unit != unit:
        return None
    pace = default_pace(facts.episode.exposure, ingredient) or Pace.FAST
    schedule = taper_schedule(ingredient=ingredient, form=row.form, daily_dose=dose, unit=unit,
                              exposure=facts.episode.exposure, start=start, pace=pace, companions=row.combination)
    if not schedule.steps:
        return None
    return {**_base(taper_status.TOPIC, facts, ctx), "drug": _drug(schedule), "startDailyDose": dose, "unit": unit,
            "startDate": start.isoformat(), "pace": pace.value, "maxStartDailyDose": dose, "doseBasis": phase}


class PlannerLinks:
    """Makes the planner links of one hook call's cards and remembers the proposals behind them, for
    the view to :meth:`store` before it answers. ``base_url``: TRAPPA_PUBLIC_BASE_URL, else the URL
    the request came to."""

    def __init__(self, base_url: str, ttl_hours: float, smart: bool = False):
        self.base_url = base_url.rstrip("/")
        self.smart = smart  # also a SMART app link (smart.py), with TRAPPA_SMART_CLIENT_ID set
        self.ttl_s = ttl_hours * 3600
        self.pending: list[tuple[str, float, str]] = []

    def __call__(self, finding, facts, ctx, lang: str) -> list[dict] | None:
        if finding.topic not in TOPICS:
            return None
        inputs = proposal_inputs(finding, facts, ctx)
        if inputs is None:
            return None
        token = new_uuid().replace("-", "")
        self.pending.append((proposal_key(token), time.time() + self.ttl_s, orjson.dumps(inputs).decode()))
        label = LINK_LABEL.get(lang, LINK_LABEL["sv"])
        links = [{"label": label, "url": f"{self.base_url}/planner/{token}", "type": "absolute"}]
        if self.smart:  # the same proposal, reached through the EHR's SMART launch (appContext)
            links.append(smart_link(self.base_url, token, label))
        return links

    def store(self, store, payload: bytes) -> bytes:
        """Write the pending proposals and return the response body; when the database fails, the
        body without the planner links (a link that would not open is worse than none), said in the log."""
        if not self.pending:
            return payload
        from cds_service.protocol.jsonio import dump_response
        from cds_service.web.storage import StorageUnavailable

        try:
            store.save_proposals(self.pending)
            return payload
        except StorageUnavailable as exc:
            log.error("planner proposals not stored (%s): the cards go out without their planner link", exc)
            response = orjson.loads(payload)
            prefix = f"{self.base_url}/planner/"
            for card in response.get("cards", ()):
                links = [ln for ln in card.get("links", ()) if not str(ln.get("url", "")).startswith(prefix)]
                if links:
                    card["links"] = links
                else:
                    card.pop("links", None)
            return dump_response(response)
        finally:
            self.pending = []


def load(store, token: str) -> dict | None:
    """The stored inputs of a link's id, or None (unknown, malformed or expired)."""
    if not well_formed(token):
        return None
    text = store.proposal(proposal_key(token))
    if text is None:
        return None
    try:
        inputs = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return inputs if isinstance(inputs, dict) and inputs.get("v") == PROPOSAL_VERSION else None
